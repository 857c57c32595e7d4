"""Training: from data sets and settings to a checked Model, with the course's math."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf import fused, parameters, splits, timestamps
from catclf.dataset import MAX_READ_ROWS, Dataset, memory_needed, pixels_fit
from catclf.datasets import BUNDLED_DIR, load_data, location
from catclf.errors import ConflictingParameters, DataError, TrainingDiverged
from catclf.images import N_X
from catclf.logistic import (
    BLOCK_COLUMNS,
    Array,
    choose_solver,
    column_blocks,
    cost_from_z,
    count_correct,
    initialize_with_zeros,
    optimize_blocks,
    optimize_gram,
)
from catclf.memory import format_size
from catclf.metrics import baseline_accuracy, wilson_interval
from catclf.model import Model, Settings, save_model
from catclf.modelfile import MAX_Z, check_target
from catclf.passes import Pass
from catclf.progress import Progress, note, unwatched, warn

PIXEL_SCALE = 1 / 255  # X = the pixel values / 255, as the course makes it


@dataclass(frozen=True)
class Plan:
    """How a training run computes: which solver, and where the images are read from.

    The Gram solver forms X, (12288, m) float64, and X^T X once. The primal loop never
    forms X: each iteration converts the uint8 images to float64 a block of `columns`
    examples at a time, taking them `rows` at a time from memory, or, when streamed, from
    the file they stay in (a set left in its file: `Dataset.in_file`). The steps are the
    same either way. needed is the memory the images take (12288 bytes each), limit the
    memory limit (None: none).
    """

    solver: str
    streamed: bool
    columns: int
    rows: int
    needed: int = 0
    limit: int | None = None


def plan(
    train_set: Dataset,
    num_iterations: int,
    *,
    solver: str = "auto",
    memory_limit: int | str | None = None,
) -> Plan:
    """The plan for training on train_set within memory_limit bytes (None: no limit).

    The Gram solver needs X with the images (`dataset.memory_needed`) and X^T X, 8 m^2
    bytes; the primal loop needs a block at a time. "auto" takes
    `logistic.choose_solver`'s pick when that fits, else the primal loop. Raises
    DataError for "gram" when it does not fit. The primal loop streams a set left in its
    file.
    """
    solver = parameters.solver(solver)
    memory_limit = parameters.memory_limit(memory_limit)
    m = train_set.m
    limit = math.inf if memory_limit is None else memory_limit
    gram_fits = memory_needed(m) + 8 * m * m <= limit
    if solver == "gram" and not gram_fits:
        raise DataError(
            f"{train_set.origin}: the Gram solver needs X and X^T X in memory, "
            f"{format_size(memory_needed(m) + 8 * m * m)}, more than the memory limit of "
            f"{format_size(int(limit))}",
            advice="gram_memory",
        )
    if solver == "auto":
        solver = choose_solver(N_X, m, num_iterations)
        if not gram_fits:
            solver = "primal"
    # A float64 block takes at most 1/8 of the limit, and so does a read of images.
    columns, rows = BLOCK_COLUMNS, MAX_READ_ROWS
    if memory_limit is not None:
        columns = min(columns, max(1, memory_limit // (64 * N_X)))
        rows = min(rows, max(columns, memory_limit // (8 * N_X)))
    streamed = solver == "primal" and train_set.in_file
    return Plan(solver, streamed, columns, rows, N_X * m, memory_limit)


@dataclass(frozen=True, eq=False)
class TrainingRun:
    """What a training run did: the model, how it computed (plan, made for the examples it
    really trained on), the data sets (train_set as given, before any part was held out of
    it), the seconds it took, and where the model was saved (None when it was not)."""

    model: Model
    plan: Plan
    train_set: Dataset
    test_set: Dataset | None
    validation_set: Dataset | None
    seconds: float
    saved: Path | None = None

    @property
    def warnings(self) -> list[str]:
        """What a learner should know of how the run ended (`cost_warnings`)."""
        return cost_warnings(self.model)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as `catclf train --json` prints it: `run_summary`, the plan, the model
        file, the images left out of the data, and the seconds."""
        sets = [d for d in (self.train_set, self.test_set) if d is not None]
        return {
            "model": None if self.saved is None else str(self.saved),
            **run_summary(
                self.train_set,
                self.test_set,
                self.model.settings.learning_rate,
                self.model.settings.num_iterations,
                self.model,
            ),
            "skipped": [{"path": s.path, "error": s.error} for d in sets for s in d.skipped],
            "ignored": sum(d.ignored for d in sets),
            "unsorted": sum(d.unsorted for d in sets),
            "solver": self.plan.solver,
            "streamed": self.plan.streamed,
            "block_examples": self.plan.columns if self.plan.streamed else None,
            "seconds": round(self.seconds, 3),
        }

    def __repr__(self) -> str:
        return (
            f"TrainingRun({self.model!r}, solver={self.plan.solver!r}, seconds={self.seconds:.3g})"
        )


