"""catclf against its alternatives, measured in one run on this machine.

    python bench/run.py [--quick] [--only PART ...] [--catclf COMMAND] [--out bench/results.json]

Needs the bench extra (pip install -e '.[bench]') for scikit-learn, and the dask extra for
the cluster part. Every figure is a
median of several runs, and each is shown as a ratio against the alternative measured
in the same run on the same data. The data it needs (large JPEGs made from the sample
photos, a 50,000-image HDF5 set) are generated in a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# One BLAS thread, as the catclf command sets it (see catclf.cli.main), for every contender.
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import plain  # noqa: E402

CATCLF = Path(sys.executable).with_name("catclf")


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(median seconds of repeat runs, what the last run returned)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def command_seconds(args: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    return timed(
        lambda: subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env), repeat
    )[0]


def interleaved(contenders: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each contender in each of rounds rounds, taken in turn within a round, so
    that a busy moment of the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def ratios(base: list[float], times: list[float]) -> list[float]:
    """base / time, round by round."""
    return [b / t for b, t in zip(base, times, strict=True)]


PLAIN = "plain numpy loop (the course's optimize)"
PRIMAL = "catclf's blocked loop on the float64 X (optimize_primal)"
GRAM = "catclf Gram (--solver gram, the default here)"
LAMBD = 0.7  # the L2 penalty of the training rows with L2


def training(repeat: int) -> dict[str, object]:
    """2000 iterations at 0.005 on the course set, end to end of the optimizer, at lambd = 0
    and with L2. The plain loop and the solvers take turns in each round; each ratio is the
    median of the rounds' ratios, each round's against the plain loop of that round. The
    Gram solver runs 5 times a round (its median counts): it takes 1/40 of the plain time."""
    from sklearn.linear_model import LogisticRegression

    from catclf import datasets, logistic
    from catclf.metrics import accuracy

    train, test = datasets.bundled()
    X, Y = train.X, train.Y
    w0, b0 = logistic.initialize_with_zeros(X.shape[0])
    iterations, rate = 2000, 0.005

    def test_accuracy(params: dict) -> float:
        return accuracy(logistic.predict(params["w"], params["b"], test.X), test.Y)

    def run(optimize: Callable, lambd: float, times: int = 1) -> Callable[[], Any]:
        def go() -> Any:
            return [optimize(w0, b0, X, Y, iterations, rate, lambd=lambd) for _ in range(times)]

        return go

    rows: dict[str, dict[str, object]] = {}
    for lambd, suffix in ((0.0, ""), (LAMBD, f", L2 lambd = {LAMBD}")):
        solvers = {PLAIN: logistic.optimize}
        if not lambd:
            solvers[PRIMAL] = logistic.optimize_primal
        solvers[GRAM] = logistic.optimize_gram
        times = interleaved(
            {
                name: run(optimize, lambd, 5 if optimize is logistic.optimize_gram else 1)
                for name, optimize in solvers.items()
            },
            repeat,
        )
        times[GRAM] = [t / 5 for t in times[GRAM]]
        for name, optimize in solvers.items():
            params, _, _ = optimize(w0, b0, X, Y, iterations, rate, lambd=lambd)
            per_round = ratios(times[PLAIN], times[name])
            rows[name + suffix] = {
                "seconds": statistics.median(times[name]),
                "vs_plain": statistics.median(per_round),
                "vs_plain_rounds": per_round,
                "test_accuracy": test_accuracy(params),
            }

    # The lecture's loops are slow: a few iterations, scaled to 2000.
    lecture_iterations = 2
    seconds, _ = timed(lambda: plain.lecture_optimize(w0, b0, X, Y, lecture_iterations, rate), 1)
    plain_seconds = rows[PLAIN]["seconds"]
    rows["the lecture's unvectorized loops (2 iterations, scaled)"] = {
        "seconds": seconds * iterations / lecture_iterations,
        "vs_plain": plain_seconds / (seconds * iterations / lecture_iterations),
        "test_accuracy": None,  # the 2 iterations run are no model to test
    }

    # No penalty: the same model as the course's, fitted to the minimum of the same cost.
    seconds, sklearn_model = timed(
        lambda: LogisticRegression(C=np.inf, max_iter=1000).fit(X.T, train.labels), repeat
    )
    rows["scikit-learn LogisticRegression (lbfgs, no penalty)"] = {
        "seconds": seconds,
        "vs_plain": plain_seconds / seconds,
        "test_accuracy": float(sklearn_model.score(test.X.T, test.labels)),
    }
    return rows


def gram_limit(repeat: int) -> dict[str, float]:
    """Where the Gram solver's time goes on the course set, 2000 iterations at 0.005.

    The whole solver at 2000 and at 0 iterations (taking turns) gives the time of one
    iteration; against it, the least an iteration can do: one product of the (m + 2, m)
    matrix with a vector, and the element-wise steps (log(1 + e^z), the loss as one dot,
    dZ = e^(z - s) - y, beta += dZ), each timed alone over 2000 repeats. X^T X is timed
    alone too.
    """
    from catclf import datasets, logistic

    train, _ = datasets.bundled()
    X, Y = train.X, train.Y
    m = X.shape[1]
    y = Y.reshape(-1)
    w0, b0 = logistic.initialize_with_zeros(X.shape[0])
    iterations, rate = 2000, 0.005
    rng = np.random.default_rng(0)
    G = rng.normal(size=(m + 2, m))
    v = rng.normal(size=m + 2)
    ZS = np.empty((2, m))
    Z, S = ZS
    zs = ZS.reshape(-1)
    Z[:] = rng.normal(size=m)
    coefficients = np.concatenate([-y, np.ones(m)])
    dZ, beta = np.empty(m), np.zeros(m)
    dot = np.dot

    def products() -> None:
        for _ in range(iterations):
            dot(v, G, out=Z)

    def steps() -> None:
        for _ in range(iterations):
            np.logaddexp(0.0, Z, out=S)
            float(dot(coefficients, zs))
            np.subtract(Z, S, out=dZ)
            np.exp(dZ, out=dZ)
            np.subtract(dZ, y, out=dZ)
            np.add(beta, dZ, out=beta)

    contenders = {
        "solver": lambda: logistic.optimize_gram(w0, b0, X, Y, iterations, rate),
        "solver, 0 iterations": lambda: logistic.optimize_gram(w0, b0, X, Y, 0, rate),
        "solver, L2": lambda: logistic.optimize_gram(w0, b0, X, Y, iterations, rate, lambd=LAMBD),
        "X^T X": lambda: X.T @ X,
        "products": products,
        "steps": steps,
    }
    times = {name: statistics.median(t) for name, t in interleaved(contenders, repeat).items()}
    per = 1e6 / iterations
    return {
        "examples": m,
        "iterations": iterations,
        "solver_seconds": times["solver"],
        "solver_l2_seconds": times["solver, L2"],
        "gram_seconds": times["X^T X"],
        "setup_and_end_seconds": times["solver, 0 iterations"],
        "iteration_us": (times["solver"] - times["solver, 0 iterations"]) * per,
        "iteration_l2_us": (times["solver, L2"] - times["solver, 0 iterations"]) * per,
        "product_us": times["products"] * per,
        "steps_us": times["steps"] * per,
    }


def noisy_copies(m: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (m, 64, 64, 3) uint8, Y (1, m)): the course's training images picked at
    random, with noise of up to 8 levels added."""
    from catclf import datasets

    train, _ = datasets.bundled()
    rng = np.random.default_rng(2)
    pick = rng.integers(0, train.m, m)
    images = np.empty((m, 64, 64, 3), dtype=np.uint8)
    for start in range(0, m, 512):
        part = pick[start : start + 512]
        noise = rng.integers(-8, 9, (len(part), 64, 64, 3), dtype=np.int16)
        images[start : start + len(part)] = np.clip(train.images[part] + noise, 0, 255)
    return images, train.labels[pick].reshape(1, -1).astype(np.float64)


