"""catclf sweep: one training per learning rate, as the course's learning-rate exercise.

Expected figures are the course's (course.py): at 1500 iterations on its cat / non-cat set,
learning rate 0.01 reaches train accuracy 99.52 % and test accuracy 68 %, 0.001 88.99 % and
64 %, 0.0001 68.42 % and 36 %.
"""

import io
import json
import math
import re

import pytest
from course import (
    SWEEP_ITERATIONS,
    SWEEP_RATES,
    SWEEP_TEST_CORRECT,
    SWEEP_TRAIN_CORRECT,
    TEST_EXAMPLES,
    TRAIN_EXAMPLES,
)
from helpers import PACKAGE_DATA, error_lines, invoke
from PIL import Image

TRAIN_FILE = PACKAGE_DATA / "train_catvnoncat.h5"


def sweep_json(*args, cwd, status=0):
    result = invoke("sweep", *args, "--json", cwd=cwd)
    assert result.returncode == status, result.stderr
    return json.loads(result.stdout), result


@pytest.fixture(scope="module")
def course_sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    runs, _ = sweep_json("--iterations", SWEEP_ITERATIONS, cwd=cwd)
    return runs, cwd


def test_default_rates_reproduce_the_course_exercise(course_sweep):
    runs, _ = course_sweep
    assert [r["learning_rate"] for r in runs] == SWEEP_RATES
    assert not any(r["diverged"] for r in runs)
    # The course's published accuracies, as counts of its training and test images.
    assert [round(r["train_accuracy"] * TRAIN_EXAMPLES) for r in runs] == SWEEP_TRAIN_CORRECT
    assert [round(r["test_accuracy"] * TEST_EXAMPLES) for r in runs] == SWEEP_TEST_CORRECT
    for r in runs:
        assert r["num_iterations"] == SWEEP_ITERATIONS
        assert (r["train_examples"], r["test_examples"]) == (TRAIN_EXAMPLES, TEST_EXAMPLES)
        assert len(r["costs"]) == 15  # iterations 0, 100, ..., 1400
        assert r["costs"][0] == pytest.approx(math.log(2))
        assert r["model"] is None and r["reason"] is None


def test_the_largest_rate_fits_hardest_and_the_smallest_learns_slowest(course_sweep):
    runs, _ = course_sweep
    train_accuracy = [r["train_accuracy"] for r in runs]
    final_cost = [r["final_cost"] for r in runs]
    assert train_accuracy[0] > train_accuracy[1] > train_accuracy[2]
    assert final_cost[0] < final_cost[1] < final_cost[2]


def test_without_held_out_data_no_run_is_best_and_the_test_set_does_not_choose(course_sweep):
    runs, _ = course_sweep
    assert [r["best"] for r in runs] == [False, False, False]
    assert [r["selected_by"] for r in runs] == [None, None, None]


def test_sweep_saves_no_model(course_sweep):
    _, cwd = course_sweep
    assert list(cwd.iterdir()) == []


def test_a_diverging_rate_is_a_row_and_the_others_still_run(tmp_path):
    runs, result = sweep_json(
        "-r", "0.005", "-r", "1e300", "-n", "300", "--validation-fraction", "0.2", cwd=tmp_path
    )
    good, bad = runs
    assert not good["diverged"] and good["best"]
    assert 0 < good["final_cost"] < math.log(2)
    assert bad["diverged"] and not bad["best"]
    assert bad["train_accuracy"] is None and bad["test_accuracy"] is None
    assert bad["final_cost"] is None
    assert "diverged at learning rate 1e+300" in bad["reason"]
    assert bad["costs"][0] == pytest.approx(math.log(2))
    assert error_lines(result.stderr) == []


