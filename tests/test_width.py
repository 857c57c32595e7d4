"""Tables on a terminal of any width: no line wider than the terminal, and no number or word
broken across lines, for every command that draws one; the sparkline resampled to fit.

A terminal is faked in-process: COLUMNS sets rich's width, and is_terminal answers yes for
stdout (and no for stderr, so that no progress bar is drawn). What a terminal shows is
checked against what the same command writes to a pipe, which has no layout to get wrong.
"""

import math
import re
import sys
from collections import Counter

import h5py
import numpy as np
import pytest
from helpers import N_X, write_model_file
from typer.testing import CliRunner

from catclf.cli import app, layout, tables
from catclf.cli.layout import cell_len
from catclf.cli.tables import Sparkline, sparkline

WIDTHS = [80, 40, 20]
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
COSTS = [0.693147 * math.exp(-i / 40) + 0.140872 for i in range(200)]  # 20000 iterations


def course_file(path, kind, values, labels):
    """A course-layout HDF5 file (kind 'train' or 'test') of uniform pictures."""
    images = np.stack([np.full((64, 64, 3), v, dtype=np.uint8) for v in values])
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{kind}_set_x", data=images)
        f.create_dataset(f"{kind}_set_y", data=np.array(labels))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Small data, a model scored by brightness (z = 4 mean(x) - 2, so white is called a
    cat and black is not) and a model of 20000 iterations with 200 costs."""
    cwd = tmp_path_factory.mktemp("width")
    values = [(37 * i) % 256 for i in range(24)]
    course_file(cwd / "train.h5", "train", values, [int(v > 100) for v in values])
    # Half of them called the wrong way: the misclassified table has 6 rows.
    course_file(cwd / "test.h5", "test", [0, 255] * 6, [0, 1, 1, 0] * 3)
    course_file(cwd / "whites.h5", "test", [255] * 25, [0] * 25)  # 25 called the wrong way
    write_model_file(cwd / "bright.h5", w=np.full((N_X, 1), 4 / N_X), b=np.float64(-2.0))
    write_model_file(
        cwd / "big.h5",
        costs=np.array(COSTS),
        attrs={"num_iterations": 20000, "learning_rate": 0.0001, "final_cost": COSTS[-1]},
    )
    return cwd


COMMANDS = {
    "train": [
        "train", "train.h5", "--test", "test.h5", "-n", "300", "--validation-fraction",
        "0.25", "--model", "trained.h5", "--force",
    ],
    "evaluate": ["evaluate", "test.h5", "--model", "bright.h5"],
    "info": ["info", "--model", "big.h5"],
    "sweep": [
        "sweep", "train.h5", "-r", "0.01", "-r", "0.001", "-r", "1e300", "-n", "300",
        "--validation-fraction", "0.25",
    ],
    "cv": ["cv", "train.h5", "--folds", "3", "-n", "300"],
}  # fmt: skip


def run(args, folder, monkeypatch, width=None):
    """stdout of catclf ARGS -q in folder, on a terminal width columns wide (None: a pipe)."""
    monkeypatch.chdir(folder)
    if width is not None:
        monkeypatch.setenv("COLUMNS", str(width))
        for module in ("views", "output", "tables"):
            terminal = f"catclf.cli.{module}.is_terminal"
            monkeypatch.setattr(terminal, lambda stream: stream is sys.stdout)
    result = CliRunner().invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    return result.stdout


def plain_text(command, out):
    """What a terminal must show of a pipe's output: info's list of costs is drawn as bars
    there, with the first and the last; evaluate's counts are the confusion matrix."""
    if command == "info":
        out = re.sub(r"^costs: .*$", f"{COSTS[0]:.6f} {COSTS[-1]:.6f}", out, flags=re.M)
    if command == "evaluate":
        out = re.sub(r"^(true|false) (positives|negatives): ", "", out, flags=re.M)
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_a_table_fits_the_terminal_and_breaks_no_number_or_word(folder, monkeypatch, command):
    piped = plain_text(command, run(COMMANDS[command], folder, monkeypatch))
    assert piped.strip()
    for width in WIDTHS:
        shown = run(COMMANDS[command], folder, monkeypatch, width)
        assert shown.strip()
        wide = [line for line in shown.splitlines() if cell_len(line) > width]
        assert wide == [], f"at {width} columns"
        # Each number as often as the pipe has it (or more: the confusion matrix repeats
        # the counts), never cut in two.
        numbers, on_screen = Counter(NUMBER.findall(piped)), Counter(NUMBER.findall(shown))
        assert {n for n in numbers if on_screen[n] < numbers[n]} == set(), f"at {width}"
        # Words as well (sweep's learning_rate is "learning rate" on a terminal), except
        # one wider than a line, which can only be cut.
        words = {w for w in WORD.findall(piped) if len(w) <= width - layout.INDENT}
        assert words - set(WORD.findall(shown)) == set(), f"at {width} columns"


