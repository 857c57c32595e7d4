"""Training end to end on the course set, against the figures the course publishes."""

import json
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
from helpers import Watched

from catclf import coursefiles, datasets, metrics, modelfile, training
from catclf import model as model_file
from catclf.dataset import Dataset
from catclf.errors import DataError, ParameterError, TrainingDiverged
from catclf.logistic import cost_from_z, optimize, predict
from catclf.model import Settings

COURSE = dict(learning_rate=LEARNING_RATE, num_iterations=NUM_ITERATIONS)


@pytest.fixture(scope="module")
def course_runs():
    """The course's run with each solver: (model, the (i, cost) pairs the callback saw)."""
    train_set, test_set = datasets.bundled()
    runs = {}
    for solver in ("gram", "primal"):
        watched = Watched()
        trained = training.train(train_set, test_set, **COURSE, solver=solver, progress=watched)
        assert watched.tasks == [["training", NUM_ITERATIONS, ""]]
        runs[solver] = trained, list(enumerate(watched.costs()))
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
    shipped = model_file.load_model(modelfile.BUNDLED_PATH)
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
@pytest.mark.parametrize("learning_rate", [1e300, 1e306])
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
    watched = Watched()
    with pytest.raises(TrainingDiverged, match="cost became nan"):
        training.train(
            data, None, learning_rate=1e306, num_iterations=50, solver=solver, progress=watched
        )
    assert len(watched.costs()) < 50


def test_a_single_class_cannot_be_trained():
    with pytest.raises(DataError, match="holds only yes examples"):  # tiny_set's classes
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
    watched = Watched()
    trained = training.train(
        train_set, None, learning_rate=LEARNING_RATE, num_iterations=200, progress=watched
    )
    seen = watched.costs()
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
    train_set = coursefiles.read_hdf5(train_file, memory_limit=limit)
    test_set = coursefiles.read_hdf5(test_file, memory_limit=limit)
    assert train_set.in_file and not test_set.in_file
    settings = dict(learning_rate=0.002, num_iterations=250)

    watched = Watched()
    streamed = training.train(train_set, test_set, **settings, memory_limit=limit, progress=watched)
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
    assert watched.tasks == [["training", 251 * 13 + 7, "examples"]]
    assert watched.done("training") == 251 * 13 + 7
    assert len(watched.costs()) == 250


def test_training_on_a_prepared_file_is_the_course_code_on_its_images(tmp_path):
    # 150 images, written as `catclf prepare` writes them (chunks of 64, pixels stored as
    # they are), trained on in memory and streamed from the file: both against the course's
    # own code on the images read with h5py (flatten, / 255, the plain loop), every cost.
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 2, 150)
    # Noise, redder for one class and bluer for the other: a signal the descent finds.
    shift = np.where(labels == 1, 30, -30)[:, None, None, None] * np.array([1, 0, -1])
    noise = rng.integers(-100, 101, (150, 64, 64, 3))
    images = np.clip(128 + shift + noise, 0, 255).astype(np.uint8)
    path = tmp_path / "train_set.h5"
    coursefiles.write_hdf5(path, Dataset(images, labels), "train_set", ["x"] * 150, {})
    with h5py.File(path, "r") as f:
        read = f["train_set_x"][()]
        Y = f["train_set_y"][()].reshape(1, -1).astype(float)
    X = read.reshape(150, -1).T / 255
    seen = []
    params, _, _ = optimize(
        np.zeros((12288, 1)), 0.0, X, Y, 101, 0.0001, callback=lambda i, c: seen.append(c)
    )
    w, b = params["w"], params["b"]
    accuracy = metrics.accuracy(predict(w, b, X), Y)
    assert seen[-1] < seen[0] / 1.3  # learning: the comparison means something
    for in_file in (False, True):
        data = coursefiles.read_hdf5(path, in_file=in_file)
        watched = Watched()
        run = training.fit(
            data, learning_rate=0.0001, num_iterations=101, solver="primal", progress=watched
        )
        assert (run.plan.solver, run.plan.streamed) == ("primal", in_file)
        np.testing.assert_allclose(watched.costs(), seen, rtol=1e-9, atol=0)
        np.testing.assert_allclose(run.model.w, w, rtol=1e-9, atol=1e-12)
        assert run.model.b == pytest.approx(b, rel=1e-9)
        assert run.model.final_cost == pytest.approx(cost_from_z(w.T @ X + b, Y), rel=1e-9)
        assert run.model.train_accuracy == accuracy


