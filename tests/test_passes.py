"""A pass over the examples' pixels: the course's gradient, the same bits on any number of
threads, and threads that end with the pass and never take a signal; each both ways a block
is worked, compiled (`catclf.fused`) and with numpy."""

import signal
import threading
import warnings

import numpy as np
import pytest
from helpers import Watched
from threadpoolctl import threadpool_limits

from catclf import fused, parameters, passes, training
from catclf.dataset import Dataset
from catclf.logistic import optimize, propagate


def pixels(m, n_x=48, seed=0):
    """m random images of n_x uint8 pixels, one per row, and labels (1, m) that the pixels
    tell apart: a signal the descent finds."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, m)
    shift = np.where(labels == 1, 25, -25)[:, None]
    rows = np.clip(128 + shift + rng.integers(-100, 101, (m, n_x)), 0, 255).astype(np.uint8)
    return rows, labels.reshape(1, -1).astype(np.float64)


def cut(rows, sizes):
    """rows in consecutive slices of the given sizes, as a file gives them: each slice
    copied into one buffer that the next overwrites."""
    buffer = np.empty_like(rows)

    def slices():
        start = 0
        for k in sizes:
            part = buffer[:k]
            part[:] = rows[start : start + k]
            yield part
            start += k

    return slices


@pytest.fixture(params=["compiled", "numpy"])
def way(request, monkeypatch):
    """Each test twice: blocks worked by the compiled kernel, and by numpy and BLAS."""
    if request.param == "compiled":
        assert fused.pixel_kernel() is not None  # the test extras install Numba
    else:
        monkeypatch.setattr(fused, "pixel_kernel", lambda: None)
    return request.param


def watch_blocks(monkeypatch, way, watcher):
    """watcher(work, *args) called in place of the function that works each block, work."""
    if way == "compiled":
        kernel = fused.pixel_kernel()
        monkeypatch.setattr(fused, "pixel_kernel", lambda: lambda *a: watcher(kernel, *a))
    else:
        add_block = passes.add_block
        monkeypatch.setattr(passes, "add_block", lambda *a: watcher(add_block, *a))


@pytest.fixture
def one_blas_thread():
    """BLAS on one thread, as the catclf command runs it: where a pass takes threads."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def passes_made(monkeypatch):
    """The Passes that training makes, in order, on a machine of 2 cores."""
    made = []

    def spied(*args, **kwargs):
        made.append(passes.Pass(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(training, "Pass", spied)
    monkeypatch.setattr(parameters, "cores", lambda: 2)
    return made


def pass_threads():
    """The threads of passes, by name."""
    return [t for t in threading.enumerate() if t.name.startswith("catclf-pass")]


@pytest.mark.usefixtures("way")
@pytest.mark.parametrize("sizes", [[37], [10, 27], [8, 8, 8, 13]])
def test_a_pass_gives_the_course_cost_and_gradient(sizes):
    rows, Y = pixels(37)
    X = rows.T / 255  # the course's columns
    rng = np.random.default_rng(1)
    w, b = rng.normal(scale=0.01, size=(48, 1)), 0.3
    grads, cost = propagate(w, b, X, Y)
    with passes.Pass(cut(rows, sizes), Y, 8, threads=1) as sums:
        loss, dw, db, m = sums((w / 255).reshape(-1), b)
    assert m == 37
    assert loss / m == pytest.approx(cost, rel=1e-12)
    np.testing.assert_allclose(dw / 255 / m, grads["dw"].reshape(-1), rtol=1e-12, atol=1e-15)
    assert db / m == pytest.approx(grads["db"], rel=1e-12)


@pytest.mark.usefixtures("one_blas_thread", "way")
@pytest.mark.parametrize("sizes", [[1000], [100] * 10, [333, 333, 334]])
def test_a_pass_gives_the_same_bits_on_any_number_of_threads(sizes):
    rows, Y = pixels(1000, n_x=300, seed=2)
    v = np.random.default_rng(3).normal(scale=1e-3, size=300)
    seen = []
    for threads in (1, 2, 4, 8):
        with passes.Pass(cut(rows, sizes), Y, 16, threads=threads) as sums:
            assert sums.threads == threads
            loss, dw, db, m = sums(v, 0.1)
            seen.append((loss, dw.tobytes(), db, m))
    assert all(s == seen[0] for s in seen)
    assert seen[0][3] == 1000


def test_compiled_blocks_take_threads_beside_blas_threads(way):
    # They make no BLAS calls: BLAS's own threads are not in their way.
    rows, Y = pixels(20_000, n_x=4)
    with threadpool_limits(limits=2, user_api="blas"):
        assert passes.threads_for(20_000, 64, 2, blas=False) == 2
        with passes.Pass(lambda: [rows], Y, 64, threads=2) as sums:
            assert sums.threads == (2 if way == "compiled" else 1)


@pytest.mark.usefixtures("one_blas_thread", "way")
def test_read_only_and_strided_images_give_the_same_sums():
    # A set memory-mapped read-only, and one given as every other image of a larger array.
    rows, Y = pixels(600, n_x=300, seed=7)
    v = np.random.default_rng(8).normal(scale=1e-3, size=300)
    with passes.Pass(lambda: [rows], Y, 16, threads=2) as sums:
        loss, dw, db, m = sums(v, 0.1)
        expected = (loss, dw.tobytes(), db, m)
    locked = rows.copy()
    locked.setflags(write=False)
    labels = Y.copy()
    labels.setflags(write=False)
    spaced = np.zeros((1200, 300), dtype=np.uint8)
    spaced[::2] = rows
    for given in (locked, spaced[::2]):
        with passes.Pass(lambda given=given: [given], labels, 16, threads=2) as sums:
            loss, dw, db, m = sums(v, 0.1)
            assert (loss, dw.tobytes(), db, m) == expected


@pytest.mark.usefixtures("one_blas_thread")
def test_threads_only_beside_a_blas_on_one_thread():
    assert passes.threads_for(20_000, 64, 2) == 2
    assert passes.threads_for(20_000, 64, 100) == passes.LANES
    # Powers of two share the 8 partial sums evenly: 5 threads would end no sooner than 4.
    assert [passes.threads_for(20_000, 64, t) for t in (3, 5, 7)] == [2, 4, 4]
    # Too few blocks to share: 7 blocks of 64 are under MIN_BLOCKS = 4 for each of two.
    assert passes.threads_for(7 * 64, 64, 2) == 1
    with threadpool_limits(limits=2, user_api="blas"):
        assert passes.threads_for(20_000, 64, 2) == 1


@pytest.mark.usefixtures("one_blas_thread")
def test_the_threads_end_with_the_pass_and_hold_the_signals_the_main_thread_handles(
    monkeypatch, way
):
    rows, Y = pixels(512)
    masks = {}

    def watched(work, *args):
        masks[threading.current_thread().name] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        return work(*args)

    watch_blocks(monkeypatch, way, watched)
    with passes.Pass(lambda: [rows], Y, 16, threads=4) as sums:
        sums(np.zeros(48), 0.0)
        assert len(pass_threads()) == 3  # beside the caller's
    assert pass_threads() == []
    # Every thread worked: the caller's, and three that hold the signals its handlers take.
    workers = ["catclf-pass-1", "catclf-pass-2", "catclf-pass-3"]
    assert sorted(masks) == ["MainThread", *workers]
    for name in workers:
        assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= masks[name]


@pytest.mark.usefixtures("one_blas_thread", "way")
@pytest.mark.parametrize("stop", [KeyboardInterrupt, ValueError])
def test_an_interrupt_or_an_error_ends_the_pass_and_its_threads(stop):
    rows, Y = pixels(2048)
    taken = []

    def on_slice(k):
        taken.append(k)
        if len(taken) == 2:
            raise stop("stop")

    with (
        pytest.raises(stop),
        passes.Pass(cut(rows, [512] * 4), Y, 16, threads=2, on_slice=on_slice) as sums,
    ):
        sums(np.zeros(48), 0.0)
    assert taken == [512, 512]
    assert pass_threads() == []


@pytest.mark.usefixtures("one_blas_thread")
def test_an_interrupt_while_the_threads_work_leaves_a_pass_that_gives_the_same_sums(
    monkeypatch, way
):
    rows, Y = pixels(4096)
    v = np.random.default_rng(6).normal(scale=1e-3, size=48)
    with passes.Pass(lambda: [rows], Y, 16, threads=1) as sums:
        expected = sums(v, 0.2)
        expected = (expected[0], expected[1].copy(), expected[2], expected[3])
    calls = []

    def interrupted(work, *args):
        if threading.current_thread() is threading.main_thread():
            calls.append(1)
            if len(calls) == 3:  # in the caller's own share, the others at work
                raise KeyboardInterrupt
        return work(*args)

    watch_blocks(monkeypatch, way, interrupted)
    with passes.Pass(lambda: [rows], Y, 16, threads=2) as sums:
        with pytest.raises(KeyboardInterrupt):
            sums(v, 0.2)
        again = sums(v, 0.2)
    assert pass_threads() == []
    assert again[0] == expected[0] and again[2:] == expected[2:]
    assert again[1].tobytes() == expected[1].tobytes()


@pytest.mark.usefixtures("one_blas_thread", "way")
def test_an_error_in_a_thread_reaches_the_caller():
    rows, Y = pixels(512)
    with passes.Pass(lambda: [rows], Y, 16, threads=2) as sums:
        with pytest.raises(ValueError):
            sums(np.zeros(47), 0.0)  # w of the wrong size: the product refuses it
        assert sums(np.zeros(48), 0.0)[3] == 512  # and the pass still serves
    assert pass_threads() == []


@pytest.mark.usefixtures("one_blas_thread")
def test_the_threads_keep_the_callers_numpy_error_settings(monkeypatch):
    # numpy's settings are numpy's: the compiled kernel gives inf and nan as numpy does
    # with its errors ignored, which is how training runs a pass.
    monkeypatch.setattr(fused, "pixel_kernel", lambda: None)
    rows, Y = pixels(512)
    v = np.full(48, np.inf)  # z = inf: inf - inf in the loss, numpy's "invalid"
    with passes.Pass(lambda: [rows], Y, 16, threads=2) as sums, warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            loss, _, _, _ = sums(v, 0.0)
        with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
            sums(v, 0.0)
    assert np.isnan(loss)


@pytest.mark.usefixtures("one_blas_thread", "way")
def test_training_on_two_threads_is_the_course_descent(passes_made):
    # catclf.train's loop on 600 images in memory, its pass on two threads, against the
    # course's own code on X = pixels / 255: every cost, w and b.
    images, Y = pixels(600, n_x=12288, seed=4)
    X = images.T / 255
    seen = []
    params, _, _ = optimize(
        np.zeros((12288, 1)), 0.0, X, Y, 30, 0.002, callback=lambda i, c: seen.append(c)
    )
    data = Dataset(images.reshape(600, 64, 64, 3), Y.reshape(-1).astype(int))
    watched = Watched()
    run = training.fit(
        data, learning_rate=0.002, num_iterations=30, solver="primal", progress=watched
    )
    assert [p.threads for p in passes_made] == [2]
    assert seen[-1] < seen[0] - 0.04  # learning: the comparison means something
    np.testing.assert_allclose(watched.costs(), seen, rtol=1e-9, atol=0)
    np.testing.assert_allclose(run.model.w, params["w"], rtol=1e-9, atol=1e-12)
    assert run.model.b == pytest.approx(params["b"], rel=1e-9)
    assert pass_threads() == []


def test_a_memory_limit_leaves_a_pass_one_thread_per_core(passes_made):
    # 4,096 images in blocks of 64 would keep 8 threads busy, and 4 GB leaves room for the
    # buffers of 8: still one thread per core (the command's default limit is a quarter of
    # the memory).
    images, Y = pixels(4096, n_x=12288, seed=5)
    data = Dataset(images.reshape(4096, 64, 64, 3), Y.reshape(-1).astype(int))
    training.fit(data, num_iterations=1, solver="primal", memory_limit="4GB")
    assert [p.threads for p in passes_made] == [2]