def test_a_diverging_rate_in_the_table(tmp_path):
    result = invoke(
        "sweep", "-r", "1e300", "-r", "0.005", "-n", "300", "--folds", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    header, diverged, trained = result.stdout.splitlines()
    assert header.split() == [
        "learning_rate",
        "l2",
        "train",
        "validation",
        "test",
        "final_cost",
        "note",
    ]
    assert diverged.split() == ["1e+300", "0", "-", "-", "-", "-", "diverged"]
    assert trained.split()[0] == "0.005" and trained.split()[-1] == "best"
    assert "catclf: training diverged at learning rate 1e+300" in result.stderr


def test_when_every_rate_diverges_the_rows_are_printed_and_the_status_is_1(tmp_path):
    runs, result = sweep_json("-r", "1e300", "-r", "1e306", "-n", "300", cwd=tmp_path, status=1)
    assert [r["diverged"] for r in runs] == [True, True]
    assert not any(r["best"] for r in runs)
    [line] = error_lines(result.stderr)
    assert "diverged in every run" in line


def test_without_a_test_set_the_best_run_has_the_highest_validation_accuracy(tmp_path):
    runs, _ = sweep_json(
        TRAIN_FILE, "-r", "0.001", "-r", "0.005", "-n", "300", "-k", "3", cwd=tmp_path
    )
    assert [r["test_accuracy"] for r in runs] == [None, None]
    assert [r["test_examples"] for r in runs] == [0, 0]
    # Ties go to the lower validation cost, then to the first.
    first = min(runs, key=lambda r: (-r["validation_accuracy"], r["validation_cost"]))
    assert [r["best"] for r in runs] == [r is first for r in runs]


def test_test_option_and_plain_output_without_a_test_set(tmp_path):
    result = invoke("sweep", TRAIN_FILE, "-r", "0.005", "-n", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cells = re.split(r"\s{2,}", result.stdout.splitlines()[1])
    assert cells[2].endswith(" %") and cells[4] == "-"  # a train accuracy; no test column
    runs, _ = sweep_json(
        TRAIN_FILE, "--test", PACKAGE_DATA, "-r", "0.005", "-n", "200", cwd=tmp_path
    )
    assert runs[0]["test_examples"] == TEST_EXAMPLES


def test_out_draws_the_learning_curves(tmp_path):
    result = invoke(
        "sweep", "-r", "0.01", "-r", "1e300", "-n", "300", "--out", "curves", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "curves").iterdir()) == [
        ".catclf-files.json",
        "learning_curves.png",
    ]
    with Image.open(io.BytesIO((tmp_path / "curves" / "learning_curves.png").read_bytes())) as im:
        assert im.format == "PNG" and im.size == (800, 500)


@pytest.mark.parametrize("rate", ["0", "-0.01", "nan"])
def test_a_rate_that_is_not_positive_is_a_usage_error(tmp_path, rate):
    result = invoke("sweep", "-r", "0.01", f"--learning-rate={rate}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""


def test_a_set_larger_than_the_memory_limit_is_streamed_with_the_same_results(tmp_path):
    # 209 images take 2.6 MB, more than 3/4 of 3 MB: they stay in the file, as in train.
    runs, result = sweep_json(str(TRAIN_FILE), "-r", "0.005", "-n", "100", cwd=tmp_path)
    streamed, streamed_result = sweep_json(
        str(TRAIN_FILE), "-r", "0.005", "-n", "100", "--memory-limit", "3MB", cwd=tmp_path
    )
    assert (runs[0]["streamed"], streamed[0]["streamed"]) == (False, True)
    assert streamed[0]["solver"] == "primal"
    assert "more than three quarters of the memory limit of 3 MB" in streamed_result.stderr
    # At iteration 0, w = 0 and b = 0: every probability is 1/2, the cost ln 2.
    assert streamed[0]["costs"][0] == pytest.approx(math.log(2))
    assert streamed[0]["costs"] == pytest.approx(runs[0]["costs"], rel=1e-9)
    assert streamed[0]["train_accuracy"] == runs[0]["train_accuracy"]


def test_solver_gram_with_too_little_memory_is_an_error_before_any_run(tmp_path):
    result = invoke("sweep", "-n", "10", "--solver", "gram", "--memory-limit", "3MB", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    [line] = error_lines(result.stderr)
    assert "the Gram solver needs X and X^T X in memory" in line


def test_out_never_replaces_a_picture_catclf_did_not_write(tmp_path):
    (tmp_path / "curves").mkdir()
    (tmp_path / "curves" / "learning_curves.png").write_bytes(b"my own curves")
    args = ("sweep", TRAIN_FILE, "-r", "0.005", "-n", "100", "--out", "curves")
    result = invoke(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    # One line: refused before the data was read or any rate trained.
    assert result.stderr == (
        "catclf: error: curves/learning_curves.png: was not written by catclf, or was changed "
        "since; use --force to replace it\n"
    )
    assert (tmp_path / "curves" / "learning_curves.png").read_bytes() == b"my own curves"
    for extra in (["--force"], []):  # then it is catclf's own
        result = invoke(*args, *extra, "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        with Image.open(tmp_path / "curves" / "learning_curves.png") as im:
            assert im.format == "PNG"


def test_an_out_whose_parent_is_missing_is_refused_before_training(tmp_path):
    result = invoke("sweep", TRAIN_FILE, "-n", "100", "--out", "no/curves", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr == "catclf: error: no/curves: cannot create this folder: no does not exist\n"
    )
    assert list(tmp_path.iterdir()) == []