def test_at_80_columns_the_tables_stay_tables_and_the_bars_fit_beside_their_label(
    folder, monkeypatch
):
    info = run(COMMANDS["info"], folder, monkeypatch, 80).splitlines()
    [history] = [line for line in info if "cost history" in line]
    # 80 columns: 2 box lines, 14 of key, 3 box lines and padding; 19 of label, 2 spaces.
    bars = 80 - 4 - 14 - 3 - 19 - 2
    assert history == f"│ cost history   │ {sparkline(COSTS, bars)}  0.834019 → 0.145661 │"
    assert len(sparkline(COSTS, bars)) == bars == 38
    assert "│                │ (every 100 iterations)" in "\n".join(info)
    for command in ("train", "evaluate", "sweep", "cv"):
        assert "│" in run(COMMANDS[command], folder, monkeypatch, 80)


def test_too_narrow_a_table_becomes_key_value_lines_and_blocks(folder, monkeypatch):
    info = run(COMMANDS["info"], folder, monkeypatch, 40)
    assert "│" not in info
    assert "\nlearning rate: 0.0001\n" in info and "\niterations: 20000\n" in info
    # "cost history: " leaves too little room beside the label: the bars fill the line.
    assert f"\ncost history: {sparkline(COSTS, 40 - 14)}\n  0.834019 → 0.145661" in info
    sweep = run(COMMANDS["sweep"], folder, monkeypatch, 20)
    blocks = sweep.split("\n\n")
    assert len(blocks) == 3
    assert blocks[1].startswith("learning rate: 0.001\nl2: 0\n")  # 20 columns exactly
    assert "note: diverged" in blocks[2] and "final cost: -" in blocks[2]
    # A row whose first header is empty (the confusion matrix) is headed by its first cell.
    evaluated = run(COMMANDS["evaluate"], folder, monkeypatch, 20)
    assert "\ntrue cat\npredicted cat: 3\npredicted non-cat: 3\n\ntrue non-cat\n" in evaluated


def test_the_line_under_a_long_list_of_mistakes_breaks_at_spaces(folder, monkeypatch):
    out = run(["evaluate", "whites.h5", "--model", "bright.h5"], folder, monkeypatch, 20)
    assert out.endswith("\nimage: whites.h5[19]\nprobability:\n  0.880797\ntrue: non-cat\n"
                        "predicted: cat\n... 5 more (--json\nlists them all)\n")  # fmt: skip


def shown(capsys):
    """The lines written to stdout (rich pads a table's title to the table's width)."""
    return [line.rstrip() for line in capsys.readouterr().out.splitlines()]


def test_a_size_keeps_its_unit(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "20")
    tables.table("Prepared", [("train file", "photos/train_photos.h5 (12.3 MB)")])
    assert "  (12.3 MB)" in shown(capsys)


