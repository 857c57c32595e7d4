"""The project's exceptions. Every message names what was received and what was expected."""

import re


class CatclfError(Exception):
    """Base class of every error catclf reports to a user."""


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


def shown(value: object) -> str:
    """A value as a message shows it: a number as it is written, anything else as Python
    writes it (a string in quotes)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    try:
        import numbers

        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return str(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        pass
    return repr(value)


class ImageError(CatclfError):
    """An image that cannot be read or decoded. path is what the caller named (a file, a
    folder, - for stdin, an entry of a list), when known: the message begins with it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    @property
    def reason(self) -> str:
        """The message without the path it begins with."""
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


class ReportError(CatclfError):
    """A picture or report that cannot be drawn or written: matplotlib missing, a folder
    that cannot hold it."""


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
