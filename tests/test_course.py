"""The course notebook's whole flow, with only `load_dataset` and `catclf.logistic`, against
the published figures (tests/course.py)."""

import numpy as np
import pytest
from course import (
    COSTS,
    LEARNING_RATE,
    NUM_ITERATIONS,
    TEST_ACCURACY_LINE,
    TEST_CATS,
    TEST_EXAMPLES,
    TRAIN_ACCURACY_LINE,
    TRAIN_CATS,
    TRAIN_EXAMPLES,
)

from catclf.datasets import load_dataset
from catclf.logistic import model


def test_load_dataset_gives_the_notebooks_arrays():
    train_x, train_y, test_x, test_y, classes = load_dataset()
    assert train_x.shape == (TRAIN_EXAMPLES, 64, 64, 3) and train_x.dtype == np.uint8
    assert test_x.shape == (TEST_EXAMPLES, 64, 64, 3) and test_x.dtype == np.uint8
    assert train_y.shape == (1, TRAIN_EXAMPLES) and test_y.shape == (1, TEST_EXAMPLES)
    assert int(train_y.sum()) == TRAIN_CATS and int(test_y.sum()) == TEST_CATS
    assert classes.tolist() == [b"non-cat", b"cat"]
    assert classes[int(train_y[0, 25])].decode() == "cat"  # the notebook's index = 25 picture


def test_the_notebook_flow_reproduces_the_published_figures(capsys):
    train_x, train_y, test_x, test_y, _ = load_dataset()
    # The notebook: flatten each image into a column, then divide by 255.
    train_set_x = train_x.reshape(train_x.shape[0], -1).T / 255.0
    test_set_x = test_x.reshape(test_x.shape[0], -1).T / 255.0
    assert train_set_x.shape == (12288, TRAIN_EXAMPLES)

    d = model(
        train_set_x,
        train_y,
        test_set_x,
        test_y,
        num_iterations=NUM_ITERATIONS,
        learning_rate=LEARNING_RATE,
        print_cost=True,
    )

    lines = capsys.readouterr().out.splitlines()
    expected = [f"Cost after iteration {100 * i}: {cost:f}" for i, cost in enumerate(COSTS)]
    assert lines == [*expected, TRAIN_ACCURACY_LINE, TEST_ACCURACY_LINE]
    assert d["costs"] == pytest.approx(COSTS, abs=5e-7)
    assert d["Y_prediction_train"].shape == (1, TRAIN_EXAMPLES)
    assert d["Y_prediction_test"].shape == (1, TEST_EXAMPLES)
    assert d["w"].shape == (12288, 1) and isinstance(d["b"], float)
    assert (d["learning_rate"], d["num_iterations"]) == (LEARNING_RATE, NUM_ITERATIONS)


def test_model_is_silent_without_print_cost_and_takes_the_courses_defaults(capsys):
    # Two tiny separable sets: at the course's default rate 0.5 and 2000 iterations the
    # model classifies both perfectly.
    X = np.array([[0.0, 0.1, 0.9, 1.0], [1.0, 0.8, 0.2, 0.0]])
    Y = np.array([[0, 0, 1, 1]])
    d = model(X, Y, X, Y)
    assert capsys.readouterr().out == ""
    assert (d["learning_rate"], d["num_iterations"]) == (0.5, 2000)
    assert len(d["costs"]) == 20
    np.testing.assert_array_equal(d["Y_prediction_train"], Y)
