"""Text broken into lines of a terminal's width, never inside a word: at the spaces
between units (a number and its unit, "80.90 %", is one), a unit wider than a whole line
cut after a slash (a path) or a hyphen where it can be."""

from __future__ import annotations

import os
import re

PATH_MIN = 20
INDENT = 2  # the lines a "key: value" line wraps onto start this far in
# A word, with the unit that follows a number kept beside it ("80.90 %", "(95 %)", "12 MB").
UNIT = re.compile(r"\S+(?: +(?:%|[KMGT]?B\b)\S*)*")


def cell_len(text: str) -> int:
    """The columns text takes on a terminal (a wide character takes two)."""
    from rich.cells import cell_len as columns  # rich only when something is drawn

    return columns(text)


def is_path(unit: str) -> bool:
    """A file name with a folder in it: a slash and a letter ('(207/209)' is not one)."""
    return ("/" in unit or os.sep in unit) and any(c.isalpha() for c in unit)


def _cut(unit: str, room: int) -> str:
    """The part of an over-long unit that goes on a line of room cells: up to its last
    slash that fits, or else its last hyphen (not the first character alone), or else as
    much as fits."""
    # here: rich only when something is drawn
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


def spans(text: str, width: int, indent: int = 0) -> list[tuple[int, int]]:
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


def wrap(text: str, width: int) -> str:
    """text in lines of at most width cells (see _spans)."""
    return "\n".join(text[start:end] for start, end in spans(text, width))
