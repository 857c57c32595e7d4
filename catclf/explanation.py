"""Why a linear model gave an image its probability: the logit split into each pixel's share.

For logistic regression z = w . x + b = b + sum_i w_i x_i, so every prediction is explained
exactly by the 12288 contributions w_i x_i (x_i a pixel value / 255): the parts add up to z.
Against a baseline image x0 (the average training image, say), the same split reads
z = (w . x0 + b) + sum_i w_i (x_i - x0_i), as SHAP's linear explainer measures it; against
a black image x0 = 0 and the two splits are one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf.images import CHANNELS, IMAGE_SIZE, to_columns
from catclf.logistic import predict_proba

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)


@dataclass(frozen=True, eq=False)
class Explanation:
    """One image's probability, its logit, and the logit's parts.

    contributions (64, 64, 3): each value's share of the logit, w_i (x_i - x0_i);
    base: the logit of the baseline image x0 (the bias b against black);
    toward / away: the sum of the positive / negative contributions, so that
    logit = base + toward + away.
    """

    source: str
    pixels: NDArray[np.uint8]  # (64, 64, 3), the image as the model saw it
    contributions: NDArray[np.float64]
    baseline: str
    bias: float
    base: float
    logit: float
    probability: float
    label: str
    classes: tuple[str, str]

    @property
    def toward(self) -> float:
        """What pushed the logit toward the positive class (classes[1]): >= 0."""
        return float(np.sum(self.contributions, where=self.contributions > 0))

    @property
    def away(self) -> float:
        """What pushed it toward the negative class: <= 0."""
        return float(np.sum(self.contributions, where=self.contributions < 0))

    @property
    def map(self) -> NDArray[np.float64]:
        """(64, 64): each pixel's share, its three colours summed."""
        return self.contributions.sum(axis=2)

    @property
    def limit(self) -> float:
        """The largest |share| of a pixel in `map`: the map's colours run from -limit to
        +limit, symmetric about zero (1.0 when every share is 0)."""
        return float(np.max(np.abs(self.map))) or 1.0

    def __repr__(self) -> str:
        return (
            f"Explanation({self.source!r}: {self.label}, probability {self.probability:.6g}, "
            f"logit {self.logit:.6g} = {self.baseline} baseline {self.base:.6g} "
            f"+ toward {self.toward:.6g} + away {self.away:.6g})"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the numbers, and the contributions as 64 rows of 64 pixels of 3."""
        return {
            "path": self.source,
            "probability": self.probability,
            "label": self.label,
            "logit": self.logit,
            "baseline": self.baseline,
            "bias": self.bias,
            "base": self.base,
            "toward": self.toward,
            "away": self.away,
            "classes": list(self.classes),
            "contributions": self.contributions.tolist(),
        }


def explain(
    w: NDArray[np.float64],
    b: float,
    pixels: NDArray[np.uint8],
    baseline: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], float, float, float]:
    """(contributions (64, 64, 3), base, logit, probability) of pixels (64, 64, 3) uint8
    under w (12288, 1) and b, against baseline (12288, 1) of values / 255, or a black image
    when None.

    The logit and probability are computed as the model scores an image (sigmoid of
    w^T x + b for the one column x), so they are the very numbers `predict` gives; the
    contributions add up to logit - base, within float rounding.
    """
    x = to_columns(pixels[np.newaxis])  # (12288, 1), values / 255
    z = float((w.T @ x + b)[0, 0])
    shift = x if baseline is None else x - baseline
    contributions = (w * shift).reshape(SHAPE)
    base = b if baseline is None else float((w.T @ baseline)[0, 0]) + b
    return contributions, base, z, float(predict_proba(w, b, x)[0, 0])
