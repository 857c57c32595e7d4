"""The project's exceptions. Every message names what was received and what was expected."""

import numbers
import re

# What a caller can change to get past an error, in the library's own words, by key. A face
# (the command line) says the same in its words by the same key (CatclfError.told), so that
# no message of the library names a flag, and no message of the command line a parameter.
ADVICE = {
    "force": "force=True {verb}s it",
    "force_link": "force=True {verb}s the link itself (what it leads to is left alone)",
    "positive": "name the positive one with positive=NAME",
    "prepare": (
        "write them once as course files with catclf.prepare and train on those, which are "
        "read a slice at a time, or raise memory_limit"
    ),
    "gram_memory": "use solver='primal' or 'auto', or raise memory_limit",
    "jobs": "jobs=1 decodes in this process",
    "smaller_rate": "try a smaller learning_rate",
    "data": "pass data, the labelled images to score it on",
    "export": "pass html=PATH, onnx=PATH, or both",
}


class CatclfError(Exception):
    """Base class of every error catclf reports to a user.

    message says what is wrong; advice, a key of ADVICE, what to change (its text filled in
    from fill), which the error's text gives after the message in the library's words and
    `told` in a face's own; outcome, what the error left behind ("no model was saved"),
    said last.
    """

    def __init__(
        self, message: str = "", *, advice: str | None = None, outcome: str = "", **fill: str
    ) -> None:
        self.message, self.advice, self.outcome, self.fill = message, advice, outcome, fill
        super().__init__(self.told(ADVICE))

    def told(self, words: dict[str, str]) -> str:
        """The message, the advice in words (a table keyed as ADVICE), and the outcome."""
        said = self.message
        if self.advice is not None and self.advice in words:
            said = f"{said}; {words[self.advice].format(**self.fill)}"
        return f"{said}; {self.outcome}" if self.outcome else said


class ParameterError(CatclfError, ValueError):
    """A setting given to catclf outside what it allows: a learning rate of 0, a threshold of
    2, one fold. parameter names the setting as the library's functions call it
    ("learning_rate"), value is what was given and expected what is allowed, so that a
    caller can say it in its own words (a command line flag). Also a ValueError, as a bad
    value is to any Python code."""

    def __init__(
        self, parameter: str, value: object, expected: str, *, said: str | None = None
    ) -> None:
        self.parameter, self.value, self.expected = parameter, value, expected
        self.said = shown(value) if said is None else said  # the value, in words
        super().__init__(f"{parameter} is {self.said}, expected {expected}")

    def __reduce__(self) -> tuple[object, ...]:
        # Made again from its own arguments where an error crosses processes (a Dask worker's
        # task): the value travels as its words, which is all the message needs.
        return (_parameter_error, (self.parameter, self.expected, self.said))


def _parameter_error(parameter: str, expected: str, said: str) -> ParameterError:
    return ParameterError(parameter, said, expected, said=said)


class ConflictingParameters(CatclfError, ValueError):
    """Settings that exclude each other, given together (validation_fraction and folds):
    parameters names them as the library's functions call them."""

    def __init__(self, *parameters: str) -> None:
        self.parameters = parameters
        super().__init__(f"give {' or '.join(parameters)}, not both")


def shown(value: object) -> str:
    """A value as a message shows it: a number as it is written, anything else as Python
    writes it (a string in quotes)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    try:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return str(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        pass
    return repr(value)


class MissingInput(CatclfError):
    """A call lacks an input it needs and cannot find for itself: data to score a model on
    when the model records no test set."""


class ImageError(CatclfError):
    """An image that cannot be read or decoded. path is what the caller named (a file, a
    folder, - for stdin, an entry of a list), when known: the message begins with it."""

    def __init__(
        self, message: str, path: str | None = None, *, advice: str | None = None, **fill: str
    ) -> None:
        super().__init__(message, advice=advice, **fill)
        self.path = path

    @property
    def reason(self) -> str:
        """The message without the path it begins with (and with its advice)."""
        message = str(self)
        if self.path is not None and message.startswith(f"{self.path}: "):
            return message[len(self.path) + 2 :]
        return message


class DataError(CatclfError):
    """A data set (folder or HDF5 file) that is missing, empty or malformed."""


class ModelError(CatclfError):
    """A model file that is missing, unreadable, or not a catclf model for this image size."""


class TrainingDiverged(CatclfError):
    """Gradient descent did not converge at the requested learning rate."""


class ClusterError(CatclfError):
    """A run on a Dask cluster (`catclf.dask`) that cannot finish as it began: no client to
    run it with, a worker that left with part of its data, a scheduler that went away."""


class ReportError(CatclfError):
    """A picture or report that cannot be drawn or written: matplotlib missing, a folder
    that cannot hold it."""


class ExportError(CatclfError):
    """A model that cannot be written in another format (ONNX, a web page): a path that
    cannot hold the file, or a file there that catclf may not replace."""


class MissingPackage(ExportError):
    """A package that an optional part of catclf needs is not installed: package names it,
    install is the command that installs it."""

    def __init__(self, needed_for: str, package: str, install: str) -> None:
        self.package, self.install = package, install
        super().__init__(
            f"{needed_for} needs the {package} package, which is not installed: {install}"
        )


def reason(e: BaseException) -> str:
    """What went wrong, in a few words on one line, for a message about a file.

    The system's words for an OSError ("Permission denied"); h5py wraps them in a long
    report, of which only its "error message = '...'" part is kept. Otherwise the first
    line of the exception's text, or its type's name when it has none.
    """
    text = str(getattr(e, "strerror", None) or e).strip()
    found = re.search(r"error message = '([^']+)'", text)
    if found:
        return found.group(1)
    return text.splitlines()[0] if text else type(e).__name__
