"""The command line, run as a user runs it, in tmp_path: in this process with typer's
CliRunner (`invoke`), and as `python -m catclf` in a subprocess (`catclf_run`) where the
process itself is tested: signals, pipes, worker processes, dropped permissions, start-up
imports and the exit status of the real command.

Expected numbers come from outside the code: the course's published costs and accuracies,
probabilities worked out by hand for a hand-written model, or numpy on w and b read with
h5py.
"""

import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from course import (
    COSTS,
    TEST_ACCURACY_SHOWN,
    TEST_CORRECT,
    TEST_EXAMPLES,
    TRAIN_ACCURACY_SHOWN,
    TRAIN_CORRECT,
    TRAIN_EXAMPLES,
)
from helpers import (
    BLACK,
    BUNDLED_MODEL,
    COMMANDS,
    GREY,
    N_X,
    PACKAGE_DATA,
    SAMPLES,
    WHITE,
    brightness_model,
    catclf_run,
    class_folders,
    constant_model,
    deep_folders,
    environment,
    error_lines,
    inseparable,
    interrupted,
    invoke,
    listing,
    probability_by_hand,
    save_png,
    sigmoid,
    start_catclf,
    train_json,
    uniform,
    without_root_powers,
    write_model_file,
)
from PIL import Image
from typer.testing import CliRunner

from catclf.cli import app
from catclf.workers import MIN_IMAGES_PER_PROCESS

LN2 = math.log(2)
PROBABILITY = re.compile(r"\d\.\d{6}")
ANSI = "\x1b"


@pytest.fixture
def runner():
    return CliRunner()


# train on the bundled course set: the course's published numbers


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("course")
    result = invoke("train", "--json", cwd=cwd)
    return cwd, result


def test_train_reproduces_the_course(course_run):
    cwd, result = course_run
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["train_accuracy"] == pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES)
    assert summary["test_accuracy"] == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)
    costs = summary["costs"]
    assert len(costs) == len(COSTS)  # iterations 0, 100, ..., 1900
    assert costs[0] == pytest.approx(LN2, abs=1e-12)
    assert costs[1] == pytest.approx(COSTS[1], abs=1e-6)
    assert costs[10] == pytest.approx(COSTS[10], abs=1e-6)
    assert costs[19] == pytest.approx(COSTS[19], abs=1e-6)
    assert summary["skipped"] == []


def test_train_json_is_one_object_and_names_the_model(course_run):
    cwd, result = course_run
    assert result.stdout.count("\n") == 1
    summary = json.loads(result.stdout)
    assert {"train_accuracy", "test_accuracy", "costs", "skipped", "model"} <= set(summary)
    assert summary["model"] == "model.h5"
    assert listing(cwd) == ["model.h5"]
    with h5py.File(cwd / "model.h5", "r") as f:
        assert f["w"].shape == (N_X, 1)
        assert f.attrs["train_accuracy"] == pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES)
        assert f.attrs["test_accuracy"] == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)


