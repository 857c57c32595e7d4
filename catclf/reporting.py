"""What people and programs see: messages on stderr, progress bars, summaries, JSON.

Results go to stdout; diagnostics, progress and notes to stderr. Decoration
(progress bars, tables, colour) appears only on a terminal; rich respects NO_COLOR.
rich is imported only when something is drawn.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from catclf.errors import CatclfError, reason

if TYPE_CHECKING:
    from catclf.metrics import Scores

PROG = "catclf"
REDRAW_SECONDS = 0.1
BAR_MIN, BAR_MAX = 5, 40  # the width of a progress bar
LINE_SEPARATORS = (0x2028, 0x2029)


def _escapes(*, keep_tabs: bool) -> dict[int, str]:
    """str.translate's table for one_line: C0 and C1 control characters and DEL, and the
    bytes 0x80-0x9f of a name that is not UTF-8 (which stdout writes back as they were, and
    which a terminal in an 8-bit mode takes for C1 controls: 0x9b starts a sequence as ESC [
    does)."""
    table = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
    table.update({0xDC00 + c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
    # Line and paragraph separators: str.splitlines breaks a line at them.
    table.update({c: f"\\u{c:04x}" for c in LINE_SEPARATORS})
    if keep_tabs:
        del table[ord("\t")]
    return table


ESCAPED = _escapes(keep_tabs=False)
ESCAPED_BUT_TABS = _escapes(keep_tabs=True)
# JSON escapes C0 controls itself; these it writes as they are.
JSON_ESCAPED = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), *LINE_SEPARATORS]}
# The bytes of a name that is not UTF-8, which Python holds as lone surrogates: written as
# \xNN where text must be valid Unicode (a page, a picture).
UNDECODABLE = {0xDC00 + c: f"\\x{c:02x}" for c in range(0x80, 0x100)}


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


def printable(text: str) -> str:
    """text with the bytes of a name that is not UTF-8 written as \\xNN, so that it is valid
    Unicode, for a page or a picture; what stdout writes keeps the bytes themselves."""
    return text.translate(UNDECODABLE)


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
            for n, (start, end) in enumerate(_spans(line, width, INDENT))
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
        said = verdict(
            ci,
            baseline,
            commonest,
            f"as far as {m} examples can tell (the interval holds the baseline)",
        )
        rows.append(("verdict", said))
    return rows


def verdict(span: Sequence[float], baseline: float, commonest: str, unsure: str) -> str:
    """What an accuracy measured as span (low, high) says against the baseline of always
    answering commonest: better or worse only when the whole span says so; else no
    better, unsure saying why."""
    if span[0] > baseline:
        return f"better than always answering {commonest}"
    if span[1] < baseline:
        return f"worse than always answering {commonest}"
    return f"no better than always answering {commonest}, {unsure}"


def commonest(positives: int, m: int, classes: Sequence[str]) -> str:
    """The name of the commonest class of m examples, positives of them of the positive class
    (classes: negative name, positive name); a tie goes to the positive one."""
    return classes[1] if 2 * positives >= m else classes[0]


def score_rows(scores: Scores, positives: int, classes: Sequence[str]) -> list[tuple[str, str]]:
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
            commonest(positives, c.examples, classes),
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


# Tables on a narrow terminal. A word never breaks inside a cell: columns narrow down to
# their longest word, and a table that cannot fit even so is written as "key: value" lines
# instead. Only a file path, which may well be wider than any column, is folded (after a
# slash where it can be), in a column no narrower than PATH_MIN; and only a word wider
# than the whole terminal is cut.
PATH_MIN = 20
SPARK_MIN = 8  # fewest bars worth drawing beside their label
INDENT = 2  # the lines a "key: value" line wraps onto start this far in
# A word, with the unit that follows a number kept beside it ("80.90 %", "(95 %)", "12 MB").
UNIT = re.compile(r"\S+(?: +(?:%|[KMGT]?B\b)\S*)*")


@dataclass(frozen=True)
class Sparkline:
    """A table cell: values drawn as a sparkline, then label, then note ('bars  label note').

    Given less room than all its bars need, it draws fewer (see sparkline): as many as leave
    room for the label on the same line, or, when that would be fewer than SPARK_MIN, as
    many as fill a line of their own; the note wraps as any text does.
    """

    values: Sequence[float]
    label: str
    note: str = ""

    def draw(self, room: int | None = None) -> str:
        """The cell's text for a line of room cells (None: one bar for each value)."""
        n = len(self.values)
        beside = 2 + cell_len(self.label)
        if room is None or n + beside <= room:
            bars = n
        elif room - beside >= SPARK_MIN:
            bars = room - beside
        else:
            bars = max(1, min(n, room))
        return f"{sparkline(self.values, bars)}  {self.label}" + (
            f" {self.note}" if self.note else ""
        )

    def __str__(self) -> str:
        return self.draw()


Cell = str | Sparkline


def cell_len(text: str) -> int:
    """The columns text takes on a terminal (a wide character takes two)."""
    from rich.cells import cell_len as columns  # rich only when something is drawn

    return columns(text)


def _text(cell: Cell, room: int | None = None) -> str:
    return one_line(cell.draw(room) if isinstance(cell, Sparkline) else cell)


def _is_path(unit: str) -> bool:
    """A file name with a folder in it: a slash and a letter ('(207/209)' is not one)."""
    return ("/" in unit or os.sep in unit) and any(c.isalpha() for c in unit)


def _narrowest(cell: Cell) -> int:
    """The narrowest column that holds cell with no word broken (a path: see PATH_MIN)."""
    if isinstance(cell, Sparkline):
        return max(SPARK_MIN, _narrowest(f"{cell.label} {cell.note}"))
    widths = [
        min(cell_len(unit), PATH_MIN) if _is_path(unit) else cell_len(unit)
        for unit in UNIT.findall(one_line(cell))
    ]
    return max(widths, default=0)


def _cut(unit: str, room: int) -> str:
    """The part of an over-long unit that goes on a line of room cells: up to its last
    slash that fits, or else its last hyphen (not the first character alone), or else as
    much as fits."""
    from rich.cells import chop_cells

    part = chop_cells(unit, room)[0] or unit[0]
    stop = max(part.rfind("/"), part.rfind(os.sep)) + 1
    if stop <= 1:
        stop = part.rfind("-") + 1
    return part[:stop] if stop > 1 else part


def _after(text: str, cut: int) -> int:
    """Where the next line starts after text is cut at cut: past the spaces there."""
    while text[cut : cut + 1] == " ":
        cut += 1
    return cut


def _spans(text: str, width: int, indent: int = 0) -> list[tuple[int, int]]:
    """text broken into lines of at most width cells, as (start, end) offsets into text:
    at the spaces between units, each line after the first to be shown indent cells in.
    A unit wider than a whole line is cut (see _cut)."""
    width = max(width, indent + 2)  # room for a wide character after the indent
    spans: list[tuple[int, int]] = []
    line: tuple[int, int] | None = None
    used = 0
    for match in UNIT.finditer(text):
        start, end = match.span()
        if line is not None:
            rest = width - used - cell_len(text[line[1] : start])
            if cell_len(text[start:end]) <= rest:
                used += cell_len(text[line[1] : end])
                line = (line[0], end)
                continue
            if cell_len(text[start:end]) > width - indent and rest >= 2:
                # To be cut whatever happens: the cutting starts on this line.
                part = _cut(text[start:end], rest)
                line, start = (line[0], start + len(part)), _after(text, start + len(part))
            spans.append(line)
        margin = indent if spans else 0
        while cell_len(text[start:end]) > width - margin:
            part = _cut(text[start:end], width - margin)
            spans.append((start, start + len(part)))
            start, margin = _after(text, start + len(part)), indent
        line, used = (start, end), margin + cell_len(text[start:end])
    if line is not None:
        spans.append(line)
    return spans or [(0, 0)]


def _wrap(text: str, width: int) -> str:
    """text in lines of at most width cells (see _spans)."""
    return "\n".join(text[start:end] for start, end in _spans(text, width))


def _widths(natural: list[int], narrowest: list[int], room: int) -> list[int] | None:
    """Column widths that add up to at most room: the natural ones when they fit, else
    the widest columns narrowed first, none below its narrowest; None if even that is too
    wide."""
    narrowest = [min(n, w) for n, w in zip(narrowest, natural, strict=True)]
    if sum(narrowest) > room:
        return None

    def capped(level: int) -> list[int]:
        return [max(n, min(w, level)) for n, w in zip(narrowest, natural, strict=True)]

    low, high = 0, max(natural, default=0)  # the widest column, at the level that fits
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if sum(capped(middle)) <= room else (low, middle - 1)
    widths = capped(low)
    spare = room - sum(widths)
    for i, (n, w) in enumerate(zip(narrowest, natural, strict=True)):
        if spare and widths[i] == low and n < low < w:
            widths[i], spare = low + 1, spare - 1
    return widths


def table(title: str, rows: Sequence[Sequence[Cell]], header: Sequence[str] | None = None) -> None:
    """A table on stdout (for a terminal), its first column in bold; without header,
    rows are (key, value) pairs and no header is shown.

    It fits the terminal's width: columns narrow (see PATH_MIN); when they cannot narrow
    enough, (key, value) rows are written as 'key: value' lines, and rows under a header as
    one block of 'header: value' lines each.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if sys.stdout is None:
        raise OutputFailed("stdout: cannot write the results (it is closed)")
    console = Console()
    names = [one_line(name) for name in header or ("", "")]
    columns = list(zip(names, *rows, strict=True))
    # A box line either side of each column, and a space of padding either side inside it.
    room = console.width - 3 * len(names) - 1
    widths = _widths(
        [max(cell_len(_text(cell)) for cell in column) for column in columns],
        [max(_narrowest(cell) for cell in column) for column in columns],
        room,
    )
    if widths is None:
        shown: Any = _as_lines(title, rows, names if header else None, console.width)
    else:
        shown = Table(title=one_line(title), show_header=header is not None, title_justify="left")
        for i, (name, width) in enumerate(zip(names, widths, strict=True)):
            shown.add_column(
                Text(_wrap(name, width)),
                style="bold" if i == 0 else "",
                width=width,
                overflow="fold",  # never needed, as no line is wider: but nothing is lost
            )
        for row in rows:
            # As Text, so that a file name such as "[red]x.png" is shown, not read as markup.
            shown.add_row(*(Text(_wrap(_text(c, w), w)) for c, w in zip(row, widths, strict=True)))
    with writing_results():
        console.print(shown)


def _as_lines(
    title: str, rows: Sequence[Sequence[Cell]], header: Sequence[str] | None, width: int
) -> Any:
    """The rows of a table too wide for width cells, as lines no wider: 'key: value' for
    (key, value) rows, else a block of 'header: value' lines for each row, a blank line
    between blocks; a cell under an empty header, or an empty cell, stands alone."""
    from rich.text import Text

    lines = [Text(_wrap(one_line(title), width), style="table.title")]
    if header is None:
        for key, value in rows:
            lines += _key_line(_text(key), value, width)
    else:
        for i, row in enumerate(rows):
            if i > 0:
                lines.append(Text())
            for name, cell in zip(header, row, strict=True):
                if not name:
                    lines += _key_line("", cell, width, bold=True)
                elif _text(cell):
                    lines += _key_line(name, cell, width)
    return Text("\n").join(lines)


def _key_line(key: str, value: Cell, width: int, *, bold: bool = False) -> list[Any]:
    """'key: value' in lines of at most width cells, the key in bold; the lines after the
    first start INDENT cells in. Without a key, value alone."""
    from rich.text import Text

    head = f"{key}: " if key else ""
    room = width - cell_len(head)
    # Bars that would be too few beside the key start a line of their own.
    text = head + _text(value, room if room >= SPARK_MIN else width - INDENT)
    strong = len(text) if bold else len(head) - 1
    lines = []
    for n, (start, end) in enumerate(_spans(text, width, INDENT)):
        line = Text(" " * INDENT if n else "")
        line.append(text[start : min(end, strong)] if start < strong else "", style="bold")
        line.append(text[max(start, strong) : end])
        lines.append(line)
    return lines


def remark(text: str) -> None:
    """A line of results for a terminal, broken at spaces to fit its width."""
    from rich.console import Console

    line = one_line(text)
    for start, end in _spans(line, Console().width):
        _result(line[start:end])


def summary(title: str, rows: Sequence[tuple[str, Cell]]) -> None:
    """(key, value) rows: a table on a terminal, 'key: value' lines for a pipe or a file."""
    if is_terminal(sys.stdout):
        table(title, rows)
    else:
        key_values(rows)


def grid(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """Rows under headers: a table on a terminal, aligned plain columns elsewhere."""
    if is_terminal(sys.stdout):
        table(title, rows, [h.replace("_", " ") for h in headers])
    else:
        aligned(headers, rows)


def key_values(rows: Sequence[tuple[str, Cell]]) -> None:
    """'key: value' lines on stdout (for a pipe or a file)."""
    for key, value in rows:
        _result(f"{one_line(key)}: {_text(value)}")


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """values drawn as one line of bars, one character each: the smallest value as ▁,
    the largest as █, the others at the nearest of the 8 heights between (halves up).
    All values equal draw as ▁; NaN and infinite values as a space.

    With fewer than len(values) bars to spare (width), each bar stands for the mean of a
    run of consecutive values, the runs as even as can be (their lengths differ by one at
    most), so that every value counts, a peak too; a run that holds a value which is not
    finite is drawn as a space.
    """
    if width is not None and width < len(values):
        n = len(values)
        values = [_mean(values[i * n // width : (i + 1) * n // width]) for i in range(width)]
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


def _mean(run: Sequence[float]) -> float:
    if not all(math.isfinite(v) for v in run):
        return math.nan
    return math.fsum(v / len(run) for v in run)  # each v shrunk first: no overflow


def aligned(headers: list[str], rows: list[list[str]]) -> None:
    """The same table as plain text on stdout (for a pipe or a file): a header line, then
    one line per row, columns padded with spaces and at least two apart; a cell holds at
    most single spaces ("99.04 %"), so that splitting at two or more spaces gives it back."""
    headers = [one_line(cell) for cell in headers]
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        _result("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
