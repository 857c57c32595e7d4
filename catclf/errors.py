"""The project's exceptions. Every message names what was received and what was expected."""


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
