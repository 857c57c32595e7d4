"""Every kind of awkward or broken file in tests/corpus.py, met by the library and the CLI.

A readable kind is scored, with the pixels worked out in corpus.py where they are known;
any other kind is one line naming the file. Nothing may hang: the library is run under an
alarm and the CLI under a subprocess timeout, and a FIFO is among the kinds.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from corpus import Case, build
from helpers import (
    N_X,
    catclf_run,
    class_folders,
    error_lines,
    without_root_powers,
    write_model_file,
)

from catclf.errors import ImageError
from catclf.images import load_image
from catclf.wording import one_line

TIMEOUT = 120  # seconds for one catclf run: generous on a loaded machine, finite if it hangs
# Why a file that would cost minutes or gigabytes is refused: before decoding, never because
# decoding it ran out of time or memory.
REFUSED_UP_FRONT = re.compile(
    r"needs [\d,]+ MiB to decode, more than the 512 MiB allowed for one image"
    r"|refused before decoding: .+"
)


def _kinds() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        return [case.kind for case in build(Path(folder))]


KINDS = _kinds()


def test_the_corpus_is_broad():
    assert len(KINDS) >= 30
    assert len(set(KINDS)) == len(KINDS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Case]:
    folder = tmp_path_factory.mktemp("corpus")
    return {case.kind: case for case in build(folder)}


@pytest.fixture(scope="module")
def drop() -> list[str]:
    """A prefix that makes file permissions apply to catclf, or [] if that cannot be done."""
    try:
        return without_root_powers()
    except pytest.skip.Exception:
        return []


def permissions_apply(drop: list[str]) -> bool:
    return os.geteuid() != 0 or bool(drop)


def unreadable(cases, drop: list[str], *, files_only: bool) -> list[Case]:
    """The cases catclf must report, as the user running it: a locked file is readable
    to root when root powers could not be dropped. files_only: those a folder walk finds
    and reports, as it meets only files (not the folder named like an image) and cannot
    find what no folder lists."""
    return [
        c
        for c in cases
        if not c.readable
        and ((c.is_file and c.walked) or not files_only)
        and (permissions_apply(drop) or not c.unprivileged)
    ]


def run(*args, cwd, drop):
    """catclf ARGS as the user (root powers dropped when they can be), within TIMEOUT."""
    return catclf_run(*args, cwd=cwd, prefix=drop, timeout=TIMEOUT)


@pytest.fixture
def alarm():
    """Fail, rather than hang, a library call that does not return within 20 seconds."""

    def expire(signum, frame):
        raise TimeoutError("did not return within 20 seconds")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def display(path: Path) -> str:
    """A path as catclf's one-line messages show it on stderr."""
    return one_line(str(path)).encode("utf-8", "backslashreplace").decode("ascii")


def probability(w: np.ndarray, b: float, pixels: np.ndarray) -> float:
    """sigmoid(w . x + b) with x the pixels / 255, by hand."""
    z = float(w[:, 0] @ (pixels.reshape(-1) / 255.0) + b)
    return 1.0 / (1.0 + math.exp(-z))


# The library, one kind at a time


