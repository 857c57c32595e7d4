"""The math against the course's published values, finite differences and the lecture's loops."""

import math

import numpy as np
import pytest

from catclf.logistic import (
    block_sums,
    choose_solver,
    cost_from_z,
    count_correct,
    initialize_with_zeros,
    optimize,
    optimize_blocks,
    optimize_gram,
    optimize_primal,
    pixel_blocks,
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


# L2 regularisation, as the course adds it next: cost + (lambd / 2m) sum(w^2),
# dw + (lambd / m) w, b not penalised.


def test_propagate_with_l2_by_hand():
    # The course's case, m = 3, sum(w^2) = 1 + 4 = 5, lambd = 0.7.
    grads, cost = propagate(W, B, X, Y, lambd=0.7)
    assert cost == pytest.approx(0.15900537707692405 + 0.7 / (2 * 3) * 5, abs=1e-15)
    expected_dw = np.array([[0.25071532], [-0.06604096]]) + 0.7 / 3 * W
    np.testing.assert_allclose(grads["dw"], expected_dw, atol=1e-8)
    assert grads["db"] == pytest.approx(-0.12500404500439652, abs=1e-15)  # b is not penalised


def test_lambd_zero_is_the_course_exactly():
    assert propagate(W, B, X, Y, lambd=0.0)[1] == propagate(W, B, X, Y)[1]
    plain = optimize(W, B, X, Y, 100, 0.009)
    zero = optimize(W, B, X, Y, 100, 0.009, lambd=0.0)
    np.testing.assert_array_equal(plain[0]["w"], zero[0]["w"])
    assert plain[2] == zero[2]


@pytest.mark.parametrize("lambd", [0.3, 5.0])
def test_l2_gradients_match_finite_differences(lambd):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(float)
    w = rng.normal(size=(5, 1))
    b = -0.4
    grads, _ = propagate(w, b, X, Y, lambd=lambd)

    def cost(w, b):
        return propagate(w, b, X, Y, lambd=lambd)[1]

    eps = 1e-6
    for i in range(5):
        step = np.zeros_like(w)
        step[i] = eps
        numeric = (cost(w + step, b) - cost(w - step, b)) / (2 * eps)
        assert grads["dw"][i, 0] == pytest.approx(numeric, abs=1e-8)
    assert grads["db"] == pytest.approx((cost(w, b + eps) - cost(w, b - eps)) / (2 * eps), abs=1e-8)


def test_optimize_keeps_the_course_signature_and_takes_lambd_by_keyword_only():
    import inspect

    parameters = inspect.signature(optimize).parameters
    positional = [
        name for name, p in parameters.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert positional == [
        "w",
        "b",
        "X",
        "Y",
        "num_iterations",
        "learning_rate",
        "print_cost",
    ]
    assert parameters["lambd"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["lambd"].default == 0.0
    for solver in FAST_SOLVERS:
        lambd = inspect.signature(solver).parameters["lambd"]
        assert lambd.kind is inspect.Parameter.KEYWORD_ONLY and lambd.default == 0.0


def lecture_descent_with_l2(w, b, X, Y, num_iterations, learning_rate, lambd):
    """Gradient descent on the penalised cost with the lecture's loops: the reference that
    shares nothing with the vectorized code."""
    w = [row[0] for row in w.tolist()]
    X, Y = X.tolist(), Y[0].tolist()
    n_x, m = len(X), len(Y)
    costs = []
    for i in range(num_iterations):
        cost, dw, db = 0.0, [0.0] * n_x, 0.0
        for k in range(m):
            z = b + sum(w[j] * X[j][k] for j in range(n_x))
            a = 1 / (1 + math.exp(-z))
            cost -= Y[k] * math.log(a) + (1 - Y[k]) * math.log(1 - a)
            for j in range(n_x):
                dw[j] += X[j][k] * (a - Y[k])
            db += a - Y[k]
        cost = cost / m + lambd / (2 * m) * sum(v * v for v in w)
        dw = [d / m + lambd / m * v for d, v in zip(dw, w, strict=True)]
        if i % 100 == 0:
            costs.append(cost)
        w = [v - learning_rate * d for v, d in zip(w, dw, strict=True)]
        b -= learning_rate * db / m
    return np.array(w).reshape(-1, 1), b, costs


def test_optimize_with_l2_takes_the_lecture_loops_steps():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4, 6))
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    w0 = rng.normal(size=(4, 1))
    w, b, costs = lecture_descent_with_l2(w0, 0.2, X, Y, 250, 0.1, 0.8)
    params, _, vcosts = optimize(w0, 0.2, X, Y, 250, 0.1, lambd=0.8)
    np.testing.assert_allclose(params["w"], w, rtol=0, atol=1e-12)
    assert params["b"] == pytest.approx(b, abs=1e-12)
    np.testing.assert_allclose(vcosts, costs, rtol=0, atol=1e-12)


def assert_same_descent(result, reference, tolerance=1e-9):
    (params, grads, costs), (ref_params, ref_grads, ref_costs) = result, reference
    assert len(costs) == len(ref_costs)
    np.testing.assert_allclose(costs, ref_costs, rtol=0, atol=tolerance)
    np.testing.assert_allclose(params["w"], ref_params["w"], rtol=0, atol=tolerance)
    assert params["b"] == pytest.approx(ref_params["b"], abs=tolerance)
    np.testing.assert_allclose(grads["dw"], ref_grads["dw"], rtol=0, atol=tolerance)
    assert grads["db"] == pytest.approx(ref_grads["db"], abs=tolerance)


@pytest.mark.parametrize("solver", FAST_SOLVERS)
@pytest.mark.parametrize(
    "n_x, m, num_iterations, learning_rate, lambd",
    [
        (50, 7, 300, 0.5, 0.7),  # decay c = 1 - 0.5 * 0.7 / 7 = 0.95
        (40, 40, 250, 0.1, 3.0),
        (6, 30, 420, 1.0, 0.2),  # more examples than features
        (30, 7, 120, 1.0, 5.0),  # c = 2/7: w_0's share fades within a few steps
        (30, 4, 60, 1.0, 6.0),  # c = -1/2: w changes sign at each step
        (300, 3, 1, 0.01, 10.0),
        (8, 5, 0, 0.1, 1.0),
    ],
)
@pytest.mark.parametrize("start", ["zeros", "random"])
def test_fast_solvers_with_l2_take_the_same_steps_as_optimize(
    solver, n_x, m, num_iterations, learning_rate, lambd, start
):
    X, Y = random_problem(n_x, m, seed=n_x * m)
    if start == "zeros":
        w, b = initialize_with_zeros(n_x)
    else:  # w_0 outside the span of X's columns, and b != 0: the Gram form's hard case
        rng = np.random.default_rng(m)
        w, b = rng.normal(scale=0.3, size=(n_x, 1)), 0.7
    seen_ref, seen = [], []
    reference = optimize(
        w,
        b,
        X,
        Y,
        num_iterations,
        learning_rate,
        lambd=lambd,
        callback=lambda i, c: seen_ref.append(c),
    )
    result = solver(
        w, b, X, Y, num_iterations, learning_rate, lambd=lambd, callback=lambda i, c: seen.append(c)
    )
    assert_same_descent(result, reference)
    np.testing.assert_allclose(seen, seen_ref, rtol=0, atol=1e-9)  # every iteration's cost
    assert result[0]["w"].shape == (n_x, 1) and result[1]["dw"].shape == (n_x, 1)


def test_the_penalty_shrinks_w_and_costs_more_at_the_same_w():
    X, Y = random_problem(20, 10, seed=5)
    w, b = initialize_with_zeros(20)
    free = optimize(w, b, X, Y, 500, 0.5)
    held = optimize(w, b, X, Y, 500, 0.5, lambd=2.0)
    assert np.sum(held[0]["w"] ** 2) < np.sum(free[0]["w"] ** 2)
    # At w = 0 the penalty is 0: the first costs agree.
    assert held[2][0] == free[2][0] == pytest.approx(math.log(2))


@pytest.fixture(scope="module")
def course_xy():
    from catclf.datasets import bundled

    train_set, _ = bundled()
    return train_set.X, train_set.Y


@pytest.mark.parametrize("solver", FAST_SOLVERS)
def test_fast_solvers_with_l2_on_the_course_set(course_xy, solver):
    # 150 iterations of the plain course loop (about 0.3 s) against each fast solver, on
    # the 209 cat / non-cat images from w = 0, at the course's rate and a strong penalty.
    X, Y = course_xy
    w, b = initialize_with_zeros(X.shape[0])
    reference = optimize(w, b, X, Y, 150, 0.005, lambd=20.0)
    assert_same_descent(solver(w, b, X, Y, 150, 0.005, lambd=20.0), reference)


# The Gram solver against the plain loop, case by case: what its bookkeeping must get right
# (the bias inside the product, the penalty's decay, a start away from zero, the last
# gradient) on data where each of them shows.


def gram_against_optimize(X, Y, w, b, num_iterations, learning_rate, lambd):
    """Both descents; asserts that every cost, w, b, the last gradient and the predictions
    agree, and returns the plain loop's parameters."""

    def gram(callback):
        return optimize_gram(
            w, b, X, Y, num_iterations, learning_rate, lambd=lambd, callback=callback
        )

    return against_optimize(gram, X, Y, w, b, num_iterations, learning_rate, lambd)


def against_optimize(fast, X, Y, w, b, num_iterations, learning_rate, lambd):
    """The plain loop from (w, b) on X and Y, and fast(callback), a faster descent of the
    same; asserts that every cost, w, b, the last gradient and the predictions agree, and
    returns the plain loop's parameters."""
    seen_ref, seen = [], []
    ref_params, ref_grads, ref_costs = optimize(
        w,
        b,
        X,
        Y,
        num_iterations,
        learning_rate,
        lambd=lambd,
        callback=lambda i, c: seen_ref.append(c),
    )
    params, grads, costs = fast(lambda i, c: seen.append(c))
    assert len(seen) == len(seen_ref) == num_iterations
    np.testing.assert_allclose(seen, seen_ref, rtol=1e-9, atol=0)
    assert len(costs) == len(ref_costs) == math.ceil(num_iterations / 100)
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-9, atol=0)
    assert params["w"].shape == grads["dw"].shape == w.shape
    np.testing.assert_allclose(params["w"], ref_params["w"], rtol=1e-9, atol=1e-12)
    assert params["b"] == pytest.approx(ref_params["b"], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(grads["dw"], ref_grads["dw"], rtol=1e-9, atol=1e-12)
    assert grads["db"] == pytest.approx(ref_grads["db"], rel=1e-9, abs=1e-12)
    np.testing.assert_array_equal(
        predict(params["w"], params["b"], X), predict(ref_params["w"], ref_params["b"], X)
    )
    return ref_params


def start_of(kind, n_x, seed):
    if kind == "zeros":
        return initialize_with_zeros(n_x)
    # w_0 outside the span of X's columns, and b_0 far from 0.
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.3, size=(n_x, 1)), -1.3


