"""The library's own errors: a setting outside what catclf allows, or a data set that cannot be
one, is a CatclfError naming the value and what is allowed, raised before any work, from
whichever function is given it; no function returns a model that load_model would refuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import BUNDLED_MODEL

import catclf
from catclf import parameters
from catclf.errors import CatclfError, DataError, ParameterError
from catclf.model import Settings


@pytest.fixture(scope="module")
def sets():
    return catclf.load_data()


def small_set(labels=(0, 1, 0, 1), side=64, dtype=np.uint8):
    m = len(labels)
    images = np.random.default_rng(0).integers(0, 256, (m, side, side, 3)).astype(dtype)
    return catclf.Dataset(images, np.array(labels), [f"i{k}" for k in range(m)], ("no", "yes"), "s")


BAD_TRAINING = [
    ({"learning_rate": 0}, "learning_rate is 0, expected a number above 0"),
    ({"learning_rate": -1}, "learning_rate is -1, expected a number above 0"),
    ({"learning_rate": math.nan}, "learning_rate is nan, expected a number above 0"),
    ({"learning_rate": math.inf}, "learning_rate is inf, expected a number above 0"),
    ({"learning_rate": "0.1"}, "learning_rate is '0.1', expected a number"),
    ({"num_iterations": 0}, "num_iterations is 0, expected a whole number >= 1"),
    ({"num_iterations": 1.5}, "num_iterations is 1.5, expected a whole number >= 1"),
    ({"num_iterations": True}, "num_iterations is True, expected a whole number >= 1"),
    ({"l2": -1}, "l2 is -1, expected a number >= 0"),
    ({"l2": math.inf}, "l2 is inf, expected a number >= 0"),
    (
        {"validation_fraction": 1.5},
        "validation_fraction is 1.5, expected a number between 0 and 1 (both excluded)",
    ),
    ({"solver": "fast"}, "solver is 'fast', expected auto, gram, primal"),
    ({"memory_limit": 0}, "memory_limit is 0, expected a whole number >= 1"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_TRAINING)
def test_train_refuses_a_bad_setting_before_any_work(sets, settings, message):
    train_set, test_set = sets
    with pytest.raises(ParameterError) as raised:
        catclf.train(train_set, test_set, **settings)
    assert str(raised.value) == message
    assert raised.value.parameter == next(iter(settings))
    # As any Python code expects of a bad value, and as catclf promises of every failure.
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, CatclfError)


@pytest.mark.parametrize(("settings", "message"), BAD_TRAINING[:9])
def test_cross_validation_and_sweep_refuse_the_same_settings(sets, settings, message):
    train_set, _ = sets
    with pytest.raises(ParameterError, match=f"^{message.split(' is ')[0]}"):
        catclf.cross_validate(train_set, **settings)
    rates = [settings.pop("learning_rate")] if "learning_rate" in settings else [0.01]
    l2_values = [settings.pop("l2")] if "l2" in settings else [0.0]
    with pytest.raises(ParameterError):
        catclf.sweep(train_set, None, rates, l2_values=l2_values, **settings)


def test_other_settings_are_checked_where_they_are_given(sets, tmp_path):
    train_set, test_set = sets
    model = catclf.load_model(BUNDLED_MODEL)
    with pytest.raises(ParameterError, match=r"^threshold is 2, expected a number from 0 to 1$"):
        catclf.evaluate(model, test_set, threshold=2)
    with pytest.raises(ParameterError, match=r"^threshold is nan"):
        model.predict([], threshold=math.nan)
    with pytest.raises(ParameterError, match=r"^folds is 1, expected a whole number >= 2$"):
        catclf.cross_validate(train_set, folds=1)
    with pytest.raises(ParameterError, match=r"^jobs is 0, expected a whole number >= 1$"):
        model.predict_proba([], jobs=0)
    with pytest.raises(
        ParameterError, match=r"^learning_rates is \[\], expected at least one value$"
    ):
        catclf.sweep(train_set, None, [])
    with pytest.raises(ParameterError, match=r"^folds is 1"):
        catclf.sweep(train_set, None, [0.01], folds=1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: small_set(labels=(5, 7, 5, 7)),
            r"s: labels must be 0 \(the first class\) or 1 \(the second\): 5, 7$",
        ),
        (lambda: small_set(labels=(0, 1, math.nan, 1)), "s: labels must be 0"),
        (lambda: small_set(side=8), r"s: images are uint8 \(4, 8, 8, 3\), expected uint8"),
        (lambda: small_set(dtype=np.float64), r"s: images are float64 \(4, 64, 64, 3\)"),
        (lambda: small_set(labels=()), "s: holds no images"),
    ],
)
def test_a_data_set_that_cannot_be_one_is_refused_when_it_is_made(make, message):
    with pytest.raises(DataError, match=f"^{message}"):
        make()


def test_labels_and_classes_must_match_the_images():
    images = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(DataError, match=r"^x: labels are int64 \(2,\), expected 3 labels"):
        catclf.Dataset(images, np.array([0, 1]), ["a", "b", "c"], ("n", "p"), "x")
    with pytest.raises(DataError, match="^x: 2 sources for 3 images"):
        catclf.Dataset(images, np.array([0, 1, 1]), ["a", "b"], ("n", "p"), "x")
    with pytest.raises(DataError, match="^x: both classes are named 'n'"):
        catclf.Dataset(images, np.array([0, 1, 1]), ["a", "b", "c"], ("n", "n"), "x")
    # The course's (1, m) labels, and floats that are exactly 0 and 1, are labels.
    data = catclf.Dataset(images, np.array([[0.0, 1.0, 1.0]]), ["a", "b", "c"], ("n", "p"), "x")
    assert data.labels.tolist() == [0, 1, 1] and data.labels.dtype == np.int64


def test_settings_that_no_training_could_use_are_never_made():
    with pytest.raises(ParameterError, match="^learning_rate is -0.5"):
        Settings(learning_rate=-0.5)
    with pytest.raises(ParameterError, match="^num_iterations is 0"):
        Settings(num_iterations=0)


def test_every_model_train_returns_can_be_saved_and_loaded(tmp_path):
    # The smallest settings the rules allow.
    data = small_set()
    trained = catclf.train(data, learning_rate=1e-300, num_iterations=1)
    trained.save(tmp_path / "m.h5")
    again = catclf.load_model(tmp_path / "m.h5")
    assert again.settings == trained.settings


@pytest.mark.parametrize("value", [1, 1.0, np.int64(3), np.float32(2.0)])
def test_whole_numbers_may_come_in_any_numeric_type(value):
    assert parameters.jobs(value) == int(value)
    assert type(parameters.jobs(value)) is int
