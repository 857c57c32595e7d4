"""One whole training run on many uint8 images, in a process of its own.

    python bench/large.py WAY IMAGES.npy LABELS.npy FILE.h5 ITERATIONS

Run by bench/run.py, once per contender and round, so that each pays what a fresh process
pays (the first touch of the memory it asks for, which for a 2 GB X can take seconds) and
none inherits another's memory. The images are loaded before the clock starts; each way then
goes from the same uint8 images (m, 64, 64, 3), or from FILE.h5 holding them, to a trained
w and b, at learning rate 0.005 from w = 0. Prints one line of JSON: the seconds, the seconds
spent making X where X is made, those spent opening the file where it is streamed (before
the clock), the cost of every iteration, and the peak resident memory of the process that
ran it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One BLAS thread, as the catclf command sets it (see catclf.cli.start), for every contender.
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

RATE = 0.005

WAYS = {
    "course": "the course's code: flatten, / 255, the plain loop",
    "x_blocked": "X formed, catclf's blocked loop (catclf.train before)",
    "train": "catclf.train, images in memory",
    "train_numpy": "catclf.train, images in memory, without Numba (numpy and BLAS)",
    "streamed": "catclf.train, streamed from the prepared HDF5 file (opened beforehand)",
}


class Costs:
    """A catclf.progress.Progress that keeps the cost of every iteration."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, task: str, total: int | None, *, unit: str = "") -> Callable[..., None]:
        def step(done: int = 1, *, cost: float | None = None) -> None:
            if cost is not None:
                self.seen.append(cost)

        return step


def run(way: str, images: Any, labels: Any, file: Path, iterations: int) -> dict:
    import numpy as np

    from catclf import coursefiles, logistic, training
    from catclf.dataset import Dataset

    m = images.shape[0]
    Y = labels.reshape(1, -1).astype(np.float64)
    w0, b0 = logistic.initialize_with_zeros(images[0].size)
    seen: list[float] = []
    making_x = opening = None
    if way == "streamed":
        # Opened before the clock, as the images of the others are loaded before it; what
        # opening costs is reported apart.
        started = time.perf_counter()
        data = coursefiles.read_hdf5(file, in_file=True)
        opening = time.perf_counter() - started
    elif way in ("train", "train_numpy"):
        data = Dataset(images, labels)
        if way == "train_numpy":
            sys.modules["numba"] = None  # type: ignore[assignment]  # as if not installed
    started = time.perf_counter()
    if way in ("course", "x_blocked"):
        X = images.reshape(m, -1).T / 255
        making_x = time.perf_counter() - started
        optimize = logistic.optimize if way == "course" else logistic.optimize_primal
        optimize(w0, b0, X, Y, iterations, RATE, callback=lambda i, c: seen.append(c))
    else:
        costs = Costs()
        trained = training.fit(
            data, learning_rate=RATE, num_iterations=iterations, solver="primal", progress=costs
        )
        assert trained.plan.streamed == (way == "streamed")
        seen = costs.seen
    seconds = time.perf_counter() - started
    if way in ("train", "streamed"):  # after the clock: the kernel is made by then
        from catclf import fused

        assert fused.pixel_kernel() is not None, "the benchmark needs catclf's fast extra"
    return {"seconds": seconds, "making_x": making_x, "opening": opening, "costs": seen}


def main() -> None:
    if sys.argv[1] != "--run":
        # The run in a child of this small process, for its own peak memory: Linux keeps a
        # process's peak across exec, so a child of the (large) benchmark would report the
        # benchmark's.
        child = subprocess.Popen(
            [sys.executable, __file__, "--run", *sys.argv[1:]], stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{sys.argv[1]} failed")
        result = json.loads(out)
        result["peak_rss_bytes"] = usage.ru_maxrss * 1024
        print(json.dumps(result))
        return
    import numpy as np

    way, images_path, labels_path, file, iterations = sys.argv[2:]
    images = np.load(images_path)
    labels = np.load(labels_path)
    print(json.dumps(run(way, images, labels, Path(file), int(iterations))))


if __name__ == "__main__":
    main()