def test_plan_follows_the_memory_limit(tmp_path):
    data = tiny_set([0, 1] * 10)  # m = 20: X and images 9 * 12288 * 20 = 2,211,840 bytes
    needed = 9 * 12288 * 20
    pixels = 12288 * 20
    assert training.plan(data, 2000) == training.Plan("gram", False, 64, 1024, pixels, None)
    assert training.plan(data, 2000, memory_limit=needed + 8 * 20 * 20).solver == "gram"
    # X fits, X^T X does not: auto falls back to the primal loop, on the images in memory.
    assert training.plan(data, 2000, memory_limit=needed).solver == "primal"
    assert not training.plan(data, 2000, memory_limit=needed).streamed
    with pytest.raises(DataError, match="Gram solver needs"):
        training.plan(data, 2000, solver="gram", memory_limit=needed)
    # The primal loop reads a set left in its file from the file, at every iteration.
    in_file = coursefiles.read_hdf5(course_layout_file(tmp_path / "t.h5", data), in_file=True)
    assert training.plan(in_file, 2000, solver="primal").streamed
    assert not training.plan(in_file, 2000, solver="gram").streamed
    # A block of float64 examples, and a read of images, within 1/8 of the limit each.
    assert training.plan(data, 2000, memory_limit=64 * 12288 * 8).columns == 8


@pytest.mark.parametrize("memory_limit", [None, 12288 * 6])  # blocks of 64, and of 1
def test_primal_training_on_the_pixels_takes_the_course_loops_steps(memory_limit):
    # X is never formed: each iteration makes the uint8 images float64 a block at a time.
    data = tiny_set([0, 1, 1, 0, 1, 0])
    trained = training.fit(
        data,
        data,
        learning_rate=0.003,
        num_iterations=120,
        solver="primal",
        memory_limit=memory_limit,
    )
    assert not trained.plan.streamed
    assert trained.plan.columns == (64 if memory_limit is None else 1)
    # The reference: the course's flatten, / 255 and plain loop.
    X = data.images.reshape(6, -1).T / 255
    Y = data.labels.reshape(1, -1).astype(float)
    params, _, costs = optimize(np.zeros((12288, 1)), 0.0, X, Y, 120, 0.003)
    w, b = params["w"], params["b"]
    model = trained.model
    np.testing.assert_allclose(model.costs, costs, rtol=1e-9, atol=0)
    np.testing.assert_allclose(model.w, w, rtol=1e-9, atol=1e-12)
    assert model.b == pytest.approx(b, rel=1e-9)
    assert model.final_cost == pytest.approx(cost_from_z(w.T @ X + b, Y), rel=1e-9)
    accuracy = metrics.accuracy(predict(w, b, X), Y)
    assert (model.train_accuracy, model.test_accuracy) == (accuracy, accuracy)