@pytest.mark.parametrize("lambd", [0.0, 0.4])
@pytest.mark.parametrize("start", ["zeros", "random"])
@pytest.mark.parametrize(
    "n_x, m, num_iterations, learning_rate",
    [
        (60, 9, 300, 0.3),
        (7, 1, 250, 0.5),  # one example: K is 1 x 1
        (10, 4, 0, 0.1),  # no step: the start, and a zero gradient
        (10, 4, 1, 0.1),  # one step: the gradient at the start
        (10, 4, 2, 0.1),
        (5, 12, 150, 2.0),  # more examples than features
    ],
)
def test_gram_takes_the_plain_loops_steps(n_x, m, num_iterations, learning_rate, start, lambd):
    X, Y = random_problem(n_x, m, seed=3 * n_x + m)
    w, b = start_of(start, n_x, seed=m)
    gram_against_optimize(X, Y, w, b, num_iterations, learning_rate, lambd)


@pytest.mark.parametrize("lambd", [0.0, 0.4])
def test_gram_finds_a_bias_far_from_zero(lambd):
    # Examples around x = 3 whose label says whether x_1 + x_2 > 6: the boundary is
    # w^T x + b = 0 with b about -6 (w_1 + w_2) / 2, far from 0.
    rng = np.random.default_rng(7)
    X = rng.normal(3.0, 0.3, size=(4, 50))
    Y = (X[0] + X[1] > 6).astype(float).reshape(1, -1)
    params = gram_against_optimize(X, Y, np.zeros((4, 1)), 0.0, 2000, 0.5, lambd)
    assert params["b"] < -5.0


