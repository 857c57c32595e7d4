"""The compiled block of a pass: the course's loss and gradient from uint8 pixels, worked by
hand, by finite differences and by numpy's way, and a kernel that changes nothing of the
program that asks for it."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from catclf import fused
from catclf.logistic import add_block


@pytest.fixture(scope="module")
def kernel():
    compiled = fused.pixel_kernel()
    assert compiled is not None  # the test extras install Numba
    return compiled


def test_two_examples_worked_by_hand(kernel):
    # v = (1, 2) / 255 and b = -1. Pixels (0, 255) give z = 2 - 1 = 1, a cat (y = 1):
    # loss -log(sigmoid(1)) = log(1 + e^-1), dZ = sigmoid(1) - 1. Pixels (255, 0) give
    # z = 1 - 1 = 0, not a cat: loss log 2, dZ = 1/2. dw = P^T dZ.
    P = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    v = np.array([1.0, 2.0]) / 255
    y = np.array([1.0, 0.0])
    dw = np.zeros(2)
    loss, db = kernel(P, v, -1.0, y, dw)
    sigmoid_1 = 1 / (1 + math.exp(-1))
    assert loss == pytest.approx(math.log(1 + math.exp(-1)) + math.log(2), rel=1e-15)
    assert db == pytest.approx(sigmoid_1 - 1 + 0.5, rel=1e-15)
    np.testing.assert_allclose(dw, [255 * 0.5, 255 * (sigmoid_1 - 1)], rtol=1e-15)


def test_the_gradient_is_the_losss_by_finite_differences(kernel):
    rng = np.random.default_rng(0)
    P = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    y = (rng.random(7) < 0.5).astype(np.float64)
    v = rng.normal(scale=0.01, size=5)
    dw = np.zeros(5)
    kernel(P, v, 0.2, y, dw)

    def loss(at):
        return kernel(P, at, 0.2, y, np.zeros(5))[0]

    h = 1e-6
    for j in range(5):
        step = np.zeros(5)
        step[j] = h
        assert (loss(v + step) - loss(v - step)) / (2 * h) == pytest.approx(dw[j], rel=1e-6)

    def loss_at_b(b):
        return kernel(P, v, b, y, np.zeros(5))[0]

    db = kernel(P, v, 0.2, y, np.zeros(5))[1]
    assert (loss_at_b(0.2 + h) - loss_at_b(0.2 - h)) / (2 * h) == pytest.approx(db, rel=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 64, 67])
@pytest.mark.parametrize("n", [1, 3, 48, 12288])
def test_the_kernel_gives_numpys_block(kernel, k, n):
    rng = np.random.default_rng(k * 100 + n)
    P = rng.integers(0, 256, (k, n), dtype=np.uint8)
    y = (rng.random(k) < 0.5).astype(np.float64)
    v = rng.normal(scale=1 / (255 * math.sqrt(n)), size=n)
    dw, expected_dw = np.ones(n), np.ones(n)  # both add to what dw holds
    loss, db = kernel(P, v, 0.1, y, dw)
    expected_loss, expected_db = add_block(v, 0.1, P.astype(np.float64), y, expected_dw, {})
    # Sums in another order: within 1e-14 of the sizes of their terms, which are up to 1
    # (dZ), and 255 for dw's (a pixel times dZ), of both signs.
    assert loss == pytest.approx(expected_loss, rel=1e-14)
    assert db == pytest.approx(expected_db, rel=1e-14, abs=1e-14 * k)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-14, atol=1e-14 * 255 * k)


def test_the_compiled_kernel_is_its_python(kernel):
    rng = np.random.default_rng(3)
    P = rng.integers(0, 256, (11, 40), dtype=np.uint8)
    y = (rng.random(11) < 0.5).astype(np.float64)
    v = rng.normal(scale=0.01, size=40)
    dw, plain_dw = np.zeros(40), np.zeros(40)
    assert kernel(P, v, -0.3, y, dw) == pytest.approx(
        fused.add_pixels(P, v, -0.3, y, plain_dw), rel=1e-13
    )
    np.testing.assert_allclose(dw, plain_dw, rtol=1e-13)


def test_far_from_the_boundary_nothing_overflows(kernel):
    # z = 800 for a non-cat: loss 800 (e^800 would overflow), dZ = 1; z = -800 for a cat:
    # loss 800, dZ = -1.
    P = np.array([[255], [255]], dtype=np.uint8)
    dw = np.zeros(1)
    loss, db = kernel(P, np.array([800 / 255]), 0.0, np.array([0.0, 0.0]), dw)
    assert (loss, db, dw[0]) == (1600.0, 2.0, 510.0)
    loss, db = kernel(P, np.array([-800 / 255]), 0.0, np.array([1.0, 1.0]), np.zeros(1))
    assert (loss, db) == (1600.0, -2.0)


def test_sizes_that_do_not_fit_are_refused(kernel):
    P = np.zeros((4, 5), dtype=np.uint8)
    for v, y, dw in [
        (np.zeros(4), np.zeros(4), np.zeros(5)),
        (np.zeros(5), np.zeros(3), np.zeros(5)),
        (np.zeros(5), np.zeros(4), np.zeros(6)),
    ]:
        with pytest.raises(ValueError):
            kernel(P, v, 0.0, y, dw)


@pytest.fixture
def compiled_anew():
    """pixel_kernel compiles again in this process, and again after the test."""
    fused._compile.cache_clear()
    yield
    fused._compile.cache_clear()


@pytest.mark.usefixtures("compiled_anew")
def test_a_cache_that_fails_still_compiles(monkeypatch):
    import numba

    njit = numba.njit

    def no_cache(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'add_pixels': no locator available")
        return njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", no_cache)
    compiled = fused.pixel_kernel()
    assert compiled is not None
    assert compiled(np.zeros((1, 1), np.uint8), np.zeros(1), 0.0, np.ones(1), np.zeros(1)) == (
        pytest.approx(math.log(2)),
        pytest.approx(-0.5),
    )


@pytest.mark.usefixtures("compiled_anew")
@pytest.mark.parametrize(
    "setting, value", [("CACHE_DIR", "/tmp/elsewhere"), ("CACHE_LOCATOR_CLASSES", "Mine")]
)
def test_no_cache_but_the_packages_own(monkeypatch, setting, value):
    # Numba reads its cache with pickle: catclf lets it keep one only beside Python's own
    # compiled files, never where a setting sends it.
    import numba

    njit, caches = numba.njit, []

    def seen(*args, cache=False, **kwargs):
        caches.append(cache)
        return njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", seen)
    monkeypatch.setattr(numba.config, setting, value)
    assert fused.pixel_kernel() is not None
    assert caches == [False]


PROBE = """
import sys, warnings
{block}
from catclf import fused
filters = list(warnings.filters)
kernel = fused.pixel_kernel()
print(kernel is None, warnings.filters == filters)
"""


def probe(block="", **environment):
    """In a new process: whether there is no kernel, whether the warning filters are as they
    were before it was asked for, and what went to stderr."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(block=block)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **environment},
    )
    return out.stdout, out.stderr


def test_asking_for_the_kernel_leaves_the_warning_filters_as_they_were():
    assert probe() == ("False True\n", "")


def test_numba_told_not_to_compile_gives_no_kernel():
    # NUMBA_DISABLE_JIT would hand back the loop as Python: thousands of times slower.
    assert probe(NUMBA_DISABLE_JIT="1") == ("True True\n", "")


def test_without_numba_there_is_no_kernel_and_no_word_of_it():
    assert probe("sys.modules['numba'] = None") == ("True True\n", "")
