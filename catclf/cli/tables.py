"""Tables on a terminal of any width, and the same as plain text for a pipe or a file.

A word never breaks inside a cell: columns narrow down to their longest word, and a table
that cannot fit even so is written as "key: value" lines instead. Only a file path, which
may well be wider than any column, is folded (after a slash where it can be), in a column no
narrower than PATH_MIN; and only a word wider than the whole terminal is cut.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from catclf.cli.layout import INDENT, PATH_MIN, UNIT, cell_len, is_path, spans, wrap
from catclf.cli.output import OutputFailed, _result, is_terminal, writing_results
from catclf.wording import one_line

SPARK_MIN = 8  # fewest bars worth drawing beside their label
SPARKS = "▁▂▃▄▅▆▇█"


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


def _text(cell: Cell, room: int | None = None) -> str:
    return one_line(cell.draw(room) if isinstance(cell, Sparkline) else cell)


def _narrowest(cell: Cell) -> int:
    """The narrowest column that holds cell with no word broken (a path: see PATH_MIN)."""
    if isinstance(cell, Sparkline):
        return max(SPARK_MIN, _narrowest(f"{cell.label} {cell.note}"))
    widths = [
        min(cell_len(unit), PATH_MIN) if is_path(unit) else cell_len(unit)
        for unit in UNIT.findall(one_line(cell))
    ]
    return max(widths, default=0)


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
    # here: rich only when something is drawn
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
                Text(wrap(name, width)),
                style="bold" if i == 0 else "",
                width=width,
                overflow="fold",  # never needed, as no line is wider: but nothing is lost
            )
        for row in rows:
            # As Text, so that a file name such as "[red]x.png" is shown, not read as markup.
            shown.add_row(*(Text(wrap(_text(c, w), w)) for c, w in zip(row, widths, strict=True)))
    with writing_results():
        console.print(shown)


def _as_lines(
    title: str, rows: Sequence[Sequence[Cell]], header: Sequence[str] | None, width: int
) -> Any:
    """The rows of a table too wide for width cells, as lines no wider: 'key: value' for
    (key, value) rows, else a block of 'header: value' lines for each row, a blank line
    between blocks; a cell under an empty header, or an empty cell, stands alone."""
    # here: rich only when something is drawn
    from rich.text import Text

    lines = [Text(wrap(one_line(title), width), style="table.title")]
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
    # here: rich only when something is drawn
    from rich.text import Text

    head = f"{key}: " if key else ""
    room = width - cell_len(head)
    # Bars that would be too few beside the key start a line of their own.
    text = head + _text(value, room if room >= SPARK_MIN else width - INDENT)
    strong = len(text) if bold else len(head) - 1
    lines = []
    for n, (start, end) in enumerate(spans(text, width, INDENT)):
        line = Text(" " * INDENT if n else "")
        line.append(text[start : min(end, strong)] if start < strong else "", style="bold")
        line.append(text[max(start, strong) : end])
        lines.append(line)
    return lines


def remark(text: str) -> None:
    """A line of results for a terminal, broken at spaces to fit its width."""
    # here: rich only when something is drawn
    from rich.console import Console

    line = one_line(text)
    for start, end in spans(line, Console().width):
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


# An explanation's map as text: 32 x 32 cells (each the mean of 2 x 2 pixels), in half-block
# characters coloured from blue (toward the negative class) through grey to red (toward the
# positive one); as plain characters where colour is off (NO_COLOR, or not a terminal).
MAP_CELLS = 32
NEGATIVE, NEUTRAL, POSITIVE = (33, 102, 172), (236, 236, 236), (178, 24, 43)
# Plain characters, from most toward the negative class to most toward the positive one.
PLAIN_MARKS = "=-.+#"


def heat_map(shares: Any, limit: float, classes: tuple[str, str], colour: bool) -> None:
    """shares (64, 64), each pixel's share of a logit, scaled to [-limit, limit], on stdout:
    a small picture and a line saying what its colours or marks mean."""
    rows, columns = shares.shape
    if colour:
        cells = shares.reshape(MAP_CELLS, rows // MAP_CELLS, MAP_CELLS, columns // MAP_CELLS)
        _half_blocks(cells.mean(axis=(1, 3)) / limit)
        legend = f"red: toward {classes[1]}; blue: toward {classes[0]}; grey: neither"
    else:
        # Each mark is two pixels wide and four high, as a character is about twice as
        # high as it is wide: 16 lines of 32.
        cells = shares.reshape(
            MAP_CELLS // 2, rows * 2 // MAP_CELLS, MAP_CELLS, columns // MAP_CELLS
        )
        scaled = cells.mean(axis=(1, 3)) / limit
        steps = [-0.4, -0.1, 0.1, 0.4]
        for line in scaled:
            _result("".join(PLAIN_MARKS[sum(v > s for s in steps)] for v in line))
        legend = f"# + toward {classes[1]}; = - toward {classes[0]}; . little either way"
    _result(one_line(legend))


def _half_blocks(scaled: Any) -> None:
    """Cells in [-1, 1], two rows to a line: the upper half block in the upper row's
    colour on the lower row's."""
    # here: rich only when something is drawn
    from rich.console import Console
    from rich.text import Text

    def rgb(v: float) -> str:
        end = POSITIVE if v > 0 else NEGATIVE
        t = min(1.0, abs(float(v))) ** 0.7
        r, g, b = (round(n + (e - n) * t) for n, e in zip(NEUTRAL, end, strict=True))
        return f"rgb({r},{g},{b})"

    console = Console(highlight=False)
    text = Text()
    for top, bottom in zip(scaled[0::2], scaled[1::2], strict=True):
        for u, v in zip(top, bottom, strict=True):
            text.append("▀", style=f"{rgb(u)} on {rgb(v)}")
        text.append("\n")
    with writing_results():
        console.print(text, end="", no_wrap=True, crop=True, soft_wrap=False)
