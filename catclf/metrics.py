"""Scores of predictions against labels. Pure numpy, no I/O."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def accuracy(predictions: NDArray[np.float64], Y: NDArray[np.float64]) -> float:
    """Fraction of examples where predictions (1, m) of 0 / 1 equal labels Y (1, m)."""
    if Y.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(predictions.reshape(-1) == Y.reshape(-1)))
