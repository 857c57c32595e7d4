"""One block's share of a pass, read once from its uint8 pixels: compiled with Numba.

`logistic.add_block` takes a block of examples as float64 rows, so a pass over uint8 pixels
first turns each block into float64 (8 bytes written for each pixel read) and then reads
those floats twice, once for z and once for dw: on 2 cores that is 52 to 59 ms for 20,000
images, and on one thread a third of it is the turning into floats. `add_pixels` does the
same arithmetic in one loop compiled to machine code: four examples at a time, each pixel
is read as a byte, turned into a float in a register and used for z, then, once dZ is known,
for dw while its row is still in the core's own cache. An iteration over the same images
takes 15 to 16 ms on 2 cores, 25 to 27 ms on one, where reading the bytes alone takes 7 to 9.

Numba is an optional extra (`pip install 'catclf[fast]'`): without it, or where it cannot
compile, `pixel_kernel()` returns None and a pass does the same arithmetic with numpy and
BLAS. Both ways give the course's gradient within rounding (sums taken in another order:
about 1e-15 relative), and the tests hold them together. Numba keeps the machine code it
compiles from this file in this package's `__pycache__`, beside Python's own compiled files
and with their trust (`_cached`), so that only the first run of an installation waits for
the compiler (about 0.9 s; later runs take 0.3 to 0.6 s to load Numba and the code).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

# add_pixels(P (k, n) uint8, v (n,), b, y (k,), dw (n,)) -> (loss, sum(dZ)); dw gains P^T dZ.
PixelKernel = Callable[
    [NDArray[np.uint8], NDArray[np.float64], float, NDArray[np.float64], NDArray[np.float64]],
    tuple[float, float],
]


def add_pixels(
    P: NDArray[np.uint8],
    v: NDArray[np.float64],
    b: float,
    y: NDArray[np.float64],
    dw: NDArray[np.float64],
) -> tuple[float, float]:
    """`logistic.add_block` on pixels: P (k, n) holds k examples, one per row, as uint8; v
    (n,) is the weights the pixels meet (w / 255 for values 0 .. 255), y (k,) the labels.
    With z = P v + b: adds P^T dZ to dw (n,) and returns the loss summed over the k examples
    and sum(dZ), where dZ = sigmoid(z) - y and the loss is the course's cross-entropy.

    Written for Numba (`pixel_kernel` compiles it, for C-contiguous arrays): the loops over a
    row are what the compiler turns into vector instructions, and four examples share each
    read of v and dw. Run as plain Python it gives the same numbers to rounding, slowly.
    """
    k, n = P.shape
    if v.shape[0] != n or dw.shape[0] != n or y.shape[0] != k:  # compiled code reads blindly
        raise ValueError("add_pixels: P (k, n) needs v (n,), y (k,) and dw (n,)")
    z = np.empty(4)
    dZ = np.zeros(4)
    loss = 0.0
    db = 0.0
    for i in range(0, k, 4):
        g = min(4, k - i)  # the last rows of a block may be fewer: the others repeat a row
        p0, p1, p2, p3 = P[i], P[i + min(1, g - 1)], P[i + min(2, g - 1)], P[i + g - 1]
        z0 = z1 = z2 = z3 = b
        for j in range(n):
            z0 += p0[j] * v[j]
            z1 += p1[j] * v[j]
            z2 += p2[j] * v[j]
            z3 += p3[j] * v[j]
        z[0], z[1], z[2], z[3] = z0, z1, z2, z3
        dZ[:] = 0.0  # a repeated row adds nothing
        for t in range(g):
            # As `logistic._loss_and_dz`: with s = log(1 + e^z), the loss is s - y z and
            # sigmoid(z) = e^(z - s), and nothing overflows.
            s = max(z[t], 0.0) + math.log1p(math.exp(-abs(z[t])))
            loss += s - y[i + t] * z[t]
            dZ[t] = math.exp(z[t] - s) - y[i + t]
            db += dZ[t]
        d0, d1, d2, d3 = dZ[0], dZ[1], dZ[2], dZ[3]
        for j in range(n):
            dw[j] += d0 * p0[j] + d1 * p1[j] + d2 * p2[j] + d3 * p3[j]
    return loss, db


_making = threading.Lock()


def pixel_kernel() -> PixelKernel | None:
    """`add_pixels` compiled for this processor, or None where Numba is not installed,
    cannot compile it, or is told not to compile (NUMBA_DISABLE_JIT). Compiled (or taken
    from the cache, `_cached`) once per process."""
    with _making:
        return _compile()


def numba_installed() -> bool:
    """Whether Numba is installed, whether or not it compiles here."""
    return importlib.util.find_spec("numba") is not None


@functools.cache
def _compile() -> PixelKernel | None:
    # What Numba may warn of reaches the program's own filters, as any library's warnings
    # do (the catclf command ignores them all).
    try:
        import numba  # here: only a pass over many examples needs it, and it takes 0.2 s
        from numba import types
    except Exception:  # not installed, or built for another numpy
        return None
    if getattr(numba.config, "DISABLE_JIT", False):  # njit would give back the Python
        return None
    # Read-only arrays are taken as well (a memory-mapped set, say): the kernel writes to dw
    # alone.
    pixels = types.Array(types.uint8, 2, "C", readonly=True)
    values = types.Array(types.float64, 1, "C", readonly=True)
    out = types.Array(types.float64, 1, "C")
    signature = types.UniTuple(types.float64, 2)(pixels, values, types.float64, values, out)
    options: dict[str, Any] = {"nogil": True, "fastmath": {"reassoc", "contract"}}
    for cache in dict.fromkeys((_cached(numba), False)):  # a cache that fails: compile
        try:
            compiled = numba.njit(signature, cache=cache, **options)(add_pixels)
        except Exception:
            continue
        return compiled  # type: ignore[no-any-return]
    return None


def _cached(numba: Any) -> bool:
    """Whether Numba may keep its compiled code: only in this package's __pycache__, where
    Python keeps its own compiled files, with the same trust (Numba reads its cache back
    with pickle). Not where NUMBA_CACHE_DIR or NUMBA_CACHE_LOCATOR_CLASSES send it, nor in
    the user's cache folder, where Numba goes when the package's folder cannot be written:
    there the kernel is compiled anew in each process (about 0.5 s more)."""
    if numba.config.CACHE_DIR or numba.config.CACHE_LOCATOR_CLASSES:
        return False
    here = Path(__file__).parent
    folder = here / "__pycache__"
    return os.access(folder if folder.is_dir() else here, os.W_OK)