def prepared_file(path: Path, images: np.ndarray, labels: np.ndarray, gzip: bool = False) -> None:
    """The images as `catclf prepare` writes them (chunks of 64, pixels stored as they are),
    or, with gzip, with the pixels gzip-compressed (level 4) as it wrote them before."""
    import h5py

    from catclf import coursefiles
    from catclf.dataset import Dataset

    if not gzip:
        data = Dataset(images, labels)
        coursefiles.write_hdf5(path, data, "train_set", [""] * len(labels), {})
        return
    with h5py.File(path, "w") as f:
        packed = {"compression": "gzip", "compression_opts": 4}
        f.create_dataset("train_set_x", data=images, chunks=(64, 64, 64, 3), **packed)
        f.create_dataset("train_set_y", data=labels, **packed)


def large_training(workdir: Path, m: int, iterations: int, repeat: int) -> dict[str, object]:
    """More examples than features: whole training runs from the same m uint8 images, each
    in a fresh process (bench/large.py), the contenders taking turns in each round. Each
    ratio is the median of the rounds' ratios against the course's code of that round."""
    import large

    images, Y = noisy_copies(m)
    labels = Y.reshape(-1).astype(np.int64)
    np.save(workdir / "images.npy", images)
    np.save(workdir / "labels.npy", labels)
    prepared_file(workdir / "prepared.h5", images, labels)
    args = [str(workdir / name) for name in ("images.npy", "labels.npy", "prepared.h5")]
    script = str(HERE / "large.py")

    def child(way: str) -> Callable[[], dict]:
        def go() -> dict:
            out = subprocess.run(
                [sys.executable, script, way, *args, str(iterations)],
                check=True,
                capture_output=True,
                text=True,
            )
            return json.loads(out.stdout)

        return go

    results: dict[str, list[dict]] = {way: [] for way in large.WAYS}
    # What making X costs depends on the process before: 2 GB that one just gave back are
    # taken again in 0.2 to 0.5 s here, while a process that follows none takes 1.3 to 7 s
    # for them. So each way that makes X runs after one that does not, as a program that a
    # user starts seldom follows one that has just given back 2 GB, and the order
    # alternates between two rounds.
    orders = (
        ["train", "course", "streamed", "x_blocked", "train_numpy"],
        ["train_numpy", "x_blocked", "streamed", "course", "train"],
    )
    for r in range(repeat):
        for way in orders[r % 2]:
            results[way].append(child(way)())
    course = results["course"]
    rows: dict[str, dict[str, object]] = {}
    for way, name in large.WAYS.items():
        runs = results[way]
        per_round = [c["seconds"] / r["seconds"] for c, r in zip(course, runs, strict=True)]
        differences = [
            float(np.max(np.abs(np.divide(r["costs"], c["costs"]) - 1.0)))
            for c, r in zip(course, runs, strict=True)
        ]
        making_x = [r["making_x"] for r in runs if r["making_x"] is not None]
        opening = [r["opening"] for r in runs if r["opening"] is not None]
        rows[name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "seconds_rounds": [r["seconds"] for r in runs],
            "making_x_rounds": making_x or None,
            "opening_rounds": opening or None,
            "vs_course": statistics.median(per_round),
            "vs_course_rounds": per_round,
            "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
            "max_relative_cost_difference": max(differences),
        }
    return {
        "examples": m,
        "iterations": iterations,
        "images_bytes": images.nbytes,
        "prepared_file_bytes": (workdir / "prepared.h5").stat().st_size,
        "rows": rows,
    }


