"""Examples held out of the training data, so that choices are never made on the test set:
a validation part (`validation_split`) and k-fold cross-validation (`cross_validate`).

Which examples are held out is decided by what each example is, never by chance or by its
position. An example is known by its pixels: the SHA-256 of its 64 x 64 x 3 bytes (rows,
columns, channels, as `image.tobytes()` gives them), placed in [0, 1) by `stable_fraction`,
the hash with which `catclf prepare` places a photo by its path. So the same data gives the
same split whatever its order, its file names or its form (photos, or the course file
`catclf prepare` made of them), and identical images always fall on the same side: no
held-out example is also trained on. Pixels rather than names, since names say where an
example is ("train_catvnoncat.h5[17]" changes with the file's place and the example's
row), not what it is.

Within each class the examples are put in the order of their hashes, identical images
together as one, and then
- `validation_split` holds out the first round(fraction * n) of a class's n examples (at
  least one, never all): the low end of the hash order, as prepare's test set is, but cut
  at a count rather than at the fraction, so that each class gives exactly its share;
- `fold_assignment` deals them in turn into the folds, the turn running on from one class
  to the next: each fold holds its share of each class to within one example, and the
  folds' sizes differ by at most one (identical images, dealt as one, can add to that).
Adding an example moves at most one other across a validation line, and reshuffles the
folds only of the examples after it in its class's order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf import parameters
from catclf.datasets import MAX_READ_ROWS, Dataset
from catclf.errors import DataError, TrainingDiverged
from catclf.logistic import Callback
from catclf.metrics import baseline_accuracy
from catclf.model import Model, Settings


def stable_fraction(key: bytes) -> float:
    """Where key falls in [0, 1): the first 8 bytes of its SHA-256, big-endian, over 2**64.
    The same key gives the same fraction on any machine, in any run."""
    digest = hashlib.sha256(key).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def example_fractions(data: Dataset) -> NDArray[np.float64]:
    """stable_fraction of each example's pixels, (m,): the identity that places it.
    Of a set left in its file, the images are read a slice at a time."""
    fractions = np.empty(data.m)
    i = 0
    for pixels in data.slices(MAX_READ_ROWS):
        for image in pixels:
            fractions[i] = stable_fraction(image.tobytes())
            i += 1
    return fractions


def _ranked_groups(
    fractions: NDArray[np.float64], members: NDArray[np.intp]
) -> list[NDArray[np.intp]]:
    """members (positions) in the order of their fractions, those of equal fraction (the
    same image) together as one group; each group in increasing position."""
    order = members[np.argsort(fractions[members], kind="stable")]
    ranked = fractions[order]
    return np.split(order, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1)


def validation_split(data: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    """(training part, validation part) of data: about fraction of each class held out.

    data has m examples; the parts have m - v and v, each in data's order. Of each class
    of n >= 2 examples, the round(fraction * n) (at least 1, at most n - 1) first in the
    order of their hashes are held out (see the module docstring); a class of a single
    example stays in the training part. Raises ParameterError unless 0 < fraction < 1, and
    DataError when nothing can be held out.
    """
    fraction = parameters.fraction(fraction, "validation_fraction")
    fractions = example_fractions(data)
    held = np.zeros(data.m, dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(data.labels == label)
        n = members.size
        if n < 2:
            continue
        share = min(max(math.floor(fraction * n + 0.5), 1), n - 1)
        taken = 0
        for group in _ranked_groups(fractions, members):
            # Never all of a class: the training part keeps at least one.
            if taken >= share or taken + group.size > n - 1:
                break
            held[group] = True
            taken += group.size
    if not held.any():
        raise DataError(
            f"{data.origin}: too few examples to hold out a validation part: each class "
            f"needs 2 different images ({data.describe()})"
        )
    return (
        data.subset(np.flatnonzero(~held), f"{data.origin} (training part)"),
        data.subset(np.flatnonzero(held), f"{data.origin} (validation part)"),
    )


def fold_assignment(data: Dataset, folds: int) -> NDArray[np.intp]:
    """The fold, 0 to folds - 1, of each example of data: (m,), dealt in the order of the
    examples' hashes class by class (see the module docstring). Raises ParameterError for
    fewer than 2 folds, and DataError when a fold would hold no example or its
    complement miss a class (a class needs 2 different images)."""
    folds = parameters.folds(folds)
    fractions = example_fractions(data)
    assignment = np.empty(data.m, dtype=np.intp)
    turn = 0
    for label in (0, 1):
        groups = _ranked_groups(fractions, np.flatnonzero(data.labels == label))
        if len(groups) < 2:
            found = (
                "no image"
                if not groups
                else "a single image"
                if groups[0].size == 1
                else (f"{groups[0].size} copies of one image")
            )
            raise DataError(
                f"{data.origin}: cross-validation needs at least 2 different images of each "
                f"class; {data.classes[label]!r} has {found}"
            )
        for group in groups:
            assignment[group] = turn % folds
            turn += 1
    if turn < folds:
        raise DataError(
            f"{data.origin}: {turn} different images cannot fill {folds} folds; use fewer folds"
        )
    return assignment


@dataclass(frozen=True)
class Fold:
    """One fold of a cross-validation: the examples held out (validation_indices, their
    positions in the data, increasing) and the model trained on all the others."""

    validation_indices: NDArray[np.intp]
    model: Model

    @property
    def train_examples(self) -> int:
        return self.model.train_examples

    @property
    def validation_examples(self) -> int:
        return self.model.validation_examples

    @property
    def train_accuracy(self) -> float:
        return self.model.train_accuracy

    @property
    def validation_accuracy(self) -> float:
        assert self.model.validation_accuracy is not None
        return self.model.validation_accuracy

    @property
    def validation_cost(self) -> float:
        """The cross-entropy of the held-out examples (no L2 penalty)."""
        assert self.model.validation_cost is not None
        return self.model.validation_cost

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the held-out positions and what training without them found."""
        return {
            "validation_indices": self.validation_indices.tolist(),
            "train_examples": self.train_examples,
            "validation_examples": self.validation_examples,
            "train_accuracy": self.train_accuracy,
            "validation_accuracy": self.validation_accuracy,
            "validation_cost": self.validation_cost,
            "final_cost": self.model.final_cost,
        }


