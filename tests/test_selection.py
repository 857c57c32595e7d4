"""Validation parts, cross-validation and sweeps: against splits worked out here from the
course file, read with h5py and hashed with hashlib, and folds trained again with the public
API."""

import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from course import TRAIN_CATS, TRAIN_EXAMPLES
from helpers import Watched

import catclf
from catclf import datasets, metrics, selection, splits, training
from catclf.coursefiles import read_hdf5
from catclf.dataset import Dataset
from catclf.errors import DataError, ParameterError, TrainingDiverged
from catclf.logistic import predict
from catclf.model import Settings
from catclf.prepare import hash_fraction

DATA = Path(catclf.__file__).parent / "data"


@pytest.fixture(scope="module")
def course_arrays():
    """train_set_x (209, 64, 64, 3) and train_set_y (209,), read with h5py alone."""
    with h5py.File(DATA / "train_catvnoncat.h5", "r") as f:
        return np.asarray(f["train_set_x"]), np.asarray(f["train_set_y"]).reshape(-1)


@pytest.fixture(scope="module")
def course_set():
    return catclf.load_data()[0]


def hand_key(image):
    """The documented identity: the first 8 bytes of the SHA-256 of the image's bytes."""
    return int.from_bytes(hashlib.sha256(image.tobytes()).digest()[:8], "big")


def by_class_in_hash_order(x, y):
    """For labels 0 then 1, that class's positions sorted by their images' keys."""
    keys = [hand_key(image) for image in x]
    return [sorted(np.flatnonzero(y == label).tolist(), key=keys.__getitem__) for label in (0, 1)]


def hand_folds(x, y, k):
    """Dealt in turn, class 0 then class 1, the turn running on between classes."""
    fold = {}
    turn = 0
    for members in by_class_in_hash_order(x, y):
        for i in members:
            fold[i] = turn % k
            turn += 1
    return [sorted(i for i in fold if fold[i] == j) for j in range(k)]


def dataset(x, y, name="made"):
    return Dataset(
        x,
        np.asarray(y, dtype=np.int64),
        [f"{name}[{i}]" for i in range(len(y))],
        ("non-cat", "cat"),
        name,
    )


def random_images(m, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(m, 64, 64, 3), dtype=np.uint8)


# The identity that places an example


def test_stable_fraction_is_the_first_8_bytes_of_sha256_over_2_to_the_64():
    # SHA-256 of nothing starts e3b0c44298fc1c14.
    assert splits.stable_fraction(b"") == 0xE3B0C44298FC1C14 / 2**64
    assert splits.stable_fraction(b"abc") == 0xBA7816BF8F01CFEA / 2**64


def test_prepare_places_photos_with_the_same_hash_as_before():
    # prepare's split must not move: its fraction is still that of the path's bytes.
    digest = hashlib.sha256(b"cat/tabby 1.jpg").digest()
    assert hash_fraction(Path("cat/tabby 1.jpg")) == int.from_bytes(digest[:8], "big") / 2**64


def test_an_example_is_placed_by_its_pixels(course_set, course_arrays):
    x, _ = course_arrays
    fractions = training.example_fractions(course_set)
    assert fractions.shape == (TRAIN_EXAMPLES,)
    assert fractions.tolist() == [hand_key(image) / 2**64 for image in x]


# A validation part


def test_validation_split_of_the_course_set(course_set, course_arrays):
    x, y = course_arrays
    train_part, held = training.validation_split(course_set, 0.2)
    # round(0.2 * 137) = 27 non-cats and round(0.2 * 72) = 14 cats, the first of each class
    # in the order of their hashes.
    non_cats, cats = by_class_in_hash_order(x, y)
    expected = sorted(non_cats[:27] + cats[:14])
    assert (held.m, held.positives) == (41, 14)
    assert (train_part.m, train_part.positives) == (168, TRAIN_CATS - 14)
    assert held.sources == [course_set.sources[i] for i in expected]
    rest = sorted(set(range(TRAIN_EXAMPLES)) - set(expected))
    assert train_part.sources == [course_set.sources[i] for i in rest]
    np.testing.assert_array_equal(held.images, x[expected])
    np.testing.assert_array_equal(train_part.labels, y[rest])
    assert held.classes == course_set.classes
    assert "validation part" in held.origin and "training part" in train_part.origin