PLAIN_ITERATION = "plain loop (propagate): X read twice"


def one_iteration(workdir: Path, m: int, repeat: int) -> dict[str, object]:
    """One iteration on m examples, each way of reading X, taking turns, and beside them
    the parts an iteration cannot do without, each timed alone over the same m examples:
    reading the uint8 pixels once, turning them into float64 (as `pixel_blocks` does it,
    and dividing by 255 as `Dataset.blocks` does), the two products on a block in cache,
    reading a prepared HDF5 file once, and a gzip-compressed one."""
    from catclf import coursefiles, logistic, passes

    images, Y = noisy_copies(m)
    labels = Y.reshape(-1).astype(np.int64)
    flat = images.reshape(m, -1)
    X = flat.T / 255
    prepared_file(workdir / "raw.h5", images, labels)
    prepared_file(workdir / "gzip.h5", images, labels, gzip=True)
    in_file = coursefiles.read_hdf5(workdir / "raw.h5", in_file=True)
    packed = coursefiles.read_hdf5(workdir / "gzip.h5", in_file=True)
    rng = np.random.default_rng(3)
    w, b = rng.normal(scale=1e-3, size=(12288, 1)), 0.1
    size = logistic.BLOCK_COLUMNS

    def blocked(blocks: Callable[[], Any], scale: float) -> Callable[[], Any]:
        sums = logistic.block_sums(blocks)
        return lambda: logistic.optimize_blocks(w, b, sums, 1, 0.005, scale=scale)

    def passed(slices: Callable[[], Any], *, compiled: bool = True) -> Callable[[], Any]:
        def go() -> Any:
            with numba_hidden(not compiled), passes.Pass(slices, Y, size) as sums:
                return logistic.optimize_blocks(w, b, sums, 1, 0.005, scale=1 / 255)

        return go

    ways: dict[str, Callable[[], Any]] = {
        PLAIN_ITERATION: lambda: logistic.propagate(w, b, X, Y),
        f"float64 X held, blocks of {size}: X read once": blocked(
            lambda: logistic.column_blocks(X, Y, size), 1.0
        ),
    }
    for rows in (16, 32, 64, 128):
        ways[f"uint8 pixels made float64 in cache, blocks of {rows}"] = blocked(
            lambda rows=rows: logistic.pixel_blocks([images], Y, rows), 1 / 255
        )
    threads = passes.threads_for(m, size, blas=False)
    ways[f"uint8 pixels, blocks of {size}, a pass on {threads} threads (catclf.train's loop)"] = (
        passed(lambda: [images])
    )
    ways[f"the same without Numba: float64 in cache, BLAS, {threads} threads"] = passed(
        lambda: [images], compiled=False
    )
    ways[f"streamed from the prepared HDF5 file, a pass on {threads} threads"] = passed(
        lambda: in_file.slices(1024)
    )
    buffer = np.empty((size, 12288))
    pixels = np.empty((size, 12288), dtype=np.uint8)
    block, z, dz, part = buffer.copy(), np.empty(size), rng.normal(size=size), np.empty(12288)
    block[:] = flat[:size]
    u = w.reshape(-1)

    def each_block(how: Callable[[np.ndarray], Any]) -> Callable[[], None]:
        def go() -> None:
            for start in range(0, m - size + 1, size):
                how(flat[start : start + size])

        return go

    def products(_: np.ndarray) -> None:
        np.matmul(u, block.T, out=z)
        np.matmul(block.T, dz, out=part)

    def read_file(data: Any) -> Callable[[], None]:
        return lambda: [None for _ in data.slices(1024)]

    parts: dict[str, Callable[[], Any]] = {
        "reading the uint8 pixels once (a copy into cache)": each_block(
            lambda part_: np.copyto(pixels, part_)
        ),
        "turning them into float64 (np.copyto)": each_block(lambda part_: np.copyto(buffer, part_)),
        "turning them into float64 / 255 (np.divide)": each_block(
            lambda part_: np.divide(part_, 255.0, out=buffer)
        ),
        f"the two products, a block of {size} in cache": each_block(products),
        "both, compiled (catclf.fused), one thread": compiled_pass(images, Y, u),
        "reading the prepared HDF5 file once": read_file(in_file),
        "reading a gzip-compressed HDF5 file once": read_file(packed),
    }
    times = {
        name: statistics.median(t) for name, t in interleaved({**ways, **parts}, repeat).items()
    }
    base = times[PLAIN_ITERATION]
    return {
        "examples": m,
        "seconds": {name: times[name] for name in ways},
        "vs_plain": {name: base / times[name] for name in ways},
        "parts_seconds": {name: times[name] for name in parts},
    }


