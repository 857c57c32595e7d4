"""How fast catclf honours Ctrl-C and SIGTERM during each command, and how often a Ctrl-C
early in start-up still prints a traceback.

    python bench/interrupts.py [--tries 5] [--python PATH]

For each command it starts `python -m catclf ...` on data generated in a temporary folder
(a 20,000-image HDF5 set in gzip chunks of 64, 6,000 small photos), waits for a moment of
the command's work (a line on stderr, the data file opened, a temporary file made), sends
the signal after a delay that differs from try to try, and times the signal to the end of
the process. Every run must end with 130 or 143 and one line saying so, without a
traceback. --python measures another installation of catclf (an older one, say).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

DELAYS = (0.0, 0.15, 0.35, 0.6, 1.0)


def course_set(folder: Path, m: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with h5py.File(folder / "train_set.h5", "w") as f:
        x = f.create_dataset(
            "train_set_x", (m, 64, 64, 3), np.uint8, chunks=(64, 64, 64, 3), compression="gzip"
        )
        for start in range(0, m, 1024):
            stop = min(start + 1024, m)
            x[start:stop] = rng.integers(0, 256, (stop - start, 64, 64, 3), dtype=np.uint8)
        f.create_dataset("train_set_y", data=rng.integers(0, 2, m))
    return folder


def photos(folder: Path, m: int) -> Path:
    rng = np.random.default_rng(3)
    for i in range(m):
        where = folder / ("cat" if i % 2 else "non-cat")
        where.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(where / f"{i}.png")
    return folder


def line_with(text: str) -> Callable[[subprocess.Popen[str]], None]:
    def wait(process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if text in line:
                return
        raise RuntimeError(f"ended before saying {text!r}")

    return wait


def loaded(library: str) -> Callable[[subprocess.Popen[str]], None]:
    """Wait until the process has mapped a shared library whose name holds library (h5py's
    to read HDF5, Pillow's to decode images): the work has begun."""

    def wait(process: subprocess.Popen[str]) -> None:
        while process.poll() is None:
            try:
                if library in Path(f"/proc/{process.pid}/maps").read_text():
                    return
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"ended before loading {library}")

    return wait


def temporary_in(folder: Path) -> Callable[[subprocess.Popen[str]], None]:
    """Wait until a temporary file of catclf's appears in folder (the writing has begun)."""

    def wait(process: subprocess.Popen[str]) -> None:
        while process.poll() is None:
            if folder.is_dir() and any(p.suffix == ".tmp" for p in folder.iterdir()):
                return
            time.sleep(0.002)
        raise RuntimeError(f"ended before writing into {folder}")

    return wait


def honoured(
    python: str,
    args: list[str],
    ready: Callable[[subprocess.Popen[str]], None],
    delay: float,
    signal_number: int,
    cwd: Path,
) -> float | None:
    """Seconds from the signal to the end of the process; None if it had ended already."""
    process = subprocess.Popen(
        [python, "-m", "catclf", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        ready(process)
        time.sleep(delay)
        if process.poll() is not None:
            return None
        sent = time.perf_counter()
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=120)
        seconds = time.perf_counter() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = 128 + signal_number
    said = err.strip().splitlines()[-1:] if err.strip() else []
    if process.returncode != status or "Traceback" in err or "Exception ignored" in err:
        raise RuntimeError(f"{args}: status {process.returncode}, said {err!r}")
    assert said and said[0].startswith("catclf: ")
    return seconds


def start_up_tracebacks(python: str, runs: int, cwd: Path) -> tuple[int, int]:
    """(tracebacks, of which in catclf's own code) of `python -m catclf --help` sent SIGINT
    at delays spread over its first 60 ms."""
    tracebacks = ours = 0
    for i in range(runs):
        process = subprocess.Popen(
            [python, "-m", "catclf", "--help"],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(0.060 * i / runs)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
        if "Traceback" in err:
            tracebacks += 1
            ours += "/catclf/" in err
    return tracebacks, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=len(DELAYS))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--start-up-runs", type=int, default=100)
    options = parser.parse_args()
    python = options.python
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        print("generating data...", file=sys.stderr)
        big = course_set(root / "big", 20_000, seed=1)
        small = course_set(root / "small", 2_000, seed=2)
        pictures = photos(root / "photos", 6_000)
        subprocess.run(
            [python, "-m", "catclf", "train", small, "-n", "1", "-m", root / "model.h5", "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        model = root / "model.h5"
        out = root / "out"
        endless = "100000000"
        cases: list[tuple[str, list[str], Callable[[subprocess.Popen[str]], None]]] = [
            (
                "train, streamed from HDF5 (--memory-limit 100MB)",
                ["train", big, "-n", endless, "--memory-limit", "100MB", "-m", "new.h5"],
                line_with("each iteration reads them"),
            ),
            (
                "train, in memory",
                ["train", small, "-n", endless, "-m", "new.h5", "--solver", "primal"],
                line_with("training on"),
            ),
            (
                "prepare, decoding",
                ["prepare", pictures, "--out", out, "--test-fraction", "0.2"],
                line_with("decoding"),
            ),
            (
                "prepare, writing HDF5",
                ["prepare", pictures, "--out", out, "--test-fraction", "0.2"],
                temporary_in(out),
            ),
            (
                "evaluate, reading HDF5 a slice at a time",
                ["evaluate", big / "train_set.h5", "-m", model],
                loaded("h5py/defs"),
            ),
            (
                "report, reading HDF5 a slice at a time",
                ["report", "--out", "report", big / "train_set.h5", "-m", model],
                loaded("h5py/defs"),
            ),
            ("sweep", ["sweep", small, "-n", endless, "-r", "0.001"], line_with("training on")),
            ("cv", ["cv", small, "-n", endless], line_with("training on")),
            ("predict, 6,000 photos", ["predict", pictures, "-m", model], loaded("PIL/_imaging")),
        ]
        print("| command | signal | tries | median ms | slowest ms |")
        print("| --- | --- | ---: | ---: | ---: |")
        for what, args, ready in cases:
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                times = []
                for k in range(options.tries):
                    delay = DELAYS[k % len(DELAYS)]
                    if what.startswith(("prepare", "evaluate")):
                        delay /= 3  # each lasts about a second
                    got = honoured(python, list(map(str, args)), ready, delay, signal_number, root)
                    if got is not None:
                        times.append(got)
                name = signal.Signals(signal_number).name
                if times:
                    print(
                        f"| {what} | {name} | {len(times)} | "
                        f"{1000 * statistics.median(times):.0f} | {1000 * max(times):.0f} |",
                        flush=True,
                    )
        runs = options.start_up_runs
        tracebacks, ours = start_up_tracebacks(python, runs, root)
        print(
            f"\nstart-up: SIGINT at delays from 0 to 60 ms: {tracebacks} tracebacks in {runs} "
            f"runs, {ours} of them through catclf's own code"
        )


if __name__ == "__main__":
    main()