def test_train_prints_plain_key_value_lines_to_a_pipe(tmp_path):
    result = invoke("train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ANSI not in result.stdout and ANSI not in result.stderr
    lines = result.stdout.splitlines()
    assert all(re.fullmatch(r"[a-z ]+: \S.*", line) for line in lines), lines
    values = dict(line.split(": ", 1) for line in lines)
    assert f"{TRAIN_CORRECT}/{TRAIN_EXAMPLES}" in values["train accuracy"]
    assert f"{TEST_CORRECT}/{TEST_EXAMPLES}" in values["test accuracy"]
    assert values["model"] == "model.h5"
    assert values["skipped"] == "0"
    assert values["ignored"] == "0"
    assert (tmp_path / "model.h5").is_file()


# train DATA in its three forms


@pytest.fixture
def course_files(tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        shutil.copy(PACKAGE_DATA / name, folder / name)
    return folder


def test_train_on_an_hdf5_file_and_a_test_file(tmp_path, course_files):
    # 101 iterations record the cost at 0 and at 100, which the course publishes.
    summary, _ = train_json(course_files / "train_catvnoncat.h5", "-n", "101", cwd=tmp_path)
    assert summary["train_examples"] == TRAIN_EXAMPLES
    assert summary["test_accuracy"] is None
    assert summary["costs"] == pytest.approx([LN2, COSTS[1]], abs=1e-6)

    summary, _ = train_json(
        course_files / "train_catvnoncat.h5",
        "--test",
        course_files / "test_catvnoncat.h5",
        "-n",
        "101",
        cwd=tmp_path,
    )
    assert (summary["train_examples"], summary["test_examples"]) == (TRAIN_EXAMPLES, TEST_EXAMPLES)
    assert 0 <= summary["test_accuracy"] <= 1


def test_train_solver_option_changes_nothing_in_the_result(tmp_path, course_files):
    data = course_files / "train_catvnoncat.h5"
    runs = {
        solver: train_json(
            data, "-n", "201", "--solver", solver, "-m", f"{solver}.h5", cwd=tmp_path
        )[0]
        for solver in ("gram", "primal", "auto")
    }
    assert [runs[s]["solver"] for s in ("gram", "primal", "auto")] == ["gram", "primal", "gram"]
    # 201 iterations: auto takes gram, about 0.55e9 multiplications against 1.03e9.
    assert runs["gram"]["costs"][:2] == pytest.approx([LN2, COSTS[1]], abs=1e-6)
    for key in ("costs", "final_cost", "train_accuracy"):
        assert runs["primal"][key] == pytest.approx(runs["gram"][key], abs=1e-9), key
    with h5py.File(tmp_path / "gram.h5", "r") as g, h5py.File(tmp_path / "primal.h5", "r") as p:
        np.testing.assert_allclose(g["w"][()], p["w"][()], rtol=0, atol=1e-9)
        assert (g.attrs["solver"], p.attrs["solver"]) == ("gram", "primal")


def test_train_within_a_small_memory_limit_streams_the_same_result(tmp_path, course_files):
    data, holdout = course_files / "train_catvnoncat.h5", course_files / "test_catvnoncat.h5"
    # 209 images take 2.6 MB, more than 3/4 of 3 MB: they stay in the file, and X (23 MB
    # with them) is never formed.
    streamed, stderr = train_json(
        data, "--test", holdout, "-n", "101", "--memory-limit", "3MB", "-m", "s.h5", cwd=tmp_path
    )
    assert streamed["streamed"] is True and streamed["solver"] == "primal"
    assert "more than three quarters of the memory limit of 3 MB" in stderr
    assert streamed["costs"] == pytest.approx([LN2, COSTS[1]], abs=1e-6)
    in_memory, _ = train_json(data, "--test", holdout, "-n", "101", "-m", "m.h5", cwd=tmp_path)
    assert in_memory["streamed"] is False
    for key in ("costs", "final_cost", "train_accuracy", "test_accuracy"):
        assert streamed[key] == pytest.approx(in_memory[key], abs=1e-9), key


def test_train_refuses_a_photo_folder_above_the_memory_limit(tmp_path):
    data = class_folders(tmp_path / "data")  # 8 images: 98,304 bytes decoded
    result = invoke("train", data, "--memory-limit", "90KiB", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "8 images" in line and "catclf prepare" in line
    assert listing(tmp_path) == ["data"]


def test_train_gram_solver_beyond_the_memory_limit_is_an_error(tmp_path, course_files):
    result = invoke(
        "train", course_files, "--solver", "gram", "--memory-limit", "20MB", cwd=tmp_path
    )
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "Gram solver" in line and "--solver primal" in line


def test_train_on_a_folder_of_train_and_test_files(tmp_path, course_files):
    summary, _ = train_json(course_files, "-n", "101", cwd=tmp_path)
    assert (summary["train_examples"], summary["test_examples"]) == (TRAIN_EXAMPLES, TEST_EXAMPLES)
    assert summary["test_accuracy"] is not None
    assert summary["costs"] == pytest.approx([LN2, COSTS[1]], abs=1e-6)


def test_train_on_class_folders_learns_red_from_blue(tmp_path):
    data = class_folders(tmp_path / "data")
    holdout = class_folders(tmp_path / "holdout", per_class=2, seed=1)
    summary, _ = train_json(data, "--test", holdout, "-n", "100", cwd=tmp_path)
    assert (summary["train_examples"], summary["test_examples"]) == (8, 4)
    assert summary["train_accuracy"] == 1.0
    assert summary["test_accuracy"] == 1.0
    assert summary["costs"] == [pytest.approx(LN2)]
    assert summary["skipped"] == []
    assert summary["ignored"] == 2  # the README.md of each cat/ folder
    # The model written scores pictures as numpy does with its w and b, cats above 0.5.
    scored = invoke("predict", "--json", data, holdout, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    rows = [json.loads(line) for line in scored.stdout.splitlines()]
    assert len(rows) == 12
    for row in rows:
        expected = probability_by_hand(tmp_path / "model.h5", row["path"])
        assert row["probability"] == pytest.approx(expected, rel=1e-12)
        assert row["label"] == ("cat" if Path(row["path"]).parent.name == "cat" else "non-cat")


def test_train_skips_an_unreadable_image_and_lists_it(tmp_path):
    data = class_folders(tmp_path / "data", broken=True)
    broken = data / "cat" / "broken.png"
    summary, stderr = train_json(data, "-n", "100", cwd=tmp_path)
    assert summary["train_examples"] == 8
    assert [s["path"] for s in summary["skipped"]] == [str(broken)]
    assert summary["skipped"][0]["error"]
    assert str(broken) in stderr
    assert error_lines(stderr) == []


def test_train_strict_stops_at_an_unreadable_image(tmp_path):
    data = class_folders(tmp_path / "data", broken=True)
    result = invoke("train", data, "--strict", "-n", "100", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and str(data / "cat" / "broken.png") in errors[0]
    assert not (tmp_path / "model.h5").exists()


# Where train writes the model


def test_train_writes_to_model_option(tmp_path):
    data = class_folders(tmp_path / "data")
    (tmp_path / "models").mkdir()
    summary, _ = train_json(data, "-n", "100", "--model", "models/cats.h5", cwd=tmp_path)
    assert summary["model"] == "models/cats.h5"
    assert listing(tmp_path / "models") == ["cats.h5"]
    assert not (tmp_path / "model.h5").exists()


def test_train_writes_to_catclf_model_from_the_environment(tmp_path):
    data = class_folders(tmp_path / "data")
    target = tmp_path / "env-model.h5"
    result = invoke(
        "train", data, "-n", "100", "-q", cwd=tmp_path, env={"CATCLF_MODEL": str(target)}
    )
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == ["data", "env-model.h5"]


def test_train_into_a_missing_folder_is_an_error_before_training(tmp_path):
    data = class_folders(tmp_path / "data")
    result = invoke("train", data, "-n", "100", "-m", "nowhere/model.h5", cwd=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "nowhere/model.h5" in errors[0]
    assert listing(tmp_path) == ["data"]


# Divergence and bad settings


@pytest.mark.parametrize("args", [["-n", "10"], ["-r", "0.01", "-n", "100"]])
def test_a_short_run_at_a_sound_rate_saves_with_a_warning(tmp_path, args):
    # The cost rises above its first value before it falls: not divergence.
    result = invoke("train", *args, "-q", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    [warning] = summary["warnings"]
    assert "more iterations may bring it down" in warning
    assert result.stderr == f"catclf: warning: {warning}\n"
    assert (tmp_path / "model.h5").is_file()
    plain = invoke("train", "-q", "--json", "-m", "full.h5", cwd=tmp_path)
    assert json.loads(plain.stdout)["warnings"] == [] and plain.stderr == ""


@pytest.mark.parametrize(
    ("inseparable_data", "rate"),
    [(False, "1e300"), (True, "1e308")],
    ids=["weights overflow", "cost turns NaN"],
)
def test_divergence_is_an_error_and_saves_nothing(tmp_path, inseparable_data, rate):
    data = [inseparable(tmp_path / "data")] if inseparable_data else []
    result = invoke("train", *data, "-r", rate, "-n", "100", "-q", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("catclf: error:")
    assert "learning rate" in result.stderr
    assert listing(tmp_path) == (["data"] if inseparable_data else [])


def test_divergence_leaves_an_existing_model_intact(tmp_path):
    data = inseparable(tmp_path / "data")
    old = brightness_model(tmp_path / "model.h5").read_bytes()
    result = invoke("train", data, "-r", "1e308", "-n", "100", cwd=tmp_path)
    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["data", "model.h5"]


@pytest.mark.parametrize(
    ("signal_number", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["Ctrl-C", "SIGTERM", "SIGHUP"],
)
def test_interrupted_training_saves_nothing(tmp_path, signal_number, status):
    old = brightness_model(tmp_path / "model.h5").read_bytes()
    # The note about the data comes just before gradient descent starts.
    status_seen, out, err = interrupted(
        ["train", "-n", "1000000"],
        cwd=tmp_path,
        after=f"{TRAIN_EXAMPLES} images",
        signal_number=signal_number,
    )
    assert status_seen == status
    assert out == ""
    assert "nothing was saved" in err
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["model.h5"]


@pytest.mark.parametrize(
    "option",
    [
        ["-r", "0"],
        ["-r", "-0.005"],
        ["--learning-rate", "nan"],
        ["-r", "inf"],
        ["-n", "0"],
        ["--iterations", "-3"],
        ["-n", "ten"],
        ["--solver", "newton"],
        ["--memory-limit", "lots"],
        ["--memory-limit", "600"],
        ["--memory-limit", "0MB"],
        ["--no-such-option"],
    ],
)
def test_bad_training_settings_are_usage_errors(runner, tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", *option])
    assert result.exit_code == 2, result.output
    assert listing(tmp_path) == []


def test_a_bad_learning_rate_is_exit_status_2_from_the_real_command(tmp_path):
    result = catclf_run("train", "-r", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert listing(tmp_path) == []


# predict: one image


@pytest.fixture
def pictures(tmp_path):
    """brightness_model in bright.h5, and white, black and grey 64x64 pictures."""
    model = brightness_model(tmp_path / "bright.h5")
    return {
        "model": model,
        "white": uniform(tmp_path / "white.png", 255),
        "black": uniform(tmp_path / "black.png", 0),
        "grey": uniform(tmp_path / "grey.png", 128),
    }


def test_predict_one_image_prints_one_probability(tmp_path, pictures):
    for name, expected in (("white", WHITE), ("black", BLACK), ("grey", GREY)):
        result = invoke("predict", "-m", pictures["model"], pictures[name], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected + "\n"
        assert result.stderr == ""


def test_predict_reads_an_image_from_stdin(tmp_path, pictures):
    result = invoke(
        "predict", "-m", pictures["model"], "-", cwd=tmp_path, stdin=pictures["white"].read_bytes()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == WHITE + "\n"


def test_predict_matches_numpy_on_random_pictures(tmp_path, pictures):
    rng = np.random.default_rng(3)
    model = write_model_file(
        tmp_path / "random.h5", w=rng.normal(scale=0.02, size=(N_X, 1)), b=np.float64(0.1)
    )
    images = [save_png(tmp_path / f"r{i}.png", rng.integers(0, 256, (64, 64, 3))) for i in range(3)]
    result = invoke("predict", "-m", model, "--json", *images, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(p) for p in images]
    for row, image in zip(rows, images, strict=True):
        expected = probability_by_hand(model, image)
        assert row["probability"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert row["label"] == ("cat" if expected > 0.5 else "non-cat")


def test_predict_json_for_one_image(tmp_path, pictures):
    result = invoke("predict", "-m", pictures["model"], "--json", pictures["black"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "path": str(pictures["black"]),
        "probability": pytest.approx(1 / (1 + math.exp(2)), rel=1e-12),
        "label": "non-cat",
    }


# predict: several images, folders, lists


def test_predict_several_images_in_input_order(tmp_path, pictures):
    names = ["white.png", "black.png", "grey.png"]
    result = invoke("predict", "-m", pictures["model"], *names, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"white.png\t{WHITE}\tcat",
        f"black.png\t{BLACK}\tnon-cat",
        f"grey.png\t{GREY}\tcat",
    ]


def test_predict_threshold_moves_the_label(tmp_path, pictures):
    result = invoke(
        "predict",
        "-m",
        pictures["model"],
        "--threshold",
        "0.9",
        "white.png",
        "grey.png",
        cwd=tmp_path,
    )
    assert result.stdout.splitlines() == [
        f"white.png\t{WHITE}\tnon-cat",
        f"grey.png\t{GREY}\tnon-cat",
    ]
    result = invoke(
        "predict",
        "-m",
        pictures["model"],
        "--threshold",
        "0.1",
        "black.png",
        "white.png",
        cwd=tmp_path,
    )
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == ["cat", "cat"]


def test_predict_a_folder_recursively_in_sorted_order(tmp_path, pictures):
    shots = tmp_path / "shots"
    uniform(shots / "b" / "white.png", 255)
    uniform(shots / "a" / "sub" / "grey.png", 128)
    uniform(shots / "a" / "black.png", 0)
    uniform(shots / ".hidden.png", 255)
    (shots / "README.md").write_text("# not an image")
    result = invoke("predict", "-m", pictures["model"], "shots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{Path('shots/a/black.png')}\t{BLACK}\tnon-cat",
        f"{Path('shots/a/sub/grey.png')}\t{GREY}\tcat",
        f"{Path('shots/b/white.png')}\t{WHITE}\tcat",
    ]
    assert result.stderr == ""


def test_predict_files_from_a_file_and_from_stdin(tmp_path, pictures):
    (tmp_path / "list.txt").write_text("grey.png\nwhite.png\n")
    expected = [f"grey.png\t{GREY}\tcat", f"white.png\t{WHITE}\tcat"]
    from_file = invoke("predict", "-m", pictures["model"], "-f", "list.txt", cwd=tmp_path)
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.splitlines() == expected
    from_stdin = invoke(
        "predict",
        "-m",
        pictures["model"],
        "--files-from",
        "-",
        cwd=tmp_path,
        stdin=b"grey.png\nwhite.png\n",
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout.splitlines() == expected


def test_predict_files_from_one_file_still_gives_path_lines(tmp_path, pictures):
    result = invoke(
        "predict", "-m", pictures["model"], "--files-from", "-", cwd=tmp_path, stdin=b"black.png\n"
    )
    assert result.stdout == f"black.png\t{BLACK}\tnon-cat\n"


def test_predict_keeps_input_order_across_many_images(tmp_path, pictures):
    # more images than catclf scores at once
    rng = np.random.default_rng(5)
    names = [f"{i:03d}.png" for i in rng.permutation(300)]
    for name in names:
        uniform(tmp_path / name, 255 if int(name[:3]) % 2 else 0)
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    result = invoke("predict", "-m", pictures["model"], "-f", "list.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == names
    assert [row[1] for row in rows] == [WHITE if int(n[:3]) % 2 else BLACK for n in names]


def test_predict_null_separated_paths_with_awkward_names(tmp_path, pictures):
    odd = uniform(tmp_path / "new\nline and\ttab.png", 255)
    stdin = f"{odd.name}\0black.png\0".encode()
    result = invoke(
        "predict", "-m", pictures["model"], "--files-from", "-", "-0", cwd=tmp_path, stdin=stdin
    )
    assert result.returncode == 0, result.stderr
    # one line per image: tab and newline in a path are escaped
    assert result.stdout.splitlines() == [
        f"new\\nline and\\ttab.png\t{WHITE}\tcat",
        f"black.png\t{BLACK}\tnon-cat",
    ]
    as_json = invoke(
        "predict",
        "-m",
        pictures["model"],
        "-f",
        "-",
        "--null",
        "--json",
        cwd=tmp_path,
        stdin=stdin,
    )
    assert [json.loads(line)["path"] for line in as_json.stdout.splitlines()] == [
        odd.name,
        "black.png",
    ]


def test_predict_scores_a_list_as_it_comes(tmp_path, pictures):
    # The list left open: the first result must come before its end, as soon as enough
    # paths have come to decide on the worker processes (8 a process), as it would for
    # `find / -name '*.jpg' | catclf predict -f -`.
    process = start_catclf(
        "predict",
        "-m",
        pictures["model"],
        "-j",
        "2",
        "-f",
        "-",
        cwd=tmp_path,
        stdin=subprocess.PIPE,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))
    try:
        process.stdin.write(b"white.png\n" * 2 * MIN_IMAGES_PER_PROCESS)
        process.stdin.flush()
        reader.start()
        reader.join(timeout=60)
        assert lines == [f"white.png\t{WHITE}\tcat\n".encode()], "nothing before the list ended"
        process.stdin.write(b"black.png\n")
        process.stdin.close()
        # From the same buffered reader as the first line, which may hold more already.
        out, err = process.stdout.read(), process.stderr.read()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    rest = out.decode().splitlines()
    assert len(rest) == 2 * MIN_IMAGES_PER_PROCESS and rest[-1] == f"black.png\t{BLACK}\tnon-cat"


def test_predict_list_entries_that_cannot_be_paths_are_one_line_each(tmp_path, pictures):
    listing = b"".join(
        [
            b"white.png\r\n",
            b"-\n",  # stdin is this list, not an image
            b"z" * 4095 + b"\n",  # as long as a path may be; no file has such a name
            b"\n\n",
            b"black.png\r",
            b"grey.png",  # no line end
        ]
    )
    result = invoke("predict", "-m", pictures["model"], "-f", "-", cwd=tmp_path, stdin=listing)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"white.png\t{WHITE}\tcat",
        f"black.png\t{BLACK}\tnon-cat",
        f"grey.png\t{GREY}\tcat",
    ]
    assert result.stderr.splitlines() == [
        "catclf: error: -: stdin holds the list of paths, not an image",
        f"catclf: error: {'z' * 4095}: cannot read: File name too long",
    ]


@pytest.mark.parametrize(
    ("rest", "null", "why"),
    [
        # An entry longer than any path: refused at its 4096th byte, before its end.
        (
            b"y" * 5000 + b"\nwhite.png\n",
            False,
            f"an entry is longer than any path (4095 bytes), from {'y' * 60}...",
        ),
        (
            b"y" * 5000 + b"\0white.png\0",
            True,
            f"an entry is longer than any path (4095 bytes), from {'y' * 60}...",
        ),
        # A NUL in a list of lines: a binary file, or a list for --null read without it.
        (b"b\0c.png\nwhite.png\n", False, "a line holds a NUL byte (--null reads NUL-ended paths)"),
        # Empty entries, and no path, for more bytes than any path takes.
        (b"\n" * 4097 + b"white.png\n", False, "more than 4096 bytes without a path"),
        (b"\0" * 4097 + b"white.png\0", True, "more than 4096 bytes without a path"),
    ],
)
def test_predict_stops_reading_what_is_not_a_list_of_paths(tmp_path, pictures, rest, null, why):
    end = b"\0" if null else b"\n"
    listing = b"black.png" + end + rest
    args = ["-0"] if null else []
    result = invoke(
        "predict", "-m", pictures["model"], *args, "-f", "-", "--json", cwd=tmp_path, stdin=listing
    )
    assert result.returncode == 1
    first, record = map(json.loads, result.stdout.splitlines())  # white.png is not read
    assert first["path"] == "black.png"
    assert record == {"path": "-", "error": f"not a list of paths: {why}; the rest is not read"}
    assert result.stderr.splitlines() == [
        f"catclf: error: -: not a list of paths: {why}; the rest is not read"
    ]


@pytest.mark.parametrize("null", [False, True])
def test_predict_leaves_an_endless_stream_of_zeros_at_once(tmp_path, pictures, null):
    # A device like /dev/zero (1, 5), made here: it never ends and names no path.
    zero = tmp_path / "zero"
    try:
        os.mknod(zero, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("making a device needs root")
    args = ["-0"] if null else []
    result = catclf_run(
        "predict", "-m", pictures["model"], *args, "-f", zero, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {zero}: not a list of paths: ")


# Runs a command and prints the most memory (kB) it or any of its processes held.
PEAK_MEMORY = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def test_predict_neither_holds_nor_reads_a_huge_entry_to_its_end(tmp_path, pictures):
    size = 192 << 20  # one entry of 192 MiB, then a path
    watch = subprocess.Popen(
        [sys.executable, "-c", PEAK_MEMORY, sys.executable, "-m", "catclf", "predict"]
        + ["-m", str(pictures["model"]), "-f", "-"],
        cwd=tmp_path,
        env=environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    written = 0
    try:
        block = b"y" * (1 << 20)
        for _ in range(size // len(block)):
            watch.stdin.write(block)
            written += len(block)
        watch.stdin.write(b"\nwhite.png\n")
    except BrokenPipeError:
        pass  # catclf has stopped reading: the entry is not a path
    finally:
        out, _ = watch.communicate(timeout=120)
    assert int(out) * 1024 < size
    assert written < size  # catclf left long before the entry's end


# predict: exit statuses and errors


def test_predict_reports_bad_inputs_and_still_scores_the_rest(tmp_path, pictures):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_text("not a png either")
    result = invoke(
        "predict",
        "-m",
        pictures["model"],
        "white.png",
        "missing.png",
        "notes.txt",
        "fake.png",
        "black.png",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"white.png\t{WHITE}\tcat",
        f"black.png\t{BLACK}\tnon-cat",
    ]
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    for line, name in zip(lines, ["missing.png", "notes.txt", "fake.png"], strict=True):
        assert line.startswith(f"catclf: error: {name}")


@pytest.mark.parametrize("name", ["missing.png", "README.md", "empty.png", "-", "n" * 252 + ".png"])
def test_predict_one_bad_input_prints_nothing_on_stdout(tmp_path, pictures, name):
    (tmp_path / "README.md").write_text("# hello")
    (tmp_path / "empty.png").write_bytes(b"")
    result = invoke("predict", "-m", pictures["model"], name, cwd=tmp_path, stdin=b"")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"catclf: error: {name}")


def test_predict_error_for_a_name_with_a_newline_stays_on_one_line(tmp_path, pictures):
    result = invoke("predict", "-m", pictures["model"], "two\nlines.png", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("catclf: error: two\\nlines.png")


def test_predict_sample_folder_skips_its_readme(tmp_path):
    if not SAMPLES.is_dir():
        pytest.skip("no sample_images folder")
    result = invoke("predict", "-q", SAMPLES, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    paths = [line.split("\t")[0] for line in result.stdout.splitlines()]
    expected = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    assert paths == expected
    assert all(PROBABILITY.fullmatch(line.split("\t")[1]) for line in result.stdout.splitlines())


def test_predict_the_sample_cat_with_the_bundled_model(tmp_path):
    cat = SAMPLES / "cat_chelsea.png"
    if not cat.is_file():
        pytest.skip("no sample cat")
    result = invoke("predict", cat, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert PROBABILITY.fullmatch(result.stdout.rstrip("\n"))
    assert float(result.stdout) == pytest.approx(probability_by_hand(BUNDLED_MODEL, cat), abs=1e-6)
    assert float(result.stdout) > 0.5


@pytest.mark.parametrize(
    ("images", "status"),
    [(["white.png", "grey.png"], 0), (["white.png", "black.png"], 3), (["black.png"], 3)],
)
def test_predict_exit_code_says_whether_all_are_cats(tmp_path, pictures, images, status):
    result = invoke("predict", "--exit-code", "-m", pictures["model"], *images, cwd=tmp_path)
    assert result.returncode == status, result.stderr
    assert len(result.stdout.splitlines()) == len(images)


def test_predict_exit_code_with_a_failure_is_1(tmp_path, pictures):
    result = invoke(
        "predict", "--exit-code", "-m", pictures["model"], "white.png", "nope.png", cwd=tmp_path
    )
    assert result.returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--json"],
        ["--bogus", "white.png"],
        ["--threshold", "-0.1", "white.png"],
        ["--threshold", "1.5", "white.png"],
        ["--threshold", "nan", "white.png"],
        ["--null", "white.png"],
    ],
)
def test_predict_usage_errors(runner, tmp_path, monkeypatch, pictures, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["predict", "-m", str(pictures["model"]), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_predict_without_arguments_is_exit_status_2_from_the_real_command(tmp_path):
    result = catclf_run("predict", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""


# predict: which model


def test_predict_without_a_model_uses_the_bundled_one(tmp_path):
    white = uniform(tmp_path / "white.png", 255)
    result = invoke("predict", "white.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{probability_by_hand(BUNDLED_MODEL, white):.6f}\n"
    assert result.stderr == ""  # said on a terminal only, never to a pipeline


def test_predict_uses_model_h5_in_the_current_folder(tmp_path):
    brightness_model(tmp_path / "model.h5")
    uniform(tmp_path / "white.png", 255)
    result = invoke("predict", "white.png", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, WHITE + "\n", "")


def test_predict_model_option_and_environment_win_over_model_h5(tmp_path):
    brightness_model(tmp_path / "model.h5")
    constant_model(tmp_path / "three-quarters.h5", 0.75)
    uniform(tmp_path / "white.png", 255)
    by_option = invoke("predict", "--model", "three-quarters.h5", "white.png", cwd=tmp_path)
    assert by_option.stdout == "0.750000\n"
    by_env = invoke("predict", "white.png", cwd=tmp_path, env={"CATCLF_MODEL": "three-quarters.h5"})
    assert by_env.stdout == "0.750000\n"
    both = invoke(
        "predict", "-m", "model.h5", "white.png", cwd=tmp_path, env={"CATCLF_MODEL": "nope.h5"}
    )
    assert both.stdout == WHITE + "\n"


@pytest.mark.parametrize("how", ["option", "environment"])
def test_predict_with_a_named_model_that_does_not_exist(tmp_path, how):
    brightness_model(tmp_path / "model.h5")  # not a fallback for a named model
    uniform(tmp_path / "white.png", 255)
    if how == "option":
        result = invoke("predict", "-m", "missing.h5", "white.png", cwd=tmp_path)
    else:
        env = {"CATCLF_MODEL": "missing.h5"}
        result = invoke("predict", "white.png", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("catclf: error: missing.h5")


def test_predict_with_a_damaged_model_h5(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))
    uniform(tmp_path / "white.png", 255)
    result = invoke("predict", "white.png", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("catclf: error: model.h5")


# help


def test_python_m_catclf_help(tmp_path):
    result = catclf_run("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "train" in result.stdout and "predict" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples(runner, command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert f"catclf {command}" in result.stdout.split("Examples:", 1)[1]


def test_every_command_is_covered_by_the_help_test():
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert names == set(COMMANDS)


def test_unreadable_files_and_folders_are_one_line_errors(tmp_path, pictures):
    drop = without_root_powers()
    locked_model = tmp_path / "locked.h5"
    shutil.copy(BUNDLED_MODEL, locked_model)
    locked_image = tmp_path / "locked.png"
    shutil.copy(pictures["white"], locked_image)
    locked_data = tmp_path / "locked_data"
    (locked_data / "cat").mkdir(parents=True)
    (locked_data / "dog").mkdir()
    for path in (locked_model, locked_image, locked_data):
        path.chmod(0)
    cases = [
        (["predict", "-m", locked_model, pictures["white"]], locked_model),
        (["predict", "-m", pictures["model"], locked_image], locked_image),
        (["train", locked_data, "-m", tmp_path / "out.h5"], locked_data),
    ]
    try:
        for args, culprit in cases:
            result = subprocess.run(
                [*drop, sys.executable, "-m", "catclf", *map(str, args)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 1, result.stderr
            [line] = error_lines(result.stderr)
            assert line.startswith(f"catclf: error: {culprit}: ")
            assert "Permission denied" in line
            assert "Traceback" not in result.stderr
    finally:
        for path in (locked_model, locked_image, locked_data):
            path.chmod(0o755)
    assert not (tmp_path / "out.h5").exists()


def test_a_folder_below_a_class_folder_that_cannot_be_listed_is_skipped_and_listed(tmp_path):
    drop = without_root_powers()
    data = class_folders(tmp_path / "data")
    locked = data / "cat" / "2019"
    uniform(locked / "hidden-from-us.png", 255)
    locked.chmod(0)
    try:
        kept = catclf_run("train", data, "-n", "5", "--json", cwd=tmp_path, prefix=drop)
        strict = catclf_run("train", data, "-n", "5", "--strict", cwd=tmp_path, prefix=drop)
    finally:
        locked.chmod(0o755)
    assert kept.returncode == 0, kept.stderr
    summary = json.loads(kept.stdout)
    assert summary["train_examples"] == 8
    assert summary["skipped"] == [
        {"path": str(locked), "error": "cannot list this folder (Permission denied)"}
    ]
    assert f"skipped {locked}: cannot list this folder (Permission denied)" in kept.stderr
    assert strict.returncode == 1
    assert error_lines(strict.stderr) == [
        f"catclf: error: {locked}: cannot list this folder (Permission denied)"
    ]


def test_a_data_folder_that_may_be_listed_but_not_searched_is_one_line(tmp_path):
    drop = without_root_powers()
    data = class_folders(tmp_path / "data")
    data.chmod(0o444)
    try:
        result = catclf_run("train", data, "-n", "5", cwd=tmp_path, prefix=drop)
    finally:
        data.chmod(0o755)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"catclf: error: {data / 'cat'}: cannot list this folder (Permission denied)"
    ]


@pytest.mark.parametrize("command", [["train"], ["prepare", "--out", "out"]])
def test_a_data_path_with_a_name_too_long_is_one_line(tmp_path, command):
    long = "d" * 300
    result = invoke(command[0], long, *command[1:], cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line == f"catclf: error: {long}: cannot read (File name too long)"


# evaluate


def course_model_by_numpy():
    """(probabilities, labels) of the bundled test set under the bundled model, with numpy
    on w and b and on the test images, all read with h5py."""
    with h5py.File(BUNDLED_MODEL, "r") as f:
        w, b = f["w"][()].reshape(-1), float(f["b"][()])
    with h5py.File(PACKAGE_DATA / "test_catvnoncat.h5", "r") as f:
        x = f["test_set_x"][()].reshape(TEST_EXAMPLES, -1) / 255
        y = f["test_set_y"][()].reshape(-1)
    return sigmoid(x @ w + b), y


def test_evaluate_the_bundled_model_on_the_bundled_test_set(tmp_path):
    result = invoke("evaluate", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bundled" in result.stderr  # the note about which model
    assert result.stdout.count("\n") == 1
    report = json.loads(result.stdout)
    # The course's published test accuracy.
    assert report["accuracy"] == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)
    assert report["examples"] == TEST_EXAMPLES
    p, y = course_model_by_numpy()
    called = p > 0.5
    assert report["confusion"] == {
        "tp": int(np.sum(called & (y == 1))),
        "fp": int(np.sum(called & (y == 0))),
        "tn": int(np.sum(~called & (y == 0))),
        "fn": int(np.sum(~called & (y == 1))),
    }
    wrong = np.flatnonzero(called != (y == 1))
    assert len(wrong) == TEST_EXAMPLES - TEST_CORRECT
    test_file = str(PACKAGE_DATA / "test_catvnoncat.h5")
    assert report["misclassified"] == [
        {
            "path": test_file,
            "index": int(i),
            "true": "cat" if y[i] else "non-cat",
            "predicted": "non-cat" if y[i] else "cat",
            "probability": pytest.approx(p[i], rel=1e-9),
        }
        for i in wrong
    ]
    assert report["threshold"] == 0.5
    assert report["model"] == str(BUNDLED_MODEL)
    assert "bundled" in report["data"]
    assert report["skipped"] == []
    assert {"precision", "recall", "f1", "log_loss", "roc_auc"} <= set(report)


@pytest.fixture
def graded(tmp_path):
    """Class folders scored by brightness_model in model.h5, worked out by hand:

    cat/white.png      p = sigmoid(2)  = 0.880797  right
    cat/black.png      p = sigmoid(-2) = 0.119203  wrong (a missed cat)
    non-cat/grey.png   p = 0.501961                wrong (called a cat)
    non-cat/black.png  p = 0.119203                right
    """
    brightness_model(tmp_path / "model.h5")
    uniform(tmp_path / "data" / "cat" / "white.png", 255)
    uniform(tmp_path / "data" / "cat" / "black.png", 0)
    uniform(tmp_path / "data" / "non-cat" / "grey.png", 128)
    uniform(tmp_path / "data" / "non-cat" / "black.png", 0)
    return tmp_path / "data"


def test_evaluate_class_folders_by_hand(tmp_path, graded):
    result = invoke("evaluate", "data", "--json", cwd=tmp_path)
    assert (result.returncode, error_lines(result.stderr)) == (0, [])
    report = json.loads(result.stdout)
    # TP 1 (white cat), FN 1 (black cat), FP 1 (grey), TN 1 (black non-cat).
    assert report["confusion"] == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert (report["examples"], report["data"], report["model"]) == (4, "data", "model.h5")
    assert report["accuracy"] == report["precision"] == report["recall"] == report["f1"] == 0.5
    # Pairs (cat, non-cat): 0.88 beats 0.50 and 0.12; 0.12 loses to 0.50, ties 0.12: 2.5 / 4.
    assert report["roc_auc"] == pytest.approx(0.625)
    # -(ln 0.880797 + ln(1 - 0.119203) + ln 0.119203 + ln(1 - 0.501961)) / 4
    # = (0.126928 + 0.126928 + 2.126928 + 0.697076) / 4
    assert report["log_loss"] == pytest.approx(0.769465, abs=1e-6)
    assert report["misclassified"] == [
        {
            "path": "data/cat/black.png",
            "true": "cat",
            "predicted": "non-cat",
            "probability": pytest.approx(0.119203, abs=1e-6),
        },
        {
            "path": "data/non-cat/grey.png",
            "true": "non-cat",
            "predicted": "cat",
            "probability": pytest.approx(0.501961, abs=1e-6),
        },
    ]


def test_evaluate_threshold_moves_the_verdicts(tmp_path, graded):
    result = invoke("evaluate", "data", "--json", "--threshold", "0.6", cwd=tmp_path)
    report = json.loads(result.stdout)
    # Grey (0.501961) is no longer a cat: TP 1, FP 0, TN 2, FN 1.
    assert report["confusion"] == {"tp": 1, "fp": 0, "tn": 2, "fn": 1}
    assert (report["accuracy"], report["precision"], report["recall"]) == (0.75, 1.0, 0.5)
    assert report["f1"] == pytest.approx(2 / 3)  # 2 / (2 + 0 + 1)
    assert report["threshold"] == 0.6
    assert [row["path"] for row in report["misclassified"]] == ["data/cat/black.png"]


def test_evaluate_prints_key_value_lines_then_the_misclassified_to_a_pipe(tmp_path, graded):
    result = invoke("evaluate", "data", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ANSI not in result.stdout
    lines = result.stdout.splitlines()
    values = dict(line.split(": ", 1) for line in lines[:-2])
    assert values["accuracy"] == "50.00 % (2/4)"
    assert values["precision"] == "50.00 % (1/2)"
    assert values["roc auc"] == "0.6250"
    assert values["log loss"] == "0.769465"
    assert [values[k] for k in ("true positives", "false positives", "true negatives")] == [
        "1",
        "1",
        "1",
    ]
    assert values["misclassified"] == "2"
    assert lines[-2:] == [
        "data/cat/black.png\t0.119203\tcat\tnon-cat",
        f"data/non-cat/grey.png\t{GREY}\tnon-cat\tcat",
    ]


def write_test_file(path, values, labels):
    """A course-layout test file of uniform pictures, one per value."""
    images = np.stack([np.full((64, 64, 3), v, dtype=np.uint8) for v in values])
    with h5py.File(path, "w") as f:
        f.create_dataset("test_set_x", data=images)
        f.create_dataset("test_set_y", data=np.array(labels))
    return path


def test_evaluate_undefined_scores_are_null_and_undefined(tmp_path):
    # Two non-cats, black and white: white (0.880797) is called a cat. TP 0, FP 1, TN 1,
    # FN 0; no cat at all, so recall and ROC AUC are undefined; precision 0/1, F1 0/1.
    brightness_model(tmp_path / "model.h5")
    write_test_file(tmp_path / "two.h5", [0, 255], [0, 0])
    result = invoke("evaluate", "two.h5", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["confusion"] == {"tp": 0, "fp": 1, "tn": 1, "fn": 0}
    assert (report["recall"], report["roc_auc"]) == (None, None)
    assert (report["precision"], report["f1"], report["accuracy"]) == (0.0, 0.0, 0.5)
    assert report["misclassified"] == [
        {
            "path": "two.h5",
            "index": 1,
            "true": "non-cat",
            "predicted": "cat",
            "probability": pytest.approx(0.880797, abs=1e-6),
        }
    ]
    piped = invoke("evaluate", "two.h5", cwd=tmp_path)
    values = dict(line.split(": ", 1) for line in piped.stdout.splitlines()[:-1])
    assert (values["recall"], values["roc auc"]) == ("undefined", "undefined")
    assert piped.stdout.splitlines()[-1] == f"two.h5[1]\t{WHITE}\tnon-cat\tcat"


def test_evaluate_a_course_folder_uses_its_test_file(tmp_path, course_files):
    result = invoke("evaluate", "-q", "--json", course_files, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["examples"] == TEST_EXAMPLES
    assert report["data"] == str(course_files / "test_catvnoncat.h5")
    assert report["accuracy"] == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)


@pytest.mark.parametrize(("minimum", "status"), [("0.5", 0), ("0", 0), ("0.51", 1), ("1", 1)])
def test_evaluate_min_accuracy_sets_the_exit_status(tmp_path, graded, minimum, status):
    result = invoke("evaluate", "data", "--min-accuracy", minimum, cwd=tmp_path)
    assert result.returncode == status
    assert "accuracy: 50.00 % (2/4)" in result.stdout  # the report is printed either way
    said = f"catclf: error: accuracy 50.00 % (2/4) is below --min-accuracy {minimum}"
    assert error_lines(result.stderr) == ([said] if status else [])


def test_evaluate_min_accuracy_on_the_course_set(tmp_path):
    # 35/50 (the course's test accuracy) is exactly 0.7: enough for 0.7, not for 0.71.
    ok = invoke("evaluate", "-q", "--json", "--min-accuracy", "0.7", cwd=tmp_path)
    assert ok.returncode == 0
    short = invoke("evaluate", "-q", "--json", "--min-accuracy", "0.71", cwd=tmp_path)
    assert short.returncode == 1
    assert json.loads(short.stdout)["accuracy"] == pytest.approx(0.7)
    assert error_lines(short.stderr) == [
        f"catclf: error: accuracy {TEST_ACCURACY_SHOWN} is below --min-accuracy 0.71"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--min-accuracy", "1.5"],
        ["--min-accuracy", "-0.1"],
        ["--min-accuracy", "nan"],
        ["--threshold", "2"],
        ["--bogus"],
    ],
)
def test_evaluate_usage_errors(runner, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["evaluate", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    if "nan" in args:
        assert "--min-accuracy': a number from 0 to 1, not nan" in result.stderr


@pytest.mark.parametrize("data", ["missing", "empty"])
def test_evaluate_bad_data_is_a_one_line_error(tmp_path, data):
    (tmp_path / "empty").mkdir()
    result = invoke("evaluate", "-q", data, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {data}")


def test_evaluate_skips_an_unreadable_image_and_lists_it(tmp_path, graded):
    (graded / "cat" / "broken.png").write_bytes(b"not a PNG")
    result = invoke("evaluate", "data", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["examples"] == 4
    assert [s["path"] for s in report["skipped"]] == ["data/cat/broken.png"]
    assert "skipped data/cat/broken.png" in result.stderr
    strict = invoke("evaluate", "data", "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    assert error_lines(strict.stderr)[0].startswith("catclf: error: data/cat/broken.png")


def test_evaluate_on_a_terminal_shows_tables_and_caps_the_list(runner, tmp_path, monkeypatch):
    # 25 white non-cats: every one is called a cat, so all 25 are misclassified.
    brightness_model(tmp_path / "model.h5")
    write_test_file(tmp_path / "whites.h5", [255] * 25, [0] * 25)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("catclf.cli.views.is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "120")
    result = runner.invoke(app, ["evaluate", "whites.h5"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "predicted cat" in out and "true non-cat" in out
    assert "whites.h5[19]" in out and "whites.h5[20]" not in out
    assert "... 5 more" in out
    # No cat in the set: recall and ROC AUC are undefined.
    assert re.search(r"recall\s+│\s+undefined", out)
    assert re.search(r"roc auc\s+│\s+undefined", out)


# info


def hand_made_model(path, **attrs):
    """Known attributes; costs 0.7, 0.6, ..., 0.0 (a straight fall)."""
    defaults = {
        "learning_rate": 0.01,
        "num_iterations": 800,
        "final_cost": 0.05,
        "train_examples": TRAIN_EXAMPLES,
        "train_accuracy": TRAIN_CORRECT / TRAIN_EXAMPLES,
        "test_examples": TEST_EXAMPLES,
        "test_accuracy": 0.7,
        "train_data": "somewhere/train.h5",
        "created": "2024-01-02T03:04:05+00:00",
        "catclf_version": "0.9.1",
        "classes": ["dog", "cat"],
        "solver": "primal",
    }
    defaults.update(attrs)
    costs = np.array([0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    return write_model_file(path, costs=costs, attrs=defaults)


def test_info_json_says_everything_the_file_holds(tmp_path):
    hand_made_model(tmp_path / "m.h5")
    result = invoke("info", "--model", "m.h5", "--json", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "model": "m.h5",
        "format": "catclf-logistic-regression",
        "format_version": 1,
        "classes": ["dog", "cat"],
        "image_size": 64,
        "channels": 3,
        "preprocessing": "divided by 255",
        "learning_rate": 0.01,
        "num_iterations": 800,
        "solver": "primal",
        "train_data": "somewhere/train.h5",
        "train_examples": TRAIN_EXAMPLES,
        "train_accuracy": pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES),
        "test_examples": TEST_EXAMPLES,
        "test_accuracy": 0.7,
        "final_cost": 0.05,
        "created": "2024-01-02T03:04:05+00:00",
        "catclf_version": "0.9.1",
        "costs": [0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
        # A file older than the L2 penalty, the validation part and the place of its test
        # set: their defaults.
        "l2": 0.0,
        "validation_examples": 0,
        "validation_accuracy": None,
        "validation_cost": None,
        "test_data": None,
        "mean_image": False,  # nor an average training image
    }


def test_info_to_a_pipe_is_key_value_lines(tmp_path):
    hand_made_model(tmp_path / "model.h5", test_examples=0, test_accuracy=math.nan)
    result = invoke("info", cwd=tmp_path)  # model.h5 in the current folder
    assert (result.returncode, result.stderr) == (0, "")
    assert ANSI not in result.stdout
    values = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert values["model"] == "model.h5"
    assert values["train accuracy"] == TRAIN_ACCURACY_SHOWN
    assert values["test accuracy"] == "no test set"
    assert values["learning rate"] == "0.01"
    assert values["iterations"] == "800"
    assert values["solver"] == "primal"
    assert values["catclf version"] == "0.9.1"
    assert (
        values["costs"] == "0.700000 0.600000 0.500000 0.400000 0.300000 0.200000 0.100000 0.000000"
    )


def test_info_without_a_stored_version_says_so(tmp_path):
    # write_model_file stores no solver, as files written before it was recorded.
    write_model_file(tmp_path / "old.h5", drop=("catclf_version", "created"))
    as_json = json.loads(invoke("info", "-m", "old.h5", "--json", cwd=tmp_path).stdout)
    assert (as_json["catclf_version"], as_json["created"], as_json["solver"]) == (None,) * 3
    piped = invoke("info", "-m", "old.h5", cwd=tmp_path).stdout.splitlines()
    assert "catclf version: unknown" in piped
    assert "solver: unknown" in piped


def test_info_on_a_terminal_draws_the_cost_history(runner, tmp_path, monkeypatch):
    hand_made_model(tmp_path / "m.h5")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("catclf.cli.views.is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "150")
    result = runner.invoke(app, ["info", "-m", "m.h5"])
    assert result.exit_code == 0, result.output
    # Eight costs falling in equal steps: one bar each, from the top to the bottom.
    assert "█▇▆▅▄▃▂▁  0.700000 → 0.000000" in result.stdout


def test_info_without_a_model_describes_the_bundled_one(tmp_path):
    result = invoke("info", "--json", cwd=tmp_path)
    assert result.returncode == 0
    info = json.loads(result.stdout)
    assert info["model"] == str(BUNDLED_MODEL)
    # The course's published run: 20 costs from ln 2, its train and test accuracies.
    assert len(info["costs"]) == len(COSTS) and info["costs"][0] == pytest.approx(LN2)
    assert info["train_accuracy"] == pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES)
    assert info["test_accuracy"] == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)


def test_info_on_a_damaged_model_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"not HDF5")
    result = invoke("info", "-m", "bad.h5", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("catclf: error: bad.h5: ")


# --jobs: decoding in several processes gives what one process gives


def test_predict_with_two_jobs_prints_what_one_job_prints(tmp_path, pictures):
    # Enough pictures for two worker processes, some unreadable, in nested folders.
    rng = np.random.default_rng(7)
    folder = tmp_path / "mixed"
    for i in range(40):
        path = folder / f"part{i % 3}" / f"{i:02d}.png"
        if i % 7 == 2:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not a picture")
        else:
            save_png(path, rng.integers(0, 256, (64 + i, 80, 3)))
    runs = [
        catclf_run("predict", "-m", pictures["model"], "--jobs", jobs, folder, cwd=tmp_path)
        for jobs in (1, 2)
    ]
    assert [r.returncode for r in runs] == [1, 1]
    assert runs[1].stdout == runs[0].stdout
    assert runs[1].stderr == runs[0].stderr
    assert len(runs[0].stdout.splitlines()) == 34
    assert len(error_lines(runs[0].stderr)) == 6
    paths = [line.split("\t")[0] for line in runs[0].stdout.splitlines()]
    assert paths == sorted(paths)


@pytest.mark.parametrize("listed", [False, True])
def test_the_first_images_go_to_the_decoding_processes_before_the_model_is_read(
    tmp_path, pictures, monkeypatch, listed
):
    # So that they decode while the model is read: predict's start and the first images'
    # decoding overlap. All of a folder's are at hand: FIRST a process go at once. Of a list,
    # only those counted to decide on the processes: the rest may still be being written.
    from catclf import workers
    from catclf.cli import inputs
    from catclf.model import load_model

    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    paths = [uniform(tmp_path / "photos" / f"{i:02d}.png", 4 * i) for i in range(40)]
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in paths))
    sent = []
    send = workers._Pool._send
    monkeypatch.setattr(workers._Pool, "_send", lambda *args: sent.append(args[2]) or send(*args))
    sent_before_reading = []

    def load():
        sent_before_reading.append(list(sent))
        return load_model(pictures["model"])

    named = ([], str(tmp_path / "list.txt")) if listed else ([str(tmp_path / "photos")], None)
    with inputs.scoring(load, *named, jobs=2) as scoring:
        scored = list(scoring.scored())

    first = 2 * MIN_IMAGES_PER_PROCESS if listed else 2 * workers.FIRST
    assert sent_before_reading == [list(range(first))]
    assert [name for name, _ in scored] == [str(p) for p in paths]
    by_hand = [probability_by_hand(pictures["model"], p) for p in paths]
    np.testing.assert_allclose([p for _, p in scored], by_hand, rtol=1e-12)


def test_a_model_that_cannot_be_read_is_said_without_waiting_on_stdin(tmp_path):
    # stdin, an image or the list of paths, is read only once the model is: a terminal, or
    # a pipe whose writer has not written yet, does not keep the error waiting.
    for given in (["-"], ["--files-from", "-"]):
        process = start_catclf(
            "predict", "-m", "missing.h5", *given, cwd=tmp_path, stdin=subprocess.PIPE
        )
        try:
            assert process.wait(timeout=60) == 1
            assert process.stderr.read() == b"catclf: error: missing.h5: no such model file\n"
        finally:
            process.stdin.close()
            process.stdout.close()
            process.stderr.close()
            if process.poll() is None:
                process.kill()
                process.wait()


def test_train_with_two_jobs_learns_what_one_job_learns(tmp_path):
    data = class_folders(tmp_path / "data", per_class=12, broken=True)
    summaries, weights = [], []
    for jobs in ("1", "2"):
        model = tmp_path / f"jobs{jobs}.h5"
        # A process of catclf's own starts the decoding processes, as for a user.
        result = catclf_run(
            "train", data, "-n", "50", "--jobs", jobs, "-m", model, "--json", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        for key in ("seconds", "model"):
            summary.pop(key)
        summaries.append(summary)
        with h5py.File(model, "r") as f:
            weights.append((f["w"][()], f["b"][()]))
    assert summaries[1] == summaries[0]
    assert summaries[0]["train_examples"] == 24
    assert len(summaries[0]["skipped"]) == 1
    np.testing.assert_array_equal(weights[1][0], weights[0][0])
    assert weights[1][1] == weights[0][1]


def processes_in_group(group):
    """The ids of the live processes in a process group, read from /proc (Linux)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("command", "signal_number"),
    [("predict", signal.SIGINT), ("train", signal.SIGINT), ("train", signal.SIGHUP)],
    ids=["predict Ctrl-C", "train Ctrl-C", "train closed terminal"],
)
def test_ctrl_c_stops_the_decoding_processes_too(tmp_path, command, signal_number):
    # Many large PNGs (no reduced-scale decoding for those) keep two workers busy for seconds.
    big = tmp_path / "big.png"
    noise = np.random.default_rng(8).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, compress_level=0)
    for folder in ("cat", "non-cat"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i in range(300):
            (tmp_path / "data" / folder / f"{i:03d}.png").symlink_to(big)
    process = start_catclf(
        command,
        "-q",
        "--jobs",
        "2",
        "data",
        cwd=tmp_path,
        text=True,
        # Its own process group, as a shell gives a job; Ctrl-C signals the whole group.
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(600):
            if len(processes_in_group(process.pid)) >= 3 or process.poll() is not None:
                break
            time.sleep(0.05)
        assert len(processes_in_group(process.pid)) >= 3, "the workers never started"
        time.sleep(0.5)
        # Ctrl-C, or the SIGHUP of a closed terminal: both reach the whole group.
        os.killpg(process.pid, signal_number)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 128 + signal_number
    # predict prints each result as it comes (the first after one image): whole lines only.
    assert all(
        re.fullmatch(r"data/[\w-]+/\d{3}\.png\t\d\.\d{6}\t(non-)?cat", line)
        for line in out.splitlines()
    )
    assert command == "predict" or out == ""
    # predict writes no file, so it has nothing to say about saving.
    what = "interrupted" if signal_number == signal.SIGINT else "hung up"
    said = {"train": f"catclf: {what}; nothing was saved", "predict": f"catclf: {what}"}
    assert err.splitlines() == [said[command]]
    for _ in range(100):  # the workers are reaped before the main process exits
        if not processes_in_group(process.pid):
            break
        time.sleep(0.05)
    assert processes_in_group(process.pid) == []
    assert not (tmp_path / "model.h5").exists()


# Start-up: each command imports what it uses, so that a call per file in a loop stays quick


def modules_imported(*args, cwd):
    """The full name of every module `python -m catclf ARGS` imports, from -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "catclf", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


def imported(*args, cwd):
    """The top-level names of every module `python -m catclf ARGS` imports."""
    return {name.split(".")[0] for name in modules_imported(*args, cwd=cwd)}


def test_help_imports_none_of_the_heavy_libraries(tmp_path):
    modules = imported("--help", cwd=tmp_path)
    assert "typer" in modules  # the check sees imports
    heavy = {"numpy", "PIL", "h5py", "rich", "matplotlib", "pydantic", "pillow_heif"}
    assert modules.isdisjoint(heavy)


def test_predict_to_a_pipe_imports_only_what_it_uses(tmp_path, pictures):
    modules = imported("predict", "-m", pictures["model"], pictures["white"], cwd=tmp_path)
    assert {"numpy", "PIL"} <= modules
    # No progress bar or table to draw, no JSON to write, no worker processes for one image,
    # no HEIC reader for a PNG, no h5py for a model file as catclf writes it.
    assert modules.isdisjoint(
        {"rich", "matplotlib", "pydantic", "json", "multiprocessing", "pillow_heif", "h5py"}
    )


def test_predict_of_one_image_imports_nothing_only_other_work_needs(tmp_path, pictures):
    # `catclf predict one.png`, with the bundled model, to a pipe: the call a script makes
    # once per file.
    modules = modules_imported("predict", pictures["white"], cwd=tmp_path)
    assert {"catclf.model", "catclf.modelfile", "catclf.hdf5lite", "catclf.images"} <= modules
    unused = {
        # the bundled model is read from its bytes: h5py is for other files
        "h5py",
        "catclf.hdf5",
        # writing files (and the hashes and temporary files of that), data sets, folders,
        # training, scores, explanations, tables: none of them for one image's probability
        "catclf.files",
        "hashlib",
        "tempfile",
        "catclf.dataset",
        "catclf.datasets",
        "catclf.coursefiles",
        "catclf.folders",
        "catclf.training",
        "catclf.evaluation",
        "catclf.metrics",
        "statistics",
        "catclf.explanation",
        "catclf.cli.tables",
    }
    assert modules.isdisjoint(unused), sorted(modules & unused)
    # Pillow's readers of the common formats, as it opens a file: never all of them.
    readers = {name for name in modules if name.endswith("ImagePlugin")}
    assert "PIL.PngImagePlugin" in readers
    assert readers <= {f"PIL.{kind}ImagePlugin" for kind in ("Bmp", "Gif", "Jpeg", "Ppm", "Png")}, (
        sorted(readers)
    )


def test_predict_imports_the_heic_reader_for_a_heic_photo(tmp_path, pictures):
    pillow_heif = pytest.importorskip("pillow_heif")
    photo = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(Image.new("RGB", (64, 64), (200, 30, 30))).save(photo)
    assert "pillow_heif" in imported("predict", "-m", pictures["model"], photo, cwd=tmp_path)


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["info"], "catclf: interrupted"),
        (["evaluate"], "catclf: interrupted"),
        (["predict", "x.png"], "catclf: interrupted"),
        (["report", "--out", "r"], "catclf: interrupted; nothing was saved"),
    ],
)
def test_an_interrupt_mentions_saving_only_for_a_command_that_saves(
    tmp_path, monkeypatch, capsys, command, said
):
    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("catclf.modelfile.find", ctrl_c)  # every one of these reads a model
    with pytest.raises(SystemExit) as stopped:
        app(command, prog_name="catclf")
    assert stopped.value.code == 130
    assert capsys.readouterr().err.splitlines() == [said]


def test_a_reader_that_stops_early_ends_predict_quietly(tmp_path, pictures):
    # More result lines than a pipe holds (64 KiB), so that writing meets the closed pipe.
    listing = tmp_path / "list.txt"
    listing.write_text(f"{pictures['white']}\n" * 4000)
    process = start_catclf("predict", "-m", pictures["model"], "-f", listing, cwd=tmp_path)
    first = process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert first.endswith(b"\t0.880797\tcat\n")
    assert err == b""


def test_a_decoding_process_that_dies_is_an_error_not_a_closed_stdout(
    runner, monkeypatch, tmp_path
):
    # Only a closed stdout ends quietly with 141; a worker that died is an error with status 1.
    from catclf import workers

    monkeypatch.setattr(workers, "_serve", lambda connection, parent: os._exit(1))
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    for i in range(32):
        Image.new("RGB", (64, 64), (i, 0, 0)).save(tmp_path / f"{i:02d}.png")
    result = runner.invoke(app, ["predict", "-m", str(BUNDLED_MODEL), "--jobs", "2", str(tmp_path)])
    assert result.exit_code == 1
    assert "decoding process ended without a result" in result.stderr


def test_a_folder_that_cannot_be_listed_is_one_error_and_the_rest_is_scored(tmp_path, pictures):
    drop = without_root_powers()
    photos = tmp_path / "photos"
    uniform(photos / "a.png", 10)
    uniform(photos / "locked" / "b.png", 20)
    uniform(tmp_path / "c.png", 30)
    (photos / "locked").chmod(0)
    try:
        result = catclf_run(
            "predict", "-m", pictures["model"], "photos", "c.png", cwd=tmp_path, prefix=drop
        )
    finally:
        (photos / "locked").chmod(0o755)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "catclf: error: photos/locked: cannot list this folder (Permission denied)"
    ]
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        "photos/a.png",
        "c.png",
    ]


@pytest.mark.parametrize(
    ("args", "said", "where"),
    [
        (["train", "--bogus"], "no such option: --bogus", "catclf train"),
        (["predict"], "give at least one IMAGE, or --files-from FILE", "catclf predict"),
        (["evaluate", "--min-accuracy", "nan"], "a number from 0 to 1, not nan", "catclf evaluate"),
        (["sweep", "-r", "0"], "a number above 0, not 0.0", "catclf sweep"),
        (["nonsense"], "No such command 'nonsense'", "catclf"),
    ],
)
def test_a_usage_error_is_one_line_and_status_2(tmp_path, args, said, where):
    result = catclf_run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    first, *rest = result.stderr.splitlines()
    assert first.startswith("catclf: error: ") and said in first
    assert rest == [f"catclf: try '{where} --help'"]


def test_with_filename_gives_one_image_the_three_columns_of_many(tmp_path, pictures):
    result = catclf_run("predict", "-m", pictures["model"], "-H", pictures["white"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{pictures['white']}\t{WHITE}\tcat\n"


def test_json_gives_every_input_a_record_in_input_order(tmp_path, pictures):
    # Records carry each path as it was given, never parsed back out of a message: a folder
    # whose name holds ": " is named whole.
    (tmp_path / "holiday: 2024").mkdir()
    (tmp_path / "listed").write_bytes(
        b"missing.png\n" + os.fsencode(pictures["white"]) + b"\nholiday: 2024\nbad\0entry\n"
    )
    result = catclf_run(
        "predict", "-m", pictures["model"], "--json", "-f", "listed", "-j", "1", cwd=tmp_path
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records == [
        {"path": "missing.png", "error": "no such file"},
        {
            "path": str(pictures["white"]),
            "probability": pytest.approx(float(WHITE)),
            "label": "cat",
        },
        {"path": "holiday: 2024", "error": "no images below this folder"},
        {
            "path": "listed",
            "error": "not a list of paths: a line holds a NUL byte (--null reads NUL-ended "
            "paths); the rest is not read",
        },
    ]
    assert len(error_lines(result.stderr)) == 3  # and each is on stderr as well


def test_json_names_a_folder_argument_whole(tmp_path, pictures):
    (tmp_path / "holiday: 2024").mkdir()
    result = invoke(
        "predict",
        "-m",
        pictures["model"],
        "--json",
        "holiday: 2024",
        pictures["white"],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    first, second = map(json.loads, result.stdout.splitlines())
    assert first == {"path": "holiday: 2024", "error": "no images below this folder"}
    assert second["path"] == str(pictures["white"])


def test_the_usage_lines_name_their_arguments_as_the_docs_do():
    runner = CliRunner()
    assert runner.invoke(app, ["predict", "--help"]).stdout.startswith(
        "Usage: catclf predict [OPTIONS] [IMAGE...]"
    )
    assert runner.invoke(app, ["prepare", "--help"]).stdout.startswith(
        "Usage: catclf prepare [OPTIONS] DATA"
    )
    assert "bundled" in runner.invoke(app, ["predict", "--help"]).stdout


def test_a_folder_too_deep_to_search_is_one_line_and_the_rest_is_served(tmp_path, pictures):
    save_png(tmp_path / "photos" / "white.png", np.full((64, 64, 3), 255))
    # Far beyond Python's recursion limit, and catclf's depth.
    with deep_folders(tmp_path / "photos", 1200) as bottom:
        save_png(bottom / "black.png", np.zeros((64, 64, 3)))
        result = invoke("predict", "-m", pictures["model"], "photos", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"photos/white.png\t{WHITE}\tcat"]
    [line] = error_lines(result.stderr)
    assert line.startswith("catclf: error: photos/d/")
    assert line.endswith(": holds folders more than 64 levels deep; not searched")
    # train skips it and says so, as any folder it cannot list.
    data = class_folders(tmp_path / "data")
    with deep_folders(data / "cat", 100):
        summary, _ = train_json(data, "-n", "10", "-m", "m.h5", cwd=tmp_path)
    [skipped] = summary["skipped"]
    assert skipped["path"].startswith(str(data / "cat" / "d"))
    assert skipped["error"] == "holds folders more than 64 levels deep; not searched"


# A newcomer's own photos: their class names everywhere, and their own test set


def test_a_model_of_ones_own_photos_is_judged_on_its_own_test_set(tmp_path):
    names = ("not_cats", "cats")
    class_folders(tmp_path / "photos", per_class=6, names=names)
    class_folders(tmp_path / "holdout", per_class=3, seed=5, names=names)
    trained = invoke("train", "photos", "--test", "holdout", "-n", "200", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    # evaluate with no DATA: the test set the model records, not the bundled one.
    result = invoke("evaluate", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    assert scored["data"] == "holdout" or scored["data"].endswith("/holdout")
    assert scored["examples"] == 6
    assert "scoring the test set the model was tested on" in result.stderr
    # The class names are the folders', in every command and in JSON.
    assert result_names(invoke("info", "--json", cwd=tmp_path)) == ["not_cats", "cats"]
    red = save_png(tmp_path / "red.png", np.dstack([np.full((64, 64), 220), np.zeros((64, 64, 2))]))
    predicted = invoke("predict", "--json", red, cwd=tmp_path)
    assert json.loads(predicted.stdout)["label"] == "cats"
    table = invoke("evaluate", "holdout", cwd=tmp_path)
    assert "examples: 6 images: 3 cats, 3 not_cats" in table.stdout
    # Moved away: said in one line, asking for DATA.
    (tmp_path / "holdout").rename(tmp_path / "moved")
    gone = invoke("evaluate", cwd=tmp_path)
    assert gone.returncode == 1
    assert error_lines(gone.stderr) == [
        f"catclf: error: model.h5: the test set it was tested on, {tmp_path / 'holdout'}, is "
        "no longer there"
    ]


def result_names(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["classes"]


def test_a_model_trained_without_a_test_set_asks_for_data(tmp_path):
    class_folders(tmp_path / "photos")
    assert invoke("train", "photos", "-n", "50", "-q", cwd=tmp_path).returncode == 0
    result = invoke("evaluate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "catclf: error: model.h5 records no test set it was tested on; it was trained without "
        "--test: give DATA, the labelled images to score it on"
    )


def test_data_of_other_classes_is_refused_everywhere(tmp_path):
    class_folders(tmp_path / "photos", names=("not_cats", "cats"))
    class_folders(tmp_path / "other", names=("non-cat", "cat"))
    assert invoke("train", "photos", "-n", "50", "-q", cwd=tmp_path).returncode == 0
    expected = (
        "its classes are 'non-cat' / 'cat', the model's are 'not_cats' / 'cats': score a model "
        "on data of its own classes (name the class folders as its training data did)"
    )
    for command in (["evaluate", "other"], ["report", "other", "-o", "out"]):
        result = invoke(*command, cwd=tmp_path)
        assert result.returncode == 1
        assert error_lines(result.stderr) == [f"catclf: error: other: {expected}"]
    # The bundled test set is of the course's classes: refused too.
    bundled = invoke("evaluate", PACKAGE_DATA / "test_catvnoncat.h5", cwd=tmp_path)
    assert bundled.returncode == 1 and "the model's are 'not_cats' / 'cats'" in bundled.stderr
    mixed = invoke("train", "photos", "--test", "other", "-n", "50", "-m", "m.h5", cwd=tmp_path)
    assert mixed.returncode == 1
    assert "a test set must hold the same classes" in mixed.stderr
    assert not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize(("terminal", "said"), [(True, True), (False, False)])
def test_predict_says_once_on_a_terminal_that_it_uses_the_course_model(
    tmp_path, monkeypatch, terminal, said
):
    monkeypatch.setattr("catclf.cli.views.is_terminal", lambda stream: terminal)
    monkeypatch.chdir(tmp_path)  # no model.h5 here
    horse = str(SAMPLES / "noncat_horse_silhouette.png")
    result = CliRunner().invoke(app, ["predict", horse, str(SAMPLES / "cat_chelsea.png")])
    assert result.exit_code == 0
    notes = [line for line in result.stderr.splitlines() if "course's model" in line]
    if said:
        # Which model, how good it is (the bundled model's 35 of 50, with its interval), and
        # what to do.
        assert notes == [
            "catclf: no model.h5 here: using the course's model, trained on 209 small images, "
            "right on 70.00 % of its 50 test images (56.25 % to 80.90 %, 95 %), which calls "
            "most photos cats; train your own with `catclf train PHOTOS/` (a cat/ folder and "
            "another)"
        ]
    else:
        assert result.stderr == ""  # a pipeline hears nothing of it


def test_lr_is_the_learning_rate_and_no_option_of_another_meaning_is_suggested(tmp_path):
    class_folders(tmp_path / "data")
    for command in (["train", "-m", "m.h5"], ["cv", "-k", "2"], ["sweep"]):
        short = invoke(*command, "data", "--lr", "0.02", "-n", "5", "--json", cwd=tmp_path)
        assert short.returncode == 0, short.stderr
        said = json.loads(short.stdout)
        rates = (
            [r["learning_rate"] for r in said]
            if isinstance(said, list)
            else [said["learning_rate"]]
        )
        assert rates == [0.02]
    # One letter from --l2, which would set a penalty: never suggested for it.
    typo = invoke("train", "data", "--lrate", "0.1", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr.splitlines()[0] == "catclf: error: no such option: --lrate"
    close = invoke("train", "data", "--iteratons", "5", cwd=tmp_path)
    assert close.stderr.splitlines()[0] == (
        "catclf: error: no such option: --iteratons; did you mean --iterations?"
    )


def test_images_beside_the_class_folders_are_counted_and_said(tmp_path):
    class_folders(tmp_path / "photos", names=("other", "cats"))
    for i in range(7):
        uniform(tmp_path / "photos" / f"IMG_{i}.png", 40 * i)
    (tmp_path / "photos" / "notes.txt").write_text("not an image: no word of it")
    summary, err = train_json("photos", "-n", "10", "-m", "m.h5", cwd=tmp_path)
    assert summary["unsorted"] == 7
    assert summary["train_examples"] == 8  # the class folders' only
    assert (
        "catclf: warning: 7 images are in photos beside its class folders, in no class, and "
        "not used: move them into cats/ or other/"
    ) in err.splitlines()
    prepared = invoke("prepare", "photos", "-o", "ds", "--json", cwd=tmp_path)
    assert json.loads(prepared.stdout)["unsorted"] == 7
    assert "7 images are in photos beside its class folders" in prepared.stderr
