"""Logistic regression as the course writes it: pure numpy, no I/O, no state.

Shapes follow the course, not scikit-learn: X is (n_x, m) with one example per
column, Y is (1, m) of 0 / 1 labels, w is (n_x, 1) and b is a float. For the
cat / non-cat images n_x = 64 * 64 * 3 = 12288.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def sigmoid(z: Array | float) -> Array:
    """1 / (1 + exp(-z)), elementwise, for any shape.

    Written as exp(-log(1 + exp(-z))) with `np.logaddexp`, so that no |z|
    overflows: large negative z gives 0 without the warning that exp(-z) raises.
    """
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def initialize_with_zeros(dim: int) -> tuple[Array, float]:
    """Return w of shape (dim, 1) filled with zeros and b = 0.0."""
    return np.zeros((dim, 1)), 0.0


def cost_from_z(Z: Array, Y: Array) -> float:
    """Cross-entropy cost J = -(1/m) sum(y log a + (1-y) log(1-a)) with a = sigmoid(z).

    Z and Y are (1, m). Computed from z rather than from a, since
    -log(sigmoid(z)) = log(1 + exp(-z)) and -log(1 - sigmoid(z)) = log(1 + exp(z)):
    the cost stays finite when a rounds to exactly 0 or 1.
    """
    return float(np.mean(Y * np.logaddexp(0.0, -Z) + (1.0 - Y) * np.logaddexp(0.0, Z)))


def propagate(w: Array, b: float, X: Array, Y: Array) -> tuple[dict[str, Array | float], float]:
    """One forward and backward pass over all m examples at once.

    w (n_x, 1), b float, X (n_x, m), Y (1, m). Returns (grads, cost) where
    grads["dw"] has the shape of w and grads["db"] is a float:
    A = sigmoid(w^T X + b), dZ = A - Y, dw = X dZ^T / m, db = mean(dZ).
    """
    m = X.shape[1]
    Z = w.T @ X + b
    A = sigmoid(Z)
    cost = cost_from_z(Z, Y)
    dZ = A - Y
    dw = X @ dZ.T / m
    db = float(np.sum(dZ) / m)
    return {"dw": dw, "db": db}, cost


def optimize(
    w: Array,
    b: float,
    X: Array,
    Y: Array,
    num_iterations: int,
    learning_rate: float,
    *,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, Array | float], dict[str, Array | float], list[float]]:
    """Batch gradient descent: num_iterations steps of w -= learning_rate * dw, b likewise.

    w (n_x, 1), b float, X (n_x, m), Y (1, m); the w passed in is not modified.
    Returns (params, grads, costs): params {"w", "b"} after the last step, grads
    {"dw", "db"} of the last iteration (computed before its update, as the course
    does), and costs the J recorded at iterations 0, 100, 200, ...

    callback(i, cost), if given, is called after every iteration's forward pass;
    an exception it raises stops the descent.
    """
    w = np.array(w, dtype=np.float64, copy=True)
    b = float(b)
    costs: list[float] = []
    grads: dict[str, Array | float] = {"dw": np.zeros_like(w), "db": 0.0}
    for i in range(num_iterations):
        grads, cost = propagate(w, b, X, Y)
        w -= learning_rate * grads["dw"]
        b -= learning_rate * float(grads["db"])
        if i % 100 == 0:
            costs.append(cost)
        if callback is not None:
            callback(i, cost)
    return {"w": w, "b": b}, grads, costs


def predict_proba(w: Array, b: float, X: Array) -> Array:
    """Probability of the positive class for each column of X: (1, m) in [0, 1]."""
    return sigmoid(w.T @ X + b)


def predict(w: Array, b: float, X: Array) -> Array:
    """(1, m) array of 1.0 where the probability exceeds 0.5, else 0.0."""
    return (predict_proba(w, b, X) > 0.5).astype(np.float64)