@pytest.mark.parametrize("lambd", [0.0, 0.4])
def test_gram_finds_the_bias_of_unbalanced_classes(lambd):
    # Centred features and 36 positives in 40: b heads for about log(36 / 4) = 2.2.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3, 40))
    Y = np.ones((1, 40))
    Y[0, rng.choice(40, 4, replace=False)] = 0.0
    params = gram_against_optimize(X, Y, np.zeros((3, 1)), 0.0, 400, 0.5, lambd)
    assert params["b"] > 2.0


def penalised_cost(w, b, X, Y, lambd):
    """The cost written out from the course's formula, sharing nothing with catclf:
    -(1/m) sum(y log a + (1 - y) log(1 - a)) + (lambd / 2m) sum(w^2), a = 1 / (1 + e^-z)."""
    m = X.shape[1]
    a = 1.0 / (1.0 + np.exp(-(w.T @ X + b)))
    cross_entropy = -np.sum(Y * np.log(a) + (1 - Y) * np.log(1 - a)) / m
    return float(cross_entropy + lambd / (2 * m) * np.sum(w**2))


@pytest.mark.parametrize("lambd", [0.0, 0.6, 9.0])  # 9.0: c = 1 - 0.5 * 9 / 6 = 0.25
def test_gram_costs_are_the_cost_of_its_own_iterates(lambd):
    # The cost reported at iteration t is J(w_t, b_t), with (w_t, b_t) what the Gram
    # solver returns after t steps: the penalty's sum(w_t^2), kept from Z alone, against
    # sum(w_t^2) of the w it returns.
    X, Y = random_problem(8, 6, seed=11)
    w0, b0 = start_of("random", 8, seed=11)
    seen = []
    optimize_gram(w0, b0, X, Y, 30, 0.5, lambd=lambd, callback=lambda i, c: seen.append(c))
    for t in (0, 1, 2, 7, 29):
        params, _, _ = optimize_gram(w0, b0, X, Y, t, 0.5, lambd=lambd)
        assert seen[t] == pytest.approx(
            penalised_cost(params["w"], params["b"], X, Y, lambd), rel=1e-12
        )


