"""How the `catclf` command ends on a signal: Ctrl-C, SIGTERM and SIGHUP raised where the
program is, so that the same clean-up runs for each, and said in one line.

`catclf.cli.start` sets these handlers before anything heavy is imported: until then,
Python's own is in place, so this module and the package front import nothing that Python
has not already imported as it started, and the moment is as short as it can be.
"""

import os
import sys
from types import CodeType, FrameType

try:
    # The C module behind `signal`, which Python imported as it started; `signal` itself
    # would first import enum: a millisecond more before the handlers are set.
    import _signal as signal
except ImportError:  # a Python without it
    import signal  # type: ignore[no-redef]

# Ended as Ctrl-C is: SIGTERM (kill, a service manager) and SIGHUP (a closed terminal, a
# dropped ssh session). Exit status 128 + the signal's number, as a shell reports it.
HANDLED = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
STOPPED = {int(signal.SIGINT): "interrupted", int(signal.SIGTERM): "terminated"}
if hasattr(signal, "SIGHUP"):
    STOPPED[int(signal.SIGHUP)] = "hung up"
NOTHING_SAVED = "nothing was saved"


class Stopped(KeyboardInterrupt):
    """A signal caught by catclf's handler (`handle_signals`), raised where the program is,
    so that the same clean-up runs as for Ctrl-C. saved says what the command had saved
    when it came ("the model was saved to model.h5"), or is empty; silenced, the signals
    ignored from then on."""

    def __init__(self, signum: int, saved: str = "", silenced: tuple[int, ...] = ()) -> None:
        super().__init__(signum)
        self.signum, self.saved, self.silenced = signum, saved, silenced


def signal_number(stop: KeyboardInterrupt) -> int:
    """The signal behind stop: SIGINT for a plain KeyboardInterrupt (Ctrl-C)."""
    return stop.signum if isinstance(stop, Stopped) else int(signal.SIGINT)


def exit_status(stop: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signal_number(stop)


def stopped(stop: KeyboardInterrupt) -> str:
    """What happened, in a word or two: interrupted, terminated, hung up."""
    return STOPPED.get(signal_number(stop), "terminated")


class _Handler:
    """The handler of Ctrl-C, SIGTERM and SIGHUP: Stopped, raised once, saying saved.

    Until the process has ended, the signals are then ignored: a second Ctrl-C could
    otherwise land in clean-up code that runs in a finalizer, where Python can only print
    it."""

    def __init__(self, saved: str = "") -> None:
        self.saved = saved

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if _held(signum):
            # The main thread holds it (catclf.interrupts) and the system gave it to another
            # thread: made pending for the main thread again, which takes it as the held
            # region ends. Python runs handlers in the main thread, as this one runs.
            import _thread

            signal.pthread_kill(_thread.get_ident(), signum)
            return
        if _within(frame, _raise_again.__code__):
            # Sent again by _raise_again before it has returned: raised there, it would be
            # printed and dropped once more.
            _send_again(signum)
            return
        silenced = tuple(n for n in HANDLED if isinstance(signal.getsignal(n), _Handler))
        for number in silenced:
            signal.signal(number, signal.SIG_IGN)
        raise Stopped(signum, self.saved, silenced)


def _held(signum: int) -> bool:
    """Whether the calling thread has signum blocked."""
    return hasattr(signal, "pthread_sigmask") and signum in signal.pthread_sigmask(
        signal.SIG_BLOCK, ()
    )


def handle_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise Stopped, once (see `_Handler`). One that catclf
    was started with ignored (nohup, a background job) stays ignored. One raised where
    Python can only print it is raised again (see `_raise_again`)."""
    for number in HANDLED:
        if signal.getsignal(number) != signal.SIG_IGN:
            signal.signal(number, _Handler())
    sys.unraisablehook = _raise_again


def _raise_again(unraisable: "sys.UnraisableHookArgs") -> None:
    """sys.unraisablehook: Stopped, raised where Python can only print an exception and drop
    it (a weakref callback or a finalizer, such as runs as an import's lock is let go),
    is sent again a moment later, to be raised where it stops the command; anything else
    is reported as Python reports it."""
    stop = unraisable.exc_value
    if not isinstance(stop, Stopped) or not hasattr(signal, "pthread_kill"):
        sys.__unraisablehook__(unraisable)
        return
    for number in stop.silenced:
        signal.signal(number, _Handler(stop.saved))
    _send_again(stop.signum)


def _send_again(signum: int) -> None:
    """Have signum sent to this thread again in a millisecond, from another thread: sent
    from here, it would come at once, here. The thread is started without waiting for it."""
    # here: this module imports nothing Python has not (see the top)
    import _thread

    _thread.start_new_thread(_send_later, (_thread.get_ident(), signum))


def _send_later(ident: int, signum: int) -> None:
    # here: this module imports nothing Python has not (see the top)
    import time

    time.sleep(0.001)
    signal.pthread_kill(ident, signum)


def _within(frame: FrameType | None, code: CodeType) -> bool:
    """Whether frame, or a frame that called it, runs code."""
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def now_saved(saved: str) -> None:
    """From now on, a signal says that the command saved what saved says ("the model was
    saved to model.h5"), as it has: called the moment its files are in place, before a
    signal that came meanwhile is raised (see `catclf.files.write_atomically`). Only
    catclf's own handlers change: in a program that set none, nothing does."""
    for number in HANDLED:
        if isinstance(signal.getsignal(number), _Handler):
            signal.signal(number, _Handler(saved))


def keep_standard_streams_open() -> None:
    """Put /dev/null on each of file descriptors 0, 1 and 2 that catclf was started without.

    Otherwise the next file opened takes the free number: a model being written could become
    fd 2 and receive whatever a library prints there. Python has set sys.stdin, sys.stdout
    or sys.stderr to None for each missing one, and that None is how catclf tells: such a
    stdin or stdout is an error, and diagnostics for such a stderr are dropped.
    """
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, mode)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


def say_stopped(stop: KeyboardInterrupt, saves: bool) -> None:
    """'catclf: interrupted' (or terminated, hung up) on stderr, followed by what the command
    had saved when the signal came, if anything, or, for a command that writes files,
    '; nothing was saved'; dropped when stderr is closed or fails."""
    saved = stop.saved if isinstance(stop, Stopped) else ""
    said = saved or (NOTHING_SAVED if saves else "")
    message = f"catclf: {stopped(stop)}{'; ' + said if said else ''}\n"
    try:
        if sys.stderr is not None:
            sys.stderr.write(message)
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def interrupt_behind(e: BaseException) -> KeyboardInterrupt | None:
    """The interrupt behind e, followed as a traceback shows causes: e itself, or one that
    Python wrapped in another exception (Python 3.11 turns one raised in a descriptor's
    __set_name__, as a class is made, into a RuntimeError), or that typer turned into an
    exit by itself, whatever the signal; None if there is none (reports_errors hides the
    interrupts it has handled)."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return None
