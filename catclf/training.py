"""Training: from data sets and settings to a checked Model, with the course's math."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np

from catclf.datasets import Dataset
from catclf.errors import DataError, TrainingDiverged
from catclf.logistic import (
    SOLVERS,
    choose_solver,
    cost_from_z,
    initialize_with_zeros,
    optimize_gram,
    optimize_primal,
    predict,
)
from catclf.metrics import accuracy
from catclf.model import Model, Settings


def train(
    train_set: Dataset,
    test_set: Dataset | None,
    settings: Settings,
    *,
    solver: str = "auto",
    on_iteration: Callable[[int, float], None] | None = None,
) -> Model:
    """Gradient descent from w = 0, b = 0 on train_set; accuracies on both sets.

    solver is "gram", "primal" or "auto" (`logistic.choose_solver` picks the one that
    needs fewer multiplications); both give the same w, b and costs up to float rounding.

    on_iteration(i, cost) is called after each iteration. Raises TrainingDiverged
    when the cost turns NaN or infinite, or ends above its value at iteration 0:
    gradient descent can rise for a few iterations before it falls (on the course
    set it does at learning rates as low as 0.005), so only the end is judged.
    """
    if train_set.positives in (0, train_set.m):
        only = "cat" if train_set.positives else "non-cat"
        raise DataError(
            f"{train_set.origin}: the training set holds only {only} examples; "
            "it needs both classes"
        )
    if solver not in ("auto", *SOLVERS):
        raise ValueError(f"solver is {solver!r}, expected auto, {' or '.join(SOLVERS)}")
    X, Y = train_set.X, train_set.Y
    w, b = initialize_with_zeros(X.shape[0])
    if solver == "auto":
        solver = choose_solver(X.shape[0], X.shape[1], settings.num_iterations)
    optimize = optimize_gram if solver == "gram" else optimize_primal

    def watch(i: int, cost: float) -> None:
        if not math.isfinite(cost):
            raise TrainingDiverged(_diverged(settings, f"the cost became {cost} at iteration {i}"))
        if on_iteration is not None:
            on_iteration(i, cost)

    with np.errstate(over="ignore", invalid="ignore"):
        params, _, costs = optimize(
            w, b, X, Y, settings.num_iterations, settings.learning_rate, callback=watch
        )
        w, b = np.asarray(params["w"]), float(params["b"])
        final_cost = cost_from_z(w.T @ X + b, Y)
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
        test_accuracy = accuracy(predict(w, b, test_set.X), test_set.Y)
    return Model(
        w=w,
        b=b,
        settings=settings,
        costs=tuple(costs),
        final_cost=final_cost,
        classes=train_set.classes,
        train_examples=train_set.m,
        train_accuracy=accuracy(predict(w, b, X), Y),
        test_examples=0 if test_set is None else test_set.m,
        test_accuracy=test_accuracy,
        train_data=train_set.origin,
        solver=solver,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _diverged(settings: Settings, what: str) -> str:
    return (
        f"training diverged at learning rate {settings.learning_rate:g}: {what}; "
        "try a smaller --learning-rate (or, since the cost can rise before it falls, "
        "more --iterations)"
    )
