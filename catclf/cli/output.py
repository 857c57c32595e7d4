"""What people and programs see of a command: results on stdout, diagnostics on stderr,
progress bars, JSON.

Results go to stdout; diagnostics, progress and notes to stderr. Decoration (progress
bars, colour) appears only on a terminal; rich respects NO_COLOR. rich is imported only when
something is drawn.
"""

from __future__ import annotations

import codecs
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

from catclf.cli.layout import INDENT, spans
from catclf.errors import CatclfError, reason
from catclf.progress import ERROR, LOGGER, Progress, Step, unwatched
from catclf.wording import LINE_SEPARATORS, one_line, printable

PROG = "catclf"
REDRAW_SECONDS = 0.1
BAR_MIN, BAR_MAX = 5, 40  # the width of a progress bar
# JSON escapes C0 controls itself; these it writes as they are.
JSON_ESCAPED = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), *LINE_SEPARATORS]}


class OutputClosed(Exception):
    """stdout's reader has gone (a closed pipe): no more results can be delivered."""


class OutputFailed(CatclfError):
    """stdout refuses the results: closed when catclf started, a full disk, an I/O error."""


@contextmanager
def writing_results() -> Iterator[None]:
    """Turn a closed stdout into OutputClosed, so that it is never taken for another broken
    pipe (a decoding process that died), and any other failure to write into OutputFailed."""
    try:
        yield
    except BrokenPipeError as e:
        raise OutputClosed() from e
    except OSError as e:
        raise OutputFailed(f"stdout: cannot write the results ({reason(e)})") from e


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _diagnostic(line: str) -> None:
    """line on stderr. When stderr is closed (2>&-) the line is dropped, never written to
    stdout, which carries results only; when writing fails (a closed terminal, a full disk)
    there is nowhere left to say so, and the rest of the run goes on."""
    stream = sys.stderr
    if stream is None:
        return
    line = printable(line)
    if is_terminal(stream):
        # For a person: broken at spaces to fit the terminal, the lines after the first
        # INDENT places in; anywhere else, one line for each message, for programs.
        width = _width(stream)
        line = "\n".join(
            (" " * INDENT if n else "") + line[start:end]
            for n, (start, end) in enumerate(spans(line, width, INDENT))
        )
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        discard(stream)


def _width(stream: TextIO) -> int:
    """The width of the terminal stream is on: COLUMNS when set, as rich reads it."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


def error(message: str) -> None:
    """'catclf: error: ...' on stderr, on one line."""
    _diagnostic(f"{PROG}: error: {one_line(message)}")


def warn(message: str) -> None:
    """'catclf: warning: ...' on stderr, on one line; shown even when notes are not."""
    _diagnostic(f"{PROG}: warning: {one_line(message)}")


def note(message: str) -> None:
    """'catclf: ...' on stderr, on one line."""
    _diagnostic(f"{PROG}: {one_line(message)}")


def discard(stream: TextIO) -> None:
    """Point stream's file descriptor at /dev/null, so that what is left in its buffer can
    be flushed at exit without failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _escape_unencodable(e: UnicodeError) -> tuple[str | bytes, int]:
    """The error handler of stdout: an undecodable byte of a file name (held as a lone
    surrogate) is written back as that byte, a character the encoding lacks as a \\x, \\u
    or \\U escape (PYTHONIOENCODING=ascii)."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    c = ord(e.object[e.start])
    if 0xDC80 <= c <= 0xDCFF:
        return bytes([c - 0xDC00]), e.start + 1
    escape = f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"
    return escape, e.start + 1


def configure_streams() -> None:
    """stdout writes file names back as the bytes they were and escapes what its encoding
    cannot show; stderr escapes anything it cannot show."""
    codecs.register_error("catclf-stdout", _escape_unencodable)
    for stream, errors in ((sys.stdout, "catclf-stdout"), (sys.stderr, "backslashreplace")):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=errors)


def emit(line: str) -> None:
    """One line of results on stdout; a tab separates fields, any other control character
    is escaped (see one_line)."""
    _result(one_line(line, keep_tabs=True))


def emit_text(text: str) -> None:
    """Text of catclf's own making (a completion script), on stdout as it is, lines and all."""
    _result(text.rstrip("\n"))


def _result(line: str) -> None:
    stream = sys.stdout
    if stream is None:
        raise OutputFailed("stdout: cannot write the results (it is closed)")
    with writing_results():
        stream.write(line + "\n")


def flush() -> None:
    """Send the results written so far on their way."""
    if sys.stdout is not None:
        with writing_results():
            sys.stdout.flush()


def emit_json(obj: Any) -> None:
    """One JSON object on one line of stdout (NaN and infinity are refused, not written).

    Text that stdout's encoding cannot write as it is (a file name with undecodable bytes,
    an ASCII stdout) is written with \\u escapes, so that the line stays valid JSON.
    """

    import json  # here, not at the top: most runs write no JSON

    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = json.dumps(obj, allow_nan=False, ensure_ascii=True)
    _result(text.translate(JSON_ESCAPED))


Advance = Callable[..., None]
TIME_ROOM = len("0:00:00")


