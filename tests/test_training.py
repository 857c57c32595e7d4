"""Training end to end on the course set, against the figures the course publishes."""

import math

import numpy as np
import pytest

from catclf import datasets, metrics, training
from catclf import model as model_file
from catclf.datasets import Dataset
from catclf.errors import DataError, TrainingDiverged
from catclf.logistic import predict
from catclf.model import Settings

COURSE = Settings(learning_rate=0.005, num_iterations=2000)


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
            COURSE,
            solver=solver,
            on_iteration=lambda i, cost, seen=seen: seen.append((i, cost)),
        )
        runs[solver] = trained, seen
    return runs


@pytest.fixture(scope="module")
def course_model():
    train_set, test_set = datasets.bundled()
    return training.train(train_set, test_set, COURSE)


def test_the_course_set_is_trained_with_the_gram_solver(course_model):
    assert course_model.solver == "gram"


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_each_solver_reproduces_the_published_course_figures(course_runs, solver):
    assert_published_figures(course_runs[solver][0])


def test_the_solvers_agree_on_the_course_set(course_runs):
    (gram, gram_seen), (primal, primal_seen) = course_runs["gram"], course_runs["primal"]
    assert (gram.solver, primal.solver) == ("gram", "primal")
    np.testing.assert_allclose(gram.costs, primal.costs, rtol=0, atol=1e-9)
    assert [i for i, _ in gram_seen] == [i for i, _ in primal_seen] == list(range(2000))
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
    assert len(costs) == 20
    assert costs[0] == pytest.approx(0.693147, abs=5e-7)
    assert costs[1] == pytest.approx(0.584508, abs=5e-7)
    assert costs[10] == pytest.approx(0.214820, abs=5e-7)
    assert costs[19] == pytest.approx(0.140872, abs=5e-7)
    assert course_model.train_accuracy == pytest.approx(207 / 209)
    assert course_model.test_accuracy == pytest.approx(35 / 50)
    assert (course_model.train_examples, course_model.test_examples) == (209, 50)
    assert course_model.final_cost < costs[19]


def test_shipped_model_is_the_one_the_course_settings_train(course_model):
    shipped = model_file.load(model_file.BUNDLED_PATH)
    np.testing.assert_allclose(shipped.w, course_model.w, rtol=0, atol=1e-9)
    assert shipped.b == pytest.approx(course_model.b, abs=1e-9)
    assert shipped.settings == Settings(0.005, 2000)
    assert shipped.train_accuracy == pytest.approx(207 / 209)
    assert shipped.test_accuracy == pytest.approx(35 / 50)


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
            Settings(learning_rate=learning_rate, num_iterations=200),
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
            Settings(learning_rate=1e306, num_iterations=50),
            solver=solver,
            on_iteration=lambda i, cost: seen.append(i),
        )
    assert len(seen) < 50


def test_a_single_class_cannot_be_trained():
    with pytest.raises(DataError, match="only cat"):
        training.train(tiny_set([1, 1, 1]), None, Settings(num_iterations=5))


def test_without_test_set_test_accuracy_is_none():
    trained = training.train(tiny_set([0, 1, 0, 1]), None, Settings(num_iterations=50))
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
        Settings(learning_rate=0.005, num_iterations=200),
        on_iteration=lambda i, cost: seen.append(cost),
    )
    assert max(seen[:10]) > math.log(2)
    assert trained.final_cost < math.log(2)