def test_a_path_too_long_for_its_column_is_folded_after_a_slash(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "40")
    path = "/data/photographs/2024/holidays/cats/in-the-garden.h5"
    tables.table("Written", [("model", path), ("rate", "0.0001")])
    assert shown(capsys) == [
        "Written",
        "┌───────┬──────────────────────────────┐",
        "│ model │ /data/photographs/2024/      │",
        "│       │ holidays/cats/               │",
        "│       │ in-the-garden.h5             │",
        "│ rate  │ 0.0001                       │",
        "└───────┴──────────────────────────────┘",
    ]


def test_a_table_that_fits_is_drawn_at_its_natural_width(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    tables.table("Rates", [("0.005", "99.04 %")], header=("learning rate", "train"))
    assert shown(capsys)[1:] == [
        "┏━━━━━━━━━━━━━━━┳━━━━━━━━━┓",
        "┃ learning rate ┃ train   ┃",
        "┡━━━━━━━━━━━━━━━╇━━━━━━━━━┩",
        "│ 0.005         │ 99.04 % │",
        "└───────────────┴─────────┘",
    ]


def test_columns_narrow_to_their_longest_word_and_no_further(monkeypatch, capsys):
    # 25 columns: 7 of box, 18 for the cells: "accuracy interval" (17) and "56.25 % to
    # 80.90 %" (18) narrow to 9 each; "accuracy" and "80.90 %" keep whole.
    monkeypatch.setenv("COLUMNS", "25")
    tables.table("Test", [("accuracy interval", "56.25 % to 80.90 %")])
    assert shown(capsys)[1:] == [
        "┌───────────┬───────────┐",
        "│ accuracy  │ 56.25 %   │",
        "│ interval  │ to        │",
        "│           │ 80.90 %   │",
        "└───────────┴───────────┘",
    ]
    # One column fewer: "interval" and "56.25 %" still fit, "accuracy" (8) + "80.90 %" (7)
    # + 7 of box = 22; at 21 the table becomes lines.
    monkeypatch.setenv("COLUMNS", "21")
    tables.table("Test", [("accuracy interval", "56.25 % to 80.90 %")])
    assert shown(capsys) == [
        "Test",
        "accuracy interval:",
        "  56.25 % to 80.90 %",
    ]


# The sparkline, resampled by hand: each bar the mean of a run of consecutive values.


@pytest.mark.parametrize(
    ("values", "width", "expected"),
    [
        # Pairs: means 1, 5, 9, 13 over 1..13 in 7 steps: 0, 2.33, 4.67, 7 -> 0, 2, 5, 7.
        ([0, 2, 4, 6, 8, 10, 12, 14], 4, "▁▃▆█"),
        # 5 values in 2 runs: [0, 0] and [1, 1, 1].
        ([0, 0, 1, 1, 1], 2, "▁█"),
        # A peak in the last run still shows (an evenly spaced sample would miss it).
        ([0] * 9 + [9], 5, "▁▁▁▁█"),
        # A run that holds a NaN is a space.
        ([1, math.nan, 3, 4], 2, " ▁"),
        # Room enough: one bar for each value, as without a width.
        ([3, 2, 1], 3, "█▅▁"),  # 2 is 3.5 steps up: halves up
        ([3, 2, 1], 10, "█▅▁"),  # 2 is 3.5 steps up: halves up
        # Costs too large to add up as they are.
        ([1e308, 1e308, 0, 0], 2, "█▁"),
    ],
)
def test_sparkline_resampled_by_hand(values, width, expected):
    assert sparkline(values, width) == expected


def test_a_sparkline_cell_leaves_room_for_its_label_or_takes_a_line_of_its_own():
    cell = Sparkline(COSTS, "0.833147 → 0.140872", "(every 100 iterations)")
    label = "  0.833147 → 0.140872 (every 100 iterations)"
    assert cell.draw() == sparkline(COSTS) + label  # as before, all 200 bars
    assert cell.draw(221) == sparkline(COSTS) + label  # 200 bars and the label fit
    assert cell.draw(50) == sparkline(COSTS, 29) + label  # 50 - 21
    assert cell.draw(28) == sparkline(COSTS, 28) + label  # 7 bars beside it: too few
    assert cell.draw(29) == sparkline(COSTS, 8) + label
