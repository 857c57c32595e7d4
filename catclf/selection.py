"""Choosing settings without the test set: k-fold cross-validation of one setting
(`cross_validate`), and a sweep of learning rates and penalties judged on examples held out
of the training data (`sweep`). Both train with `catclf.training`; which examples are held
out is `catclf.splits`'s to decide."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf import parameters, splits
from catclf.dataset import Dataset
from catclf.datasets import load_data
from catclf.errors import ConflictingParameters, TrainingDiverged
from catclf.logistic import COST_EVERY
from catclf.metrics import baseline_accuracy
from catclf.model import Model, Settings
from catclf.progress import Progress, Step, note, unwatched, warn, within
from catclf.training import (
    Plan,
    cost_warnings,
    example_fractions,
    plan,
    plan_notes,
    run_summary,
    train,
    validation_split,
)


def fold_assignment(data: Dataset, folds: int) -> NDArray[np.intp]:
    """The fold, 0 to folds - 1, of each example of data: (m,), as `splits.fold_numbers`
    deals them. Raises ParameterError for fewer than 2 folds, and DataError when a fold
    would hold no example or its complement miss a class."""
    folds = parameters.folds(folds)
    return splits.fold_numbers(
        example_fractions(data), data.labels, folds, data.classes, data.origin
    )


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
    positives: int = 0  # the data's examples of the positive class
    described: str = ""  # the data in words (`Dataset.describe`)

    def __repr__(self) -> str:
        return (
            f"CrossValidation(data={self.data!r}, folds={len(self.folds)}, "
            f"mean_validation_accuracy={self.mean_validation_accuracy:.4g})"
        )

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
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
) -> CrossValidation:
    """k-fold cross-validation: for each fold of `fold_assignment`, `catclf.train` from
    w = 0 on the other folds, judged on that one.

    learning_rate, num_iterations, l2, solver and memory_limit are passed to each
    training. progress watches each fold's training as a task of its own, "fold 1 of 5"
    and so on (`catclf.progress`). Every fold's numbers can be had again by training on the
    examples outside its validation_indices with the same settings. Raises TrainingDiverged
    (naming the fold) when a fold's training diverges, and DataError, ParameterError as
    `fold_assignment` does.
    """
    # Checked before the examples are hashed, not when the first fold is trained.
    settings = Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    folds = parameters.folds(folds)
    solver = parameters.solver(solver)
    memory_limit = parameters.memory_limit(memory_limit)
    assignment = fold_assignment(data, folds)
    if progress is None or not getattr(progress, "within", False):
        note(f"cross-validating on {data.origin}: {data.describe()}")
    done: list[Fold] = []
    for k in range(folds):
        held = np.flatnonzero(assignment == k)
        name = f"fold {k + 1} of {folds}"
        watch = within((progress or unwatched)(name, num_iterations))
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
                progress=watch,
            )
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{name}: {e.message}", advice=e.advice) from e
        done.append(Fold(held, trained))
    return CrossValidation(
        data=data.origin,
        examples=data.m,
        classes=data.classes,
        settings=settings,
        folds=tuple(done),
        baseline_accuracy=baseline_accuracy(data.labels),
        positives=data.positives,
        described=data.describe(),
    )


def run_cv(
    data: str | os.PathLike[str] | None = None,
    folds: int = 5,
    *,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    solver: str = "auto",
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
) -> CrossValidation:
    """A whole cross-validation, as `catclf cv DATA` makes it: the settings checked, the
    training data read (`catclf.datasets.load_data`: any test set it brings is left
    alone), and `cross_validate`. jobs and memory_limit as `catclf.training.run` takes them."""
    Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    folds = parameters.folds(folds)
    solver = parameters.solver(solver)
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    train_set, _ = load_data(
        data,
        None,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
    )
    return cross_validate(
        train_set,
        folds,
        learning_rate=learning_rate,
        num_iterations=num_iterations,
        l2=l2,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
    )


@dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep: the model, or why it diverged and the costs recorded
    until then (iterations 0, 100, ...).

    selected_by says what the sweep judged its runs by: "validation" (a part of the
    training data held out), "cross-validation", or None when nothing was held out and
    no run is judged. validation_accuracy and validation_cost are the held-out figures the
    run is judged by: its validation part's, or with cross-validation the means over the
    folds (cross_validation holds each fold). best marks the run the sweep prefers: the
    highest validation accuracy, then the lowest validation cost, then the first. The
    test set never takes part in the choice.
    """

    learning_rate: float
    num_iterations: int
    model: Model | None
    costs: tuple[float, ...]
    diverged: str | None
    seconds: float
    best: bool = False
    l2: float = 0.0
    selected_by: str | None = None
    validation_examples: int = 0
    cross_validation: CrossValidation | None = None

    def __repr__(self) -> str:
        how = "diverged" if self.model is None else f"final_cost={self.final_cost:.6g}"
        return (
            f"SweepRun(learning_rate={self.learning_rate:g}, l2={self.l2:g}, {how}"
            + (", best" if self.best else "")
            + ")"
        )

    @property
    def train_accuracy(self) -> float | None:
        return None if self.model is None else self.model.train_accuracy

    @property
    def test_accuracy(self) -> float | None:
        return None if self.model is None else self.model.test_accuracy

    @property
    def final_cost(self) -> float | None:
        return None if self.model is None else self.model.final_cost

    @property
    def warnings(self) -> list[str]:
        """`cost_warnings` of its model; none for a run that diverged."""
        return [] if self.model is None else cost_warnings(self.model)

    @property
    def validation_accuracy(self) -> float | None:
        if self.cross_validation is not None:
            return self.cross_validation.mean_validation_accuracy
        return None if self.model is None else self.model.validation_accuracy

    @property
    def validation_cost(self) -> float | None:
        if self.cross_validation is not None:
            return self.cross_validation.mean_validation_cost
        return None if self.model is None else self.model.validation_cost

    def as_dict(self, train_set: Dataset, test_set: Dataset | None) -> dict[str, Any]:
        """JSON-ready, as `catclf sweep --json` prints each run: `run_summary`, whose
        validation figures are, with cross-validation, the means over the folds (every
        example held out once, so validation_examples is all of them, and no interval
        is given), and cross_validation, `CrossValidation.as_dict` or None."""
        summary = run_summary(
            train_set,
            test_set,
            self.learning_rate,
            self.num_iterations,
            self.model,
            l2=self.l2,
            validation_examples=self.validation_examples,
        )
        cv = self.cross_validation
        if cv is not None:
            summary.update(
                validation_examples=cv.examples,
                validation_accuracy=self.validation_accuracy,
                validation_accuracy_ci=None,
                validation_cost=self.validation_cost,
            )
        return {
            **summary,
            "diverged": self.model is None,
            "reason": self.diverged,
            "selected_by": self.selected_by,
            "best": self.best,
            "cross_validation": None if cv is None else cv.as_dict(),
            "model": None,
            "costs": list(self.costs),
            "seconds": round(self.seconds, 3),
        }