# L2 penalty


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_training_with_l2_takes_the_course_loops_steps(solver):
    train_set, _ = datasets.bundled()
    X, Y = train_set.X, train_set.Y
    trained = training.train(
        train_set, None, learning_rate=0.005, num_iterations=150, l2=20.0, solver=solver
    )
    # The reference: the course's plain optimize with the penalty, from w = 0.
    params, _, costs = optimize(np.zeros((12288, 1)), 0.0, X, Y, 150, 0.005, lambd=20.0)
    w, b = params["w"], params["b"]
    np.testing.assert_allclose(trained.costs, costs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trained.w, w, rtol=0, atol=1e-9)
    assert trained.b == pytest.approx(b, abs=1e-9)
    # The final cost is the one the descent minimised: cross-entropy plus the penalty.
    penalty = 20.0 / (2 * 209) * float(np.sum(w * w))
    assert trained.final_cost == pytest.approx(cost_from_z(w.T @ X + b, Y) + penalty, abs=1e-9)
    assert trained.settings == Settings(0.005, 150, 20.0)
    assert trained.as_dict()["l2"] == 20.0


def test_a_penalised_model_is_saved_with_its_penalty(tmp_path):
    trained = training.train(tiny_set([0, 1, 0, 1]), None, num_iterations=50, l2=0.25)
    trained.save(tmp_path / "m.h5")
    assert model_file.load_model(tmp_path / "m.h5").settings.l2 == 0.25


@pytest.mark.parametrize("l2", [-0.1, math.nan, math.inf])
def test_a_penalty_that_is_negative_or_not_finite_is_a_value_error(l2):
    with pytest.raises(ParameterError, match=r"^l2 is .*, expected a number >= 0$"):
        training.train(tiny_set([0, 1, 0, 1]), None, num_iterations=5, l2=l2)


# A validation part held out of the training data


@pytest.fixture(scope="module")
def held_out_model():
    train_set, test_set = datasets.bundled()
    return training.train(train_set, test_set, validation_fraction=0.2)


def test_a_validation_part_is_held_out_of_training(held_out_model):
    train_set, test_set = datasets.bundled()
    train_part, held = training.validation_split(train_set, 0.2)
    assert (held_out_model.train_examples, held_out_model.validation_examples) == (168, 41)
    assert held_out_model.test_examples == 50
    assert held_out_model.train_data == train_set.origin
    # w is what training on the training part alone gives.
    alone = training.train(train_part, None)
    np.testing.assert_allclose(held_out_model.w, alone.w, rtol=0, atol=1e-12)
    assert held_out_model.train_accuracy == alone.train_accuracy
    # The held-out examples and the test set, scored by the course's predict.
    w, b = held_out_model.w, held_out_model.b
    assert held_out_model.validation_accuracy == metrics.accuracy(predict(w, b, held.X), held.Y)
    assert held_out_model.validation_cost == pytest.approx(
        cost_from_z(w.T @ held.X + b, held.Y), abs=1e-12
    )
    assert held_out_model.test_accuracy == metrics.accuracy(predict(w, b, test_set.X), test_set.Y)


def test_the_validation_figures_go_into_the_model_file(held_out_model, tmp_path):
    held_out_model.save(tmp_path / "m.h5")
    loaded = model_file.load_model(tmp_path / "m.h5")
    assert loaded.validation_examples == 41
    assert loaded.validation_accuracy == held_out_model.validation_accuracy
    assert loaded.validation_cost == held_out_model.validation_cost


def test_a_validation_set_can_be_given_instead_of_a_fraction():
    data, other = tiny_set([0, 1, 1, 0, 1, 0], seed=1), tiny_set([1, 0, 0], seed=2)
    trained = training.train(data, None, num_iterations=40, validation_set=other)
    assert (trained.train_examples, trained.validation_examples) == (6, 3)
    assert trained.validation_accuracy == metrics.accuracy(
        predict(trained.w, trained.b, other.X), other.Y
    )
    with pytest.raises(ValueError, match="^give validation_fraction or validation_set, not both$"):
        training.train(data, None, validation_fraction=0.3, validation_set=other)


