"""The math against the course's published values, finite differences and the lecture's loops."""

import math

import numpy as np
import pytest

from catclf.logistic import (
    choose_solver,
    cost_from_z,
    initialize_with_zeros,
    optimize,
    optimize_gram,
    optimize_primal,
    predict,
    predict_proba,
    propagate,
    sigmoid,
)

FAST_SOLVERS = [optimize_gram, optimize_primal]

# The course's test case for propagate and optimize.
W = np.array([[1.0], [2.0]])
B = 1.5
X = np.array([[1.0, -2.0, -1.0], [3.0, 0.5, -3.2]])
Y = np.array([[1, 1, 0]])


def test_sigmoid_course_values():
    np.testing.assert_allclose(sigmoid(np.array([0, 2])), [0.5, 0.88079708], atol=1e-8)


def test_sigmoid_matches_textbook_formula_where_that_is_safe():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-14, atol=0)


def test_sigmoid_no_overflow_warning_for_any_z():
    z = np.array([-1e6, -1000.0, -745.0, 0.0, 745.0, 1000.0, 1e6])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = sigmoid(z)
    assert a[0] == 0.0 and a[-1] == 1.0 and a[3] == 0.5
    assert np.all(np.isfinite(a))


def test_initialize_with_zeros():
    w, b = initialize_with_zeros(2)
    assert w.shape == (2, 1) and not w.any()
    assert isinstance(b, float) and b == 0.0


def test_propagate_course_values():
    grads, cost = propagate(W, B, X, Y)
    np.testing.assert_allclose(grads["dw"], [[0.25071532], [-0.06604096]], atol=1e-8)
    assert grads["dw"].shape == W.shape
    assert isinstance(grads["db"], float)
    assert grads["db"] == pytest.approx(-0.12500404500439652, abs=1e-15)
    assert cost == pytest.approx(0.15900537707692405, abs=1e-15)


def test_cost_stays_finite_when_probabilities_round_to_0_or_1():
    # sigmoid(40) rounds to exactly 1.0 and sigmoid(-800) to 0.0, so log(1 - a) and
    # log(a) would be -inf; by hand, -log(1 - sigmoid(z)) = log(1 + e^z) ~= z for large z.
    Z = np.array([[40.0, -800.0]])
    Yw = np.array([[0.0, 1.0]])
    assert sigmoid(Z)[0, 0] == 1.0 and sigmoid(Z)[0, 1] == 0.0
    assert cost_from_z(Z, Yw) == pytest.approx((40.0 + 800.0) / 2, rel=1e-15)
    # And where probabilities are exact, it is the usual cross entropy (here: ln 2).
    assert cost_from_z(np.zeros((1, 4)), np.array([[0, 1, 0, 1]])) == pytest.approx(math.log(2))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(float)
    w = rng.normal(size=(5, 1))
    b = 0.3
    grads, _ = propagate(w, b, X, Y)
    eps = 1e-6
    for i in range(5):
        step = np.zeros_like(w)
        step[i] = eps
        numeric = (propagate(w + step, b, X, Y)[1] - propagate(w - step, b, X, Y)[1]) / (2 * eps)
        assert grads["dw"][i, 0] == pytest.approx(numeric, abs=1e-8)
    numeric_b = (propagate(w, b + eps, X, Y)[1] - propagate(w, b - eps, X, Y)[1]) / (2 * eps)
    assert grads["db"] == pytest.approx(numeric_b, abs=1e-8)


def lecture_propagate(w, b, X, Y):
    """The lecture's unvectorized version: a loop over examples and one over features."""
    n_x, m = len(X), len(X[0])
    cost, dw, db = 0.0, [0.0] * n_x, 0.0
    for i in range(m):
        z = b
        for j in range(n_x):
            z += w[j][0] * X[j][i]
        a = 1 / (1 + math.exp(-z))
        cost += -(Y[0][i] * math.log(a) + (1 - Y[0][i]) * math.log(1 - a))
        dz = a - Y[0][i]
        for j in range(n_x):
            dw[j] += X[j][i] * dz
        db += dz
    return [[d / m] for d in dw], db / m, cost / m


def test_vectorized_propagate_equals_the_lecture_loops():
    rng = np.random.default_rng(1)
    X = rng.random((12, 9))
    Y = (rng.random((1, 9)) > 0.4).astype(float)
    w = rng.normal(scale=0.5, size=(12, 1))
    dw, db, cost = lecture_propagate(w.tolist(), -0.2, X.tolist(), Y.tolist())
    grads, vcost = propagate(w, -0.2, X, Y)
    np.testing.assert_allclose(grads["dw"], dw, rtol=1e-12)
    assert grads["db"] == pytest.approx(db, rel=1e-12)
    assert vcost == pytest.approx(cost, rel=1e-12)


@pytest.mark.parametrize("solver", [optimize, *FAST_SOLVERS])
def test_optimize_course_values(solver):
    # The fast solvers too, from the course's w != 0.
    w_in = W.copy()
    params, grads, costs = solver(w_in, B, X, Y, num_iterations=100, learning_rate=0.009)
    np.testing.assert_allclose(params["w"], [[0.80956046], [2.0508202]], atol=1e-8)
    assert params["b"] == pytest.approx(1.5948713189708588, abs=1e-13)
    np.testing.assert_allclose(grads["dw"], [[0.17860505], [-0.04840656]], atol=1e-8)
    assert grads["db"] == pytest.approx(-0.08888460336847771, abs=1e-13)
    assert costs == [pytest.approx(0.15900537707692405, abs=1e-14)]
    np.testing.assert_array_equal(w_in, W)  # the caller's w is not modified


