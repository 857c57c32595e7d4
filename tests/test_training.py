"""Training end to end on the course set, against the figures the course publishes."""

import math

import h5py
import numpy as np
import pytest
from course import (
    COSTS,
    LEARNING_RATE,
    NUM_ITERATIONS,
    TEST_CORRECT,
    TEST_EXAMPLES,
    TRAIN_CORRECT,
    TRAIN_EXAMPLES,
)

from catclf import datasets, metrics, training
from catclf import model as model_file
from catclf.datasets import Dataset
from catclf.errors import DataError, TrainingDiverged
from catclf.logistic import cost_from_z, optimize, predict
from catclf.model import Settings

COURSE = dict(learning_rate=LEARNING_RATE, num_iterations=NUM_ITERATIONS)


@pytest.fixture(scope="module")
def course_runs():
    """The course's run with each solver: (model, the (i, cost) pairs the callback saw)."""
    train_set, test_set = datasets.bundled()
    runs = {}
    for solver in ("gram", "primal"):
        seen = []
        trained = training.train(
            train_set,
            test_set,
            **COURSE,
            solver=solver,
            on_iteration=lambda i, cost, seen=seen: seen.append((i, cost)),
        )
        runs[solver] = trained, seen
    return runs


@pytest.fixture(scope="module")
def course_model():
    train_set, test_set = datasets.bundled()
    return training.train(train_set, test_set, **COURSE)


def test_the_course_set_is_trained_with_the_gram_solver(course_model):
    assert course_model.solver == "gram"


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_each_solver_reproduces_the_published_course_figures(course_runs, solver):
    assert_published_figures(course_runs[solver][0])


def test_the_solvers_agree_on_the_course_set(course_runs):
    (gram, gram_seen), (primal, primal_seen) = course_runs["gram"], course_runs["primal"]
    assert (gram.solver, primal.solver) == ("gram", "primal")
    np.testing.assert_allclose(gram.costs, primal.costs, rtol=0, atol=1e-9)
    assert [i for i, _ in gram_seen] == [i for i, _ in primal_seen] == list(range(NUM_ITERATIONS))
    np.testing.assert_allclose(
        [c for _, c in gram_seen], [c for _, c in primal_seen], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(gram.w, primal.w, rtol=0, atol=1e-9)
    assert gram.b == pytest.approx(primal.b, abs=1e-9)
    assert gram.final_cost == pytest.approx(primal.final_cost, abs=1e-9)
    train_set, test_set = datasets.bundled()
    for data in (train_set, test_set):
        np.testing.assert_array_equal(
            predict(gram.w, gram.b, data.X), predict(primal.w, primal.b, data.X)
        )


def test_reproduces_the_published_course_figures(course_model):
    assert_published_figures(course_model)


def assert_published_figures(course_model):
    # catclf/data/README.md: costs after 0, 100, 1000 and 1900 iterations; 207/209 and 35/50.
    costs = course_model.costs
    assert len(costs) == len(COSTS)
    for i in (0, 1, 10, 19):
        assert costs[i] == pytest.approx(COSTS[i], abs=5e-7), i
    assert course_model.train_accuracy == pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES)
    assert course_model.test_accuracy == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)
    assert (course_model.train_examples, course_model.test_examples) == (
        TRAIN_EXAMPLES,
        TEST_EXAMPLES,
    )
    assert course_model.final_cost < costs[19]


def test_shipped_model_is_the_one_the_course_settings_train(course_model):
    shipped = model_file.load(model_file.BUNDLED_PATH)
    np.testing.assert_allclose(shipped.w, course_model.w, rtol=0, atol=1e-9)
    assert shipped.b == pytest.approx(course_model.b, abs=1e-9)
    assert shipped.settings == Settings(LEARNING_RATE, NUM_ITERATIONS)
    assert shipped.train_accuracy == pytest.approx(TRAIN_CORRECT / TRAIN_EXAMPLES)
    assert shipped.test_accuracy == pytest.approx(TEST_CORRECT / TEST_EXAMPLES)


