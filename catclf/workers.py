"""The processes that decode images: `reader` hands (source, name) pairs to up to jobs
worker processes and gives back each image's pixels, or why it cannot be read, in input
order. The pool is catclf's own: one pipe per worker and no helper threads, so that fork is
safe and no interrupt can leave a worker behind (see `reader`).

What crosses a pipe is plain bytes, never a pickle: a task is a tag byte and a path as the
file system spells it, or a tag byte and an image's bytes; a result is a tag byte and 12,288
bytes of pixels, or a tag byte and why the image cannot be read, in UTF-8. Each result is
sent as soon as it is known, so that an image that takes longer than TIME_BUDGET is known:
its worker is ended, the image reported, and a new worker takes the rest of its work.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from catclf.errors import CatclfError, ImageError
from catclf.images import CHANNELS, IMAGE_SIZE, N_X, Pixels, load_image, read_or_reason

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

Source = Path | bytes


class Reader(Protocol):
    """What `reader` yields: read(items, ready) gives each item's result, in input order."""

    def __call__(
        self, items: Iterable[tuple[Source, str]], ready: int = 0
    ) -> Iterator[Pixels | ImageError]: ...


# Below this many images per process, starting the processes costs more than they save.
MIN_IMAGES_PER_PROCESS = 8
# Seconds one image may take to decode in a worker. The slowest real photos measured take a
# few seconds on two busy cores (48 megapixels: a HEIC 6 s, a 16-bit PNG 3 to 4 s, an AVIF
# or a progressive JPEG 2 s): ten times that, for a slow or loaded machine.
TIME_BUDGET = 60.0
# Images in flight per worker once results are taken: enough that none waits for its next
# image while this process takes the others' results.
AHEAD = 4
# Images each worker is sent when reading begins, before any result is asked for, of those at
# hand (see `reader`): enough to keep it busy while the caller does the rest of its own start
# (predict imports h5py and reads its model, about 50 ms on two busy cores: 16 photos).
# Their results (12 KB each) fit its pipe on Linux (about 200 KB): it need not wait for this
# process to take them.
FIRST = 16
# Bytes of tasks in flight to one worker, at most, however many images: they fit any
# system's pipe, so that sending a task never waits on a worker that waits for this process
# to take its result. A larger task (an image read from stdin) goes only to a worker with
# nothing else to do, which reads it at once.
LARGE_TASK = 4096
PATH, BYTES = b"p", b"b"  # the tag of a task
PIXELS, REASON = b"P", b"R"  # the tag of a result
MAX_REASON = 1024  # characters of a reason sent back (4 KB in UTF-8): one short line
# SIGHUP: where the system has one (not on Windows, which runs no workers of this kind).
WORKER_SIGNALS = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
PR_SET_PDEATHSIG = 1  # prctl option: a signal for when the parent ends (Linux)


