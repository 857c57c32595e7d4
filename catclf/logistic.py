"""Logistic regression as the course writes it: pure numpy, no I/O, no state.

Shapes follow the course, not scikit-learn: X is (n_x, m) with one example per
column, Y is (1, m) of 0 / 1 labels, w is (n_x, 1) and b is a float. For the
cat / non-cat images n_x = 64 * 64 * 3 = 12288.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Callback = Callable[[int, float], None]
Result = tuple[dict[str, Array | float], dict[str, Array | float], list[float]]
Blocks = Callable[[], Iterable[tuple[Array, Array]]]
# One pass over all examples at (scale * w, b): (summed loss, X dZ^T (n_x,), sum(dZ), m).
Sums = Callable[[Array, float], tuple[float, Array, float, int]]

COST_EVERY = 100  # optimize records the cost of iterations 0, 100, 200, ...
# Columns of X per block in the primal loop: 64 float64 columns of 12288 values (6 MB)
# stay in the processor's cache between the two products that read them.
BLOCK_COLUMNS = 64


def sigmoid(z: Array | float) -> Array:
    """1 / (1 + exp(-z)), elementwise, for any shape.

    Written as exp(-log(1 + exp(-z))) with `np.logaddexp`, so that no |z|
    overflows: large negative z gives 0 without the warning that exp(-z) raises.
    """
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def initialize_with_zeros(dim: int) -> tuple[Array, float]:
    """Return w of shape (dim, 1) filled with zeros and b = 0.0."""
    return np.zeros((dim, 1)), 0.0


def cost_from_z(Z: Array, Y: Array) -> float:
    """Cross-entropy cost J = -(1/m) sum(y log a + (1-y) log(1-a)) with a = sigmoid(z).

    Z and Y are (1, m). Computed from z rather than from a, since
    -log(sigmoid(z)) = log(1 + exp(-z)) and -log(1 - sigmoid(z)) = log(1 + exp(z)):
    the cost stays finite when a rounds to exactly 0 or 1.
    """
    return float(np.mean(Y * np.logaddexp(0.0, -Z) + (1.0 - Y) * np.logaddexp(0.0, Z)))


def propagate(
    w: Array, b: float, X: Array, Y: Array, *, lambd: float = 0.0
) -> tuple[dict[str, Array | float], float]:
    """One forward and backward pass over all m examples at once.

    w (n_x, 1), b float, X (n_x, m), Y (1, m). Returns (grads, cost) where
    grads["dw"] has the shape of w and grads["db"] is a float:
    A = sigmoid(w^T X + b), dZ = A - Y, dw = X dZ^T / m, db = mean(dZ).

    lambd > 0 adds the L2 penalty of the course's regularisation assignment:
    cost += (lambd / 2m) sum(w^2) and dw += (lambd / m) w; b is not penalised.
    """
    m = X.shape[1]
    Z = w.T @ X + b
    A = sigmoid(Z)
    cost = cost_from_z(Z, Y)
    dZ = A - Y
    dw = X @ dZ.T / m
    db = float(np.sum(dZ) / m)
    if lambd:
        cost += lambd / (2 * m) * float(np.sum(w * w))
        dw = dw + lambd / m * w
    return {"dw": dw, "db": db}, cost


def optimize(
    w: Array,
    b: float,
    X: Array,
    Y: Array,
    num_iterations: int = 100,
    learning_rate: float = 0.009,
    print_cost: bool = False,
    *,
    lambd: float = 0.0,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, Array | float], dict[str, Array | float], list[float]]:
    """Batch gradient descent: num_iterations steps of w -= learning_rate * dw, b likewise.

    w (n_x, 1), b float, X (n_x, m), Y (1, m); the w passed in is not modified.
    Returns (params, grads, costs): params {"w", "b"} after the last step, grads
    {"dw", "db"} of the last iteration (computed before its update, as the course
    does), and costs the J recorded at iterations 0, 100, 200, ...

    print_cost prints "Cost after iteration 100: 0.584508" for each recorded cost, as
    the course's notebook does. callback(i, cost), if given, is called after every
    iteration's forward pass; an exception it raises stops the descent. lambd is the L2
    penalty, as `propagate` takes it; 0 leaves the course's descent as it is.
    """
    w = np.array(w, dtype=np.float64, copy=True)
    b = float(b)
    costs: list[float] = []
    grads: dict[str, Array | float] = {"dw": np.zeros_like(w), "db": 0.0}
    for i in range(num_iterations):
        grads, cost = propagate(w, b, X, Y, lambd=lambd)
        w -= learning_rate * grads["dw"]
        b -= learning_rate * float(grads["db"])
        if i % COST_EVERY == 0:
            costs.append(cost)
            if print_cost:
                print(f"Cost after iteration {i}: {cost:f}")
        if callback is not None:
            callback(i, cost)
    return {"w": w, "b": b}, grads, costs


def model(
    X_train: Array,
    Y_train: Array,
    X_test: Array,
    Y_test: Array,
    num_iterations: int = 2000,
    learning_rate: float = 0.5,
    print_cost: bool = False,
) -> dict[str, Any]:
    """The course's whole model: w and b from zeros, `optimize`, then `predict` on both sets.

    X_train (n_x, m_train), Y_train (1, m_train), X_test (n_x, m_test), Y_test (1, m_test).
    Returns the course's dictionary: "costs" (every 100 iterations), "Y_prediction_test"
    (1, m_test), "Y_prediction_train" (1, m_train), "w" (n_x, 1), "b", "learning_rate",
    "num_iterations". print_cost prints the cost lines, then "train accuracy: 99.04306220095694 %"
    and "test accuracy: 70.0 %" as the notebook computes them (100 minus the mean absolute
    error in percent).
    """
    w0, b0 = initialize_with_zeros(X_train.shape[0])
    params, _, costs = optimize(w0, b0, X_train, Y_train, num_iterations, learning_rate, print_cost)
    w, b = cast(Array, params["w"]), cast(float, params["b"])
    Y_prediction_test = predict(w, b, X_test)
    Y_prediction_train = predict(w, b, X_train)
    if print_cost:
        train_error = np.mean(np.abs(Y_prediction_train - Y_train))
        test_error = np.mean(np.abs(Y_prediction_test - Y_test))
        print(f"train accuracy: {100 - train_error * 100} %")
        print(f"test accuracy: {100 - test_error * 100} %")
    return {
        "costs": costs,
        "Y_prediction_test": Y_prediction_test,
        "Y_prediction_train": Y_prediction_train,
        "w": w,
        "b": b,
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
    }


def choose_solver(n_x: int, m: int, num_iterations: int) -> str:
    """ "gram" or "primal": the one that needs fewer multiplications, Gram only for m <= n_x / 2.

    The primal loop does 2 n_x m multiplications per iteration. The Gram form does
    n_x m^2 once (for K), m^2 per iteration, and 2 n_x m at the end; with m <= n_x / 2
    its K (m, m) is at most half the size of X.
    """
    if 2 * m > n_x:
        return "primal"
    gram = n_x * m * m + num_iterations * m * m + 2 * n_x * m
    return "gram" if gram < 2 * n_x * m * num_iterations else "primal"


def optimize_gram(
    w: Array,
    b: float,
    X: Array,
    Y: Array,
    num_iterations: int,
    learning_rate: float,
    *,
    lambd: float = 0.0,
    callback: Callback | None = None,
) -> Result:
    """`optimize`, the same iterates up to float rounding, at O(m^2) per iteration.

    w (n_x, 1), b float, X (n_x, m), Y (1, m), lambd the L2 penalty as `propagate` takes
    it; returns what `optimize` returns.

    With s = learning_rate / m and the decay c = 1 - learning_rate * lambd / m (1 without
    the penalty), dw = X dZ^T / m + (lambd / m) w and db = dZ 1 / m make each step
        w_{t+1} = c w_t - s X dZ_t^T,    b_{t+1} = b_t - s dZ_t 1,
    with 1 the (m, 1) ones. By induction w_t = c^t w_0 - s X beta_t, where beta_0 = 0 and
    beta_{t+1} = c beta_t + dZ_t^T (m, 1): the penalty only shrinks what w already holds,
    so w never leaves span{w_0} + range(X). Hence, with the Gram matrix K = X^T X (m, m)
    and Z_0 = w_0^T X (1, m), both computed once,
        Z_t = w_t^T X + b_t = c^t Z_0 - s beta_t^T K + b_t 1^T,
    which is one product, Z_t = v_t^T G, of v_t = [beta_t; b_t; c^t] (m + 2, 1) and
    G = [-s K; 1^T; Z_0] (m + 2, m), the bias's row of ones in it. Only v and Z change
    from step to step.

    Without the penalty, c = 1 and b_t = b_0 - s 1^T beta_t, so
        Z_t = Z_0 + b_0 1^T - s beta_t^T (K + 1 1^T),
    where K + 1 1^T is the Gram matrix of [X; 1^T]: of the examples with one more feature,
    always 1, whose weight is b. Then G's first m rows are -s (K + 1 1^T), v's b_0 and 1
    stay as they are, and an iteration is that product, the O(m) steps that give dZ and
    the cost from Z, and beta += dZ^T.

    With the penalty, b_t and c^t change in v, and the cost adds (lambd / 2m) sum(w_t^2):
        sum(w_t^2) = c^2t sum(w_0^2) - 2 s c^t Z_0 beta_t + s^2 beta_t^T K beta_t.
    The product has just given -s beta_t^T K = Z_t - b_t 1^T - c^t Z_0, so
        sum(w_t^2) = c^2t sum(w_0^2) - s (Z_t + c^t Z_0 - b_t 1^T) beta_t,
    also O(m). These are the iterates and the penalised cost of the primal loop, with no
    approximation. X is used again only at the end: w_T = c^T w_0 - s X beta_T, and the
    last gradient dw = X dZ_{T-1}^T / m + (lambd / m) w_{T-1}. Each cost is computed from
    Z as `_loss_and_dz` computes it, so that nothing overflows.
    """
    w0 = np.array(w, dtype=np.float64, copy=True).reshape(-1, 1)
    m = X.shape[1]
    y = np.asarray(Y, dtype=np.float64).reshape(-1)
    step = learning_rate / m
    decay = 1.0 - learning_rate * lambd / m
    G = np.empty((m + 2, m))
    K = G[:m]
    np.matmul(X.T, X, out=K)  # numpy computes X^T X as one symmetric product
    if not lambd:
        K += 1.0
    K *= -step
    G[m] = 1.0
    np.matmul(w0.T, X, out=G[m + 1 :])
    Z0 = G[m + 1]
    shifted = bool(np.any(Z0 != 0.0))
    w0_norm2 = float(np.sum(w0 * w0))
    v = np.zeros(m + 2)
    beta = v[:m]
    v[m], v[m + 1] = b, 1.0
    # Z and S = log(1 + e^Z) side by side, so that one dot with [-Y, 1] gives the summed
    # loss sum(S - Y Z), as _loss_and_dz computes it.
    ZS = np.empty((2, m))
    Z, S = ZS
    zs = ZS.reshape(-1)
    minus_y_ones = np.concatenate([-y, np.ones(m)])
    ones = minus_y_ones[m:]
    dZ = np.zeros(m)  # dZ_{t-1} at the top of iteration t: 0 before the first
    bt, power, sum_beta = float(b), 1.0, 0.0  # b_t, c^t and 1^T beta_t, with the penalty
    # numpy takes a 0-d array in a ufunc faster than a Python float.
    zero, shrink = np.zeros(()), np.array(decay)
    dot, logaddexp, subtract, exp = np.dot, np.logaddexp, np.subtract, np.exp
    costs: list[float] = []
    for i in range(num_iterations):
        if lambd:  # v_t from v_{t-1} and dZ_{t-1}
            beta *= shrink
            beta += dZ
            sum_dZ = float(dot(ones, dZ))
            sum_beta = decay * sum_beta + sum_dZ
            bt -= step * sum_dZ
            power = decay**i
            v[m] = bt
            v[m + 1] = power
        else:
            beta += dZ
        dot(v, G, out=Z)
        logaddexp(zero, Z, out=S)
        cost = float(dot(minus_y_ones, zs)) / m
        if lambd:
            zb = float(dot(Z, beta))
            if shifted:
                zb += power * float(dot(Z0, beta))
            cost += lambd / (2 * m) * (power * power * w0_norm2 - step * (zb - bt * sum_beta))
        # dZ = sigmoid(Z) - Y = e^(Z - S) - Y
        subtract(Z, S, out=dZ)
        exp(dZ, out=dZ)
        dZ -= y
        if i % COST_EVERY == 0:
            costs.append(cost)
        if callback is not None:
            callback(i, cost)
    if num_iterations == 0:
        return {"w": w0, "b": float(b)}, {"dw": np.zeros_like(w0), "db": 0.0}, costs
    # beta and dZ are beta_{T-1} and dZ_{T-1}. As in optimize, the gradient returned is
    # that of the last step, dw = X (dZ^T / m - (lambd / m) s beta) + (lambd / m) c^(T-1) w_0,
    # and the parameters those after it; X is read once for both.
    db = float(dZ.sum()) / m
    rows = np.empty((2, m))
    np.multiply(dZ, 1.0 / m, out=rows[0])
    if lambd:
        rows[0] -= lambd / m * step * beta
        beta *= decay
    beta += dZ
    np.multiply(beta, -step, out=rows[1])
    both = rows @ X.T
    dw, w_end = both[0].reshape(-1, 1), both[1].reshape(-1, 1)
    if lambd:
        dw += lambd / m * power * w0
        w_end += decay * power * w0
        b_end = bt - step * float(dZ.sum())
    else:
        w_end += w0
        b_end = float(b) - step * float(beta.sum())
    return {"w": w_end, "b": b_end}, {"dw": dw, "db": db}, costs


def optimize_primal(
    w: Array,
    b: float,
    X: Array,
    Y: Array,
    num_iterations: int,
    learning_rate: float,
    *,
    lambd: float = 0.0,
    callback: Callback | None = None,
) -> Result:
    """`optimize` with fewer temporaries: the same steps, X read a block of columns at a time.

    w (n_x, 1), b float, X (n_x, m), Y (1, m), lambd the L2 penalty as `propagate` takes
    it; returns what `optimize` returns.
    """
    return optimize_blocks(
        w,
        b,
        block_sums(lambda: column_blocks(X, Y, BLOCK_COLUMNS)),
        num_iterations,
        learning_rate,
        lambd=lambd,
        callback=callback,
    )


def column_blocks(X: Array, Y: Array, size: int) -> Iterator[tuple[Array, Array]]:
    """(X[:, j:j+size], Y[:, j:j+size]) for j = 0, size, 2 size, ...: views, not copies."""
    for start in range(0, X.shape[1], size):
        yield X[:, start : start + size], Y[:, start : start + size]


def pixel_blocks(
    slices: Iterable[NDArray[np.uint8]], Y: Array, rows: int
) -> Iterator[tuple[Array, Array]]:
    """(P_k (n_x, k) float64, Y_k (1, k)): the pixel values 0 .. 255 of at most rows examples
    at a time, for `optimize_blocks` with scale = 1 / 255.

    slices are the images in order, one example per row as images are stored ((k, 64, 64, 3)
    or (k, n_x) uint8 each: [images] for an array in memory, or the slices read from a file
    in turn), and Y (1, m) their labels. P_k / 255 is the course's
    X_k = images.reshape(m, -1).T[:, j:j+k] / 255. Each block is converted into one reused
    C-order buffer of rows x n_x float64 (P_k is its transpose, a view), valid until the
    next is taken: X is never formed, the uint8 rows are copied as they lie, with no
    strided copy, and the block is still in the processor's cache when both products
    read it.
    """
    buffer: Array | None = None
    start = 0
    for part in slices:
        flat = part.reshape(part.shape[0], -1)
        if buffer is None:
            buffer = np.empty((rows, flat.shape[1]))
        for j in range(0, flat.shape[0], rows):
            k = min(rows, flat.shape[0] - j)
            block = buffer[:k]
            np.copyto(block, flat[j : j + k])
            yield block.T, Y[:, start : start + k]
            start += k


def optimize_blocks(
    w: Array,
    b: float,
    sums: Sums,
    num_iterations: int,
    learning_rate: float,
    *,
    lambd: float = 0.0,
    callback: Callback | None = None,
    scale: float = 1.0,
) -> Result:
    """Batch gradient descent over data that comes a block of examples at a time.

    sums(v, b), called once per iteration with v = scale * w (n_x,), makes one pass over
    all m examples, a block X_k (n_x, k) at a time (`block_sums`, or `catclf.passes.Pass`
    on more threads), and returns (loss, dw, db, m): the losses summed, dw (n_x,) = the sum
    over blocks of X_k dZ_k^T, db = sum(dZ) and m. Every block meets the same w and b, and
    the step is taken after the last, so the iterates are those of `optimize`. lambd is the
    L2 penalty as `propagate` takes it: (lambd / m) w joins dw and (lambd / 2m) sum(w^2)
    the cost once the pass has given m. Returns what `optimize` returns.

    X_k is scale times the block the pass reads: with the pixel values 0 .. 255 of
    `pixel_blocks` and scale = 1 / 255, z_k = (scale w)^T P_k + b, and dw is multiplied by
    scale once, which costs 2 n_x multiplications an iteration in place of a division of
    every value (a division costs more than turning a uint8 into a float64). The iterates
    are those of `optimize` on X = P / 255 up to rounding, about 1e-16 relative per value.
    """
    w = np.array(w, dtype=np.float64, copy=True).reshape(-1)
    b = float(b)
    costs: list[float] = []
    dw = np.zeros_like(w)
    db = 0.0
    scaled = np.empty_like(w)
    for i in range(num_iterations):
        np.multiply(w, scale, out=scaled)
        cost, dw, db, m = sums(scaled, b)
        dw *= scale / m
        cost /= m
        db /= m
        if lambd:
            cost += lambd / (2 * m) * float(w @ w)
            dw += lambd / m * w
        w -= learning_rate * dw
        b -= learning_rate * db
        if i % COST_EVERY == 0:
            costs.append(cost)
        if callback is not None:
            callback(i, cost)
    return {"w": w.reshape(-1, 1), "b": b}, {"dw": dw.reshape(-1, 1), "db": db}, costs


def block_sums(blocks: Blocks) -> Sums:
    """The pass `optimize_blocks` takes, over the blocks (X_k (n_x, k), Y_k (1, k)) that
    blocks() yields, on the caller's thread: each block's share is added in turn."""
    scratch: dict[str, Array] = {}

    def sums(v: Array, b: float) -> tuple[float, Array, float, int]:
        dw = np.zeros_like(v)
        loss = db = 0.0
        m = 0
        for X_k, Y_k in blocks():
            block_loss, block_db = add_block(v, b, X_k.T, Y_k.reshape(-1), dw, scratch)
            loss += block_loss
            db += block_db
            m += X_k.shape[1]
        return loss, dw, db, m

    return sums


def add_block(
    v: Array, b: float, rows: NDArray[Any], y: Array, dw: Array, scratch: dict[str, Array]
) -> tuple[float, float]:
    """One block's share of a pass at (v, b): rows (k, n_x) are its examples (the columns of
    X_k, float64), y (k,) their labels. Adds rows^T dZ to dw (n_x,) and returns the loss
    summed over the block and sum(dZ), with z = rows v + b. scratch holds the buffers, made
    once and reused: nothing is allocated for a block but the first, or a larger one."""
    k = rows.shape[0]
    steps = scratch.get("steps")
    if steps is None or steps.shape[1] < k:
        steps = scratch["steps"] = np.empty((3, k))  # z, log(1 + e^z) and dZ
    part = scratch.get("part")
    if part is None or part.shape != dw.shape:
        part = scratch["part"] = np.empty_like(dw)
    z, s, dZ = steps[:, :k]
    np.matmul(rows, v, out=z)
    z += b
    loss = _loss_and_dz(z, y, s, dZ)
    np.matmul(dZ, rows, out=part)
    dw += part
    return loss, float(dZ.sum())


def _loss_and_dz(z: Array, y: Array, s: Array, dZ: Array) -> float:
    """k times the cost, for z and y of shape (k,); dZ = sigmoid(z) - y written to dZ, and
    log(1 + e^z) to s, both (k,).

    With s = log(1 + e^z): -log(sigmoid(z)) = s - z and -log(1 - sigmoid(z)) = s, so
    the summed loss is sum(s - y z), and sigmoid(z) = e^(z - s): one logaddexp serves
    both, and nothing overflows.
    """
    np.logaddexp(0.0, z, out=s)
    loss = float(s.sum()) - float(y @ z)
    np.subtract(z, s, out=dZ)
    np.exp(dZ, out=dZ)
    dZ -= y
    return loss


def predict_proba(w: Array, b: float, X: Array) -> Array:
    """Probability of the positive class for each column of X: (1, m) in [0, 1]."""
    return sigmoid(w.T @ X + b)


def predict(w: Array, b: float, X: Array) -> Array:
    """(1, m) array of 1.0 where the probability exceeds 0.5, else 0.0."""
    return (predict_proba(w, b, X) > 0.5).astype(np.float64)


def count_correct(Z: Array, Y: Array) -> int:
    """How many of the examples with logits Z and labels Y (the same shape) `predict` gets
    right: those whose sigmoid(z) > 0.5 is their label."""
    return int(np.sum((sigmoid(Z) > 0.5) == Y))
