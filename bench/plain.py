"""The alternatives catclf is measured against, written the plain way on purpose.

- `lecture_optimize`: gradient descent exactly as the lecture writes it before it argues
  for vectorization: a Python loop over the m examples and, inside it, loops over the
  n_x features.
- `plain_pixels` and `python plain.py predict FOLDER MODEL`: one image at a time with
  Pillow (open, convert to RGB, resize with LANCZOS), in one process.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np


def lecture_optimize(w, b, X, Y, num_iterations, learning_rate):
    """The lecture's unvectorized gradient descent. X (n_x, m), Y (1, m), w (n_x, 1).

    Returns (w, b, costs) with the cost of every iteration.
    """
    n_x, m = X.shape
    w = [float(v) for v in w.reshape(-1)]
    costs = []
    for _ in range(num_iterations):
        J, db = 0.0, 0.0
        dw = [0.0] * n_x
        for i in range(m):
            z = b
            for j in range(n_x):
                z += w[j] * X[j, i]
            a = 1.0 / (1.0 + math.exp(-z))
            y = Y[0, i]
            J += -(y * math.log(a) + (1 - y) * math.log(1 - a))
            dz = a - y
            for j in range(n_x):
                dw[j] += X[j, i] * dz
            db += dz
        J, db = J / m, db / m
        for j in range(n_x):
            w[j] -= learning_rate * dw[j] / m
        b -= learning_rate * db
        costs.append(J)
    return np.array(w).reshape(-1, 1), b, costs


def plain_pixels(path) -> np.ndarray:
    """(64, 64, 3) uint8: the whole image decoded, converted to RGB, resized with LANCZOS."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS))


def plain_predict(folder: Path, model: Path) -> None:
    """Print PATH<TAB>PROBABILITY for every .jpg below folder, one image at a time."""
    import h5py

    with h5py.File(model, "r") as f:
        w, b = f["w"][()], float(f["b"][()])
    for path in sorted(folder.rglob("*.jpg")):
        x = plain_pixels(path).reshape(-1, 1) / 255.0
        p = 1 / (1 + np.exp(-(w.T @ x + b)))
        print(f"{path}\t{p.item():.6f}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "predict":
        sys.exit("usage: python plain.py predict FOLDER MODEL")
    plain_predict(Path(sys.argv[2]), Path(sys.argv[3]))
