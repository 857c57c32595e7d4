"""catclf: a cat / non-cat image classifier built on vectorized logistic regression."""

__version__ = "1.0.0"