def sweep(
    train_set: Dataset,
    test_set: Dataset | None,
    learning_rates: Sequence[float],
    *,
    num_iterations: int = Settings.num_iterations,
    l2_values: Sequence[float] = (Settings.l2,),
    validation_fraction: float | None = None,
    folds: int | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
) -> list[SweepRun]:
    """One training run per learning rate and L2 penalty on the same data; see `train`.

    The runs come in the order of the grid: for each learning rate in turn, each of
    l2_values. A run whose training diverges gives a run with model None and the reason,
    and the others still run.

    The runs are judged on examples held out of train_set, never on the test set:
    - validation_fraction: the same validation part (`validation.validation_split`) is
      held out of every run, whose model is trained on the rest;
    - folds: each setting is also cross-validated (`validation.cross_validate`) on
      train_set, and its model trained on all of it;
    - neither: no run is judged, and none is best.
    The best run then has the highest validation accuracy, a tie going to the lower
    validation cost, then to the first; see `SweepRun`.

    progress watches each run as a task of its own, "rate 0.01" (and "l2 0.5" when several
    penalties are tried), of (folds + 1) * num_iterations steps with folds: its model's
    training, then each fold's (`catclf.progress`). Each diverged run, and each run's cost
    warnings (`training.cost_warnings`), are noted. Raises ParameterError for both
    validation_fraction and folds, or a bad setting.
    """
    return _sweep(
        train_set,
        test_set,
        learning_rates,
        num_iterations=num_iterations,
        l2_values=l2_values,
        validation_fraction=validation_fraction,
        folds=folds,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
    )[0]


