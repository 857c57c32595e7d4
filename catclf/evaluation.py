"""A model judged on labelled data: its scores, and the examples it gets wrong."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from catclf import parameters
from catclf.errors import DataError
from catclf.metrics import Confusion, Scores, misclassified, score

if TYPE_CHECKING:
    from catclf.dataset import Dataset, Progress
    from catclf.model import Model


@dataclass(frozen=True)
class Mistake:
    """An example the model gets wrong: its position in the data, where it came from (a
    photo's path, or "file.h5[i]"), its true label, the model's, and P(cat)."""

    index: int
    source: str
    true: str
    predicted: str
    probability: float


@dataclass(frozen=True)
class Evaluation:
    """The scores of a model on data, and its mistakes in the data's order.

    probabilities is (m,), P(cat) for each example; an example is called cat when its
    probability is above threshold.
    """

    data: Dataset
    probabilities: NDArray[np.float64]
    scores: Scores
    misclassified: list[Mistake]

    @property
    def accuracy(self) -> float:
        return self.scores.accuracy

    @property
    def accuracy_ci(self) -> tuple[float, float]:
        """The 95 % Wilson interval (low, high) of the accuracy; see `metrics.wilson_interval`."""
        return self.scores.accuracy_ci

    @property
    def baseline_accuracy(self) -> float:
        """The accuracy of always answering the data's commonest class."""
        return self.scores.baseline_accuracy

    @property
    def precision(self) -> float | None:
        return self.scores.precision

    @property
    def recall(self) -> float | None:
        return self.scores.recall

    @property
    def f1(self) -> float | None:
        return self.scores.f1

    @property
    def log_loss(self) -> float:
        return self.scores.log_loss

    @property
    def roc_auc(self) -> float | None:
        return self.scores.roc_auc

    @property
    def confusion(self) -> Confusion:
        return self.scores.confusion

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the data's name, every score, the skipped images and the mistakes."""
        return {
            "data": self.data.origin,
            **self.scores.as_dict(),
            "skipped": [{"path": s.path, "error": s.error} for s in self.data.skipped],
            "misclassified": [
                {
                    **self.where(w),
                    "true": w.true,
                    "predicted": w.predicted,
                    "probability": w.probability,
                }
                for w in self.misclassified
            ],
        }

    def where(self, mistake: Mistake) -> dict[str, Any]:
        """Where an example is, for JSON: {"path"} for a photo; {"path", "index"} of the
        HDF5 file it is in, and "source", the photo it was decoded from, when the file
        records one (as files written by `catclf prepare` do)."""
        file = self.data.hdf5_file
        if file is None:
            return {"path": mistake.source}
        found: dict[str, Any] = {"path": file, "index": mistake.index}
        if mistake.source != f"{file}[{mistake.index}]":
            found["source"] = mistake.source
        return found


def evaluate(model: Model, data: Dataset, threshold: float = 0.5) -> Evaluation:
    """model's scores on data (labelled), scored a block at a time; see `Evaluation`.
    Raises ParameterError for a threshold outside 0 to 1, DataError for data whose classes
    are not the model's (`check_classes`)."""
    threshold = parameters.threshold(threshold)
    check_classes(model, data)
    p = model.probabilities_of(data)
    mistakes = [
        Mistake(
            index=int(i),
            source=data.sources[i],
            true=data.classes[int(data.labels[i])],
            predicted=model.label(float(p[i]), threshold),
            probability=float(p[i]),
        )
        for i in misclassified(p, data.labels, threshold)
    ]
    return Evaluation(data, p, score(p, data.labels, threshold), mistakes)


def check_classes(model: Model, data: Dataset) -> None:
    """Raise DataError unless data's classes are model's, by name and in the same order
    (negative, positive): a model scored on other classes gives numbers that mean nothing."""
    if tuple(data.classes) != tuple(model.classes):
        raise DataError(
            f"{data.origin}: its classes are {_pair(data.classes)}, the model's are "
            f"{_pair(model.classes)}: score a model on data of its own classes (name the "
            "class folders as its training data did)"
        )


def _pair(classes: tuple[str, str]) -> str:
    return f"{classes[0]!r} / {classes[1]!r}"


def recorded_test_set(
    model: Model,
    name: str,
    *,
    progress: Callable[[int], Progress] | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
) -> Dataset | None:
    """The test set model records it was tested on (`Model.test_data`), read again, for the
    model file called name: the bundled test set, or the data at that path, the positive
    class named by the model; None when the model records none (it was trained without a
    test set, or by a catclf that did not record one). Raises DataError when the data is no
    longer there."""
    from catclf import datasets

    where = test_location(model)
    if where == datasets.BUNDLED_TEST_NAME:
        return datasets.bundled()[1]
    if where is None:
        return None
    if not os.path.lexists(where):
        raise DataError(f"{name}: the test set it was tested on, {where}, is no longer there")
    return datasets.load_test(
        Path(where),
        positive=model.classes[1],
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
        in_file=True,
    )


def test_location(model: Model) -> str | None:
    """Where the test set model was tested on can be read again: a path, the bundled test
    set's name, or None when the model records none."""
    from catclf.datasets import BUNDLED_NAME, BUNDLED_TEST_NAME

    if model.test_data:
        return model.test_data
    if model.train_data == BUNDLED_NAME and model.test_examples:
        return BUNDLED_TEST_NAME  # written before models recorded their test set
    return None
