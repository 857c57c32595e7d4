"""One pass of gradient descent over the examples' pixels, on one thread or several.

An iteration at (w, b) needs, over all m examples, the losses summed, X dZ^T, sum(dZ) and m
(`catclf.logistic.optimize_blocks` makes the cost and the step of them). `Pass` computes
them from uint8 pixels that come a slice of images at a time (in memory, or read from a
file), a block of at most `columns` examples at a time. Where Numba is installed, a block
is worked by `catclf.fused.add_pixels`, compiled, which reads each pixel once as a byte;
elsewhere it is turned into float64 in a buffer of its thread's own and used by both of
BLAS's products while it is in the processor's cache (`logistic.add_block`).

Block q of a pass (counted from the first example) is added into partial sum q % LANES, in
order, and the LANES partial sums are added in order once the pass is over: the same
additions in the same order whatever the number of threads, so a pass gives the same
numbers to the bit on one thread or on eight.

The compiled blocks call no BLAS, and their threads take the blocks of their lanes whatever
BLAS does: on 2 cores, an iteration over 20,000 examples takes 15 to 16 ms, against 25 to 27 on
one thread. BLAS's products are another matter. When BLAS computes each on one thread (as
the catclf command has it), the threads of a pass share the blocks as well, and on 2 cores
an iteration takes about two thirds of the time it takes on one thread. When BLAS runs
threads of its own, they already share each product, and threads of a pass beside them make
each product wait for threads busy elsewhere (measured 1.5 to 5 times slower): the pass then
runs on the caller's thread. threadpoolctl says which BLAS is loaded and with how many
threads, and changes nothing.

The caller's thread works one share of each pass; the others live while the Pass is open
(`with Pass(...) as sums:`) and are joined as it closes, so that a program that forks worker
processes afterwards forks with one thread. They never receive Ctrl-C, SIGTERM or SIGHUP:
Python runs signal handlers in the main thread, and regions that hold those signals
(`catclf.interrupts`) hold them for the whole process only if no other thread can take them.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf import fused, parameters
from catclf.interrupts import HELD, held
from catclf.logistic import Array, add_block

LANES = 8  # partial sums of a pass, so at most 8 threads work one
MIN_BLOCKS = 4  # per thread, in a pass: fewer, and starting threads costs more than it gains

Slices = Callable[[], Iterable[NDArray[Any]]]


class Pass:
    """The pass `logistic.optimize_blocks` takes: called as sums(v, b) with v = scale * w
    (n_x,), it returns (loss, dw (n_x,), db, m) over the examples that slices() yields.

    slices() yields the images in order, in consecutive arrays of the uint8 pixels of k
    examples ((k, 64, 64, 3) or (k, n_x)), each valid until the next is taken; Y
    (1, m) or (m,) holds their labels. A block never spans two slices. on_slice(k) is called
    on the caller's thread once the k examples of a slice have been used. threads: at most
    that many (None: one per core this process may use), and one unless BLAS computes
    each product on one thread where the blocks go to BLAS (see the module's docstring); the
    caller's thread is one of them. The dw returned is the Pass's own, valid until the next
    call. numpy's error settings (np.errstate) reach the blocks numpy works; the compiled
    blocks give inf and nan as numpy does when its errors are ignored.
    """

    def __init__(
        self,
        slices: Slices,
        Y: Array,
        columns: int,
        *,
        threads: int | None = None,
        on_slice: Callable[[int], None] | None = None,
    ) -> None:
        self.y = np.ascontiguousarray(Y, dtype=np.float64).reshape(-1)
        self.slices, self.columns = slices, columns
        self.on_slice = on_slice
        self.kernel = compiled_kernel()
        self.threads = threads_for(self.y.size, columns, threads, blas=self.kernel is None)
        self._workers: list[_Worker] = []
        self._broken = False
        self._stop = threading.Event()
        self._lanes = _Lanes(0)
        self._scratch: list[dict[str, Any]] = [{} for _ in range(self.threads)]

    def __enter__(self) -> Pass:
        # Started while the signals are held, the threads are born holding them.
        with held():
            for thread in range(1, self.threads):
                self._workers.append(_Worker(self._work, thread))
        return self

    def __exit__(self, *exc: object) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.inbox.put(None)
        for worker in workers:
            worker.thread.join()

    def __call__(self, v: Array, b: float) -> tuple[float, Array, float, int]:
        if len(self._workers) != self.threads - 1:
            raise RuntimeError("a Pass on more than one thread runs inside `with`")
        n_x = v.shape[0]
        if self._lanes.dw.shape[1] != n_x:
            self._lanes = _Lanes(n_x)
        lanes = self._lanes
        lanes.clear()
        settings = np.geterr()  # threads start with numpy's defaults, not the caller's
        start = block = 0
        v = np.ascontiguousarray(v, dtype=np.float64)
        for part in self.slices():
            rows = part.reshape(part.shape[0], -1)
            k = rows.shape[0]
            self._share(_Task(rows, self.y[start : start + k], v, float(b), block, settings))
            start += k
            block += -(-k // self.columns)
            if self.on_slice is not None:
                self.on_slice(k)
        return lanes.total(start)

    def _share(self, task: _Task) -> None:
        """task's slice worked by all the threads, the caller's among them; returns once
        none of them reads it any more (the next slice may be read into it)."""
        if self._broken:
            raise RuntimeError("a Pass interrupted while its threads still worked is closed")
        sent: list[_Worker] = []
        try:
            for worker in self._workers:
                worker.inbox.put(task)
                sent.append(worker)
            self._work(task, 0)
            while sent:
                failed = sent.pop(0).outbox.get()
                if failed is not None:
                    raise failed
        except BaseException:
            # An interrupt, or an error: the others stop at their next block, and each
            # that took the task gives its one answer before the slice may change.
            self._stop.set()
            self._broken = True  # until every answer is in: another interrupt leaves it so
            for worker in sent:
                worker.outbox.get()
            self._stop.clear()
            self._broken = False
            raise

    def _work(self, task: _Task, thread: int) -> None:
        """The blocks of task's slice that fall in the lanes of thread, in order."""
        rows, columns, lanes = task.rows, self.columns, self._lanes
        scratch = self._scratch[thread]
        with np.errstate(**task.settings):
            for j in range(0, rows.shape[0], columns):
                lane = (task.block + j // columns) % LANES
                if lane % self.threads != thread:
                    continue
                if self._stop.is_set():
                    return
                block = rows[j : j + columns]
                y = task.y[j : j + columns]
                if self.kernel is not None and block.dtype == np.uint8:
                    block = _contiguous(block, columns, scratch)
                    loss, db = self.kernel(block, task.v, task.b, y, lanes.dw[lane])
                else:
                    block = _floats(block, columns, scratch)
                    loss, db = add_block(task.v, task.b, block, y, lanes.dw[lane], scratch)
                lanes.loss[lane] += loss
                lanes.db[lane] += db


def _floats(block: NDArray[Any], columns: int, scratch: dict[str, Any]) -> Array:
    """block (k, n_x) as float64: itself, or its values in the thread's buffer."""
    if block.dtype == np.float64:
        return block
    return _copied(block, np.float64, "floats", columns, scratch)


def _contiguous(block: NDArray[Any], columns: int, scratch: dict[str, Any]) -> NDArray[Any]:
    """block (k, n_x) with its rows one after the other, as the compiled kernel takes them:
    itself, or a copy in the thread's buffer (of a set given as every other image, say)."""
    if block.flags.c_contiguous:
        return block
    return _copied(block, block.dtype, "pixels", columns, scratch)


def _copied(
    block: NDArray[Any], dtype: Any, name: str, columns: int, scratch: dict[str, Any]
) -> NDArray[Any]:
    """block's values as dtype in the thread's buffer of that name, made once."""
    k, n_x = block.shape
    buffer = scratch.get(name)
    if buffer is None or buffer.shape[1] != n_x:
        buffer = scratch[name] = np.empty((columns, n_x), dtype=dtype)
    np.copyto(buffer[:k], block)
    return buffer[:k]


def compiled_kernel() -> fused.PixelKernel | None:
    """`fused.pixel_kernel()`, with Ctrl-C and SIGTERM held while Numba is imported and
    compiles (under a second, once per process): an import cut short would leave Numba
    broken for the rest of the process."""
    with held():
        return fused.pixel_kernel()


class _Worker:
    """A thread of a pass beside the caller's: takes tasks from its inbox until None, and
    puts in its outbox, for each, None or the exception that ended it."""

    def __init__(self, work: Callable[[_Task, int], None], thread: int) -> None:
        self.work, self.number = work, thread
        self.inbox: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=f"catclf-pass-{thread}")
        self.thread.daemon = True  # never keeps a program from ending
        self.thread.start()

    def _serve(self) -> None:
        _hold_signals()  # where the system lets a thread start with them unheld
        while (task := self.inbox.get()) is not None:
            try:
                self.work(task, self.number)
            except BaseException as error:  # handed to the caller's thread, raised there
                self.outbox.put(error)
            else:
                self.outbox.put(None)


def threads_for(m: int, columns: int, threads: int | None = None, *, blas: bool = True) -> int:
    """How many threads a pass over m examples in blocks of columns takes: the largest power
    of two at most threads (None: the cores this process may use, `parameters.cores`, where a
    container's CPU limit counts), LANES, and one per MIN_BLOCKS blocks. blas: the pass
    computes its products with BLAS, and then takes one thread unless BLAS computes each
    product on one thread."""
    if threads is None:
        threads = parameters.cores()
    threads = max(1, min(threads, LANES, -(-m // columns) // MIN_BLOCKS))
    # A power of two, which shares the LANES partial sums evenly: 5 threads would take 2, 2,
    # 2, 1 and 1, and end no sooner than 4.
    threads = 1 << (threads.bit_length() - 1)
    if threads > 1 and blas and not _blas_on_one_thread():
        return 1
    return threads


def _blas_on_one_thread() -> bool:
    try:
        # here: only a pass on several threads asks, and it costs 10 ms to import
        from threadpoolctl import threadpool_info
    except ImportError:
        return False
    blas = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return bool(blas) and all(pool.get("num_threads") == 1 for pool in blas)


def _hold_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD)


class _Task:
    """A slice of a pass: its rows (k, n_x), labels y (k,), the point (v, b), the index of
    its first block in the pass, and the caller's numpy error settings."""

    def __init__(
        self, rows: NDArray[Any], y: Array, v: Array, b: float, block: int, settings: Any
    ) -> None:
        self.rows, self.y, self.v, self.b = rows, y, v, b
        self.block, self.settings = block, settings


class _Lanes:
    """The LANES partial sums of a pass: losses, dw rows and db."""

    def __init__(self, n_x: int) -> None:
        self.loss = np.zeros(LANES)
        self.db = np.zeros(LANES)
        self.dw = np.zeros((LANES, n_x))
        self.sum = np.zeros(n_x)

    def clear(self) -> None:
        self.loss.fill(0.0)
        self.db.fill(0.0)
        self.dw.fill(0.0)

    def total(self, m: int) -> tuple[float, Array, float, int]:
        """(loss, dw, db, m): the lanes added in order."""
        loss = db = 0.0
        self.sum.fill(0.0)
        for lane in range(LANES):
            loss += float(self.loss[lane])
            db += float(self.db[lane])
            self.sum += self.dw[lane]
        return loss, self.sum, db, m
