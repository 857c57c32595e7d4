"""Training: from data sets and settings to a checked Model, with the course's math."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from catclf.datasets import MAX_READ_ROWS, Dataset, memory_needed
from catclf.errors import DataError, TrainingDiverged
from catclf.images import N_X
from catclf.logistic import (
    BLOCK_COLUMNS,
    COST_EVERY,
    SOLVERS,
    Array,
    choose_solver,
    column_blocks,
    cost_from_z,
    initialize_with_zeros,
    optimize_blocks,
    optimize_gram,
    optimize_primal,
    sigmoid,
)
from catclf.memory import format_size
from catclf.model import Model, Settings


@dataclass(frozen=True)
class Plan:
    """How a training run computes: which solver, and whether X is formed in memory.

    streamed: X is never formed; each iteration converts the images to float64 a block
    of `columns` examples at a time, taking them `rows` at a time from the file or from
    memory. The steps are the same either way.
    """

    solver: str
    streamed: bool
    columns: int
    rows: int


def plan(
    train_set: Dataset,
    num_iterations: int,
    *,
    solver: str = "auto",
    memory_limit: int | None = None,
) -> Plan:
    """The plan for training on train_set within memory_limit bytes (None: no limit).

    X is formed when it fits with the images (`datasets.memory_needed`); the Gram
    solver also needs X^T X, 8 m^2 bytes, and runs on a formed X only. "auto" takes
    `logistic.choose_solver`'s pick when that fits, else the primal loop. Raises
    DataError for "gram" when it does not fit.
    """
    if solver not in ("auto", *SOLVERS):
        raise ValueError(f"solver is {solver!r}, expected auto, {' or '.join(SOLVERS)}")
    m = train_set.m
    limit = math.inf if memory_limit is None else memory_limit
    fits = memory_needed(m) <= limit
    gram_fits = memory_needed(m) + 8 * m * m <= limit
    if solver == "gram" and not gram_fits:
        raise DataError(
            f"{train_set.origin}: the Gram solver needs X and X^T X in memory, "
            f"{format_size(memory_needed(m) + 8 * m * m)}, more than the memory limit of "
            f"{format_size(int(limit))}; use --solver primal or auto, or raise --memory-limit"
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
    return Plan(solver, not fits, columns, rows)


def train(
    train_set: Dataset,
    test_set: Dataset | None = None,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    solver: str = "auto",
    memory_limit: int | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    on_examples: Callable[[int], None] | None = None,
) -> Model:
    """Gradient descent from w = 0, b = 0 on train_set; accuracies on both sets.

    num_iterations steps at learning_rate, as the course's `optimize` takes them.
    solver is "gram", "primal" or "auto", and memory_limit the bytes the training data may
    take (None: no limit); `plan` says how they decide the computation. The result is the
    same whatever they decide, up to float rounding.

    on_iteration(i, cost) is called after each iteration. When the data is streamed,
    on_examples(k) is called after each block of k examples, in training and in the
    final pass that measures the cost and the accuracies. Raises TrainingDiverged
    when the cost turns NaN or infinite, or ends above its value at iteration 0:
    gradient descent can rise for a few iterations before it falls (on the course
    set it does at learning rates as low as 0.005), so only the end is judged.
    """
    settings = Settings(learning_rate=learning_rate, num_iterations=num_iterations)
    if train_set.positives in (0, train_set.m):
        only = "cat" if train_set.positives else "non-cat"
        raise DataError(
            f"{train_set.origin}: the training set holds only {only} examples; "
            "it needs both classes"
        )
    how = plan(train_set, settings.num_iterations, solver=solver, memory_limit=memory_limit)
    counted = on_examples if how.streamed else None

    def blocks_of(data: Dataset) -> Callable[[], Iterable[tuple[Array, Array]]]:
        return lambda: data.blocks(how.columns, how.rows, on_block=counted)

    def watch(i: int, cost: float) -> None:
        if not math.isfinite(cost):
            raise TrainingDiverged(_diverged(settings, f"the cost became {cost} at iteration {i}"))
        if on_iteration is not None:
            on_iteration(i, cost)

    w, b = initialize_with_zeros(N_X)
    n, rate = settings.num_iterations, settings.learning_rate
    with np.errstate(over="ignore", invalid="ignore"):
        if how.streamed:
            train_blocks = blocks_of(train_set)
            params, _, costs = optimize_blocks(w, b, train_blocks, n, rate, callback=watch)
        else:
            X, Y = train_set.X, train_set.Y
            optimize = optimize_gram if how.solver == "gram" else optimize_primal
            params, _, costs = optimize(w, b, X, Y, n, rate, callback=watch)

            def train_blocks() -> Iterable[tuple[Array, Array]]:
                return column_blocks(X, Y, BLOCK_COLUMNS)

        w, b = np.asarray(params["w"]), float(params["b"])
        final_cost, train_accuracy = _evaluate(w, b, train_blocks)
    if not math.isfinite(final_cost) or not np.all(np.isfinite(w)):
        raise TrainingDiverged(_diverged(settings, "the weights became NaN or infinite"))
    if final_cost > costs[0]:
        raise TrainingDiverged(
            _diverged(
                settings,
                f"after {settings.num_iterations} iterations the cost is {final_cost:.6g}, "
                f"above {costs[0]:.6f} at iteration 0",
            )
        )
    test_accuracy = None
    if test_set is not None:
        _, test_accuracy = _evaluate(w, b, blocks_of(test_set))
    return Model(
        w=w,
        b=b,
        settings=settings,
        costs=tuple(costs),
        final_cost=final_cost,
        classes=train_set.classes,
        train_examples=train_set.m,
        train_accuracy=train_accuracy,
        test_examples=0 if test_set is None else test_set.m,
        test_accuracy=test_accuracy,
        train_data=train_set.origin,
        solver=how.solver,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def run_summary(
    train_set: Dataset,
    test_set: Dataset | None,
    learning_rate: float,
    num_iterations: int,
    trained: Model | None,
) -> dict[str, Any]:
    """What one training run found, JSON-ready, as `catclf train --json` and `catclf sweep
    --json` print it. trained is None for a run that diverged: its accuracies, final cost
    and costs are then None."""
    return {
        "train_data": train_set.origin,
        "test_data": None if test_set is None else test_set.origin,
        "train_examples": train_set.m,
        "test_examples": 0 if test_set is None else test_set.m,
        "train_accuracy": None if trained is None else trained.train_accuracy,
        "test_accuracy": None if trained is None else trained.test_accuracy,
        "final_cost": None if trained is None else trained.final_cost,
        "costs": None if trained is None else list(trained.costs),
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
        "classes": list(train_set.classes),
    }


def _evaluate(
    w: Array, b: float, blocks: Callable[[], Iterable[tuple[Array, Array]]]
) -> tuple[float, float]:
    """(cost, accuracy) of w (n_x, 1) and b on the examples blocks() yields, in one pass."""
    loss, correct, m = 0.0, 0, 0
    for X_k, Y_k in blocks():
        k = X_k.shape[1]
        Z = w.T @ X_k + b  # once for both: the cost and the predictions (predict's rule)
        loss += cost_from_z(Z, Y_k) * k
        correct += int(np.sum((sigmoid(Z) > 0.5) == Y_k))
        m += k
    return loss / m, correct / m


def _diverged(settings: Settings, what: str) -> str:
    return f"training diverged at learning rate {settings.learning_rate:g}: {what}"


@dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep: the model, or why it diverged and the costs recorded
    until then (iterations 0, 100, ...). best marks the run the sweep prefers."""

    learning_rate: float
    num_iterations: int
    model: Model | None
    costs: tuple[float, ...]
    diverged: str | None
    seconds: float
    best: bool = False

    @property
    def train_accuracy(self) -> float | None:
        return None if self.model is None else self.model.train_accuracy

    @property
    def test_accuracy(self) -> float | None:
        return None if self.model is None else self.model.test_accuracy

    @property
    def final_cost(self) -> float | None:
        return None if self.model is None else self.model.final_cost

    def as_dict(self, train_set: Dataset, test_set: Dataset | None) -> dict[str, Any]:
        """JSON-ready, as `catclf sweep --json` prints each run."""
        return {
            **run_summary(train_set, test_set, self.learning_rate, self.num_iterations, self.model),
            "diverged": self.model is None,
            "reason": self.diverged,
            "best": self.best,
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
    solver: str = "auto",
    memory_limit: int | None = None,
    on_run: Callable[[float], Callable[[int, float], None] | None] | None = None,
) -> list[SweepRun]:
    """One training run per learning rate on the same data, in order; see `train`.

    A rate whose training diverges gives a run with model None and the reason, and the
    others still run. The best run is the one with the highest test accuracy, a tie going
    to the lower final cost; without a test set, the one with the lowest final cost.
    on_run(rate), if given, is called before each run and returns its on_iteration.
    """
    runs: list[SweepRun] = []
    for rate in learning_rates:
        started = time.perf_counter()
        costs: list[float] = []
        watch = None if on_run is None else on_run(rate)

        def record(
            i: int,
            cost: float,
            costs: list[float] = costs,
            watch: Callable[[int, float], None] | None = watch,
        ) -> None:
            if i % COST_EVERY == 0:  # as the model keeps them
                costs.append(cost)
            if watch is not None:
                watch(i, cost)

        try:
            trained: Model | None = train(
                train_set,
                test_set,
                learning_rate=rate,
                num_iterations=num_iterations,
                solver=solver,
                memory_limit=memory_limit,
                on_iteration=record,
            )
            why = None
        except TrainingDiverged as e:
            trained, why = None, str(e)
        seconds = time.perf_counter() - started
        runs.append(SweepRun(rate, num_iterations, trained, tuple(costs), why, seconds))
    finished = [r for r in runs if r.model is not None]
    if finished:
        best = min(finished, key=lambda r: (-(r.test_accuracy or 0.0), r.final_cost or 0.0))
        runs[runs.index(best)] = replace(best, best=True)
    return runs