@contextlib.contextmanager
def numba_hidden(hidden: bool = True) -> Iterator[None]:
    """Passes made inside work their blocks as they do where Numba is not installed."""
    from catclf import fused

    if not hidden:
        yield
        return
    kernel = fused.pixel_kernel
    fused.pixel_kernel = lambda: None
    try:
        yield
    finally:
        fused.pixel_kernel = kernel


def compiled_pass(images: np.ndarray, Y: np.ndarray, v: np.ndarray) -> Callable[[], Any]:
    """`catclf.fused`'s kernel over all of images at once, on the caller's thread."""
    from catclf import fused

    kernel = fused.pixel_kernel()
    assert kernel is not None, "the benchmark needs catclf's fast extra (Numba)"
    rows, y, dw = images.reshape(len(images), -1), Y.reshape(-1).copy(), np.zeros(v.size)
    return lambda: kernel(rows, np.ascontiguousarray(v), 0.1, y, dw)


def noise_block(block_id: tuple[int, ...] = (0,)) -> np.ndarray:
    """Images of noise, (1000, 64, 64, 3) uint8, the same for a block wherever it is made."""
    rng = np.random.default_rng([7, block_id[0]])
    return rng.integers(0, 256, size=(1000, 64, 64, 3), dtype=np.uint8)


def redder(images: np.ndarray) -> np.ndarray:
    return (images[..., 0].mean(axis=(1, 2)) > images[..., 2].mean(axis=(1, 2))).astype(int)


def iteration_times(train: Callable[..., Any]) -> list[float]:
    """The seconds between the costs that train(progress=...) reports, one per iteration."""
    stamps: list[float] = []

    def progress(task: str, total: int | None, *, unit: str = "") -> Callable[..., None]:
        def step(done: int = 1, *, cost: float | None = None) -> None:
            if cost is not None:
                stamps.append(time.perf_counter())

        return step

    train(progress=progress)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def cluster(workdir: Path, m: int, iterations: int, photos: int, repeat: int) -> dict:
    """catclf.dask on a LocalCluster of two worker processes of one thread each, on this
    machine's cores, the scheduler and the client beside them: an iteration of training on
    m images of noise made on the workers (chunks of 1,000), beside catclf.train on the same
    images in memory; the course set in 2 chunks; and P(cat) of a 1804x1200 JPEG listed
    photos times, beside `catclf predict` with its own decoding processes."""
    import dask.array as da
    from distributed import Client, LocalCluster

    import catclf
    import catclf.dask
    from catclf import datasets

    blocks = m // 1000
    here = np.concatenate([noise_block((i,)) for i in range(blocks)])
    data = catclf.Dataset(here, redder(here))
    course, _ = datasets.bundled()
    photo = ROOT / "sample_images" / "cat_chelsea_large.jpg"
    listed = workdir / "photos.txt"
    listed.write_text(f"{photo}\n" * photos)
    model = catclf.load_model()
    settings = {"learning_rate": 0.0001, "num_iterations": iterations}
    times: dict[str, list[float]] = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as made,
        Client(made) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        images = da.map_blocks(
            noise_block, chunks=((1000,) * blocks, (64,), (64,), (3,)), dtype=np.uint8
        )
        labels = images.map_blocks(redder, drop_axis=[1, 2, 3], dtype=np.int64)
        course_images = da.from_array(course.images, chunks=(105, 64, 64, 3))
        course_labels = da.from_array(course.labels, chunks=105)
        ways: dict[str, Callable[[], list[float]]] = {
            f"catclf.dask.train, {m:,} images made on the workers, {blocks} chunks": lambda: (
                iteration_times(
                    lambda **k: catclf.dask.train(images, labels, client=client, **settings, **k)
                )
            ),
            f"catclf.train, the same {m:,} images in memory": lambda: iteration_times(
                lambda **k: catclf.train(data, **settings, solver="primal", **k)
            ),
            "catclf.dask.train, the course set in 2 chunks": lambda: iteration_times(
                lambda **k: catclf.dask.train(
                    course_images, course_labels, client=client, **settings, **k
                )
            ),
        }
        predict: dict[str, Callable[[], Any]] = {
            f"catclf.dask.predict_proba, {photos} photos of 1804x1200": lambda: (
                catclf.dask.predict_proba(model, [photo] * photos, client=client)
            ),
            f"catclf predict --files-from, the same {photos}": lambda: subprocess.run(
                [str(CATCLF), "predict", "-q", "--files-from", str(listed)],
                check=True,
                stdout=subprocess.DEVNULL,
            ),
        }
        for _ in range(repeat):
            for name, run in ways.items():
                times.setdefault(name, []).append(statistics.median(run()))
        times.update(interleaved(predict, repeat))
    return {
        "examples": m,
        "photos": photos,
        "iteration_seconds": {name: times[name] for name in ways},
        "prediction_seconds": {name: times[name] for name in predict},
    }