def tiny_set(labels, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    images = rng.integers(0, 256, size=(labels.size, 64, 64, 3), dtype=np.uint8)
    return Dataset(images, labels, [f"x{i}" for i in range(labels.size)], ("no", "yes"), "tiny")


@pytest.mark.parametrize("solver", ["gram", "primal"])
@pytest.mark.parametrize("learning_rate", [10.0, 1e6])
def test_divergence_is_reported_not_saved(learning_rate, solver):
    train_set, _ = datasets.bundled()
    with pytest.raises(TrainingDiverged, match="learning rate"):
        training.train(
            train_set,
            None,
            learning_rate=learning_rate,
            num_iterations=200,
            solver=solver,
        )


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_a_cost_that_turns_nan_stops_training_at_once(solver):
    # The same image labelled both ways cannot be separated: at this rate w overflows.
    data = tiny_set([0, 1, 1])
    data.images[1] = data.images[0]
    seen = []
    with pytest.raises(TrainingDiverged, match="cost became nan"):
        training.train(
            data,
            None,
            learning_rate=1e306,
            num_iterations=50,
            solver=solver,
            on_iteration=lambda i, cost: seen.append(i),
        )
    assert len(seen) < 50


def test_a_single_class_cannot_be_trained():
    with pytest.raises(DataError, match="only cat"):
        training.train(tiny_set([1, 1, 1]), None, num_iterations=5)


def test_without_test_set_test_accuracy_is_none():
    trained = training.train(tiny_set([0, 1, 0, 1]), None, num_iterations=50)
    assert trained.test_accuracy is None and trained.test_examples == 0
    assert math.isfinite(trained.final_cost)


def test_accuracy_by_hand():
    predicted = np.array([[1.0, 0.0, 1.0, 1.0]])
    truth = np.array([[1.0, 1.0, 1.0, 0.0]])
    assert metrics.accuracy(predicted, truth) == 0.5


def test_an_early_rise_in_the_cost_is_not_divergence():
    # On the course set the cost zigzags above ln 2 in the first iterations at 0.005;
    # only the end of the run is judged.
    train_set, _ = datasets.bundled()
    seen = []
    trained = training.train(
        train_set,
        None,
        learning_rate=LEARNING_RATE,
        num_iterations=200,
        on_iteration=lambda i, cost: seen.append(cost),
    )
    assert max(seen[:10]) > math.log(2)
    assert trained.final_cost < math.log(2)


# Data larger than the memory limit: the same training, a block of examples at a time.


def course_layout_file(path, data):
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=data.images, chunks=(4, 64, 64, 3), compression="gzip")
        f.create_dataset("train_set_y", data=data.labels)
    return path


def test_streamed_training_equals_training_in_memory(tmp_path):
    train_in_memory = tiny_set([0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0], seed=4)
    test_in_memory = tiny_set([1, 0, 1, 1, 0, 0, 1], seed=5)
    # 200,000 bytes: 3/4 of it holds the 7 test images (86,016 bytes), not the 13 training
    # images (159,744), and X (8 bytes a value) fits for neither.
    limit = 200_000
    train_file = course_layout_file(tmp_path / "train.h5", train_in_memory)
    test_file = course_layout_file(tmp_path / "test.h5", test_in_memory)
    train_set = datasets.read_hdf5(train_file, memory_limit=limit)
    test_set = datasets.read_hdf5(test_file, memory_limit=limit)
    assert train_set.in_file and not test_set.in_file
    settings = dict(learning_rate=0.002, num_iterations=250)

    counted = []
    streamed = training.train(
        train_set, test_set, **settings, memory_limit=limit, on_examples=counted.append
    )
    # The reference: the course's optimize on X formed in memory, accuracies by predict.
    X, Y = train_in_memory.X, train_in_memory.Y
    params, _, costs = optimize(np.zeros((12288, 1)), 0.0, X, Y, 250, 0.002)
    w, b = params["w"], params["b"]
    np.testing.assert_allclose(streamed.costs, costs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(streamed.w, w, rtol=0, atol=1e-9)
    assert streamed.b == pytest.approx(b, abs=1e-9)
    assert streamed.final_cost == pytest.approx(cost_from_z(w.T @ X + b, Y), abs=1e-9)
    assert streamed.train_accuracy == metrics.accuracy(predict(w, b, X), Y)
    assert streamed.test_accuracy == metrics.accuracy(
        predict(w, b, test_in_memory.X), test_in_memory.Y
    )
    assert streamed.solver == "primal"
    # Every example of every pass: 250 iterations and the final one over 13, then the 7.
    assert sum(counted) == 251 * 13 + 7


def test_plan_follows_the_memory_limit():
    data = tiny_set([0, 1] * 10)  # m = 20: X and images 9 * 12288 * 20 = 2,211,840 bytes
    needed = 9 * 12288 * 20
    assert training.plan(data, 2000) == training.Plan("gram", False, 64, 1024)
    assert training.plan(data, 2000, memory_limit=needed + 8 * 20 * 20).solver == "gram"
    # X fits, X^T X does not: auto falls back to the primal loop, in memory.
    assert training.plan(data, 2000, memory_limit=needed).solver == "primal"
    assert not training.plan(data, 2000, memory_limit=needed).streamed
    assert training.plan(data, 2000, memory_limit=needed - 1).streamed
    with pytest.raises(DataError, match="Gram solver needs"):
        training.plan(data, 2000, solver="gram", memory_limit=needed)


def test_images_held_in_memory_are_streamed_when_x_would_not_fit():
    data = tiny_set([0, 1, 1, 0, 1, 0])
    settings = dict(learning_rate=0.003, num_iterations=120)
    in_memory = training.train(data, data, **settings, solver="primal")
    streamed = training.train(data, data, **settings, memory_limit=9 * 12288 * 6 - 1)
    np.testing.assert_allclose(streamed.costs, in_memory.costs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(streamed.w, in_memory.w, rtol=0, atol=1e-9)
    assert streamed.b == pytest.approx(in_memory.b, abs=1e-9)
    assert (streamed.train_accuracy, streamed.test_accuracy) == (
        in_memory.train_accuracy,
        in_memory.test_accuracy,
    )
