"""The rules for every setting a caller gives catclf, each written once and checked where the
library's functions start their work, as scikit-learn checks an estimator's parameters when
it fits: a Python program and the command line meet the same rule and the same words.

Each function takes the value as given and returns it in the type the library works with, or
raises ParameterError naming the setting (as the library's functions call it), the value
received and what is allowed.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Callable, Iterable

from catclf import memory
from catclf.cgroups import cpu_limit
from catclf.errors import ParameterError

# "gram" and "primal" are logistic.optimize_gram and optimize_primal; "auto" chooses one.
SOLVERS = ("auto", "gram", "primal")
# What an explanation measures each pixel's share against: a black image, or the model's
# average training image.
BASELINES = ("black", "mean")


def _number(name: str, value: object) -> float:
    """value as a float, if it is a real number (bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(name, value, "a number")
    return float(value)


def _whole(name: str, value: object, least: int) -> int:
    """value as an int, if it is a whole number of at least least."""
    expected = f"a whole number >= {least}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(name, value, expected)
    number = float(value)
    if not (math.isfinite(number) and number == int(number) and number >= least):
        raise ParameterError(name, value, expected)
    return int(number)


def learning_rate(value: object, name: str = "learning_rate") -> float:
    """The step of gradient descent: a finite number above 0."""
    rate = _number(name, value)
    if not (math.isfinite(rate) and rate > 0):
        raise ParameterError(name, value, "a number above 0")
    return rate


def num_iterations(value: object) -> int:
    """Steps of gradient descent: a whole number, 1 or more."""
    return _whole("num_iterations", value, 1)


def l2(value: object, name: str = "l2") -> float:
    """The L2 penalty lambda: a finite number, 0 (no penalty) or more."""
    penalty = _number(name, value)
    if not (math.isfinite(penalty) and penalty >= 0):
        raise ParameterError(name, value, "a number >= 0")
    return penalty


def threshold(value: object) -> float:
    """The probability above which an image is called a cat: from 0 to 1."""
    t = _number("threshold", value)
    if not 0.0 <= t <= 1.0:  # NaN fails too
        raise ParameterError("threshold", value, "a number from 0 to 1")
    return t


def accuracy(value: object, name: str = "accuracy") -> float:
    """An accuracy to reach: from 0 to 1."""
    a = _number(name, value)
    if not 0.0 <= a <= 1.0:  # NaN fails too
        raise ParameterError(name, value, "a number from 0 to 1")
    return a


def fraction(value: object, name: str) -> float:
    """A share of the examples held out: strictly between 0 and 1."""
    f = _number(name, value)
    if not 0.0 < f < 1.0:
        raise ParameterError(name, value, "a number between 0 and 1 (both excluded)")
    return f


def folds(value: object) -> int:
    """Folds of a cross-validation: a whole number, 2 or more."""
    return _whole("folds", value, 2)


def jobs(value: object) -> int:
    """Processes that decode images: a whole number, 1 or more, or None for one per core
    this process may run on (`cores`)."""
    if value is None:
        return cores()
    return _whole("jobs", value, 1)


def cores() -> int:
    """The number of cores this process may run on, and no more than its control group's
    processor time allows (a container's CPU limit: 1.5 cores gives 1, and never less)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    limit = cpu_limit()
    return count if limit is None else max(1, min(count, math.floor(limit)))


# The memory limit that leaves room for the rest of the machine (`memory.default_limit`).
AUTO = "auto"


def memory_limit(value: object) -> int | None:
    """Bytes the training data may take: a whole number above 0; a size as people write it,
    "600MB" or "2GiB" (`memory.parse_size`); "auto", a quarter of the memory this process
    may use (`memory.default_limit`); or None for no limit."""
    if value is None:
        return None
    if isinstance(value, str):
        if value == AUTO:
            return memory.default_limit()
        try:
            return memory.parse_size(value)
        except ValueError as e:
            raise ParameterError("memory_limit", value, memory.SIZE_EXPECTED) from e
    return _whole("memory_limit", value, 1)


MAX_NAME_BYTES = 100  # leaves room in a 255-byte file name for train_, .h5 and a temp suffix
UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(text: str) -> str:
    """text as a file name part: letters, digits, '_', '-' and '.' kept, runs of anything
    else made one '_'; no leading or trailing '.' or '_'; at most MAX_NAME_BYTES in UTF-8."""
    name = UNSAFE.sub("_", text).strip("._")
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1].rstrip("._")
    return name


def file_name(value: object, name: str = "name") -> str:
    """A name for files catclf writes (train_NAME.h5): one that `safe_name` leaves as it is."""
    if not (isinstance(value, str) and value and safe_name(value) == value):
        raise ParameterError(
            name,
            value,
            "a safe file name: letters, digits, '_', '-' and '.' (not first or last), "
            f"{MAX_NAME_BYTES} bytes at most",
        )
    return value


def solver(value: object) -> str:
    """How training computes: "auto", "gram" or "primal"."""
    if not (isinstance(value, str) and value in SOLVERS):
        raise ParameterError("solver", value, ", ".join(SOLVERS))
    return str(value)


def baseline(value: object) -> str:
    """What `Model.explain` measures against: "black" or "mean"."""
    if not (isinstance(value, str) and value in BASELINES):
        raise ParameterError("baseline", value, " or ".join(repr(b) for b in BASELINES))
    return str(value)


def values(check: Callable[[object, str], float], given: object, name: str) -> list[float]:
    """Several values of one setting (the rates of a sweep), each checked by check; at least
    one."""
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise ParameterError(name, given, "a list of values")
    items = list(given)
    if not items:
        raise ParameterError(name, given, "at least one value")
    return [check(item, name) for item in items]
