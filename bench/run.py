"""catclf against its alternatives, measured in one run on this machine.

    python bench/run.py [--quick] [--only PART ...] [--out bench/results.json]

Needs the bench extra (pip install -e '.[bench]') for scikit-learn. Every figure is a
median of several runs, and each is shown as a ratio against the alternative measured
in the same run on the same data. The data it needs (large JPEGs made from the sample
photos, a 50,000-image HDF5 set) are generated in a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def training(repeat: int) -> dict[str, object]:
    """2000 iterations at 0.005 on the course set, end to end of the optimizer."""
    from sklearn.linear_model import LogisticRegression

    from catclf import datasets, logistic
    from catclf.metrics import accuracy

    train, test = datasets.bundled()
    X, Y = train.X, train.Y
    w0, b0 = logistic.initialize_with_zeros(X.shape[0])
    iterations, rate = 2000, 0.005

    def test_accuracy(params: dict) -> float:
        return accuracy(logistic.predict(params["w"], params["b"], test.X), test.Y)

    rows: dict[str, dict[str, float]] = {}
    solvers = {
        "plain numpy loop (the course's optimize)": logistic.optimize,
        "catclf primal (--solver primal)": logistic.optimize_primal,
        "catclf Gram (--solver gram, the default here)": logistic.optimize_gram,
    }
    for name, optimize in solvers.items():
        seconds, (params, _, _) = timed(
            lambda optimize=optimize: optimize(w0, b0, X, Y, iterations, rate), repeat
        )
        rows[name] = {"seconds": seconds, "test_accuracy": test_accuracy(params)}

    # The lecture's loops are slow: a few iterations, scaled to 2000.
    lecture_iterations = 2
    seconds, _ = timed(lambda: plain.lecture_optimize(w0, b0, X, Y, lecture_iterations, rate), 1)
    rows["the lecture's unvectorized loops (2 iterations, scaled)"] = {
        "seconds": seconds * iterations / lecture_iterations,
        "test_accuracy": None,  # the 2 iterations run are no model to test
    }

    # No penalty: the same model as the course's, fitted to the minimum of the same cost.
    seconds, sklearn_model = timed(
        lambda: LogisticRegression(C=np.inf, max_iter=1000).fit(X.T, train.labels), repeat
    )
    rows["scikit-learn LogisticRegression (lbfgs, no penalty)"] = {
        "seconds": seconds,
        "test_accuracy": float(sklearn_model.score(test.X.T, test.labels)),
    }
    return rows


def large_training(m: int, iterations: int, repeat: int) -> dict[str, object]:
    """Many examples, where the primal loop is chosen: the course's optimize against
    catclf's blocked primal loop, on m noisy copies of the course's training images."""
    from catclf import datasets, logistic
    from catclf.images import to_columns

    train, _ = datasets.bundled()
    rng = np.random.default_rng(2)
    pick = rng.integers(0, train.m, m)
    images = np.empty((m, 64, 64, 3), dtype=np.uint8)
    for start in range(0, m, 512):
        part = pick[start : start + 512]
        noise = rng.integers(-8, 9, (len(part), 64, 64, 3), dtype=np.int16)
        images[start : start + len(part)] = np.clip(train.images[part] + noise, 0, 255)
    X = to_columns(images)  # as catclf and the course make X: one image per column
    Y = train.labels[pick].reshape(1, -1).astype(np.float64)
    w0, b0 = logistic.initialize_with_zeros(12288)
    rows: dict[str, object] = {}
    costs = {}
    for name, optimize in (
        ("plain numpy loop (the course's optimize)", logistic.optimize),
        ("catclf primal (the default here)", logistic.optimize_primal),
    ):
        seconds, (_, _, recorded) = timed(
            lambda optimize=optimize: optimize(w0, b0, X, Y, iterations, 0.001), repeat
        )
        rows[name] = seconds
        costs[name] = recorded
    first, second = costs.values()
    return {
        "examples": m,
        "iterations": iterations,
        "seconds": rows,
        "max_cost_difference": float(np.max(np.abs(np.subtract(first, second)))),
    }


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


def loading(workdir: Path, count: int, repeat: int) -> dict[str, object]:
    """`catclf predict FOLDER` against the plain one-by-one Pillow loop, start-up included."""
    from catclf import model as model_file
    from catclf import modelfile
    from catclf.images import load_image, to_columns

    folder = workdir / "photos"
    paths = make_photos(folder, count)
    model = modelfile.BUNDLED_PATH
    rows = {
        "plain Pillow loop, one process": command_seconds(
            [sys.executable, str(HERE / "plain.py"), "predict", str(folder), str(model)], repeat
        ),
        "catclf predict --jobs 1": command_seconds(
            [str(CATCLF), "predict", "-q", "--jobs", "1", "-m", str(model), str(folder)], repeat
        ),
        f"catclf predict (--jobs {os.cpu_count()})": command_seconds(
            [str(CATCLF), "predict", "-q", "-m", str(model), str(folder)], repeat
        ),
    }
    # What reduced-scale decoding changes: pixels and probabilities against the plain path.
    classifier = model_file.load_model(model)
    fast = np.stack([load_image(p) for p in paths])
    slow = np.stack([plain.plain_pixels(p) for p in paths])
    per_photo = np.abs(fast.astype(np.int16) - slow).reshape(count, -1).mean(axis=1)
    p_fast = classifier.predict_proba_X(to_columns(fast))
    p_slow = classifier.predict_proba_X(to_columns(slow))
    return {
        "seconds": rows,
        "photos": count,
        "mean_abs_pixel_difference": float(per_photo.mean()),
        "max_mean_abs_pixel_difference": float(per_photo.max()),
        "max_probability_difference": float(np.abs(p_fast - p_slow).max()),
    }


def startup(workdir: Path, repeat: int) -> dict[str, float]:
    """Wall time of a whole process: the import floor, the libraries predict cannot do
    without (its limit: Pillow's readers as opening a file imports them, typer, h5py),
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
    libraries = "import numpy, PIL.Image, typer, h5py; PIL.Image.preinit()"
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
    if "large_training" in results:
        lines += large_markdown(results["large_training"])
    if "loading" in results:
        lines += loading_markdown(results["loading"])
    if "startup" in results:
        lines += startup_markdown(results["startup"])
    if "memory" in results:
        lines += memory_markdown(results["memory"])
    return "\n".join(lines).strip()


def training_markdown(train: dict) -> list[str]:
    lines = [
        "",
        "| training, course set, 2000 iterations | seconds | vs plain numpy | test accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    base = train["plain numpy loop (the course's optimize)"]["seconds"]
    for name, row in train.items():
        accuracy = "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.0%}"
        lines.append(
            f"| {name} | {row['seconds']:.3f} | {ratio(base / row['seconds'])} | {accuracy} |"
        )
    return lines


def large_markdown(large: dict) -> list[str]:
    base = large["seconds"]["plain numpy loop (the course's optimize)"]
    lines = [
        "",
        f"| training, {large['examples']:,} examples, {large['iterations']} iterations "
        "| seconds | vs plain numpy |",
        "| --- | ---: | ---: |",
    ]
    for name, seconds in large["seconds"].items():
        lines.append(f"| {name} | {seconds:.2f} | {base / seconds:.2f}x |")
    return lines


def loading_markdown(load: dict) -> list[str]:
    base = load["seconds"]["plain Pillow loop, one process"]
    lines = [
        "",
        f"| predict {load['photos']} photos of 1600x1066 | seconds | vs plain loop |",
        "| --- | ---: | ---: |",
    ]
    for name, seconds in load["seconds"].items():
        lines.append(f"| {name} | {seconds:.2f} | {base / seconds:.1f}x |")
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


PARTS = ("training", "large_training", "loading", "startup", "memory")


def main() -> None:
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
    args = parser.parse_args()
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
        if "large_training" in parts:
            print("training on many examples ...", file=sys.stderr)
            results["large_training"] = large_training(2_000 if args.quick else 10_000, 20, repeat)
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
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
