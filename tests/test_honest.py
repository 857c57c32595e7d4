"""Honest numbers on the command line: every accuracy with its interval and baseline,
choices made on held-out training data, cross-validation and the L2 penalty, checked
against values worked out here (the Wilson formula, the cost formula with numpy)."""

import json
import math

import h5py
import numpy as np
import pytest
from course import TEST_CATS, TEST_CORRECT, TEST_EXAMPLES, TRAIN_CATS, TRAIN_EXAMPLES
from typer.testing import CliRunner

from catclf import datasets
from catclf.cli import app

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal distribution


def wilson(correct, n, z=Z95):
    """The Wilson score interval, written out from its formula."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def run(*args, cwd=None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def run_json(*args, **kwargs):
    result = run(*args, "--json", **kwargs)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_the_wilson_interval_of_the_course_test_accuracy_is_as_published():
    low, high = wilson(TEST_CORRECT, TEST_EXAMPLES)
    assert (round(100 * low, 1), round(100 * high, 1)) == (56.2, 80.9)


def test_evaluate_gives_the_accuracy_with_its_interval_and_baseline():
    low, high = wilson(TEST_CORRECT, TEST_EXAMPLES)
    summary = run_json("evaluate")
    assert summary["accuracy"] == TEST_CORRECT / TEST_EXAMPLES
    assert summary["accuracy_ci"] == pytest.approx([low, high], abs=1e-12)
    assert summary["baseline_accuracy"] == TEST_CATS / TEST_EXAMPLES  # always "cat": 66 %
    text = run("evaluate").stdout
    assert "accuracy: 70.00 % (35/50)" in text
    assert f"accuracy interval: {100 * low:.2f} % to {100 * high:.2f} % (95 %)" in text
    assert "baseline: 66.00 %, always answering cat" in text
    # 66 % lies inside 56 % to 81 %: 50 examples cannot tell the model from always "cat".
    assert "verdict: no better than always answering cat" in text


def test_train_reports_the_test_accuracy_with_its_interval_and_baseline(tmp_path, monkeypatch):
    summary = run_json("train", "-m", tmp_path / "m.h5", cwd=tmp_path, monkeypatch=monkeypatch)
    assert summary["test_accuracy_ci"] == pytest.approx(wilson(35, 50), abs=1e-12)
    assert summary["test_baseline_accuracy"] == 0.66
    assert summary["validation_examples"] == 0 and summary["validation_accuracy"] is None
    text = run("train", "-m", tmp_path / "m.h5", cwd=tmp_path, monkeypatch=monkeypatch).stdout
    assert "test accuracy interval: 56.25 % to 80.90 % (95 %)" in text
    assert "baseline: 66.00 %, always answering cat" in text


def test_a_validation_fraction_is_held_out_of_each_class_and_recorded(tmp_path, monkeypatch):
    summary = run_json(
        "train", "--validation-fraction", 0.2, "-m", "m.h5", cwd=tmp_path, monkeypatch=monkeypatch
    )
    # A fifth of each class, rounded: 14 of the 72 cats, 27 of the 137 others.
    assert summary["validation_examples"] == 14 + 27
    assert summary["train_examples"] == TRAIN_EXAMPLES - 41
    held = round(summary["validation_accuracy"] * 41)
    assert summary["validation_accuracy_ci"] == pytest.approx(wilson(held, 41), abs=1e-12)
    info = run_json("info", "-m", "m.h5")
    assert info["validation_examples"] == 41
    assert info["validation_accuracy"] == summary["validation_accuracy"]
    # The same data gives the same split.
    again = run_json(
        "train", "--validation-fraction", 0.2, "-m", "n.h5", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert again["validation_accuracy"] == summary["validation_accuracy"]


def test_the_l2_penalty_is_added_to_the_cost_as_the_course_writes_it(tmp_path, monkeypatch):
    lambd = 3.0
    summary = run_json(
        "train", "-n", 60, "--l2", lambd, "-m", "m.h5", cwd=tmp_path, monkeypatch=monkeypatch
    )
    with h5py.File(tmp_path / "m.h5", "r") as f:
        w, b = f["w"][()], float(f["b"][()])
        assert f.attrs["l2"] == lambd
    train_set, _ = datasets.bundled()
    X, Y = train_set.images.reshape(TRAIN_EXAMPLES, -1).T / 255.0, train_set.labels
    A = 1 / (1 + np.exp(-(w.T @ X + b)))
    m = TRAIN_EXAMPLES
    cross_entropy = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    assert summary["final_cost"] == pytest.approx(
        cross_entropy + lambd / (2 * m) * np.sum(w**2), rel=1e-9
    )
    assert summary["l2"] == lambd and run_json("info", "-m", "m.h5")["l2"] == lambd
    plain = run_json("train", "-n", 60, "-m", "p.h5")
    assert plain["final_cost"] != summary["final_cost"]


def test_cv_folds_are_stratified_stable_and_average_as_said():
    result = run_json("cv", "--folds", 5)
    folds = result["folds"]
    held = sorted(i for fold in folds for i in fold["validation_indices"])
    assert held == list(range(TRAIN_EXAMPLES))  # every example held out exactly once
    labels = datasets.bundled()[0].labels
    cats = [int(labels[fold["validation_indices"]].sum()) for fold in folds]
    assert max(cats) - min(cats) <= 1 and sum(cats) == TRAIN_CATS
    accuracies = [fold["validation_accuracy"] for fold in folds]
    assert result["mean_validation_accuracy"] == pytest.approx(np.mean(accuracies), abs=1e-15)
    assert result["std_validation_accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert result["baseline_accuracy"] == (TRAIN_EXAMPLES - TRAIN_CATS) / TRAIN_EXAMPLES
    # The course's method does no better than always answering "non-cat" on its own data.
    assert 0.5 < result["mean_validation_accuracy"] < result["baseline_accuracy"]
    assert run_json("cv", "--folds", 5)["folds"] == folds


def test_sweep_chooses_on_held_out_training_data_never_on_the_test_set(tmp_path):
    bundled = datasets.BUNDLED_DIR
    args = ("sweep", "-n", 300, "--validation-fraction", 0.2)
    with_test = run_json(
        *args, bundled / "train_catvnoncat.h5", "--test", bundled / "test_catvnoncat.h5"
    )
    without = run_json(*args, bundled / "train_catvnoncat.h5")
    assert [r["best"] for r in with_test] == [r["best"] for r in without]
    assert sum(r["best"] for r in with_test) == 1
    assert {r["selected_by"] for r in with_test} == {"validation"}
    judged = [r for r in with_test if r["validation_accuracy"] is not None]
    # The highest validation accuracy; of equals, the lower validation cost.
    best = max(judged, key=lambda r: (r["validation_accuracy"], -r["validation_cost"]))
    assert best["best"]
    plain = run_json("sweep", "-n", 300)
    assert not any(r["best"] for r in plain) and {r["selected_by"] for r in plain} == {None}


def test_sweep_tries_every_penalty_with_every_rate():
    runs = run_json("sweep", "-n", 100, "-r", 0.005, "-r", 0.001, "--l2", 0, "--l2", 2, "-k", 3)
    assert [(r["learning_rate"], r["l2"]) for r in runs] == [
        (0.005, 0.0),
        (0.005, 2.0),
        (0.001, 0.0),
        (0.001, 2.0),
    ]
    assert {r["selected_by"] for r in runs} == {"cross-validation"}
    assert sum(r["best"] for r in runs) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--validation-fraction", "1.5"),
        ("train", "--l2", "-1"),
        ("train", "--l2", "nan"),
        ("cv", "--folds", "1"),
        ("sweep", "--validation-fraction", "0.2", "--folds", "3"),
    ],
)
def test_impossible_settings_are_usage_errors(args):
    assert run(*args).exit_code == 2
