"""Help, notes and progress that fit a terminal: every command's summary whole at 80 columns,
each command's help short enough to read without scrolling, and no word broken across lines
at 80 or 40 columns, in help, in messages on stderr, or in a progress bar."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import COMMANDS
from typer.testing import CliRunner

from catclf.cli import app, output

MOST_LINES = 36  # a command's help at 80 columns: one screen


def help_at(width, *args):
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_summary_is_whole_at_80_columns():
    text = help_at(80)
    commands = text.split("Commands:\n", 1)[1]
    assert "..." not in commands
    summaries = {c.callback.__name__: c.short_help for c in app.registered_commands}
    assert sorted(summaries) == sorted(COMMANDS)
    for name, summary in summaries.items():
        assert summary and f"{name} " in commands
        assert " ".join(summary.split()) in " ".join(commands.split())
    # Each on its own line beside its name.
    for line in commands.splitlines():
        assert len(line) <= 80


@pytest.mark.parametrize("name", COMMANDS)
def test_each_commands_help_is_a_screen_at_80_columns(name):
    lines = help_at(80, name).splitlines()
    assert len(lines) <= MOST_LINES, "\n".join(lines)


@pytest.mark.parametrize("width", [80, 40])
@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_no_line_is_wider_than_the_terminal_and_no_word_is_broken(name, width):
    args = [name] if name else []
    text = help_at(width, *args)
    for line in text.splitlines():
        # Only a word longer than a whole line may stick out; it is never cut.
        assert len(line) <= width or len(line.split()) == 1 or line.strip().count(" ") == 0, line
    # The same words as at a width where nothing needs breaking, none cut in two.
    assert Counter(text.split()) == Counter(help_at(200, *args).split())


@pytest.mark.parametrize("width", [80, 40])
def test_a_message_on_a_terminal_is_broken_at_spaces_to_fit_it(monkeypatch, capsys, width):
    monkeypatch.setattr(output, "is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", str(width))
    message = (
        "no model.h5 here: using the course's model, trained on 209 small images, right on "
        "70.00 % of its 50 test images; see /a/rather/long/path/to/some/photos/of/cats.jpg"
    )
    output.note(message)
    lines = capsys.readouterr().err.splitlines()
    assert all(len(line) <= width for line in lines)
    assert lines[0].startswith("catclf: no model.h5")
    assert all(line.startswith("  ") for line in lines[1:])  # continued, indented
    # Nothing lost: the words come back when the lines are joined (a path only at slashes).
    joined = "".join(line.strip() if n else line for n, line in enumerate(lines))
    assert joined.replace(" ", "") == f"catclf: {message}".replace(" ", "")


def test_a_message_for_a_program_stays_on_one_line(monkeypatch, capsys):
    monkeypatch.setattr(output, "is_terminal", lambda stream: False)
    monkeypatch.setenv("COLUMNS", "40")
    output.error("x " * 60)
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize("width", range(20, 140, 7))
@pytest.mark.parametrize(
    ("description", "total", "room"),
    [
        ("training", 2000, 13),
        ("fold 10 of 10", 2000, 13),
        ("scoring", None, 13),
        ("training", 20_000_000, 34),
    ],
)
def test_a_progress_bar_drops_its_least_useful_columns_before_it_breaks(
    width, description, total, room
):
    bar, kept = output.bar_layout(width, description, total, room)
    counted = 2 * len(f"{total:,}") + 1 if total is not None else 9
    taken = len(description) + 1 + bar + 1 + counted + sum([room + 1, 8, 8][:kept])
    # It fits, but for a bar at its narrowest beside what always stays.
    assert taken <= width or (bar == output.BAR_MIN and kept == 0)
    # Dropped from the end: the time left first, then the time taken, then the status.
    wider_bar, wider_kept = output.bar_layout(width + 20, description, total, room)
    assert wider_kept >= kept and wider_bar >= bar or wider_kept > kept
