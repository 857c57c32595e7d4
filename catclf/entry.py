"""Where the `catclf` command and `python -m catclf` start, before anything heavy is imported.

Importing the command line (typer, then numpy for most commands) takes a moment. Set up
first, with the standard library only, the process ends the same way at any moment once
catclf runs: a signal gives a line on stderr and the usual status, never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys

# Ended as Ctrl-C is: SIGTERM (kill, a service manager) and SIGHUP (a closed terminal, a
# dropped ssh session). Exit status 128 + the signal's number, as a shell reports it.
TERMINATING = ("SIGTERM", "SIGHUP")
STOPPED = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    STOPPED[signal.SIGHUP] = "hung up"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that the same clean-up runs as for
    Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_number(stop: KeyboardInterrupt) -> int:
    """The signal behind stop: SIGINT for a plain KeyboardInterrupt (Ctrl-C)."""
    return stop.signum if isinstance(stop, Terminated) else int(signal.SIGINT)


def exit_status(stop: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signal_number(stop)


def stopped(stop: KeyboardInterrupt) -> str:
    """What happened, in a word or two: interrupted, terminated, hung up."""
    return STOPPED.get(signal.Signals(signal_number(stop)), "terminated")


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def handle_signals() -> None:
    """Make SIGTERM and SIGHUP raise Terminated, as SIGINT raises KeyboardInterrupt. One that
    catclf was started with ignored (nohup, a background job) stays ignored."""
    for name in TERMINATING:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _raise_terminated)


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
    """'catclf: interrupted' (or terminated, hung up) on stderr, with '; nothing was saved'
    for a command that writes files; dropped when stderr is closed or fails."""
    message = f"catclf: {stopped(stop)}{'; nothing was saved' if saves else ''}\n"
    try:
        if sys.stderr is not None:
            sys.stderr.write(message)
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def main() -> None:
    """The `catclf` command."""
    keep_standard_streams_open()
    handle_signals()
    try:
        try:
            from catclf.cli import main as run
        except KeyboardInterrupt as stop:
            # No command has run: whatever it was, it has written nothing.
            say_stopped(stop, saves=True)
            sys.exit(exit_status(stop))
        run()
    except SystemExit as e:
        if e.code in STOPPED_STATUSES:
            _exit_stopped(int(e.code))
        raise


STOPPED_STATUSES = {128 + int(number) for number in STOPPED}


def _exit_stopped(status: int) -> None:
    """End the process with status, once an interrupt has been handled. An interrupt that
    came while code run by exec or eval of a string ran (namedtuple makes its classes so,
    as modules are imported) leaves CPython's note of an unhandled Ctrl-C set, and the
    interpreter would end the process by SIGINT instead: os._exit gives the status chosen.
    Every file was closed and every worker ended as the interrupt unwound."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
