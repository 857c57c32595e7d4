"""The project's exceptions. Every message names what was received and what was expected."""

import re


class CatclfError(Exception):
    """Base class of every error catclf reports to a user."""


class ImageError(CatclfError):
    """An image that cannot be read or decoded."""


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
