"""Where the `catclf` command and `python -m catclf` start, before anything heavy is imported.

The signal handlers are set first (`catclf.cli.signals`, which imports nothing that Python
has not already imported as it started), and only then the command line, which takes a
moment to import (typer, then numpy for most commands): from then on a signal gives a line
on stderr and the usual status, never a traceback.
"""

import os
import sys

from catclf.cli.signals import (
    HANDLED,
    STOPPED,
    exit_status,
    handle_signals,
    interrupt_behind,
    keep_standard_streams_open,
    say_stopped,
    signal,
)


def main(held: object = None) -> None:
    """The `catclf` command. held is the signal mask to restore once the handlers are set,
    when the caller blocked the signals until then (`python -m catclf` does)."""
    try:
        try:
            handle_signals()
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)  # one that came is raised
            keep_standard_streams_open()
            # Here, once the handlers are set: importing the command line takes a moment.
            from catclf.cli.commands import main as run

            run()
        finally:
            # Done: what is left is the interpreter's own clean-up, where a handler that
            # raises could only have its exception printed. A signal now waits for the end
            # of the process, which has done its work.
            if hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
            # Nor does the interpreter's last collection of every object there is, which
            # takes longer than reading the model: the files are closed and the workers
            # stopped by the command itself, and the memory goes back with the process.
            import gc  # here: nothing but the signal handlers comes before them

            gc.freeze()
    except SystemExit as e:
        if e.code in STOPPED_STATUSES:
            _exit_stopped(int(e.code))
        raise
    except BaseException as e:
        stop = interrupt_behind(e)
        if stop is None:
            raise
        # Outside any command, which reports its own: while catclf starts, or typer reads
        # the command line. No command has run, or it has said what it saved.
        say_stopped(stop, saves=True)
        _exit_stopped(exit_status(stop))


STOPPED_STATUSES = {128 + int(number) for number in STOPPED}


def _exit_stopped(status: int) -> None:
    """End the process with status, once an interrupt has been handled. An interrupt that
    came while code run by exec or eval of a string ran (namedtuple makes its classes so,
    as modules are imported) leaves CPython's note of an unhandled Ctrl-C set, and the
    interpreter would end the process by SIGINT instead: os._exit gives the status chosen.
    Every file was closed and every worker ended as the interrupt unwound. stdout is not
    flushed: a reader that takes no more would keep the process waiting, and the signals
    are ignored by now (results not yet written were dropped as the interrupt was
    reported)."""
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(status)