def test_optimize_takes_the_courses_defaults_and_prints_as_the_notebook(capsys):
    # optimize(w, b, X, Y) is 100 iterations at 0.009, as the course's signature says.
    params, _, costs = optimize(W, B, X, Y, print_cost=True)
    np.testing.assert_allclose(params["w"], [[0.80956046], [2.0508202]], atol=1e-8)
    assert capsys.readouterr().out == "Cost after iteration 0: 0.159005\n"
    optimize(W, B, X, Y, num_iterations=201)
    assert capsys.readouterr().out == ""  # silent unless asked


def test_optimize_records_cost_every_100_iterations_and_reports_each():
    seen = []
    _, _, costs = optimize(
        W, B, X, Y, num_iterations=250, learning_rate=0.009, callback=lambda i, c: seen.append(i)
    )
    assert len(costs) == 3  # iterations 0, 100, 200
    assert seen == list(range(250))


def test_predict_course_values():
    w = np.array([[0.1124579], [0.23106775]])
    X = np.array([[1.0, -1.1, -3.2], [1.2, 2.0, 0.1]])
    np.testing.assert_array_equal(predict(w, -0.3, X), [[1.0, 1.0, 0.0]])


def test_predict_threshold_is_strictly_above_one_half():
    w = np.zeros((2, 1))
    X = np.ones((2, 2))
    assert predict_proba(w, 0.0, X).tolist() == [[0.5, 0.5]]
    assert predict(w, 0.0, X).tolist() == [[0.0, 0.0]]


def random_problem(n_x, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((n_x, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return X, Y


@pytest.mark.parametrize("solver", FAST_SOLVERS)
@pytest.mark.parametrize(
    "n_x, m, num_iterations, learning_rate",
    [(50, 7, 300, 0.5), (40, 40, 250, 0.1), (6, 30, 420, 1.0), (300, 3, 1, 0.01), (8, 5, 0, 0.1)],
)
def test_fast_solvers_take_the_same_steps_as_optimize(
    solver, n_x, m, num_iterations, learning_rate
):
    X, Y = random_problem(n_x, m, seed=n_x + m)
    w, b = initialize_with_zeros(n_x)
    seen_ref, seen = [], []
    ref_params, ref_grads, ref_costs = optimize(
        w, b, X, Y, num_iterations, learning_rate, callback=lambda i, c: seen_ref.append((i, c))
    )
    params, grads, costs = solver(
        w, b, X, Y, num_iterations, learning_rate, callback=lambda i, c: seen.append((i, c))
    )
    np.testing.assert_allclose(costs, ref_costs, rtol=0, atol=1e-9)
    assert len(costs) == len(ref_costs) == math.ceil(num_iterations / 100)
    assert [i for i, _ in seen] == [i for i, _ in seen_ref] == list(range(num_iterations))
    np.testing.assert_allclose([c for _, c in seen], [c for _, c in seen_ref], rtol=0, atol=1e-9)
    np.testing.assert_allclose(params["w"], ref_params["w"], rtol=0, atol=1e-9)
    assert params["w"].shape == (n_x, 1) and grads["dw"].shape == (n_x, 1)
    assert params["b"] == pytest.approx(ref_params["b"], abs=1e-9)
    np.testing.assert_allclose(grads["dw"], ref_grads["dw"], rtol=0, atol=1e-9)
    assert grads["db"] == pytest.approx(ref_grads["db"], abs=1e-9)
    np.testing.assert_array_equal(
        predict(params["w"], params["b"], X), predict(ref_params["w"], ref_params["b"], X)
    )


@pytest.mark.parametrize("solver", FAST_SOLVERS)
def test_fast_solvers_keep_the_cost_finite_where_probabilities_saturate(solver):
    # Separable data at a large rate: sigmoid(z) rounds to 0 and 1, the cost must not.
    X = np.array([[-3.0, -2.0, 2.0, 3.0]])
    Y = np.array([[0.0, 0.0, 1.0, 1.0]])
    _, _, ref_costs = optimize(np.zeros((1, 1)), 0.0, X, Y, 1000, 50.0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, _, costs = solver(np.zeros((1, 1)), 0.0, X, Y, 1000, 50.0)
    np.testing.assert_allclose(costs, ref_costs, rtol=0, atol=1e-9)
    assert all(math.isfinite(c) for c in costs)


def test_choose_solver_counts_multiplications():
    # The course set, 2000 iterations: Gram needs 12288*209^2 + 2000*209^2 + 2*12288*209
    # (about 0.63e9) multiplications, the primal loop 2*12288*209*2000 (about 10.3e9).
    assert choose_solver(12288, 209, 2000) == "gram"
    # Three iterations: computing K alone (0.54e9) costs more than 3 primal steps (15e6).
    assert choose_solver(12288, 209, 3) == "primal"
    # More examples than half the features: always primal, however many iterations.
    assert choose_solver(12288, 6145, 10**9) == "primal"
    assert choose_solver(6, 30, 10**6) == "primal"
    assert choose_solver(12288, 6144, 10**9) == "gram"
