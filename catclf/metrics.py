"""Scores of predictions against labels. Pure numpy, no I/O.

Probabilities are of the positive class (cat), an array of shape (m,) in [0, 1];
labels are (m,) of 0 / 1. An example is predicted positive when its probability is
strictly above the threshold, as `catclf predict` labels it.

A score that the data cannot define is None, never NaN: precision when nothing is
predicted positive, recall when there are no positive examples, F1 when there are
neither positive examples nor positive predictions, ROC AUC when only one class is
present. Empty input raises ValueError.

An accuracy measured on m examples is uncertain: `wilson_interval` gives the range of
true accuracies it is consistent with, and `baseline_accuracy` what always answering the
commonest class scores on the same labels, the figure any classifier must beat.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Probabilities are kept this far from 0 and 1 in the log loss, so that a confident
# wrong answer costs -log(1e-15) = 34.5 rather than infinity.
EPSILON = 1e-15
CONFIDENCE = 0.95  # of the accuracy interval that `score` gives


@dataclass(frozen=True)
class Confusion:
    """Counts of true / false positives and negatives."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def examples(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


@dataclass(frozen=True)
class Scores:
    """Every score of one set of predictions; see the module docstring for None.

    accuracy_ci is the Wilson interval (low, high) of the accuracy at CONFIDENCE (95 %);
    baseline_accuracy the accuracy of always answering the commonest class.
    """

    examples: int
    threshold: float
    accuracy: float
    accuracy_ci: tuple[float, float]
    baseline_accuracy: float
    precision: float | None
    recall: float | None
    f1: float | None
    log_loss: float
    roc_auc: float | None
    confusion: Confusion

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers or None, accuracy_ci as [low, high], confusion as
        {"tp", "fp", "tn", "fn"}."""
        return {**asdict(self), "accuracy_ci": list(self.accuracy_ci)}


def accuracy(predictions: NDArray[np.float64], Y: NDArray[np.float64]) -> float:
    """Fraction of examples where predictions (1, m) of 0 / 1 equal labels Y (1, m)."""
    if Y.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(predictions.reshape(-1) == Y.reshape(-1)))


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (low, high) of a proportion: correct successes in n trials.

    With p = correct / n and z the two-sided normal quantile of confidence (1.959964 for
    0.95), it is the set of true proportions q with |p - q| <= z sqrt(q (1 - q) / n):
        (p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n).
    Unlike p -+ z sqrt(p (1 - p) / n) it stays within [0, 1] and is not empty at p = 0 or
    1; it is exactly 0 at correct = 0 and exactly 1 at correct = n.
    Raises ValueError unless 0 <= correct <= n, n >= 1 and 0 < confidence < 1.
    """
    if n < 1 or not 0 <= correct <= n or correct != int(correct) or n != int(n):
        raise ValueError(f"{correct} of {n}: expected whole numbers with 0 <= correct <= n, n >= 1")
    if not 0.0 < confidence < 1.0:  # NaN fails too
        raise ValueError(f"confidence is {confidence}, expected a number between 0 and 1")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = correct / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return low, high