def test_a_validation_part_of_a_set_in_its_file_gives_the_same_model(tmp_path):
    in_memory = tiny_set([0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0], seed=4)
    path = course_layout_file(tmp_path / "train.h5", in_memory)
    # 200,000 bytes: 3/4 of it does not hold the 13 images (159,744 bytes), which stay in
    # the file, nor does it hold X of the 8 trained on: they are streamed.
    limit = 200_000
    streamed_set = coursefiles.read_hdf5(path, memory_limit=limit)
    assert streamed_set.in_file
    settings = dict(learning_rate=0.002, num_iterations=120, validation_fraction=0.4)
    watched = Watched()
    streamed = training.train(streamed_set, None, **settings, memory_limit=limit, progress=watched)
    reference = training.train(in_memory, None, **settings, solver="primal")
    assert streamed.solver == "primal"
    assert (streamed.train_examples, streamed.validation_examples) == (8, 5)
    np.testing.assert_allclose(streamed.w, reference.w, rtol=0, atol=1e-9)
    assert streamed.validation_accuracy == reference.validation_accuracy
    assert streamed.validation_cost == pytest.approx(reference.validation_cost, abs=1e-12)
    # 120 iterations and the final pass over the 8, then the 5 held out.
    assert watched.done("training") == watched.tasks[0][1] == 121 * 8 + 5


# What a run's summary says


def test_run_summary_gives_the_test_accuracy_its_interval_and_baseline(course_model):
    train_set, test_set = datasets.bundled()
    summary = training.run_summary(train_set, test_set, 0.005, 2000, course_model)
    assert summary["test_accuracy_ci"] == list(metrics.wilson_interval(35, 50))
    assert summary["test_accuracy_ci"] == [
        pytest.approx(0.5625, abs=5e-5),
        pytest.approx(0.809, abs=5e-4),
    ]
    assert summary["test_baseline_accuracy"] == 0.66
    assert summary["l2"] == 0.0
    assert (summary["validation_examples"], summary["validation_accuracy"]) == (0, None)
    assert summary["validation_accuracy_ci"] is None and summary["validation_cost"] is None
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_run_summary_of_a_held_out_part(held_out_model):
    train_set, test_set = datasets.bundled()
    summary = training.run_summary(train_set, test_set, 0.005, 2000, held_out_model)
    assert (summary["train_examples"], summary["validation_examples"]) == (168, 41)
    correct = round(held_out_model.validation_accuracy * 41)
    assert summary["validation_accuracy_ci"] == list(metrics.wilson_interval(correct, 41))
    assert summary["validation_cost"] == held_out_model.validation_cost


def test_run_summary_of_a_diverged_run_says_what_the_run_was():
    train_set, _ = datasets.bundled()
    summary = training.run_summary(train_set, None, 10.0, 200, None, l2=0.5, validation_examples=41)
    assert (summary["train_examples"], summary["validation_examples"]) == (168, 41)
    assert summary["l2"] == 0.5
    assert summary["test_accuracy_ci"] is summary["test_baseline_accuracy"] is None
    assert summary["validation_accuracy"] is summary["validation_accuracy_ci"] is None


@pytest.mark.parametrize(
    ("learning_rate", "num_iterations", "advice"),
    [
        (0.005, 10, "more iterations may bring it down"),  # the course's rate, a short run
        (10.0, 500, "a smaller learning rate may be needed"),  # far above where it began
    ],
)
def test_a_cost_that_ends_above_where_it_began_is_a_warning_not_divergence(
    learning_rate, num_iterations, advice
):
    train_set, _ = datasets.bundled()
    trained = training.train(
        train_set, None, learning_rate=learning_rate, num_iterations=num_iterations
    )
    assert trained.final_cost > math.log(2)  # above the cost at w = 0, b = 0
    [said] = training.cost_warnings(trained)
    assert said.endswith(advice) and f"learning rate {learning_rate:g}" in said
    summary = training.run_summary(train_set, None, learning_rate, num_iterations, trained)
    assert summary["warnings"] == [said]


def test_a_run_that_ends_below_where_it_began_has_no_warning(course_model):
    assert training.cost_warnings(course_model) == []
