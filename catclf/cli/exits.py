"""How a command ends: its exit status, and the library's errors in the command line's
words, each one line on stderr.

0  success
1  an error: bad input, a missing or damaged file, training that diverged, a stdout that
   is closed or fails (with predict: at least one image could not be scored; the rest are
   printed; with evaluate --min-accuracy: the accuracy is below it; the report is printed)
2  a usage error: unknown option, bad value, a missing argument
3  predict --exit-code: every image was scored and at least one is not a cat
130, 143, 129  interrupted by Ctrl-C (SIGINT), SIGTERM or SIGHUP (a closed terminal); a
               command that writes files leaves none, whole or partial ("nothing was saved"),
               or, once they are in place, says what was saved
141  stdout was closed by its reader (as `catclf predict dir | head -1` does); no message

A command that saves files and then cannot write its summary exits 0: its files are saved.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from catclf.cli import output
from catclf.cli.options import flag
from catclf.cli.signals import exit_status, interrupt_behind, say_stopped
from catclf.errors import CatclfError, ConflictingParameters, MissingInput, ParameterError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_CAT = 3
EXIT_SIGPIPE = 141

# What to change to get past an error (`catclf.errors.ADVICE`), in the command line's words.
ADVICE = {
    "force": "use --force to {verb} it",
    "force_link": "use --force to {verb} the link (what it leads to is left alone)",
    "positive": "name the positive one with --positive NAME",
    "prepare": (
        "write them once as course files with `catclf prepare DATA --out FOLDER` and train "
        "on FOLDER, which is read a slice at a time, or raise --memory-limit"
    ),
    "gram_memory": "use --solver primal or auto, or raise --memory-limit",
    "jobs": "--jobs 1 decodes in this process",
    "smaller_rate": "try a smaller --learning-rate",
    "data": "it was trained without --test: give DATA, the labelled images to score it on",
    "export": "give --html PAGE, --onnx FILE, or both",
}

F = TypeVar("F", bound=Callable[..., Any])


def told(e: CatclfError) -> str:
    """e in the command line's words: its advice names flags, and so does a bad value."""
    if isinstance(e, ConflictingParameters):
        return f"give {' or '.join(flag(p) for p in e.parameters)}, not both"
    if isinstance(e, ParameterError):
        return f"invalid value for '{flag(e.parameter)}': {e.expected}, not {e.said}"
    return e.told(ADVICE)


def reports_errors(*, saves: bool) -> Callable[[F], F]:
    """Turn the library's errors and interrupts into one line on stderr and an exit status:
    a bad value or a missing input is a usage error (2), any other error 1.

    saves: the command writes files, so that an interrupt says none was left behind, or,
    once they are in place, what was saved (see `catclf.cli.signals.now_saved`).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                try:
                    result = command(*args, **kwargs)
                except typer.Exit:
                    output.flush()
                    raise
                # Here, not at exit, so that results that cannot be written are reported.
                output.flush()
                return result
            except output.OutputFailed as e:
                output.error(str(e))
                discard_stdout()
                raise typer.Exit(EXIT_ERROR) from None
            except CatclfError as e:
                output.error(told(e))
                usage = isinstance(e, (ParameterError, ConflictingParameters, MissingInput))
                if usage:
                    output.note(f"try '{output.PROG} {command.__name__} --help'")
                raise typer.Exit(EXIT_USAGE if usage else EXIT_ERROR) from None
            except (KeyboardInterrupt, RuntimeError) as e:
                # RuntimeError: Python 3.11 wraps an interrupt that comes as a class is made
                # (a module imported), in a descriptor's __set_name__.
                stop = interrupt_behind(e)
                if stop is None:
                    raise
                # Stopped now: results not yet written are dropped, not waited on.
                discard_stdout()
                say_stopped(stop, saves)
                raise typer.Exit(exit_status(stop)) from None
            except output.OutputClosed:
                # The reader of the results has gone: stop quietly, with the status of a
                # command that SIGPIPE ends, as shell tools do.
                discard_stdout()
                raise typer.Exit(EXIT_SIGPIPE) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit fails no more."""
    if sys.stdout is not None:
        output.discard(sys.stdout)


@contextmanager
def summary_after_saving(saved: str) -> Iterator[None]:
    """Around the summary a command writes once its files are saved, so that its status
    still says they are (0): a summary that cannot be written is a note saying what was
    saved, or, when stdout's reader has gone, nothing at all."""
    try:
        yield
        output.flush()
    except output.OutputClosed:
        discard_stdout()
    except output.OutputFailed as e:
        discard_stdout()
        output.note(f"{e}; {saved}")
