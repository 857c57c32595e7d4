"""A model judged on labelled data: its scores, and the examples it gets wrong."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from catclf import datasets, parameters
from catclf.datasets import BUNDLED_NAME, BUNDLED_TEST_NAME
from catclf.errors import DataError, MissingInput
from catclf.metrics import Confusion, Scores, misclassified, score
from catclf.model import load_model
from catclf.modelfile import find
from catclf.progress import Progress, note

if TYPE_CHECKING:
    from catclf.dataset import Dataset
    from catclf.model import Model
    from catclf.progress import Progress


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
    model_file: str | None = None  # the model's file, when it was read from one (`run`)
    min_accuracy: float | None = None  # the accuracy asked of it (`run`)

    def __repr__(self) -> str:
        return (
            f"Evaluation(data={self.data.origin!r}, examples={self.scores.examples}, "
            f"accuracy={self.accuracy:.4g}, misclassified={len(self.misclassified)})"
        )

    @property
    def below(self) -> bool:
        """Whether the accuracy is below the min_accuracy asked of it."""
        return self.min_accuracy is not None and self.accuracy < self.min_accuracy

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
            **({} if self.model_file is None else {"model": self.model_file}),
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


def run(
    data: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    threshold: float = 0.5,
    min_accuracy: float | None = None,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
) -> Evaluation:
    """A whole evaluation, as `catclf evaluate DATA` makes it: the model file
    (`catclf.modelfile.find`, model naming it) read before any data, then scored on data, in
    any form `catclf.datasets.load_test` reads, or without data on the test set the model
    records (`recorded_test_set`); min_accuracy, from 0 to 1, is what its accuracy is
    judged against (`Evaluation.below`). Raises MissingInput when it records none."""
    threshold = parameters.threshold(threshold)
    if min_accuracy is not None:
        min_accuracy = parameters.accuracy(min_accuracy, "min_accuracy")
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    path = find(model)
    classifier = load_model(path)  # before decoding a large folder, not after
    test_set = labelled_data(
        classifier,
        str(path),
        data,
        positive=positive,
        strict=strict,
        jobs=jobs,
        memory_limit=memory_limit,
        progress=progress,
    )
    if test_set is None:
        raise MissingInput(f"{path} records no test set it was tested on", advice="data")
    result = evaluate(classifier, test_set, threshold)
    return replace(result, model_file=str(path), min_accuracy=min_accuracy)


def labelled_data(
    model: Model,
    name: str,
    data: str | os.PathLike[str] | None,
    *,
    positive: str | None,
    strict: bool,
    jobs: int,
    memory_limit: int | None,
    progress: Progress | None,
) -> Dataset | None:
    """The labelled data to score model (read from the file called name) on, as `run` and
    `catclf.report.run` take it: data in any form `catclf.datasets.load_test` reads, left in
    its file when it is one (scored in one pass, a slice at a time is enough); without data,
    the test set model records (`recorded_test_set`), None when it records none. Notes
    which is scored."""
    if data is None:
        found = recorded_test_set(
            model, name, progress=progress, jobs=jobs, memory_limit=memory_limit
        )
        if found is not None:
            note(f"scoring the test set the model was tested on, {found.origin}")
        return found
    found = datasets.load_test(
        Path(data),
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
        in_file=True,
    )
    note(f"scoring {found.origin}: {found.describe()}")
    return found


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
    progress: Progress | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
) -> Dataset | None:
    """The test set model records it was tested on (`Model.test_data`), read again, for the
    model file called name: the bundled test set, or the data at that path, the positive
    class named by the model; None when the model records none (it was trained without a
    test set, or by a catclf that did not record one). Raises DataError when the data is no
    longer there."""
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
    if model.test_data:
        return model.test_data
    if model.train_data == BUNDLED_NAME and model.test_examples:
        return BUNDLED_TEST_NAME  # written before models recorded their test set
    return None