def bar_layout(
    width: int, description: str, total: int | None, status_room: int
) -> tuple[int, int]:
    """(bar width, how many of status, time taken, time left to show) for a progress bar on
    a terminal of width columns. On a narrow one the least useful columns go first (the time
    left, then the time taken, then the status) and the bar narrows, down to BAR_MIN, rather
    than any column being cut short; the description and the count always stay."""
    counted = 2 * len(f"{total:,}") + 1 if total is not None else len("1,234,567")
    used = len(description) + 1 + counted + 1  # each column and a space after it
    kept = 0
    for room in (status_room, TIME_ROOM, TIME_ROOM):
        if used + room + 1 + BAR_MIN > width:
            break  # and so do the ones after it, which matter less
        kept += 1
        used += room + 1
    return max(BAR_MIN, min(BAR_MAX, width - used - 1)), kept


@contextmanager
def progress(
    description: str,
    total: int | None,
    *,
    enabled: bool,
    status: str = "",
    status_room: int = len("cost 0.693147"),
) -> Iterator[Advance]:
    """A rich progress bar on stderr, or nothing when disabled; total None: not known, the
    bar counts without an end. status_room is the most the status text takes.

    Yields advance(steps=1, status=None): moves the bar on by steps and, if status
    is given, replaces the text shown after it.
    """
    if not enabled:
        yield lambda steps=1, status=None: None
        return
    # here: rich only when something is drawn
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar_width, kept = bar_layout(console.width, description, total, status_room)
    extra = [TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=bar_width),
        MofNCompleteColumn(),
        *extra[:kept],
    )
    # stdout is left alone: results written while the bar runs go where stdout goes.
    # The bar is redrawn here, when it moves, not by rich's refresh thread: a process with
    # no other thread can start worker processes with fork safely (see catclf.images).
    with Progress(
        *columns,
        console=console,
        transient=True,
        redirect_stdout=False,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task(description, total=total, status=status)
        drawn = time.monotonic()

        def advance(steps: int = 1, status: str | None = None) -> None:
            nonlocal drawn
            if status is None:
                bar.update(task, advance=steps)
            else:
                bar.update(task, advance=steps, status=status)
            now = time.monotonic()
            if now - drawn >= REDRAW_SECONDS:
                bar.refresh()
                drawn = now

        yield advance


class Bars:
    """The library's Progress (`catclf.progress`) drawn on stderr when enabled: a bar for
    each task, the one before it closed as it starts. A task counted in iterations shows the
    cost after each; one counted in examples (streamed training), the examples read each
    second too."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars = ExitStack()

    def __call__(self, task: str, total: int | None, *, unit: str = "") -> Step:
        self.close()
        if not self.enabled:
            return unwatched(task, total, unit=unit)
        iterations, examples = not unit, unit == "examples"
        room = 34 if examples else len("cost 0.693147")  # "cost 0.693147  12,345 examples/s"
        advance = self.bars.enter_context(
            progress(
                task,
                total,
                enabled=True,
                status="cost" if iterations or examples else "",
                status_room=room,
            )
        )
        said, seen, begun = "", 0, time.perf_counter()

        def step(done: int = 1, *, cost: float | None = None) -> None:
            nonlocal said, seen
            if cost is not None:
                said = f"cost {cost:.6f}"
            if examples:
                seen += done
                rate = seen / max(time.perf_counter() - begun, 1e-9)
                advance(done, status=f"{said}  {rate:,.0f} examples/s".strip())
            else:
                advance(done, status=said or None)

        return step

    def close(self) -> None:
        """Take the bar shown off the terminal."""
        self.bars.close()


class _Notes(logging.Handler):
    """The library's notes (`catclf.progress.note`) and warnings as catclf's lines on
    stderr: a note unless quiet, a warning always; the bar shown is closed first, its task
    being over by the time the library has something to say."""

    def __init__(self, bars: Bars, quiet: bool, told: Callable[[CatclfError], str]) -> None:
        super().__init__(logging.INFO)
        self.bars, self.quiet, self.told = bars, quiet, told

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and self.quiet:
            return
        self.bars.close()
        error = getattr(record, ERROR, None)
        said = record.getMessage() if error is None else self.told(error)
        (warn if record.levelno >= logging.WARNING else note)(said)


@contextmanager
def watching(
    *, quiet: bool, told: Callable[[CatclfError], str] = str, bars: bool | None = None
) -> Iterator[Progress]:
    """While a command calls the library: a Progress drawing its tasks as bars (by default
    when stderr is a terminal and not quiet), and its notes and warnings on stderr, an
    error noted in the words told gives it."""
    shown = Bars(is_terminal(sys.stderr) and not quiet if bars is None else bars)
    handler = _Notes(shown, quiet, told)
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield shown
    finally:
        shown.close()
        logger.removeHandler(handler)
        logger.setLevel(level)


# Tables on a narrow terminal. A word never breaks inside a cell: columns narrow down to
# their longest word, and a table that cannot fit even so is written as "key: value" lines
# instead. Only a file path, which may well be wider than any column, is folded (after a
# slash where it can be), in a column no narrower than PATH_MIN; and only a word wider
# than the whole terminal is cut.