def test_validation_split_ignores_order_and_storage(tmp_path, course_arrays):
    x, y = course_arrays
    first = training.validation_split(dataset(x, y), 0.3)[1]
    # The same images in another order, left in a chunked file: the same ones held out.
    order = np.random.default_rng(0).permutation(len(y))
    path = tmp_path / "shuffled.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=x[order], chunks=(16, 64, 64, 3), compression="gzip")
        f.create_dataset("train_set_y", data=y[order])
    in_file = read_hdf5(path, memory_limit=1)
    assert in_file.in_file
    train_part, second = training.validation_split(in_file, 0.3)
    assert second.in_file and train_part.in_file
    assert sorted(map(hand_key, second.images)) == sorted(map(hand_key, first.images))
    # Each part keeps the data's order.
    positions = [int(s.rsplit("[", 1)[1][:-1]) for s in second.sources]
    assert positions == sorted(positions)
    np.testing.assert_array_equal(second.images, x[order][positions])


@pytest.mark.parametrize(
    ("labels", "fraction", "held_per_class"),
    [
        ([0] * 10 + [1] * 10, 0.01, (1, 1)),  # 0.1 rounds to 0: at least one
        ([0] * 3 + [1] * 3, 0.99, (2, 2)),  # 2.97 rounds to 3: never all
        ([0, 0, 0, 0, 1], 0.4, (2, 0)),  # a class of one example stays in training
        ([0] * 5 + [1] * 8, 0.5, (3, 4)),  # 2.5 rounds up, 4 exactly
    ],
)
def test_validation_split_holds_out_each_classs_share(labels, fraction, held_per_class):
    data = dataset(random_images(len(labels), seed=len(labels)), labels)
    train_part, held = training.validation_split(data, fraction)
    assert (held.m - held.positives, held.positives) == held_per_class
    assert train_part.m + held.m == data.m
    assert train_part.positives >= 1 and train_part.m - train_part.positives >= 1


def test_identical_images_fall_on_the_same_side():
    x = random_images(12, seed=4)
    x[5] = x[1]
    x[7] = x[1]  # three copies of one non-cat
    y = [0] * 8 + [1] * 4
    for fraction in np.linspace(0.05, 0.95, 19):
        train_part, held = training.validation_split(dataset(x, y), fraction)
        copies = [s for s in held.sources if s in ("made[1]", "made[5]", "made[7]")]
        assert len(copies) in (0, 3), fraction
    folds = selection.fold_assignment(dataset(x, y), 3)
    assert folds[1] == folds[5] == folds[7]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, math.nan])
def test_a_fraction_outside_0_to_1_is_a_value_error(course_set, fraction):
    with pytest.raises(
        ParameterError, match="^validation_fraction is .*, expected a number between 0 and 1"
    ):
        training.validation_split(course_set, fraction)


def test_nothing_to_hold_out_is_a_data_error():
    with pytest.raises(DataError, match="made: too few examples to hold out"):
        training.validation_split(dataset(random_images(2), [0, 1]), 0.5)


# Folds