@pytest.mark.parametrize("kind", KINDS)
def test_load_image(corpus, alarm, kind):
    case = corpus[kind]
    if case.unprivileged and os.geteuid() == 0:
        # Root reads any file: ask the library in a process without root's powers to read.
        script = (
            "import sys\nfrom catclf.errors import ImageError\n"
            "from catclf.images import load_image\n"
            "try:\n    load_image(sys.argv[1])\nexcept ImageError as e:\n    print(e)\n"
        )
        done = subprocess.run(
            [*without_root_powers(), sys.executable, "-c", script, str(case.path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.startswith(f"{case.path}: ") and done.stdout.count("\n") == 1
        return
    if case.readable:
        pixels = load_image(case.path)
        assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
        if case.pixels is not None:
            np.testing.assert_array_equal(pixels, case.pixels)
    else:
        with pytest.raises(ImageError) as caught:
            load_image(case.path)
        message = str(caught.value)
        assert message.startswith(f"{case.path}: ")
        assert "\n" not in message.removeprefix(f"{case.path}: ")
        if case.costly:
            assert REFUSED_UP_FRONT.fullmatch(message.removeprefix(f"{case.path}: ")), message


# predict, every kind named on the command line at once


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(11)
    w, b = rng.normal(scale=0.05, size=(N_X, 1)), -0.2
    path = write_model_file(tmp_path_factory.mktemp("model") / "random.h5", w=w, b=np.float64(b))
    return path, w, b


@pytest.fixture(scope="module")
def predict_all(corpus, model, drop):
    paths = [os.fsencode(case.path) for case in corpus.values()]
    result = run("predict", "-m", model[0], "--json", *paths, cwd=model[0].parent, drop=drop)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    # Every input has a record, in input order: scored, or with the error stderr also says.
    assert len(records) == len(paths)
    assert [os.fsencode(r["path"]) for r in records] == paths
    return result, [r for r in records if "probability" in r]


@pytest.mark.parametrize("kind", KINDS)
def test_predict(corpus, model, predict_all, drop, kind):
    case = corpus[kind]
    if case.unprivileged and not permissions_apply(drop):
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE")
    result, rows = predict_all
    scored = [row for row in rows if row["path"] == str(case.path)]
    named = [
        line
        for line in error_lines(result.stderr)
        if line.startswith(f"catclf: error: {display(case.path)}: ")
    ]
    if case.readable:
        assert len(scored) == 1 and named == []
        p = scored[0]["probability"]
        if case.pixels is not None:
            assert p == pytest.approx(probability(model[1], model[2], case.pixels), rel=1e-9)
        assert 0 < p < 1
    else:
        assert scored == []
        assert len(named) == 1, result.stderr
        if case.costly:
            why = named[0].removeprefix(f"catclf: error: {display(case.path)}: ")
            assert REFUSED_UP_FRONT.fullmatch(why), named[0]


def test_predict_all_kinds_at_once(corpus, predict_all, drop):
    result, rows = predict_all
    assert result.returncode == 1
    bad = unreadable(corpus.values(), drop, files_only=False)
    assert len(rows) == len(corpus) - len(bad)
    # Every line on stderr is an error, one per unreadable input, in the order given.
    assert result.stderr.splitlines() == error_lines(result.stderr)
    assert len(error_lines(result.stderr)) == len(bad)


def test_predict_the_corpus_folder(corpus, model, drop):
    # A folder named like an image is walked as a folder, not reported as an image.
    folder = next(iter(corpus.values())).path.parent
    result = run("predict", "-m", model[0], "--json", folder, cwd=folder.parent, drop=drop)
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    scored = {os.fsencode(r["path"]) for r in records if "probability" in r}
    assert scored == {os.fsencode(c.path) for c in corpus.values() if c.readable}
    bad = unreadable(corpus.values(), drop, files_only=True)
    lines = error_lines(result.stderr)
    assert len(lines) == len(bad)
    for case in bad:
        assert sum(line.startswith(f"catclf: error: {display(case.path)}: ") for line in lines) == 1


# train on a folder that mixes every kind with good pictures


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    data = class_folders(root / "data", per_class=4)
    cases = build(data / "cat")
    return root, data, cases


def test_train_skips_and_lists_every_unreadable_kind(mixed, drop):
    root, data, cases = mixed
    result = run(
        "train", data, "-n", "20", "-m", root / "skipping.h5", "--json", cwd=root, drop=drop
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    bad = unreadable(cases, drop, files_only=True)
    readable = len(cases) - len(bad) - sum(not (c.is_file and c.walked) for c in cases)
    assert summary["train_examples"] == 8 + readable
    assert sorted(os.fsencode(s["path"]) for s in summary["skipped"]) == sorted(
        os.fsencode(c.path) for c in bad
    )
    assert all(s["error"] and "\n" not in s["error"] for s in summary["skipped"])
    assert error_lines(result.stderr) == []
    assert (root / "skipping.h5").is_file()


def test_train_strict_stops_at_the_first_unreadable_kind(mixed, drop):
    root, data, cases = mixed
    result = run(
        "train", data, "-n", "20", "-m", root / "strict.h5", "--strict", cwd=root, drop=drop
    )
    assert result.returncode == 1
    assert result.stdout == ""
    first = min(c.path for c in cases if not c.readable and c.is_file and c.walked)
    decoding, line = result.stderr.splitlines()
    assert decoding.startswith("catclf: decoding ")
    assert line.startswith(f"catclf: error: {display(first)}: ")
    assert not (root / "strict.h5").exists()


def test_a_link_loop_is_not_called_missing(corpus):
    with pytest.raises(ImageError, match="symbolic links") as caught:
        load_image(corpus["symlink loop"].path)
    assert "no such file" not in str(caught.value)


# What a file may cost: refused before decoding, within a bounded address space


def test_costly_kinds_are_refused_before_decoding_in_a_limited_address_space(corpus, model):
    # 512 MiB of address space for catclf and each of its decoding processes: a file that
    # took gigabytes would fail to decode, and say so, rather than be refused up front.
    limit = ["prlimit", f"--as={512 << 20}", "--"]
    if subprocess.run([*limit, "true"], capture_output=True).returncode != 0:
        pytest.skip("prlimit cannot limit the address space here")
    costly = [case for case in corpus.values() if case.costly]
    good = [corpus["mode RGBA"], corpus["webp"]]
    # Enough images for two decoding processes, the good ones among them.
    paths = [case.path for case in costly] + [case.path for case in good] * 4
    result = catclf_run(
        "predict",
        "-m",
        model[0],
        "--jobs",
        "2",
        *paths,
        cwd=model[0].parent,
        prefix=limit,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert result.stderr.splitlines() == lines
    assert len(lines) == len(costly)
    for case, line in zip(costly, lines, strict=True):
        why = line.removeprefix(f"catclf: error: {display(case.path)}: ")
        assert REFUSED_UP_FRONT.fullmatch(why), line
    assert len(result.stdout.splitlines()) == 2 * 4


def test_an_image_that_overruns_the_time_budget_is_one_line_and_the_rest_are_scored(
    corpus, model, tmp_path
):
    # The JPEG of 2,500 scans, let through the bounds, with a budget of 2 s: libjpeg would
    # take about a minute over it. Its worker is ended, and the images after it are scored.
    scans = corpus["jpeg of 2,500 scans"].path
    good = [corpus["mode RGBA"].path, corpus["bmp"].path, corpus["mode L"].path]
    paths = [*good * 3, scans, *good * 3]
    code = (
        "import sys\nfrom catclf import bounds, workers\n"
        "bounds.MAX_SCANS = 10_000\nworkers.TIME_BUDGET = 2.0\n"
        "from catclf.cli.start import main\nmain()\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", "-m", model[0], "--jobs", "2", *paths],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert time.monotonic() - started < 50  # not the minute the decoder would take
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"catclf: error: {scans}: took longer than the 2 s allowed to decode one image"
    ]
    scored = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert scored == [str(p) for p in paths if p != scans]


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_pillows_warnings_reach_no_user_from_any_decoding_process(corpus, model, tmp_path, start):
    # Images over whose metadata Pillow warns, decoded in processes forked from catclf or
    # started anew (as where fork is not safe): not a line of Python on stderr.
    warned = [
        corpus[kind].path
        for kind in (
            "tiff with a tag past its end",
            "jpeg with a malformed MPO index",
            "jpeg with exif past its end",
            "ico whose icon is not the size it says",
        )
    ]
    paths = warned * 5
    code = (
        "from catclf import workers\n"
        f"workers._start_method = lambda: {start!r}\n"
        "from catclf.cli.start import main\nmain()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", "-m", model[0], "--jobs", "2", *paths],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert len(result.stdout.splitlines()) == len(paths)