def cluster_markdown(result: dict) -> list[str]:
    lines = [
        "\n| on a LocalCluster of 2 workers | per iteration, round by round | median |",
        "| --- | ---: | ---: |",
    ]
    for name, rounds in result["iteration_seconds"].items():
        shown = ", ".join(f"{1000 * t:.0f} ms" for t in rounds)
        lines.append(f"| {name} | {shown} | {1000 * statistics.median(rounds):.0f} ms |")
    lines += ["\n| prediction | seconds, round by round | per photo |", "| --- | ---: | ---: |"]
    for name, rounds in result["prediction_seconds"].items():
        shown = ", ".join(f"{t:.2f}" for t in rounds)
        per = 1000 * statistics.median(rounds) / result["photos"]
        lines.append(f"| {name} | {shown} | {per:.1f} ms |")
    return lines


def make_photos(folder: Path, count: int) -> list[Path]:
    """count JPEGs of 1600x1066 (quality 90): crops of the sample photos, some mirrored."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(0)
    sources = [
        Image.open(p).convert("RGB")
        for p in sorted((ROOT / "sample_images").glob("*.*"))
        if p.suffix in (".jpg", ".png")
    ]
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        im = sources[i % len(sources)]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.7, 1.0)), int(h * rng.uniform(0.7, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        photo = im.crop((x, y, x + cw, y + ch)).resize((1600, 1066), Image.Resampling.BICUBIC)
        if i % 2:
            photo = ImageOps.mirror(photo)
        path = folder / f"photo_{i:03d}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return paths


PLAIN_LOOP = "plain Pillow loop, one process"


def loading(workdir: Path, count: int, repeat: int) -> dict[str, object]:
    """`catclf predict FOLDER` against the plain one-by-one Pillow loop, start-up included,
    taken in turns; where a photo's time goes, and the least time the work allows."""
    from catclf import model as model_file
    from catclf import modelfile
    from catclf.images import load_image, to_columns

    folder = workdir / "photos"
    paths = make_photos(folder, count)
    model = modelfile.BUNDLED_PATH
    cores = os.cpu_count() or 1
    predict = [str(CATCLF), "predict", "-q", "-m", str(model)]
    contenders = {
        PLAIN_LOOP: [sys.executable, str(HERE / "plain.py"), "predict", str(folder), str(model)],
        "catclf predict --jobs 1": [*predict, "--jobs", "1", str(folder)],
        f"catclf predict (--jobs {cores})": [*predict, str(folder)],
    }
    starts = {
        "import numpy, PIL.Image": [sys.executable, "-c", "import numpy, PIL.Image"],
        "catclf predict on one photo": [*predict, str(paths[0])],
    }
    # Each ratio is taken against the plain loop of its own round.
    times = interleaved(
        {
            name: lambda args=args: subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            for name, args in {**contenders, **starts}.items()
        },
        repeat,
    )
    rounds = {name: ratios(times[PLAIN_LOOP], times[name]) for name in contenders}
    split = photo_split(paths, model)
    # What reduced-scale decoding changes: pixels and probabilities against the plain path.
    classifier = model_file.load_model(model)
    fast = np.stack([load_image(p) for p in paths])
    slow = np.stack([plain.plain_pixels(p) for p in paths])
    per_photo = np.abs(fast.astype(np.int16) - slow).reshape(count, -1).mean(axis=1)
    p_fast = classifier.predict_proba_X(to_columns(fast))
    p_slow = classifier.predict_proba_X(to_columns(slow))
    return {
        "seconds": {name: statistics.median(t) for name, t in times.items()},
        "ratios": {name: statistics.median(r) for name, r in rounds.items()},
        "rounds": rounds,
        "per_photo": split,
        "cores": cores,
        "photos": count,
        "mean_abs_pixel_difference": float(per_photo.mean()),
        "max_mean_abs_pixel_difference": float(per_photo.max()),
        "max_probability_difference": float(np.abs(p_fast - p_slow).max()),
    }


def photo_split(paths: list[Path], model: Path) -> dict[str, float]:
    """Seconds of processor time per photo for each step of catclf's decoding (the best of 3
    passes over the photos, in this process), and what decoding in worker processes adds:
    the workers' time beyond that, and the parent's for taking their results and scoring."""
    import resource

    from PIL import Image

    from catclf import model as model_file
    from catclf.images import DRAFT_SIDE, IMAGE_SIZE, load_image
    from catclf.workers import reader

    def opened(path: Path) -> None:
        with Image.open(path) as im:  # the header, EXIF included
            im.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            im.getexif()

    def decoded(path: Path) -> None:
        with Image.open(path) as im:
            im.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            im.load()

    def resized(path: Path) -> None:
        with Image.open(path) as im:
            im.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            im.load()
            im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)

    def per_photo(step: Callable[[Path], object]) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for path in paths:
                step(path)
            best = min(best, time.process_time() - started)
        return best / len(paths)

    steps = {
        name: per_photo(step)
        for name, step in (
            ("open", opened),
            ("decode", decoded),
            ("resize", resized),
            ("load_image", load_image),
        )
    }
    classifier = model_file.load_model(model)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with reader(os.cpu_count() or 1, len(paths)) as read:
        started = time.process_time()
        for _ in classifier.score_images(read((p, str(p)) for p in paths)):
            pass
        parent = time.process_time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return {
        "open the file, read its header and EXIF": steps["open"],
        "decode at the reduced scale": steps["decode"] - steps["open"],
        "resize to 64x64 (Lanczos)": steps["resize"] - steps["decode"],
        "the rest of load_image (bounds, EXIF turn, pixels)": steps["load_image"] - steps["resize"],
        "load_image, whole": steps["load_image"],
        "in a worker process, whole (started and stopped included)": workers / len(paths),
        "the parent: taking the results and scoring": parent / len(paths),
    }