def test_folds_of_the_course_set_are_dealt_in_hash_order(course_set, course_arrays):
    x, y = course_arrays
    assignment = selection.fold_assignment(course_set, 5)
    found = [np.flatnonzero(assignment == k).tolist() for k in range(5)]
    assert found == hand_folds(x, y, 5)
    # A partition, balanced to one example in each class and overall.
    assert sorted(sum(found, [])) == list(range(TRAIN_EXAMPLES))
    sizes = [len(f) for f in found]
    cats = [int(y[f].sum()) for f in found]
    non_cats = [s - c for s, c in zip(sizes, cats, strict=True)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 209
    assert max(cats) - min(cats) <= 1 and sum(cats) == TRAIN_CATS
    assert max(non_cats) - min(non_cats) <= 1


@pytest.mark.parametrize("k", [2, 3, 10])
def test_folds_are_balanced_for_any_count(course_set, course_arrays, k):
    x, y = course_arrays
    assignment = selection.fold_assignment(course_set, k)
    assert [np.flatnonzero(assignment == j).tolist() for j in range(k)] == hand_folds(x, y, k)
    for label in (0, 1):
        counts = np.bincount(assignment[y == label], minlength=k)
        assert counts.max() - counts.min() <= 1


FOLDS_IN_A_FRESH_PROCESS = """
import catclf
from catclf import selection
print(selection.fold_assignment(catclf.load_data()[0], 5).tolist())
"""


def test_folds_are_the_same_in_another_process(course_set):
    # Nothing depends on Python's per-process string hashing or on a random seed.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", FOLDS_IN_A_FRESH_PROCESS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == selection.fold_assignment(course_set, 5).tolist()


@pytest.mark.parametrize("folds", [1, 0, 2.5])
def test_fewer_than_two_folds_is_a_value_error(course_set, folds):
    with pytest.raises(ParameterError, match="folds"):
        selection.fold_assignment(course_set, folds)


def test_a_class_of_one_image_cannot_be_cross_validated():
    with pytest.raises(DataError, match="'cat' has a single image"):
        selection.fold_assignment(dataset(random_images(4), [0, 0, 0, 1]), 2)
    x = random_images(4)
    x[3] = x[2]
    with pytest.raises(DataError, match="'cat' has 2 copies of one image"):
        selection.fold_assignment(dataset(x, [0, 0, 1, 1]), 2)


def test_more_folds_than_images_is_a_data_error():
    with pytest.raises(DataError, match="made: 5 different images cannot fill 6 folds"):
        selection.fold_assignment(dataset(random_images(5), [0, 0, 1, 1, 0]), 6)


# Cross-validation of the course's method on its training set


@pytest.fixture(scope="module")
def course_cv(course_set):
    watched = Watched()
    cv = catclf.cross_validate(course_set, progress=watched)
    return cv, watched


def test_cross_validation_of_the_course_method(course_cv, course_arrays):
    cv, watched = course_cv
    x, y = course_arrays
    assert [f.validation_indices.tolist() for f in cv.folds] == hand_folds(x, y, 5)
    # Every iteration of every fold, a task each.
    assert watched.tasks == [[f"fold {k} of 5", 2000, ""] for k in range(1, 6)]
    assert [watched.done(f"fold {k} of 5") for k in range(1, 6)] == [2000] * 5
    assert cv.settings == Settings(0.005, 2000, 0.0)
    for fold in cv.folds:
        held = fold.validation_indices.size
        assert (fold.train_examples, fold.validation_examples) == (209 - held, held)
    accuracies = [f.validation_accuracy for f in cv.folds]
    assert cv.mean_validation_accuracy == pytest.approx(statistics.mean(accuracies), abs=1e-15)
    assert cv.std_validation_accuracy == pytest.approx(statistics.stdev(accuracies), abs=1e-15)
    assert cv.baseline_accuracy == 137 / 209  # always answering non-cat
    # The honest figure: the course's method fits the training folds (about 100 %) and
    # scores about 56 % on the held-out fold, below the 65.6 % of always answering non-cat.
    assert cv.mean_train_accuracy > 0.99
    assert 0.5 < cv.mean_validation_accuracy < cv.baseline_accuracy


def test_each_fold_is_reproduced_by_training_on_its_complement(course_cv, course_arrays):
    cv, _ = course_cv
    x, y = course_arrays
    for fold in cv.folds:
        held = fold.validation_indices
        rest = np.setdiff1d(np.arange(len(y)), held)
        model = catclf.train(dataset(x[rest], y[rest], "rest"), learning_rate=0.005)
        # The held-out examples scored by hand: sigmoid(w^T x / 255 + b), cat above 1/2.
        z = (x[held].reshape(len(held), -1) / 255) @ model.w[:, 0] + model.b
        right = int(np.sum((1 / (1 + np.exp(-z)) > 0.5) == (y[held] == 1)))
        assert fold.validation_accuracy == right / len(held)
        cost = np.mean(np.where(y[held] == 1, np.logaddexp(0, -z), np.logaddexp(0, z)))
        assert fold.validation_cost == pytest.approx(cost, abs=1e-12)
        assert fold.train_accuracy == model.train_accuracy


def test_cross_validation_as_dict_is_json_ready(course_cv):
    cv, _ = course_cv
    d = cv.as_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert (d["learning_rate"], d["num_iterations"], d["l2"]) == (0.005, 2000, 0.0)
    assert (d["examples"], d["baseline_accuracy"]) == (209, 137 / 209)
    assert d["mean_validation_accuracy"] == cv.mean_validation_accuracy
    assert d["std_validation_accuracy"] == cv.std_validation_accuracy
    assert sorted(sum((f["validation_indices"] for f in d["folds"]), [])) == list(range(209))
    assert set(d["folds"][0]) >= {
        "validation_indices",
        "train_accuracy",
        "validation_accuracy",
        "validation_cost",
    }


def test_cross_validation_passes_the_penalty_on(course_set):
    cv = catclf.cross_validate(course_set, 2, num_iterations=300, l2=5.0)
    assert len(cv.folds) == 2
    assert all(f.model.settings.l2 == 5.0 for f in cv.folds)
    assert cv.as_dict()["l2"] == 5.0


def test_a_diverging_fold_is_named(course_set):
    with pytest.raises(TrainingDiverged, match=r"^fold 1 of 2: training diverged"):
        catclf.cross_validate(course_set, 2, learning_rate=1e300, num_iterations=200)


# Sweeps judged on held-out examples, never on the test set


def test_a_sweep_runs_the_grid_of_rates_and_penalties():
    train_set, test_set = datasets.bundled()
    watched = Watched()
    runs = selection.sweep(
        train_set,
        test_set,
        [0.01, 0.005],
        l2_values=[0.0, 5.0],
        num_iterations=300,
        progress=watched,
    )
    assert [(r.learning_rate, r.l2) for r in runs] == [
        (0.01, 0.0),
        (0.01, 5.0),
        (0.005, 0.0),
        (0.005, 5.0),
    ]
    assert watched.tasks == [
        [f"rate {r}, l2 {p}", 300, ""] for r in ("0.01", "0.005") for p in ("0", "5")
    ]
    assert [r.model.settings.l2 for r in runs] == [0.0, 5.0, 0.0, 5.0]
    # Nothing held out: nothing to judge the runs by, and the test set must not be used.
    assert [(r.best, r.selected_by) for r in runs] == [(False, None)] * 4
    assert runs[1].as_dict(train_set, test_set)["l2"] == 5.0


def best_by_hand(runs):
    """The highest validation accuracy, then the lowest validation cost, then the first."""
    finished = [r for r in runs if r.model is not None]
    top = max(r.validation_accuracy for r in finished)
    tied = [r for r in finished if r.validation_accuracy == top]
    low = min(r.validation_cost for r in tied)
    return next(r for r in tied if r.validation_cost == low)


def test_a_sweep_with_a_validation_part_picks_the_best_held_out_accuracy():
    train_set, test_set = datasets.bundled()
    _, held = training.validation_split(train_set, 0.25)
    grid = dict(l2_values=[0.0, 5.0], num_iterations=400, validation_fraction=0.25)
    runs = selection.sweep(train_set, test_set, [0.01, 0.005, 1e300], **grid)
    assert [r.model is None for r in runs] == [False, False, False, False, True, True]
    assert all(r.selected_by == "validation" for r in runs)
    assert [r.best for r in runs].count(True) == 1
    assert next(r for r in runs if r.best) is best_by_hand(runs)
    for run in runs[:4]:
        assert run.validation_accuracy == metrics.accuracy(
            predict(run.model.w, run.model.b, held.X), held.Y
        )
        assert run.model.validation_examples == held.m
    diverged = runs[4].as_dict(train_set, test_set)
    assert (diverged["train_examples"], diverged["validation_examples"]) == (
        209 - held.m,
        held.m,
    )
    assert diverged["best"] is False and diverged["selected_by"] == "validation"
    # The test set takes no part in the choice: without it, the same run is best.
    alone = selection.sweep(train_set, None, [0.01, 0.005, 1e300], **grid)
    assert [r.best for r in alone] == [r.best for r in runs]


def test_a_tie_goes_to_the_first_run():
    train_set, _ = datasets.bundled()
    runs = selection.sweep(
        train_set, None, [0.005, 0.005], num_iterations=200, validation_fraction=0.2
    )
    assert runs[0].validation_accuracy == runs[1].validation_accuracy
    assert runs[0].validation_cost == runs[1].validation_cost
    assert [r.best for r in runs] == [True, False]


def test_a_sweep_by_cross_validation():
    train_set, test_set = datasets.bundled()
    runs = selection.sweep(train_set, test_set, [0.01, 0.001], num_iterations=300, folds=3)
    assert all(r.selected_by == "cross-validation" for r in runs)
    for run in runs:
        direct = catclf.cross_validate(
            train_set, 3, learning_rate=run.learning_rate, num_iterations=300
        )
        assert run.cross_validation.as_dict() == direct.as_dict()
        assert run.validation_accuracy == direct.mean_validation_accuracy
        assert run.validation_cost == direct.mean_validation_cost
        # Its model is trained on all the training data.
        assert (run.model.train_examples, run.model.validation_examples) == (209, 0)
        d = run.as_dict(train_set, test_set)
        assert d["validation_accuracy"] == direct.mean_validation_accuracy
        assert d["validation_examples"] == 209 and d["validation_accuracy_ci"] is None
        assert d["cross_validation"]["folds"] == direct.as_dict()["folds"]
    assert next(r for r in runs if r.best) is best_by_hand(runs)


def test_a_sweep_holds_out_one_way_only():
    train_set, _ = datasets.bundled()
    with pytest.raises(ValueError, match="^give validation_fraction or folds, not both$"):
        selection.sweep(train_set, None, [0.005], validation_fraction=0.2, folds=5)
    with pytest.raises(ParameterError, match="^l2_values is -1.0, expected a number >= 0$"):
        selection.sweep(train_set, None, [0.005], l2_values=[-1.0])