def _sweep(
    train_set: Dataset,
    test_set: Dataset | None,
    learning_rates: Sequence[float],
    *,
    num_iterations: int = Settings.num_iterations,
    l2_values: Sequence[float] = (Settings.l2,),
    validation_fraction: float | None = None,
    folds: int | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
) -> tuple[list[SweepRun], Plan]:
    """`sweep`'s runs, and the plan each of them followed."""
    learning_rates = parameters.values(parameters.learning_rate, learning_rates, "learning_rates")
    l2_values = parameters.values(parameters.l2, l2_values, "l2_values")
    num_iterations = parameters.num_iterations(num_iterations)
    solver = parameters.solver(solver)
    memory_limit = parameters.memory_limit(memory_limit)
    if validation_fraction is not None and folds is not None:
        raise ConflictingParameters("validation_fraction", "folds")
    if validation_fraction is not None:
        validation_fraction = parameters.fraction(validation_fraction, "validation_fraction")
    if folds is not None:
        folds = parameters.folds(folds)
    fit_set, validation_set = train_set, None
    selected_by = None
    if validation_fraction is not None:
        fit_set, validation_set = validation_split(train_set, validation_fraction)
        selected_by = "validation"
    elif folds is not None:
        fold_assignment(train_set, folds)  # a set that cannot be folded fails before any run
        selected_by = "cross-validation"
    note(f"training on {train_set.origin}: {train_set.describe()}")
    if test_set is not None:
        note(f"testing on {test_set.origin}: {test_set.describe()}")
    how = plan(fit_set, num_iterations, solver=solver, memory_limit=memory_limit)
    for line in plan_notes(how, fit_set.m):
        note(line)
    runs: list[SweepRun] = []
    for rate in learning_rates:
        for l2 in l2_values:
            task = f"rate {rate:g}" + (f", l2 {l2:g}" if len(l2_values) > 1 else "")
            run = _sweep_run(
                fit_set,
                test_set,
                validation_set,
                Settings(learning_rate=rate, num_iterations=num_iterations, l2=l2),
                folds=folds,
                data=train_set,
                solver=solver,
                memory_limit=memory_limit,
                step=(progress or unwatched)(task, num_iterations * (1 + (folds or 0))),
                selected_by=selected_by,
            )
            for said in run.warnings:
                warn(said)
            runs.append(run)
    finished = [i for i, r in enumerate(runs) if r.model is not None]
    if selected_by is not None and finished:
        # min keeps the first of equals: a tie goes to the earlier run.
        best = min(
            finished,
            key=lambda i: (
                -(runs[i].validation_accuracy or 0.0),
                runs[i].validation_cost or 0.0,
            ),
        )
        runs[best] = replace(runs[best], best=True)
    if selected_by is None:
        note(
            "no run is marked best: nothing was held out of the training data to judge them "
            "by; the test set is never used to choose"
        )
    return runs, how


SWEEP_RATES = (0.01, 0.001, 0.0001)  # the course's


@dataclass(frozen=True, eq=False)
class Sweep:
    """What a whole sweep did (`run_sweep`): its runs in the order of the grid, the data
    they were trained and tested on, how they computed (the same for every run), and the
    files its pictures were written to (`catclf.curves`)."""

    runs: list[SweepRun]
    train_set: Dataset
    test_set: Dataset | None
    plan: Plan
    written: list[Path] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        """Whether every run diverged: the sweep found nothing."""
        return all(run.model is None for run in self.runs)

    def as_dict(self) -> list[dict[str, Any]]:
        """JSON-ready, as `catclf sweep --json` prints it: each run's `SweepRun.as_dict`,
        with the images left out of the data, the solver and whether the data was
        streamed."""
        sets = [d for d in (self.train_set, self.test_set) if d is not None]
        skipped = [{"path": s.path, "error": s.error} for d in sets for s in d.skipped]
        return [
            {
                **run.as_dict(self.train_set, self.test_set),
                "skipped": skipped,
                "solver": self.plan.solver,
                "streamed": self.plan.streamed,
            }
            for run in self.runs
        ]

    def __repr__(self) -> str:
        best = next((r for r in self.runs if r.best), None)
        return f"Sweep({len(self.runs)} runs on {self.train_set.origin!r}, best={best!r})"