@dataclass(frozen=True)
class CrossValidation:
    """What k-fold cross-validation of one setting found on data (named by `data`).

    Each example is held out by exactly one fold. The means are plain means over the
    folds (whose sizes differ by at most one); the standard deviations are the sample
    standard deviations over the folds (divided by k - 1), the spread a fold's figure
    has around the mean. baseline_accuracy is the accuracy of always answering the
    data's commonest class, the figure a classifier must beat.
    """

    data: str
    examples: int
    classes: tuple[str, str]
    settings: Settings
    folds: tuple[Fold, ...]
    baseline_accuracy: float

    @property
    def validation_accuracies(self) -> list[float]:
        return [f.validation_accuracy for f in self.folds]

    @property
    def mean_validation_accuracy(self) -> float:
        return float(np.mean(self.validation_accuracies))

    @property
    def std_validation_accuracy(self) -> float:
        """Sample standard deviation (ddof 1) of the folds' validation accuracies."""
        return float(np.std(self.validation_accuracies, ddof=1))

    @property
    def mean_train_accuracy(self) -> float:
        return float(np.mean([f.train_accuracy for f in self.folds]))

    @property
    def std_train_accuracy(self) -> float:
        """Sample standard deviation (ddof 1) of the folds' training accuracies."""
        return float(np.std([f.train_accuracy for f in self.folds], ddof=1))

    @property
    def mean_validation_cost(self) -> float:
        return float(np.mean([f.validation_cost for f in self.folds]))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the settings, each fold, and the means, sample standard deviations
        and baseline."""
        return {
            "data": self.data,
            "examples": self.examples,
            "classes": list(self.classes),
            "learning_rate": self.settings.learning_rate,
            "num_iterations": self.settings.num_iterations,
            "l2": self.settings.l2,
            "solver": self.folds[0].model.solver,
            "folds": [f.as_dict() for f in self.folds],
            "mean_train_accuracy": self.mean_train_accuracy,
            "std_train_accuracy": self.std_train_accuracy,
            "mean_validation_accuracy": self.mean_validation_accuracy,
            "std_validation_accuracy": self.std_validation_accuracy,
            "mean_validation_cost": self.mean_validation_cost,
            "baseline_accuracy": self.baseline_accuracy,
        }


def cross_validate(
    data: Dataset,
    folds: int = 5,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    solver: str = "auto",
    memory_limit: int | None = None,
    on_fold: Callable[[int], Callback | None] | None = None,
) -> CrossValidation:
    """k-fold cross-validation: for each fold of `fold_assignment`, `catclf.train` from
    w = 0 on the other folds, judged on that one.

    learning_rate, num_iterations, l2, solver and memory_limit are passed to each
    training. on_fold(k), if given, is called before fold k (0 to folds - 1) is trained
    and returns that training's on_iteration, or None. Every fold's numbers can be had
    again by training on the examples outside its validation_indices with the same
    settings. Raises TrainingDiverged (naming the fold) when a fold's training diverges,
    and DataError, ParameterError as `fold_assignment` does.
    """
    # training imports this module for its splits; train is looked up when it is needed.
    from catclf.training import train

    # Checked before the examples are hashed, not when the first fold is trained.
    settings = Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    folds = parameters.folds(folds)
    solver = parameters.solver(solver)
    assignment = fold_assignment(data, folds)
    done: list[Fold] = []
    for k in range(folds):
        held = np.flatnonzero(assignment == k)
        name = f"fold {k + 1} of {folds}"
        watch = None if on_fold is None else on_fold(k)
        try:
            trained = train(
                data.subset(np.flatnonzero(assignment != k), f"{data.origin} without {name}"),
                None,
                validation_set=data.subset(held, f"{data.origin}, {name}"),
                learning_rate=learning_rate,
                num_iterations=num_iterations,
                l2=l2,
                solver=solver,
                memory_limit=memory_limit,
                on_iteration=watch,
            )
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{name}: {e}") from e
        done.append(Fold(held, trained))
    return CrossValidation(
        data=data.origin,
        examples=data.m,
        classes=data.classes,
        settings=settings,
        folds=tuple(done),
        baseline_accuracy=baseline_accuracy(data.labels),
    )