@pytest.mark.parametrize("lambd", [0.0, 0.6])
@pytest.mark.parametrize("num_iterations", [1, 2, 40])
def test_gram_gradient_matches_finite_differences(lambd, num_iterations):
    # The gradient returned is that of the last step, taken at (w_{T-1}, b_{T-1}): the
    # parameters after T - 1 steps.
    X, Y = random_problem(6, 5, seed=12)
    w0, b0 = start_of("random", 6, seed=12)
    _, grads, _ = optimize_gram(w0, b0, X, Y, num_iterations, 0.4, lambd=lambd)
    before, _, _ = optimize_gram(w0, b0, X, Y, num_iterations - 1, 0.4, lambd=lambd)
    w, b = before["w"], before["b"]
    eps = 1e-6
    for i in range(6):
        step = np.zeros_like(w)
        step[i] = eps
        numeric = (
            penalised_cost(w + step, b, X, Y, lambd) - penalised_cost(w - step, b, X, Y, lambd)
        ) / (2 * eps)
        assert grads["dw"][i, 0] == pytest.approx(numeric, abs=1e-8)
    numeric_b = (
        penalised_cost(w, b + eps, X, Y, lambd) - penalised_cost(w, b - eps, X, Y, lambd)
    ) / (2 * eps)
    assert grads["db"] == pytest.approx(numeric_b, abs=1e-8)


