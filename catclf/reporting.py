"""What people and programs see: messages on stderr, progress bars, summaries, JSON.

Results go to stdout; diagnostics, progress and notes to stderr. Decoration
(progress bars, tables, colour) appears only on a terminal; rich respects NO_COLOR.
rich is imported only when something is drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

PROG = "catclf"
REDRAW_SECONDS = 0.1


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def one_line(text: str) -> str:
    """text with line breaks shown as \\n, so that a message stays on one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def error(message: str) -> None:
    """'catclf: error: ...' on stderr, on one line."""
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """'catclf: ...' on stderr, on one line."""
    print(f"{PROG}: {one_line(message)}", file=sys.stderr, flush=True)


def emit(line: str) -> None:
    """One line of results on stdout."""
    sys.stdout.write(line + "\n")


def emit_json(obj: Any) -> None:
    """One JSON object on one line of stdout (NaN and infinity are refused, not written).

    Text that is not valid Unicode (a file name with undecodable bytes) is written with
    \\u escapes, so that the line stays valid JSON.
    """
    import json  # only --json needs it

    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, allow_nan=False, ensure_ascii=True)
    emit(text)


Advance = Callable[..., None]


@contextmanager
def progress(description: str, total: int, *, enabled: bool, status: str = "") -> Iterator[Advance]:
    """A rich progress bar on stderr, or nothing when disabled.

    Yields advance(steps=1, status=None): moves the bar on by steps and, if status
    is given, replaces the text shown after it.
    """
    if not enabled:
        yield lambda steps=1, status=None: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # stdout is left alone: results written while the bar runs go where stdout goes.
    # The bar is redrawn here, when it moves, not by rich's refresh thread: a process with
    # no other thread can start worker processes with fork safely (see catclf.images).
    with Progress(
        *columns,
        console=Console(stderr=True),
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


def table(title: str, rows: list[tuple[str, str]]) -> None:
    """A two-column table on stdout (for a terminal)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for key, value in rows:
        t.add_row(key, value)
    Console().print(t)


def key_values(rows: list[tuple[str, str]]) -> None:
    """'key: value' lines on stdout (for a pipe or a file)."""
    for key, value in rows:
        emit(f"{key}: {value}")