def baseline_accuracy(labels: NDArray[np.integer] | NDArray[np.float64]) -> float:
    """The accuracy, on labels (m,) of 0 / 1 (or (1, m)), of always answering the commonest
    class: max(positives, negatives) / m. Raises ValueError for no labels or others than
    0 / 1."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise ValueError("no labels: the baseline of an empty set is undefined")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    positives = int(np.sum(y == 1))
    return max(positives, y.size - positives) / y.size


def confusion(
    probabilities: NDArray[np.float64],
    labels: NDArray[np.integer] | NDArray[np.float64],
    threshold: float = 0.5,
) -> Confusion:
    """Counts for probabilities (m,) against labels (m,), positive when p > threshold."""
    p, y = _checked(probabilities, labels)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is {threshold}, expected a number from 0 to 1")
    predicted = p > threshold
    actual = y == 1
    return Confusion(
        tp=int(np.sum(predicted & actual)),
        fp=int(np.sum(predicted & ~actual)),
        tn=int(np.sum(~predicted & ~actual)),
        fn=int(np.sum(~predicted & actual)),
    )


def misclassified(
    probabilities: NDArray[np.float64],
    labels: NDArray[np.integer] | NDArray[np.float64],
    threshold: float = 0.5,
) -> NDArray[np.intp]:
    """Indices, in order, of the examples the probabilities (m,) get wrong against labels
    (m,): called positive (p > threshold) where the label is 0, or not where it is 1."""
    p, y = _checked(probabilities, labels)
    return np.flatnonzero((p > threshold) != (y == 1))


def precision(c: Confusion) -> float | None:
    """TP / (TP + FP): of the examples called positive, the fraction that are.
    None when nothing is called positive."""
    return _ratio(c.tp, c.tp + c.fp)


def recall(c: Confusion) -> float | None:
    """TP / (TP + FN): of the positive examples, the fraction found.
    None when there are no positive examples."""
    return _ratio(c.tp, c.tp + c.fn)


def f1(c: Confusion) -> float | None:
    """The harmonic mean of precision and recall, written as 2 TP / (2 TP + FP + FN).

    That form is the harmonic mean wherever both are defined, and its limit where one
    is not: 0 when positive examples exist but none is called positive (recall 0).
    None only when there are neither positive examples nor positive predictions.
    """
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def log_loss(
    probabilities: NDArray[np.float64], labels: NDArray[np.integer] | NDArray[np.float64]
) -> float:
    """Mean cross-entropy -(y log p + (1 - y) log(1 - p)) over probabilities (m,) and
    labels (m,), with p clipped to [EPSILON, 1 - EPSILON] so that it stays finite."""
    p, y = _checked(probabilities, labels)
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def roc_auc(
    probabilities: NDArray[np.float64], labels: NDArray[np.integer] | NDArray[np.float64]
) -> float | None:
    """Area under the ROC curve: the chance that a random positive example has a higher
    probability than a random negative one, a tie counting one half.

    Computed from ranks (the Mann-Whitney U statistic) in O(m log m): tied probabilities
    share the mean of their ranks, and U = (sum of the positives' ranks) - P (P + 1) / 2
    counts the pairs a positive wins, so AUC = U / (P N). None when P or N is 0.
    """
    p, y = _checked(probabilities, labels)
    positives = int(np.sum(y == 1))
    negatives = p.size - positives
    if positives == 0 or negatives == 0:
        return None
    _, group, counts = np.unique(p, return_inverse=True, return_counts=True)
    # A group of tied values fills ranks end - count + 1 .. end; its mean rank is this.
    ends = np.cumsum(counts)
    mean_ranks = ends - (counts - 1) / 2.0
    ranks = mean_ranks[group.reshape(-1)]
    u = float(np.sum(ranks[y == 1])) - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def score(
    probabilities: NDArray[np.float64],
    labels: NDArray[np.integer] | NDArray[np.float64],
    threshold: float = 0.5,
) -> Scores:
    """All the scores of probabilities (m,) in [0, 1] against labels (m,) of 0 / 1,
    an example being predicted positive when its probability is above threshold.

    Raises ValueError for empty input, arrays of different sizes, labels other than
    0 / 1, or probabilities outside [0, 1] (NaN included).
    """
    c = confusion(probabilities, labels, threshold)
    return Scores(
        examples=c.examples,
        threshold=float(threshold),
        accuracy=(c.tp + c.tn) / c.examples,
        accuracy_ci=wilson_interval(c.tp + c.tn, c.examples, CONFIDENCE),
        baseline_accuracy=baseline_accuracy(labels),
        precision=precision(c),
        recall=recall(c),
        f1=f1(c),
        log_loss=log_loss(probabilities, labels),
        roc_auc=roc_auc(probabilities, labels),
        confusion=c,
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _checked(
    probabilities: NDArray[np.float64], labels: NDArray[np.integer] | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """probabilities and labels as float arrays of shape (m,), after checking them."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no examples to score")
    if p.size != y.size:
        raise ValueError(f"{p.size} probabilities but {y.size} labels")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails both comparisons
        raise ValueError("probabilities must be numbers from 0 to 1")
    return p, y
