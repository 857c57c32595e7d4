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
from collections.abc import Callable, Iterable

from catclf.errors import ParameterError

# "gram" and "primal" are logistic.optimize_gram and optimize_primal; "auto" chooses one.
SOLVERS = ("auto", "gram", "primal")


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
    """Processes that decode images: a whole number, 1 or more."""
    return _whole("jobs", value, 1)


def memory_limit(value: object) -> int | None:
    """Bytes the training data may take: a whole number above 0, or None for no limit."""
    if value is None:
        return None
    return _whole("memory_limit", value, 1)


def solver(value: object) -> str:
    """How training computes: "auto", "gram" or "primal"."""
    if not (isinstance(value, str) and value in SOLVERS):
        raise ParameterError("solver", value, ", ".join(SOLVERS))
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
