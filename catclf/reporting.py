"""What people and programs see: messages on stderr, progress bars, summaries, JSON.

Results go to stdout; diagnostics, progress and notes to stderr. Decoration
(progress bars, tables, colour) appears only on a terminal; rich respects NO_COLOR.
rich is imported only when something is drawn.
"""

from __future__ import annotations

import codecs
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from catclf.errors import CatclfError, reason

if TYPE_CHECKING:
    from catclf.metrics import Scores

PROG = "catclf"
REDRAW_SECONDS = 0.1


def _escapes(*, keep_tabs: bool) -> dict[int, str]:
    """str.translate's table for one_line: C0 and C1 control characters and DEL, and the
    bytes 0x80-0x9f of a name that is not UTF-8 (which stdout writes back as they were, and
    which a terminal in an 8-bit mode takes for C1 controls: 0x9b starts a sequence as ESC [
    does)."""
    table = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
    table.update({0xDC00 + c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
    if keep_tabs:
        del table[ord("\t")]
    return table


ESCAPED = _escapes(keep_tabs=False)
ESCAPED_BUT_TABS = _escapes(keep_tabs=True)
# JSON escapes C0 controls itself; these it writes as they are.
JSON_ESCAPED = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0)]}


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


def one_line(text: str, *, keep_tabs: bool = False) -> str:
    """text made safe to print: a line break is shown as \\n or \\r, a tab as \\t, any other
    control character as \\xNN, so that text from a file (a path, a class name, a model's
    attributes) can neither start a line of its own nor send a terminal a control sequence.
    keep_tabs leaves tabs alone, for lines whose fields they separate."""
    return text.translate(ESCAPED_BUT_TABS if keep_tabs else ESCAPED)


def _diagnostic(line: str) -> None:
    """line on stderr. When stderr is closed (2>&-) the line is dropped, never written to
    stdout, which carries results only; when writing fails (a closed terminal, a full disk)
    there is nowhere left to say so, and the rest of the run goes on."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        discard(stream)


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


def pct(fraction: float) -> str:
    """'99.04 %': a fraction as catclf writes every percentage."""
    return f"{100 * fraction:.2f} %"


def percent(fraction: float, m: int) -> str:
    """'99.04 % (207/209)': an accuracy over m examples, with the count it stands for; just
    the number when there is no count to give (m of 0, or NaN in a hand-made model file)."""
    if m <= 0 or not math.isfinite(fraction):
        return f"{fraction:g}"
    return f"{pct(fraction)} ({round(fraction * m)}/{m})"


def interval(ci: Sequence[float]) -> str:
    """'56.25 % to 80.90 %': an interval of accuracies."""
    return f"{pct(ci[0])} to {pct(ci[1])}"


def honest_rows(
    name: str,
    accuracy: float,
    m: int,
    ci: Sequence[float] | None,
    baseline: float | None,
    commonest: str,
) -> list[tuple[str, str]]:
    """An accuracy over m examples as rows, with its 95 % interval, the baseline of always
    answering the commonest class, and what the two say together."""
    rows = [(name, percent(accuracy, m))]
    if ci is not None:
        rows.append((f"{name} interval", f"{interval(ci)} (95 %)"))
    if baseline is not None:
        rows.append(("baseline", f"{pct(baseline)}, always answering {commonest}"))
    if ci is not None and baseline is not None:
        if ci[0] > baseline:
            said = f"better than always answering {commonest}"
        elif ci[1] < baseline:
            said = f"worse than always answering {commonest}"
        else:
            said = (
                f"no better than always answering {commonest}, as far as {m} examples can "
                "tell (the interval holds the baseline)"
            )
        rows.append(("verdict", said))
    return rows


def commonest(positives: int, m: int) -> str:
    """The label of the commonest class of m examples, positives of them cats."""
    return "cat" if 2 * positives >= m else "non-cat"


def score_rows(scores: Scores, positives: int) -> list[tuple[str, str]]:
    """The scores as (name, text) rows; a score the data does not define is 'undefined'."""
    c = scores.confusion

    def undefined_or(value: float | None, show: Callable[[float], str]) -> str:
        return "undefined" if value is None else show(value)

    return [
        *honest_rows(
            "accuracy",
            scores.accuracy,
            c.examples,
            scores.accuracy_ci,
            scores.baseline_accuracy,
            commonest(positives, c.examples),
        ),
        ("precision", undefined_or(scores.precision, lambda p: percent(p, c.tp + c.fp))),
        ("recall", undefined_or(scores.recall, lambda r: percent(r, c.tp + c.fn))),
        ("f1", undefined_or(scores.f1, lambda f: f"{f:.4f}")),
        ("log loss", f"{scores.log_loss:.6f}"),
        ("roc auc", undefined_or(scores.roc_auc, lambda a: f"{a:.4f}")),
    ]


def emit(line: str) -> None:
    """One line of results on stdout; a tab separates fields, any other control character
    is escaped (see one_line)."""
    _result(one_line(line, keep_tabs=True))


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


@contextmanager
def progress(
    description: str, total: int | None, *, enabled: bool, status: str = ""
) -> Iterator[Advance]:
    """A rich progress bar on stderr, or nothing when disabled; total None: not known, the
    bar counts without an end.

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


def table(
    title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None
) -> None:
    """A table on stdout (for a terminal), its first column in bold; without header,
    rows are (key, value) pairs and no header is shown."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    names = tuple(map(one_line, header or ("", "")))
    t = Table(title=one_line(title), show_header=header is not None, title_justify="left")
    # Long values (file paths) wrap rather than lose their end, where the index or name is.
    t.add_column(names[0], style="bold", overflow="fold")
    for name in names[1:]:
        t.add_column(name, overflow="fold")
    for row in rows:
        # As Text, so that a file name such as "[red]x.png" is shown, not read as markup.
        t.add_row(*(Text(one_line(cell)) for cell in row))
    if sys.stdout is None:
        raise OutputFailed("stdout: cannot write the results (it is closed)")
    with writing_results():
        Console().print(t)


def summary(title: str, rows: list[tuple[str, str]]) -> None:
    """(key, value) rows: a table on a terminal, 'key: value' lines for a pipe or a file."""
    if is_terminal(sys.stdout):
        table(title, rows)
    else:
        key_values(rows)


def grid(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """Rows under headers: a table on a terminal, aligned plain columns elsewhere."""
    if is_terminal(sys.stdout):
        table(title, [tuple(row) for row in rows], tuple(h.replace("_", " ") for h in headers))
    else:
        aligned(headers, rows)


def key_values(rows: list[tuple[str, str]]) -> None:
    """'key: value' lines on stdout (for a pipe or a file)."""
    for key, value in rows:
        _result(f"{one_line(key)}: {one_line(value)}")


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """values drawn as one line of bars, one character each: the smallest value as ▁,
    the largest as █, the others at the nearest of the 8 heights between (halves up).
    All values equal draw as ▁; NaN and infinite values as a space."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    top = len(SPARKS) - 1

    def spark(v: float) -> str:
        if not math.isfinite(v):
            return " "
        if high == low:
            return SPARKS[0]
        return SPARKS[math.floor((v - low) / (high - low) * top + 0.5)]

    return "".join(spark(v) for v in values)


def aligned(headers: list[str], rows: list[list[str]]) -> None:
    """The same table as plain text on stdout (for a pipe or a file): a header line, then
    one line per row, columns padded with spaces and at least two apart; a cell holds at
    most single spaces ("99.04 %"), so that splitting at two or more spaces gives it back."""
    headers = [one_line(cell) for cell in headers]
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        _result("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