def streamed_note(how: Plan) -> str:
    """Why training streams its data, and how, in a line."""
    why = ""
    if how.limit is not None and not pixels_fit(how.needed // N_X, how.limit):
        why = f", more than three quarters of the memory limit of {format_size(how.limit)}"
    return (
        f"the training images take {format_size(how.needed)}{why}: they stay in their file, "
        f"and each iteration reads them {how.rows} at a time"
    )


def plan_notes(how: Plan, m: int) -> list[str]:
    """What a person training on m examples by plan how may want to know of it: that the
    data is streamed, and that Numba, not installed, would make each iteration of the primal
    loop faster (installed but unable to compile here, it would not: nothing is said)."""
    notes = [streamed_note(how)] if how.streamed else []
    if how.solver == "primal" and not fused.numba_installed():
        notes.append(
            f"numpy works each iteration's {m} examples; with Numba installed (pip install "
            "'catclf[fast]') an iteration takes about a quarter of the time"
        )
    return notes


def train(
    train_set: Dataset,
    test_set: Dataset | None = None,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    validation_fraction: float | None = None,
    validation_set: Dataset | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
) -> Model:
    """Gradient descent from w = 0, b = 0 on train_set: the model of `fit` (which, unlike
    this, notes how it computes when it streams the data)."""
    return _fit(
        train_set,
        test_set,
        learning_rate=learning_rate,
        num_iterations=num_iterations,
        l2=l2,
        validation_fraction=validation_fraction,
        validation_set=validation_set,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
        say_plan=False,
    ).model


def run(
    data: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    *,
    save_to: str | os.PathLike[str] | None = None,
    force: bool = False,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    validation_fraction: float | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
    on_saved: Callable[[], None] | None = None,
) -> TrainingRun:
    """A whole training run from data in any of its forms, as `catclf train DATA --test TEST`
    makes it: the settings checked, the place to save the model checked, the data read
    (`catclf.datasets.load_data`, with positive, strict, jobs and memory_limit), the model
    trained (`fit`) and saved to save_to (`catclf.model.save_model`: never over the data,
    over another file only with force; on_saved() called once it is in place). jobs None
    decodes photos in a process per core, and memory_limit "auto" leaves the rest of the
    memory to the machine (`catclf.parameters`)."""
    Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    parameters.solver(solver)
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    target = None if save_to is None else Path(save_to)
    inputs = [Path(data) if data is not None else BUNDLED_DIR, *([Path(test)] if test else [])]
    if target is not None:
        check_target(target, force=force, inputs=inputs)  # before training, not after it
    train_set, test_set = load_data(
        data,
        test,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
    )
    note(f"training on {train_set.origin}: {train_set.describe()}")
    if test_set is not None:
        note(f"testing on {test_set.origin}: {test_set.describe()}")
    try:
        done = fit(
            train_set,
            test_set,
            learning_rate=learning_rate,
            num_iterations=num_iterations,
            l2=l2,
            validation_fraction=validation_fraction,
            solver=solver,
            memory_limit=memory_limit,
            progress=progress,
        )
    except TrainingDiverged as e:
        if target is None:
            raise
        raise TrainingDiverged(e.message, advice=e.advice, outcome="no model was saved") from e
    for said in done.warnings:
        warn(said)
    if target is None:
        return done
    saved = save_model(done.model, target, force=force, inputs=inputs, on_saved=on_saved)
    return replace(done, saved=saved)


def fit(
    train_set: Dataset,
    test_set: Dataset | None = None,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    validation_fraction: float | None = None,
    validation_set: Dataset | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
) -> TrainingRun:
    """Gradient descent from w = 0, b = 0 on train_set; accuracies on both sets.

    num_iterations steps at learning_rate, as the course's `optimize` takes them, with the
    L2 penalty l2 (`logistic.propagate`'s lambd; 0 for the course's descent).
    solver is "gram", "primal" or "auto", and memory_limit the bytes the training data may
    take (None: no limit); `plan` says how they decide the computation. The result is the
    same whatever they decide, up to float rounding.

    validation_fraction holds that fraction of each class of train_set out of training
    (`validation_split`), or validation_set names the examples to hold out; the model
    records their number, accuracy and cost, and its train_examples are those it was
    trained on. Neither is the test set's business: choices made on a test set leave it no
    longer a test.

    progress watches the "training" task (`catclf.progress`): one step per iteration, with
    its cost; when the data is streamed, its unit is examples, counted a block at a time
    in training and in the final pass that measures the cost and the accuracies. Raises
    TrainingDiverged only for what is broken: a cost that turns NaN or infinite, or weights
    so large that w^T x + b could overflow. A run whose last cost is above its first is not
    broken, since gradient descent can rise before it falls: it returns its model, and
    `cost_warnings` says what to make of it. Raises ParameterError for a setting outside
    what `catclf.parameters` allows, ConflictingParameters for both validation_fraction and
    validation_set. When the data is streamed, notes so (`catclf.progress.note`) before the
    first iteration.
    """
    return _fit(
        train_set,
        test_set,
        learning_rate=learning_rate,
        num_iterations=num_iterations,
        l2=l2,
        validation_fraction=validation_fraction,
        validation_set=validation_set,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
        say_plan=True,
    )


def _fit(
    train_set: Dataset,
    test_set: Dataset | None = None,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    validation_fraction: float | None = None,
    validation_set: Dataset | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = None,
    progress: Progress | None = None,
    say_plan: bool,
) -> TrainingRun:
    """`fit`, noting a streamed plan when say_plan."""
    started = time.perf_counter()
    settings = Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    solver = parameters.solver(solver)
    memory_limit = parameters.memory_limit(memory_limit)
    if validation_fraction is not None:
        validation_fraction = parameters.fraction(validation_fraction, "validation_fraction")
        if validation_set is not None:
            raise ConflictingParameters("validation_fraction", "validation_set")
    if train_set.positives in (0, train_set.m):
        only = train_set.classes[1] if train_set.positives else train_set.classes[0]
        raise DataError(
            f"{train_set.origin}: the training set holds only {only} examples; "
            "it needs both classes"
        )
    if test_set is not None and tuple(test_set.classes) != tuple(train_set.classes):
        raise DataError(
            f"{test_set.origin}: its classes are {test_set.classes[0]!r} / "
            f"{test_set.classes[1]!r}, the training data's are {train_set.classes[0]!r} / "
            f"{train_set.classes[1]!r}: a test set must hold the same classes"
        )
    fit_set = train_set
    if validation_fraction is not None:
        fit_set, validation_set = validation_split(train_set, validation_fraction)
    how = plan(fit_set, settings.num_iterations, solver=solver, memory_limit=memory_limit)
    if say_plan:
        for line in plan_notes(how, fit_set.m):
            note(line)
    checked = [d.m for d in (fit_set, validation_set, test_set) if d is not None]
    if how.streamed:  # examples: an iteration can take minutes
        step = (progress or unwatched)(
            "training", settings.num_iterations * fit_set.m + sum(checked), unit="examples"
        )
    else:
        step = (progress or unwatched)("training", settings.num_iterations)
    counted = step if how.streamed else None

    def pixels_of(data: Dataset) -> Callable[[], Iterable[tuple[Array, Array]]]:
        return lambda: data.pixel_blocks(how.columns, how.rows, on_block=counted)

    def watch(i: int, cost: float) -> None:
        check_cost(settings, i, cost)
        step(0 if how.streamed else 1, cost=cost)

    w, b = initialize_with_zeros(N_X)
    n, rate = settings.num_iterations, settings.learning_rate
    with np.errstate(over="ignore", invalid="ignore"):
        if how.solver == "gram":
            X, Y = fit_set.X, fit_set.Y
            params, _, costs = optimize_gram(w, b, X, Y, n, rate, lambd=l2, callback=watch)

            def train_blocks() -> Iterable[tuple[Array, Array]]:
                return column_blocks(X, Y, BLOCK_COLUMNS)

            scale = 1.0
        else:
            # The pixels themselves, a block at a time (`catclf.passes`): X is never formed.
            train_blocks, scale = pixels_of(fit_set), PIXEL_SCALE
            with _pass(fit_set, how, counted) as sums:
                params, _, costs = optimize_blocks(
                    w, b, sums, n, rate, lambd=l2, callback=watch, scale=scale
                )
        w, b = np.asarray(params["w"]), float(params["b"])
        final_cost, train_accuracy = _evaluate(w, b, train_blocks, scale)
        if l2:  # the cost the descent minimised, as its recorded costs are
            final_cost += l2 / (2 * fit_set.m) * float(np.sum(w * w))
    check_trained(settings, w, b, final_cost)
    validation_cost = validation_accuracy = None
    if validation_set is not None:
        validation_cost, validation_accuracy = _evaluate(
            w, b, pixels_of(validation_set), PIXEL_SCALE
        )
    test_accuracy = None
    if test_set is not None:
        _, test_accuracy = _evaluate(w, b, pixels_of(test_set), PIXEL_SCALE)
    model = Model(
        w=w,
        b=b,
        settings=settings,
        costs=tuple(costs),
        final_cost=final_cost,
        classes=train_set.classes,
        train_examples=fit_set.m,
        train_accuracy=train_accuracy,
        test_examples=0 if test_set is None else test_set.m,
        test_accuracy=test_accuracy,
        train_data=train_set.origin,
        solver=how.solver,
        created=timestamps.now(),
        validation_examples=0 if validation_set is None else validation_set.m,
        validation_accuracy=validation_accuracy,
        validation_cost=validation_cost,
        test_data="" if test_set is None else location(test_set),
        mean=fit_set.mean_column(how.rows),
    )
    return TrainingRun(
        model, how, train_set, test_set, validation_set, time.perf_counter() - started
    )


def _pass(data: Dataset, how: Plan, on_slice: Callable[[int], None] | None) -> Pass:
    """The pass over data's pixels that each iteration of the primal loop makes, on as many
    threads as help (`catclf.passes`). A set in memory is one slice, which its threads share
    from the start; a set left in its file comes how.rows images at a time."""
    rows = how.rows if data.in_file else max(1, data.m)
    # One thread per core, and where a thread turns its blocks into floats in a buffer of
    # its own, all of those buffers together take at most a quarter of a memory limit.
    threads = parameters.cores()
    if how.limit is not None:
        threads = max(1, min(threads, how.limit // (4 * 8 * how.columns * N_X)))
    return Pass(lambda: data.slices(rows), data.Y, how.columns, threads=threads, on_slice=on_slice)


def run_summary(
    train_set: Dataset,
    test_set: Dataset | None,
    learning_rate: float,
    num_iterations: int,
    trained: Model | None,
    *,
    l2: float = Settings.l2,
    validation_examples: int = 0,
) -> dict[str, Any]:
    """What one training run found, JSON-ready, as `catclf train --json` and `catclf sweep
    --json` print it. trained is None for a run that diverged: its accuracies, final cost
    and costs are then None, and l2 and validation_examples (held out of train_set) say
    what the run was; otherwise the model says.

    test_accuracy_ci and validation_accuracy_ci are the 95 % Wilson intervals [low, high]
    of those accuracies (`metrics.wilson_interval`); test_baseline_accuracy is what always
    answering the test set's commonest class scores on it. A figure that does not apply
    (no test set, nothing held out) is None.
    """
    if trained is not None:
        l2, validation_examples = trained.settings.l2, trained.validation_examples
    test_examples = 0 if test_set is None else test_set.m
    test_accuracy = None if trained is None else trained.test_accuracy
    validation_accuracy = None if trained is None else trained.validation_accuracy
    return {
        "train_data": train_set.origin,
        "test_data": None if test_set is None else test_set.origin,
        "train_examples": train_set.m - validation_examples
        if trained is None
        else trained.train_examples,
        "validation_examples": validation_examples,
        "test_examples": test_examples,
        "train_accuracy": None if trained is None else trained.train_accuracy,
        "validation_accuracy": validation_accuracy,
        "validation_accuracy_ci": _interval(validation_accuracy, validation_examples),
        "validation_cost": None if trained is None else trained.validation_cost,
        "test_accuracy": test_accuracy,
        "test_accuracy_ci": _interval(test_accuracy, test_examples),
        "test_baseline_accuracy": None if test_set is None else baseline_accuracy(test_set.labels),
        "final_cost": None if trained is None else trained.final_cost,
        "costs": None if trained is None else list(trained.costs),
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
        "l2": l2,
        "classes": list(train_set.classes),
        "warnings": [] if trained is None else cost_warnings(trained),
    }


def _interval(accuracy: float | None, examples: int) -> list[float] | None:
    """The 95 % Wilson interval [low, high] of an accuracy measured on examples, or None."""
    if accuracy is None or examples == 0:
        return None
    # accuracy is correct / examples, so this gives back the count exactly.
    return list(wilson_interval(round(accuracy * examples), examples))


def _evaluate(
    w: Array, b: float, blocks: Callable[[], Iterable[tuple[Array, Array]]], scale: float
) -> tuple[float, float]:
    """(cost, accuracy) of w (n_x, 1) and b on the examples scale * X_k of the blocks
    blocks() yields, in one pass."""
    loss, correct, m = 0.0, 0, 0
    scaled = (w * scale).T
    for X_k, Y_k in blocks():
        k = X_k.shape[1]
        Z = scaled @ X_k + b  # once for both: the cost and the predictions (predict's rule)
        loss += cost_from_z(Z, Y_k) * k
        correct += count_correct(Z, Y_k)
        m += k
    return loss / m, correct / m


def cost_warnings(model: Model) -> list[str]:
    """What a learner should know of how a run ended: a last cost above the first. Gradient
    descent can rise before it falls (on the course set at 0.005, for its first 75
    iterations or so), so the run was saved; the advice depends on where the cost is going."""
    costs, final = model.costs, model.final_cost
    if not costs or final <= costs[0]:
        return []
    # Far above the start, or at its highest yet: it is not on its way down.
    climbing = final > 2 * costs[0] or (len(costs) > 1 and final >= max(costs))
    advice = (
        "it has not come down: a smaller learning rate may be needed"
        if climbing
        else "gradient descent can rise before it falls: more iterations may bring it down"
    )
    return [
        f"after {model.settings.num_iterations} iterations at learning rate "
        f"{model.settings.learning_rate:g} the cost is {final:.6g}, above {costs[0]:.6f} at "
        f"iteration 0; {advice}"
    ]


def check_cost(settings: Settings, i: int, cost: float) -> None:
    """Raise TrainingDiverged when the cost of iteration i is not a finite number."""
    if not math.isfinite(cost):
        raise TrainingDiverged(
            _diverged(settings, f"the cost became {cost} at iteration {i}"),
            advice="smaller_rate",
        )


def check_trained(settings: Settings, w: Array, b: float, final_cost: float) -> None:
    """Raise TrainingDiverged when training ended broken, not merely unfinished: a final cost
    that is not a number, or weights so large that w^T x + b could overflow, which no model
    file may hold (`modelfile.MAX_Z`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        reach = float(np.sum(np.abs(w))) + abs(b)
    if not math.isfinite(final_cost) or not reach <= MAX_Z:
        raise TrainingDiverged(
            _diverged(settings, "the weights became too large to be numbers of a model"),
            advice="smaller_rate",
        )


def _diverged(settings: Settings, what: str) -> str:
    penalty = f" with l2 {settings.l2:g}" if settings.l2 else ""
    return f"training diverged at learning rate {settings.learning_rate:g}{penalty}: {what}"


def example_fractions(data: Dataset) -> NDArray[np.float64]:
    """`splits.stable_fraction` of each example's pixels, (m,): the identity that places it
    (see `catclf.splits`). Of a set left in its file, the images are read a slice at a time."""
    fractions = np.empty(data.m)
    i = 0
    for pixels in data.slices(MAX_READ_ROWS):
        for image in pixels:
            fractions[i] = splits.stable_fraction(image.tobytes())
            i += 1
    return fractions


def validation_split(data: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    """(training part, validation part) of data: about fraction of each class held out, as
    `splits.held_out` chooses them; each part in data's order. Raises ParameterError unless
    0 < fraction < 1, and DataError when nothing can be held out."""
    fraction = parameters.fraction(fraction, "validation_fraction")
    held = splits.held_out(example_fractions(data), data.labels, fraction)
    if not held.any():
        raise DataError(
            f"{data.origin}: too few examples to hold out a validation part: each class "
            f"needs 2 different images ({data.describe()})"
        )
    return (
        data.subset(np.flatnonzero(~held), f"{data.origin} (training part)"),
        data.subset(np.flatnonzero(held), f"{data.origin} (validation part)"),
    )