def startup(workdir: Path, repeat: int) -> dict[str, float]:
    """Wall time of a whole process: the import floor, the libraries predict cannot do
    without (its limit: Pillow's readers as opening a file imports them, typer; catclf's own
    model files are read without h5py),
    --help, predict on one photo.

    Each runs as an installed package runs, from the byte code Python wrote at its first
    run (untimed), here in a cache of its own. predict runs once more with
    PYTHONDONTWRITEBYTECODE=1 and no byte code of catclf's own, as from a checkout where
    none was ever written: each start then compiles catclf's sources."""
    import catclf

    photo = workdir / "one.jpg"
    from PIL import Image

    Image.open(ROOT / "sample_images" / "cat_chelsea.png").convert("RGB").save(photo)
    predict = [str(CATCLF), "predict", "-q", str(photo)]
    libraries = "import numpy, PIL.Image, typer; PIL.Image.preinit()"
    commands = {
        'python -c "import numpy, PIL.Image"': [sys.executable, "-c", "import numpy, PIL.Image"],
        f'python -c "{libraries}"': [sys.executable, "-c", libraries],
        "catclf --help": [str(CATCLF), "--help"],
        "catclf predict one.jpg": predict,
        "PYTHONDONTWRITEBYTECODE=1 catclf predict one.jpg": predict,
    }
    cache = workdir / "bytecode"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached = {**env, "PYTHONPYCACHEPREFIX": str(cache)}
    for args in commands.values():
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=cached)
    # The same cache less catclf's byte code, which Python is then told not to write.
    without_catclf = workdir / "bytecode-without-catclf"
    shutil.copytree(cache, without_catclf)
    package = Path(catclf.__file__).resolve().parent
    shutil.rmtree(without_catclf / package.relative_to(package.anchor))
    compiling = {**env, "PYTHONPYCACHEPREFIX": str(without_catclf), "PYTHONDONTWRITEBYTECODE": "1"}
    envs = {name: compiling if "BYTECODE" in name else cached for name in commands}
    # Interleaved, so that a slow moment of the machine falls on all of them alike.
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, args in commands.items():
            times[name].append(command_seconds(args, 1, envs[name]))
    return {name: statistics.median(t) for name, t in times.items()}


def big_set(path: Path, m: int) -> None:
    """A course-layout HDF5 set of m images: the bundled training images with noise added,
    written in chunks of 64 images so that it is never whole in memory."""
    import h5py

    from catclf import datasets

    train, _ = datasets.bundled()
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("train_set_x", (m, 64, 64, 3), np.uint8, chunks=(64, 64, 64, 3))
        y = f.create_dataset("train_set_y", (m,), np.int64)
        for start in range(0, m, 512):
            n = min(512, m - start)
            pick = rng.integers(0, train.m, n)
            noise = rng.integers(-8, 9, (n, 64, 64, 3), dtype=np.int16)
            x[start : start + n] = np.clip(train.images[pick] + noise, 0, 255)
            y[start : start + n] = train.labels[pick]


# Runs a command and prints its peak resident memory. It runs in a small process of its
# own: Linux keeps a process's peak across exec, so a child forked straight from this
# (large) process would report this process's peak.
PEAK = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)
"""


def peak_memory(args: list[str]) -> tuple[float, float]:
    """(seconds, peak resident memory in bytes) of one run of a command."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    status, peak = out.stdout.split()
    if status != "0":
        raise RuntimeError(f"{args} exited with {status}")
    return seconds, float(peak)


def memory(workdir: Path, m: int, budget: str, in_memory: bool) -> dict[str, object]:
    """Peak memory of `catclf train` streaming an m-image set under a budget."""
    data = workdir / "big.h5"
    big_set(data, m)
    # Three iterations show the cost of a pass; at 0.005 the cost of such a short run is still
    # above its start, which train refuses as divergence, so a smaller rate.
    train = [str(CATCLF), "train", "-q", str(data), "-n", "3", "-r", "0.001", "--json"]
    seconds, peak = peak_memory([*train, "--memory-limit", budget, "-m", str(workdir / "a.h5")])
    result: dict[str, object] = {
        "examples": m,
        "uint8_pixels_bytes": m * 12288,
        "float64_X_bytes": m * 12288 * 8,
        "memory_limit": budget,
        "streamed": {"seconds": seconds, "peak_rss_bytes": peak},
    }
    if in_memory:
        seconds, peak = peak_memory(
            [*train, "--memory-limit", "100GB", "-m", str(workdir / "b.h5")]
        )
        result["in_memory"] = {"seconds": seconds, "peak_rss_bytes": peak}
    data.unlink()
    return result


