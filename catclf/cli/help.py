"""How the command line explains itself: help that fits any terminal and breaks no word,
usage lines that name arguments as the docs do, and usage errors in one line, as catclf
writes every error, with an option suggested only when it is what was surely meant."""

from __future__ import annotations

import difflib
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from catclf.cli.output import error, note

_HelpFormatter: Any = typer.Context.formatter_class  # click's, vendored by typer or not


class Formatter(_HelpFormatter):
    """Help that breaks no word on any terminal. As wide as the terminal however narrow
    (click makes it 50 columns at least, which a narrower terminal breaks anywhere); text
    wrapped at spaces only, never inside a word nor at its hyphens (--validation-fraction,
    cross-validation); options whose names take much of a narrow line have their help on
    the next; the lines of an example (a paragraph marked \\b, which click leaves as it is)
    folded at spaces when they are wider than the terminal, continued four places in."""

    def __init__(
        self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None
    ) -> None:
        if width is None:
            width = max(min(shutil.get_terminal_size().columns, max_width or 80) - 2, 20)
        super().__init__(indent_increment, width, max_width)

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(_wrapped(text, self.width - self.current_indent, indent) + "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        col_max = min(col_max, max(self.width // 2 - 4, 8))
        first_col = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            self.write(f"{indent}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = _wrapped(second, self.width - first_col - self.current_indent).split("\n")
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(" " * (first_col + self.current_indent) + line + "\n")


def _wrapped(text: str, width: int, indent: str = "") -> str:
    """text in lines of at most width characters after indent, paragraphs (apart by blank
    lines) filled, those marked \\b kept line by line and folded (`_fold`)."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if lines[0].strip() == "\b":
            kept = [part for line in lines[1:] for part in _fold(line, width)]
            paragraphs.append("\n".join(indent + line for line in kept))
        else:
            words = " ".join(line.strip() for line in lines)
            filled = textwrap.wrap(
                words, max(width, 1), break_long_words=False, break_on_hyphens=False
            )
            paragraphs.append("\n".join(indent + line for line in filled))
    return "\n\n".join(paragraphs)


def _fold(line: str, room: int) -> list[str]:
    """line in lines of at most room characters, broken at spaces only (a word longer than
    the room stays whole), each after the first four places further in than line."""
    if len(line) <= room:
        return [line]
    lead = " " * (len(line) - len(line.lstrip()))
    return textwrap.wrap(
        line,
        max(room, 1),
        subsequent_indent=lead + "    ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


class Context(typer.Context):
    formatter_class = Formatter


class Group(TyperGroup):
    """The command list of `catclf --help`, each summary whole: wrapped at word
    boundaries on a narrow terminal, never cut short with '...'."""

    context_class = Context

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Command(TyperCommand):
    """A command whose usage line names a required argument as DATA, as the docs do,
    where typer writes {DATA}, and whose help breaks no word (`Formatter`)."""

    context_class = Context

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


# click's UsageError, which typer vendors in some versions and imports in others: the
# base of its public BadParameter either way.
UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _show_usage_error(self: Any, file: Any = None) -> None:
    """A usage error as catclf writes every error: one line, then where help is."""
    message = self.format_message()
    if hasattr(self, "option_name") and hasattr(self, "possibilities"):  # NoSuchOption
        message = _unknown_option(self.option_name, self.possibilities or ())
    error(message)
    if self.ctx is not None:
        note(f"try '{self.ctx.command_path} --help'")


# How alike an unknown option and a real one must be (difflib's ratio) for the one to be
# suggested for the other: a misspelt --iteratons, not --lr, which names another setting
# than --l2 though it differs from it by one letter.
SUGGESTED = 0.85


def _unknown_option(name: str, possibilities: Sequence[str]) -> str:
    """'No such option: NAME', with a suggestion only for an option alike enough to be what
    was meant."""
    alike = sorted(
        p for p in possibilities if difflib.SequenceMatcher(None, name, p).ratio() >= SUGGESTED
    )
    said = f"no such option: {name}"
    return f"{said}; did you mean {' or '.join(alike)}?" if alike else said


# typer prints a usage error as click's block of usage, hint and message; catclf's errors
# are one line each, whatever finds them (documented in docs/reliability.md).
UsageError.show = _show_usage_error