@pytest.mark.parametrize("lambd", [0.0, 20.0])
def test_gram_on_the_course_set_for_2000_iterations(course_xy, lambd):
    # The benchmark's run: the course's 209 images, 2000 iterations at 0.005, from w = 0
    # (with the course's plain loop, about 2 s each).
    X, Y = course_xy
    w, b = initialize_with_zeros(X.shape[0])
    gram_against_optimize(X, Y, w, b, 2000, 0.005, lambd)


# X made from uint8 pixels a block at a time, never whole: the course's X = P^T / 255.


def random_pixels(m, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(m, 4, 4, 3), dtype=np.uint8)
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return images, Y


@pytest.mark.parametrize(
    "cuts, sizes",
    [
        ([10], [4, 4, 2]),  # the images in memory, one array
        ([3, 10], [3, 4, 3]),  # slices read from a file: no block spans two
        ([4, 8, 10], [4, 4, 2]),
    ],
)
def test_pixel_blocks_are_the_course_columns_before_the_division(cuts, sizes):
    images, Y = random_pixels(10, seed=20)
    X = images.reshape(10, -1).T / 255  # the course's flatten
    slices = [images[a:b] for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    seen, taken = 0, []
    for P_k, Y_k in pixel_blocks(slices, Y, 4):
        k = P_k.shape[1]
        assert P_k.dtype == np.float64 and P_k.shape == (48, k)
        # The values 0 .. 255 themselves, exactly; / 255 they are the course's columns.
        np.testing.assert_array_equal(P_k, images.reshape(10, -1)[seen : seen + k].T)
        np.testing.assert_array_equal(P_k / 255, X[:, seen : seen + k])
        np.testing.assert_array_equal(Y_k, Y[:, seen : seen + k])
        seen += k
        taken.append(k)
    assert taken == sizes


@pytest.mark.parametrize("lambd", [0.0, 0.5])
@pytest.mark.parametrize(
    "m, rows, num_iterations, learning_rate",
    [
        (37, 8, 150, 0.05),  # blocks of 8 and a last one of 5
        (5, 64, 120, 0.05),  # one block, smaller than rows
        (1, 3, 60, 0.05),
        (9, 4, 0, 0.05),
        (9, 4, 1, 0.05),
    ],
)
def test_descent_on_pixel_blocks_is_the_course_descent_on_x(
    m, rows, num_iterations, learning_rate, lambd
):
    images, Y = random_pixels(m, seed=m)
    X = images.reshape(m, -1).T / 255
    rng = np.random.default_rng(m)
    w, b = rng.normal(scale=0.01, size=(48, 1)), 0.2

    def on_pixels(callback):
        return optimize_blocks(
            w,
            b,
            block_sums(lambda: pixel_blocks([images], Y, rows)),
            num_iterations,
            learning_rate,
            lambd=lambd,
            callback=callback,
            scale=1 / 255,
        )

    against_optimize(on_pixels, X, Y, w, b, num_iterations, learning_rate, lambd)


def test_descent_on_the_course_images_as_pixels(course_xy):
    # The 209 course images, kept as uint8 and turned into numbers a block at a time,
    # against the course's loop on its float64 X.
    from catclf.datasets import bundled

    train_set, _ = bundled()
    X, Y = course_xy
    w, b = initialize_with_zeros(X.shape[0])
    ref_params, _, ref_costs = optimize(w, b, X, Y, 201, 0.005)
    params, _, costs = optimize_blocks(
        w, b, block_sums(lambda: pixel_blocks([train_set.images], Y, 64)), 201, 0.005, scale=1 / 255
    )
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(
        predict(params["w"], params["b"], X), predict(ref_params["w"], ref_params["b"], X)
    )


def test_count_correct_is_predicts_rule():
    # sigmoid(0) is 0.5, not above it: class 0, right for a 0 and wrong for a 1; so is a
    # logit too small to move sigmoid off 0.5. -1 gives class 0 and 2 class 1, both right.
    Z = np.array([[0.0, 0.0, 1e-300, -1.0, 2.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    assert count_correct(Z, Y) == 3