def ratio(x: float) -> str:
    """2.5 as '2.5x', 0.004 as '1/250x': how many times faster, or slower."""
    return f"{x:.1f}x" if x >= 0.1 else f"1/{1 / x:,.0f}x"


def markdown(results: dict) -> str:
    """The tables, as docs/performance.md shows them, of the parts that were run."""
    lines: list[str] = []
    if "training" in results:
        lines += training_markdown(results["training"])
    if "gram_limit" in results:
        lines += limit_markdown(results["gram_limit"])
    if "large_training" in results:
        lines += large_markdown(results["large_training"])
    if "one_iteration" in results:
        lines += iteration_markdown(results["one_iteration"])
    if "loading" in results:
        lines += loading_markdown(results["loading"])
    if "startup" in results:
        lines += startup_markdown(results["startup"])
    if "cluster" in results:
        lines += cluster_markdown(results["cluster"])
    if "memory" in results:
        lines += memory_markdown(results["memory"])
    return "\n".join(lines).strip()


def training_markdown(train: dict) -> list[str]:
    lines = [
        "",
        "| training, course set, 2000 iterations | seconds | vs plain numpy | test accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in train.items():
        accuracy = "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.0%}"
        lines.append(f"| {name} | {row['seconds']:.3f} | {ratio(row['vs_plain'])} | {accuracy} |")
    gram = [row for name, row in train.items() if name.startswith(GRAM)]
    rounds = "; ".join(", ".join(f"{r:.1f}x" for r in row["vs_plain_rounds"]) for row in gram)
    lines.append(f"\nThe Gram solver against the plain loop, round by round: {rounds}.")
    return lines


def limit_markdown(limit: dict) -> list[str]:
    floor = limit["product_us"] + limit["steps_us"]
    return [
        "",
        f"| Gram solver, {limit['examples']} examples, {limit['iterations']} iterations | time |",
        "| --- | ---: |",
        f"| whole solver | {limit['solver_seconds'] * 1e3:.1f} ms |",
        f"| whole solver, L2 | {limit['solver_l2_seconds'] * 1e3:.1f} ms |",
        f"| of which X^T X, once | {limit['gram_seconds'] * 1e3:.1f} ms |",
        f"| the solver at 0 iterations (X^T X, the end) | "
        f"{limit['setup_and_end_seconds'] * 1e3:.1f} ms |",
        f"| one iteration | {limit['iteration_us']:.2f} us |",
        f"| one iteration, L2 | {limit['iteration_l2_us']:.2f} us |",
        f"| one (m + 2) x m product alone | {limit['product_us']:.2f} us |",
        f"| the element-wise steps alone | {limit['steps_us']:.2f} us |",
        f"| the iteration against product + steps | {limit['iteration_us'] / floor:.2f}x |",
    ]


def large_markdown(large: dict) -> list[str]:
    lines = [
        "",
        f"| training, {large['examples']:,} uint8 images, {large['iterations']} iterations, "
        "each run in a fresh process | seconds | vs the course's code | round by round "
        "| peak memory | costs vs the course's |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in large["rows"].items():
        rounds = ", ".join(f"{r:.2f}" for r in row["vs_course_rounds"])
        lines.append(
            f"| {name} | {row['seconds']:.2f} | {row['vs_course']:.2f}x | {rounds} "
            f"| {row['peak_rss_bytes'] / 1e6:,.0f} MB "
            f"| {row['max_relative_cost_difference']:.0e} |"
        )
    making = [
        f"{name}: {', '.join(f'{t:.2f}' for t in row['making_x_rounds'])} s"
        for name, row in large["rows"].items()
        if row["making_x_rounds"]
    ]
    opening = [
        ", ".join(f"{t:.2f}" for t in row["opening_rounds"])
        for row in large["rows"].values()
        if row["opening_rounds"]
    ]
    lines.append(
        f"\nThe images take {large['images_bytes'] / 1e6:,.0f} MB, the prepared file "
        f"{large['prepared_file_bytes'] / 1e6:,.0f} MB. Making X, round by round: "
        + "; ".join(making)
        + f". Opening the prepared file (read_hdf5), round by round: {'; '.join(opening)} s."
    )
    return lines


def iteration_markdown(one: dict) -> list[str]:
    base = one["seconds"][PLAIN_ITERATION]
    lines = [
        "",
        f"| one iteration, {one['examples']:,} examples | seconds | vs plain |",
        "| --- | ---: | ---: |",
    ]
    for name, ratio_ in one["vs_plain"].items():
        lines.append(f"| {name} | {one['seconds'][name]:.3f} | {ratio_:.2f}x |")
    lines += [
        "",
        f"| what an iteration on {one['examples']:,} examples cannot do without, each alone "
        "| seconds | of the plain iteration |",
        "| --- | ---: | ---: |",
    ]
    for name, seconds in one["parts_seconds"].items():
        lines.append(f"| {name} | {seconds:.3f} | {seconds / base:.0%} |")
    return lines


def loading_markdown(load: dict) -> list[str]:
    seconds, ratios = load["seconds"], load["ratios"]
    lines = [
        "",
        f"| predict {load['photos']} photos of 1600x1066 | seconds | vs plain loop "
        "| round by round |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ratio_ in ratios.items():
        rounds = ", ".join(f"{r:.2f}" for r in load["rounds"][name])
        lines.append(f"| {name} | {seconds[name]:.3f} | {ratio_:.2f}x | {rounds} |")
    # The least the work allows on these cores: the photos' decoding and resizing (load_image,
    # measured in one process) shared by the cores, after catclf's start-up, or after only
    # what any decoding process needs, numpy and Pillow imported.
    split, cores, count = load["per_photo"], load["cores"], load["photos"]
    shared = count * split["load_image, whole"] / cores
    plain_seconds = seconds[PLAIN_LOOP]
    for start, label in (
        ("catclf predict on one photo", "after catclf's start-up (predict on one photo)"),
        ("import numpy, PIL.Image", "after `import numpy, PIL.Image`"),
    ):
        least = seconds[start] + shared
        lines.append(
            f"| limit: decoding and resizing shared by {cores} cores, {label} | {least:.3f} "
            f"| {plain_seconds / least:.2f}x | |"
        )
    lines += [
        "",
        "| one photo, processor time | ms |",
        "| --- | ---: |",
    ]
    for name, t in split.items():
        lines.append(f"| {name} | {t * 1e3:.3f} |")
    one, floor = seconds["catclf predict on one photo"], seconds["import numpy, PIL.Image"]
    lines.append(
        f"\nStart-up: `catclf predict` on one photo {one:.3f} s, "
        f'`python -c "import numpy, PIL.Image"` {floor:.3f} s.'
    )
    lines.append(
        f"\nPixels against the plain loop: mean absolute difference "
        f"{load['mean_abs_pixel_difference']:.2f} levels (worst photo "
        f"{load['max_mean_abs_pixel_difference']:.2f}); probabilities within "
        f"{load['max_probability_difference']:.4f}."
    )
    return lines


def startup_markdown(start: dict) -> list[str]:
    floor = start['python -c "import numpy, PIL.Image"']
    lines = ["", "| start-up | seconds | vs the import floor |", "| --- | ---: | ---: |"]
    for name, seconds in start.items():
        lines.append(f"| `{name}` | {seconds:.3f} | {seconds / floor:.2f}x |")
    return lines


def memory_markdown(mem: dict) -> list[str]:
    x = mem["float64_X_bytes"]
    lines = [
        "",
        f"| train on {mem['examples']:,} images, 3 iterations | seconds | peak memory "
        "| vs float64 X |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("streamed", f"streamed, --memory-limit {mem['memory_limit']}"),
        ("in_memory", "in memory"),
    ):
        if key in mem:
            row = mem[key]
            lines.append(
                f"| {label} | {row['seconds']:.1f} | {row['peak_rss_bytes'] / 1e6:,.0f} MB "
                f"| {row['peak_rss_bytes'] / x:.2f}x |"
            )
    lines.append(
        f"\nX as float64 would take {x / 1e9:.1f} GB; the uint8 pixels "
        f"{mem['uint8_pixels_bytes'] / 1e6:,.0f} MB."
    )
    return lines


PARTS = ("training", "large_training", "loading", "startup", "memory", "cluster")


def main() -> None:
    global CATCLF
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats, 60 photos, a 5,000-image set, no in-memory run",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); the results are written only with --out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the results as JSON [default: bench/results.json, "
        "or nowhere with --only]",
    )
    parser.add_argument(
        "--catclf",
        type=Path,
        default=CATCLF,
        help="the catclf command to time, another version's to compare two "
        "[default: the one beside this Python]",
    )
    args = parser.parse_args()
    CATCLF = args.catclf
    parts = args.only or PARTS
    out = args.out or (None if args.only else HERE / "results.json")
    repeat = 3 if args.quick else 5
    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="catclf-bench-") as tmp:
        work = Path(tmp)
        if "training" in parts:
            print("training ...", file=sys.stderr)
            results["training"] = training(repeat)
            print("where the Gram solver's time goes ...", file=sys.stderr)
            results["gram_limit"] = gram_limit(7 if args.quick else 15)
        if "large_training" in parts:
            print("training on many examples ...", file=sys.stderr)
            results["large_training"] = large_training(
                work, 2_000 if args.quick else 20_000, 20, repeat
            )
            print("one iteration on many examples ...", file=sys.stderr)
            results["one_iteration"] = one_iteration(work, 2_000 if args.quick else 20_000, repeat)
        if "loading" in parts:
            print("loading photos ...", file=sys.stderr)
            results["loading"] = loading(work, 60 if args.quick else 300, repeat)
        if "startup" in parts:
            print("start-up ...", file=sys.stderr)
            results["startup"] = startup(work, 10 if args.quick else 20)
        if "memory" in parts:
            print("memory ...", file=sys.stderr)
            results["memory"] = memory(
                work,
                5_000 if args.quick else 50_000,
                "60MB" if args.quick else "600MB",
                in_memory=not args.quick,
            )
        if "cluster" in parts:
            print("on a Dask cluster ...", file=sys.stderr)
            results["cluster"] = cluster(
                work, 4_000 if args.quick else 20_000, 6, 40 if args.quick else 200, repeat
            )
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
