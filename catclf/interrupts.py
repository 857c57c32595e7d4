"""Regions of code that Ctrl-C, SIGTERM and SIGHUP wait for.

A signal handler that raises (Python's own for Ctrl-C, the command line's for the others)
raises wherever the main thread happens to be. Inside the finalizers and weakref callbacks
that run as an h5py object dies, or a callback HDF5 makes, Python can only print such an
exception ("Exception ignored in ...") and drop it: the interrupt is lost, and HDF5 may be
left half-way through an operation. So every piece of HDF5 work runs in a held region:
the signals are blocked for the calling thread while it runs, and one that came meanwhile
is raised as the region ends, at a safe point of catclf's own code. Each region is short
(a slice of images read, a chunk written, a model read), so that an interrupt is honoured
promptly between them.

No handler is changed and the mask is restored, so this is safe in a library: a notebook
whose Ctrl-C comes during HDF5 work gets its KeyboardInterrupt as the region ends.
Python runs handlers in the main thread only, so a region blocks there and nowhere else;
where the system has no pthread_sigmask (Windows), it does nothing.

This module imports nothing of catclf: any layer may use it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

HELD = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
T = TypeVar("T")


class held:
    """A context manager: SIGINT, SIGTERM and SIGHUP wait while its block runs in the main
    thread; one that came meanwhile has its handler run as the block ends (CPython runs
    pending handlers as pthread_sigmask unblocks them), so that a KeyboardInterrupt is
    raised there. Regions may nest: the signal waits for the outermost."""

    def __init__(self) -> None:
        self._previous: set[int | signal.Signals] | None = None

    def __enter__(self) -> None:
        if hasattr(signal, "pthread_sigmask") and threading.current_thread() is (
            threading.main_thread()
        ):
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        previous, self._previous = self._previous, None
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def call_held(function: Callable[..., T], *args: object) -> T:
    """function(*args) in a held region, ended, with everything it made, inside it.

    Its local variables (an h5py File, the datasets it opened) die as it returns, before
    the region ends. When it raises, the exception's traceback would keep its frames and
    their variables alive long after, to die wherever the exception is dropped: the frames
    the exception passed through are cleared first (the traceback still says where it was
    raised; only the variables go).
    """
    before = sys.exc_info()[1]
    with held():
        try:
            return function(*args)
        except BaseException as e:
            _clear_frames(e, before)
            raise


def _clear_frames(error: BaseException, before: BaseException | None) -> None:
    """Clear the frames in the tracebacks of error and of the exceptions it chains to, up to
    before (the exception already being handled when the call began: its frames are not the
    call's). A frame still running (call_held's own) is left as it is."""
    import traceback  # here: only a failure needs it

    seen: set[int] = set()
    chain: list[BaseException | None] = [error]
    while chain:
        e = chain.pop()
        if e is None or e is before or id(e) in seen:
            continue
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)
        chain += [e.__cause__, e.__context__]
