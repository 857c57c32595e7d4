"""The processes that decode images: `reader` hands (source, name) pairs to up to jobs
worker processes and gives back each image's pixels, or why it cannot be read, in input
order. The pool is catclf's own: one pipe per worker and no helper threads, so that fork is
safe and no interrupt can leave a worker behind (see `reader`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from catclf.errors import CatclfError, ImageError
from catclf.images import Pixels, load_image

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

Source = Path | bytes
Reader = Callable[[Iterable[tuple[Source, str]]], Iterator[Pixels | ImageError]]
# Below this many images per process, starting the processes costs more than they save.
MIN_IMAGES_PER_PROCESS = 8
CHUNK = 4  # images per task sent to a worker: fewer round trips, still a fair share each
# Chunks in flight per worker: enough that none waits, and few enough that the results it
# holds (about 50 kB a chunk) fit its pipe, so that it never waits to send while this
# process waits to send it a chunk (an image read from stdin can be large).
TASKS_PER_PROCESS = 2
# SIGHUP: where the system has one (not on Windows, which runs no workers of this kind).
WORKER_SIGNALS = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
PR_SET_PDEATHSIG = 1  # prctl option: a signal for when the parent ends (Linux)


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def reader(jobs: int, count: int) -> Iterator[Reader]:
    """A function that decodes (source, name) pairs into pixels, in up to jobs processes.

    It yields, in input order, each image's (64, 64, 3) pixels or the ImageError that
    says why it cannot be read. count is how many images there will be: with jobs=1, or
    too few images to be worth a process each, everything is decoded in this process.
    Leaving the context stops the worker processes, also on Ctrl-C or an error.
    """
    processes = min(jobs, count // MIN_IMAGES_PER_PROCESS)
    if processes < 2:
        yield _read_here
        return
    import multiprocessing  # here: a one-image predict need not import it

    import PIL.Image  # noqa: F401  # before the fork, so that no worker imports it again

    context = multiprocessing.get_context(_start_method())
    # Ctrl-C or SIGTERM waits while the workers start: one that came before a worker had
    # set its own handlers would run this process's there, with a traceback. Each worker
    # keeps the signals blocked until it has set its handlers.
    workers: list[tuple[BaseProcess, Connection]] = []
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
    try:
        for _ in range(processes):
            here, there = context.Pipe()
            process = context.Process(  # type: ignore[attr-defined]
                target=_serve, args=(there, os.getpid()), daemon=True
            )
            workers.append((process, here))
            process.start()
            there.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a held signal arrives here
        yield lambda items: _read_in([c for _, c in workers], TASKS_PER_PROCESS, items)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        # Done, failed or interrupted alike: no worker outlives the reading.
        for process, connection in workers:
            connection.close()
            if process.pid is not None:
                process.kill()
        for process, _ in workers:
            if process.pid is not None:
                process.join()


def _start_method() -> str:
    # fork starts a worker in milliseconds with numpy and Pillow already imported; forkserver
    # and spawn start a new interpreter that imports them again. But fork copies only the
    # calling thread, and a lock another thread held at that moment stays locked in the
    # child for ever. So fork only on Linux, where it is the norm, and only while this
    # process runs no other Python thread (catclf's progress bars run none).
    import multiprocessing

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _serve(connection: Connection, parent: int) -> None:
    """A decoding worker: chunks of (source, name) in, their pixels or errors out, in turn,
    until the main process closes its end."""
    # Ctrl-C and a closed terminal's SIGHUP reach every process of the foreground group:
    # the main process alone handles them and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
    while True:
        try:
            chunk = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(list(_read_here(chunk)))


def _end_with(parent: int) -> None:
    """Have the system end this worker when the process that started it ends (Linux), so
    that no worker outlives it, however that process ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(0)


def _read_here(items: Iterable[tuple[Source, str]]) -> Iterator[Pixels | ImageError]:
    for source, name in items:
        try:
            yield load_image(source, name)
        except ImageError as e:
            yield e


def _read_in(
    connections: list[Connection], ahead: int, items: Iterable[tuple[Source, str]]
) -> Iterator[Pixels | ImageError]:
    """Chunks of items sent to the workers in turn and their results read back in the same
    turn, so that they come in input order; at most ahead chunks per worker in flight."""
    pending: deque[Connection] = deque()  # the worker of each chunk sent, oldest first
    turns = itertools.cycle(connections)
    for chunk in _chunks(items):
        connection = next(turns)
        try:
            connection.send(chunk)
        except OSError as e:  # the worker has died since its last result: a broken pipe
            raise _worker_died() from e
        pending.append(connection)
        if len(pending) >= ahead * len(connections):
            yield from _results(pending.popleft())
    while pending:
        yield from _results(pending.popleft())


def _results(connection: Connection) -> list[Pixels | ImageError]:
    try:
        results: list[Pixels | ImageError] = connection.recv()
    except (EOFError, OSError) as e:  # a decoder that crashed takes its worker with it
        raise _worker_died() from e
    return results


def _worker_died() -> CatclfError:
    return CatclfError(
        "a decoding process ended without a result; --jobs 1 decodes in this process"
    )


def _chunks(items: Iterable[tuple[Source, str]]) -> Iterator[list[tuple[Source, str]]]:
    chunk: list[tuple[Source, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