@contextlib.contextmanager
def reader(jobs: int, count: int) -> Iterator[Reader]:
    """A function that decodes (source, name) pairs into pixels, in up to jobs processes.

    read(items, ready) yields, in input order, each image's (64, 64, 3) pixels or the
    ImageError that says why it cannot be read; one that takes a worker more than TIME_BUDGET
    seconds is an ImageError that says so. The first items go to the processes as read is
    called, so that they decode while the caller does something else before it asks for a
    result: AHEAD a process, or up to FIRST of the first ready items, those at hand (taking
    them waits for nothing, as it may for a list of paths still being written).

    count is how many images there will be: with jobs=1, or too few images to be worth a
    process each, everything is decoded in this process (with the bounds of catclf.bounds,
    but no time budget). Leaving the context stops the worker processes, also on Ctrl-C or
    an error; a worker that dies without a result (a decoder that crashed it) is a
    CatclfError.
    """
    processes = min(jobs, count // MIN_IMAGES_PER_PROCESS)
    if processes < 2:
        yield _read_here
        return
    import PIL.Image  # noqa: F401  # before the fork, so that no worker imports it again

    pool = _Pool(processes)
    try:
        pool.start()
        yield pool.read
    finally:
        # Done, failed or interrupted alike: no worker outlives the reading.
        pool.stop()


class _Worker:
    """A worker process, its end of the pipe, the tasks it has in flight (their indexes,
    oldest first) and their bytes, and when the oldest was started, at the latest."""

    __slots__ = ("connection", "process", "sent", "since", "tasks")

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.tasks: collections.deque[int] = collections.deque()
        self.sent = 0
        self.since = 0.0


class _Task(NamedTuple):
    message: bytes
    name: str


class _Reading:
    """One pass of `_Pool.read`: the items still to take, the tasks taken and not yet
    answered (by index, in input order), those not yet sent, the results not yet given,
    and how many items have been taken and results given."""

    __slots__ = ("given", "items", "more", "results", "taken", "tasks", "waiting")

    def __init__(self, items: Iterator[tuple[Source, str]]) -> None:
        self.items = items
        self.more = True  # whether items may hold more
        self.tasks: dict[int, _Task] = {}
        self.waiting: collections.deque[int] = collections.deque()
        self.results: dict[int, Pixels | ImageError] = {}
        self.taken = self.given = 0


class _Pool:
    """Worker processes, each with its pipe, and the tasks each has in flight."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.workers: list[_Worker] = []
        # The workers with tasks in flight, whose connections a result may come on: kept from
        # one wait to the next, as waiting with a new selector each time costs more than the
        # rest of what is done for an image here.
        self.busy = selectors.DefaultSelector()

    def start(self) -> None:
        with _signals_held():
            for _ in range(self.size):
                self.workers.append(_start_worker())

    def stop(self) -> None:
        self.busy.close()
        for worker in self.workers:
            worker.connection.close()
            if worker.process.pid is not None:
                worker.process.kill()
        for worker in self.workers:
            if worker.process.pid is not None:
                worker.process.join()

    def read(
        self, items: Iterable[tuple[Source, str]], ready: int = 0
    ) -> Iterator[Pixels | ImageError]:
        """Each item's result, in input order, as the workers send them back; the first
        items are sent at once (see `reader`)."""
        reading = _Reading(iter(items))
        self._send_more(reading, max(AHEAD, min(FIRST, ready // self.size)))
        return self._results(reading)

    def _results(self, reading: _Reading) -> Iterator[Pixels | ImageError]:
        results = reading.results
        while True:
            while reading.given in results:
                yield results.pop(reading.given)
                reading.given += 1
            self._send_more(reading, AHEAD)
            busy = [w for w in self.workers if w.tasks]
            if not busy:
                if not (reading.more or reading.waiting):
                    return
                continue
            first_deadline = min(w.since for w in busy) + TIME_BUDGET
            timeout = max(0.0, first_deadline - time.monotonic())
            for key, _ in self.busy.select(timeout):
                self._receive(key.data, reading)
            now = time.monotonic()
            for worker in busy:
                if worker.tasks and now - worker.since > TIME_BUDGET:
                    if worker.connection.poll():  # its answer came in the meantime
                        self._receive(worker, reading)
                    else:
                        self._replace(worker, reading)

    def _send_more(self, reading: _Reading, ahead: int) -> None:
        """Send items to the workers while one can take another, up to ahead in flight
        each."""
        tasks, waiting = reading.tasks, reading.waiting
        while True:
            if not waiting:
                # No more images taken than the workers can have in flight, counted from
                # the next result due: taking one more may wait on a list that is still
                # being written, while that result is ready to be given.
                if not reading.more or reading.taken - reading.given >= self.size * ahead:
                    return
                try:
                    source, name = next(reading.items)
                except StopIteration:
                    reading.more = False
                    return
                tasks[reading.taken] = _Task(_task(source), name)
                waiting.append(reading.taken)
                reading.taken += 1
            worker = self._free(len(tasks[waiting[0]].message), ahead)
            if worker is None:
                return
            index = waiting.popleft()
            self._send(worker, index, tasks[index])

    def _free(self, size: int, ahead: int) -> _Worker | None:
        """The worker with the fewest tasks in flight, if it can take one more task of size
        bytes now: it has none, or fewer than ahead and room for size bytes among them."""
        worker = min(self.workers, key=lambda w: len(w.tasks))
        if worker.tasks and (len(worker.tasks) >= ahead or worker.sent + size > LARGE_TASK):
            return None
        return worker

    def _send(self, worker: _Worker, index: int, task: _Task) -> None:
        try:
            worker.connection.send_bytes(task.message)
        except OSError as e:  # the worker has died since its last result: a broken pipe
            raise _worker_died(task.name) from e
        if not worker.tasks:
            worker.since = time.monotonic()
            self.busy.register(worker.connection, selectors.EVENT_READ, worker)
        worker.tasks.append(index)
        worker.sent += len(task.message)

    def _receive(self, worker: _Worker, reading: _Reading) -> None:
        tasks = reading.tasks
        index = worker.tasks[0]
        task = tasks[index]
        # A bytearray, so that the pixels made of it are writable, as load_image's are. No
        # result is longer: pixels, or a reason of at most MAX_REASON characters.
        message = bytearray(1 + N_X)
        try:
            size = worker.connection.recv_bytes_into(message)
        except (EOFError, OSError) as e:  # a decoder that crashed takes its worker with it
            raise _worker_died(task.name) from e
        worker.tasks.popleft()
        worker.sent -= len(task.message)
        if not worker.tasks:
            self.busy.unregister(worker.connection)
        del tasks[index]
        worker.since = time.monotonic()
        reading.results[index] = _result(message, size, task.name)

    def _replace(self, worker: _Worker, reading: _Reading) -> None:
        """End a worker whose image has taken longer than TIME_BUDGET: that image is an
        error, the rest of its tasks go back to be sent again, and a new worker takes its
        place."""
        index = worker.tasks.popleft()
        reading.results[index] = ImageError(
            f"{reading.tasks.pop(index).name}: took longer than the {TIME_BUDGET:g} s allowed "
            "to decode one image"
        )
        reading.waiting.extendleft(reversed(worker.tasks))
        self.busy.unregister(worker.connection)
        worker.connection.close()
        worker.process.kill()
        worker.process.join()
        with _signals_held():
            self.workers[self.workers.index(worker)] = _start_worker()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM waits while workers start: one that came before a worker had set its
    own handlers would run this process's there, with a traceback. Each worker keeps the
    signals blocked until it has set its handlers; here, a held signal arrives on leaving."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start_worker() -> _Worker:
    # here: most runs start no process
    import multiprocessing

    method = _start_method()
    context = multiprocessing.get_context(method)
    here, there = context.Pipe()
    # A worker forked or spawned by this process checks that this process is its parent; one
    # forked by the fork server has the server for parent, which ends with this process.
    parent = os.getpid() if method != "forkserver" else None
    process = context.Process(  # type: ignore[attr-defined]
        target=_serve, args=(there, parent), daemon=True
    )
    try:
        process.start()
    except BaseException:
        here.close()
        raise
    finally:
        there.close()
    return _Worker(process, here)


def _start_method() -> str:
    # fork starts a worker in milliseconds with numpy and Pillow already imported; forkserver
    # and spawn start a new interpreter that imports them again. But fork copies only the
    # calling thread, and a lock another thread held at that moment stays locked in the
    # child for ever. So fork only on Linux, where it is the norm, and only while this
    # process runs no other Python thread (catclf's progress bars run none). Asked again for
    # each worker: one that replaces another may start once threads have.
    import multiprocessing

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _serve(connection: Connection, parent: int | None) -> None:
    """A decoding worker: tasks in, one result out for each, in turn, until the main process
    closes its end. It ends with os._exit: a forked worker holds a copy of the main
    process's unwritten output, which a normal exit would write again."""
    try:
        # Ctrl-C and a closed terminal's SIGHUP reach every process of the foreground group:
        # the main process alone handles them and stops the workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _end_with(parent)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
        while True:
            try:
                task = connection.recv_bytes()
            except (EOFError, OSError):
                break
            source = Path(os.fsdecode(task[1:])) if task[:1] == PATH else task[1:]
            del task  # an image's bytes are held once while it is decoded
            connection.send_bytes(_answer(source))
    finally:
        os._exit(0)


def _end_with(parent: int | None) -> None:
    """Have the system end this worker when the process that started it ends (Linux), so
    that no worker outlives it, however that process ends. parent: the process that started
    it, when that is this worker's parent (None: whichever process is)."""
    if not sys.platform.startswith("linux"):
        return
    # here: only a worker, on Linux, calls the C library
    import ctypes

    expected = parent if parent is not None else os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != expected:  # the parent ended before the request took effect
        os._exit(0)


def _task(source: Source) -> bytes:
    if isinstance(source, bytes):
        return BYTES + source
    return PATH + os.fsencode(source)


def _answer(source: Source) -> bytes:
    """The result for an image, as a worker sends it back."""
    outcome = read_or_reason(source)
    if isinstance(outcome, str):
        return REASON + outcome[:MAX_REASON].encode("utf-8", "surrogatepass")
    return PIXELS + outcome.tobytes()


def _result(message: bytearray, size: int, name: str) -> Pixels | ImageError:
    """A worker's result for the image called name, as pixels or an ImageError."""
    if message[:1] == PIXELS and size == 1 + N_X:
        return np.frombuffer(message, np.uint8, N_X, 1).reshape(IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
    why = bytes(message[1:size]).decode("utf-8", "surrogatepass")
    return ImageError(f"{name}: {why}")


def _worker_died(name: str) -> CatclfError:
    return CatclfError(f"{name}: a decoding process ended without a result", advice="jobs")


def _read_here(
    items: Iterable[tuple[Source, str]], ready: int = 0
) -> Iterator[Pixels | ImageError]:
    # Nothing is sent ahead: each image is decoded here as its result is asked for.
    for source, name in items:
        try:
            yield load_image(source, name)
        except ImageError as e:
            yield e