def run_sweep(
    data: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    *,
    learning_rates: Sequence[float] = SWEEP_RATES,
    num_iterations: int = Settings.num_iterations,
    l2_values: Sequence[float] = (Settings.l2,),
    validation_fraction: float | None = None,
    folds: int | None = None,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
) -> Sweep:
    """A whole sweep, as `catclf sweep DATA --test TEST` makes it: the settings checked, the
    data read (`catclf.datasets.load_data`), and `sweep`. jobs and memory_limit as
    `catclf.training.run` takes them."""
    learning_rates = parameters.values(parameters.learning_rate, learning_rates, "learning_rates")
    l2_values = parameters.values(parameters.l2, l2_values, "l2_values")
    num_iterations = parameters.num_iterations(num_iterations)
    solver = parameters.solver(solver)
    if validation_fraction is not None and folds is not None:
        raise ConflictingParameters("validation_fraction", "folds")
    if validation_fraction is not None:
        parameters.fraction(validation_fraction, "validation_fraction")
    if folds is not None:
        parameters.folds(folds)
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    train_set, test_set = load_data(
        data,
        test,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
    )
    runs, how = _sweep(
        train_set,
        test_set,
        learning_rates,
        num_iterations=num_iterations,
        l2_values=l2_values,
        validation_fraction=validation_fraction,
        folds=folds,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
    )
    return Sweep(runs, train_set, test_set, how)


def _sweep_run(
    fit_set: Dataset,
    test_set: Dataset | None,
    validation_set: Dataset | None,
    settings: Settings,
    *,
    folds: int | None,
    data: Dataset,
    solver: str,
    memory_limit: int | None,
    step: Step,
    selected_by: str | None,
) -> SweepRun:
    """One run of `sweep`: its model trained on fit_set, and with folds its
    cross-validation on data; step told of every iteration of both."""
    started = time.perf_counter()
    record = _Costs(step)

    trained: Model | None = None
    cv = why = None
    try:
        trained = train(
            fit_set,
            test_set,
            learning_rate=settings.learning_rate,
            num_iterations=settings.num_iterations,
            l2=settings.l2,
            validation_set=validation_set,
            solver=solver,
            memory_limit=memory_limit,
            progress=within(record),
        )
        if folds is not None:
            cv = cross_validate(
                data,
                folds,
                learning_rate=settings.learning_rate,
                num_iterations=settings.num_iterations,
                l2=settings.l2,
                solver=solver,
                memory_limit=memory_limit,
                progress=within(step),
            )
    except TrainingDiverged as e:
        trained, cv, why = None, None, e.message
        note(e)  # with what to change, in the caller's words
    return SweepRun(
        settings.learning_rate,
        settings.num_iterations,
        trained,
        tuple(record.costs),
        why,
        time.perf_counter() - started,
        l2=settings.l2,
        selected_by=selected_by,
        validation_examples=0 if validation_set is None else validation_set.m,
        cross_validation=cv,
    )


class _Costs:
    """A Step that keeps the costs of a training run as its model keeps them (iterations 0,
    100, 200, ...: a run that diverges has no model to keep them) and passes every step on."""

    def __init__(self, step: Step) -> None:
        self.step, self.iterations = step, 0
        self.costs: list[float] = []

    def __call__(self, done: int = 1, *, cost: float | None = None) -> None:
        if cost is not None:
            if self.iterations % COST_EVERY == 0:
                self.costs.append(cost)
            self.iterations += 1
        self.step(done, cost=cost)
