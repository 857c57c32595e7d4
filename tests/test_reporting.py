"""What people see: the sparkline against strings worked out by hand, and text from files
shown so that it cannot forge an output line or drive the terminal."""

import io
import json
import math
import sys

import pytest
from course import (
    TEST_ACCURACY_SHOWN,
    TEST_CORRECT,
    TEST_EXAMPLES,
    TRAIN_ACCURACY_SHOWN,
    TRAIN_CORRECT,
    TRAIN_EXAMPLES,
)

from catclf.cli.output import OutputFailed, configure_streams, emit, emit_json, error, note
from catclf.cli.tables import aligned, key_values, sparkline, table
from catclf.wording import one_line, percent


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 2, 3, 4, 5, 6, 7], "▁▂▃▄▅▆▇█"),  # one step of 1/7 per bar
        ([7, 6, 5, 4, 3, 2, 1, 0], "█▇▆▅▄▃▂▁"),
        ([0.7, 0.35, 0.0], "█▅▁"),  # half-way is 3.5 bars up: rounds up to ▅
        ([10, 20], "▁█"),
        ([100.0, 100.5, 101.0], "▁▅█"),  # only the spread matters, not the size
        ([3, 3, 3], "▁▁▁"),  # constant: no spread to show
        ([0.5], "▁"),
        ([], ""),
        ([0, math.nan, 7], "▁ █"),  # NaN leaves a gap and does not move the scale
        ([math.inf, 1, 2], " ▁█"),
        ([math.nan], " "),
    ],
)
def test_sparkline_by_hand(values, expected):
    assert sparkline(values) == expected


def test_percent_gives_the_count_an_accuracy_stands_for():
    assert percent(TEST_CORRECT / TEST_EXAMPLES, TEST_EXAMPLES) == TEST_ACCURACY_SHOWN
    assert percent(TRAIN_CORRECT / TRAIN_EXAMPLES, TRAIN_EXAMPLES) == TRAIN_ACCURACY_SHOWN


@pytest.mark.parametrize(
    ("fraction", "m", "text"),
    [(0.7, 0, "0.7"), (math.nan, 50, "nan"), (math.inf, 50, "inf")],
)
def test_percent_without_a_count_is_the_number(fraction, m, text):
    assert percent(fraction, m) == text


# Text from files is shown so that it can neither forge a line nor drive the terminal.

ESC = "\x1b"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain.png", "plain.png"),
        ("two\nlines", "two\\nlines"),
        ("cr\rlf", "cr\\rlf"),
        ("tab\there", "tab\\there"),
        (f"{ESC}[2Jclear", "\\x1b[2Jclear"),
        (f"{ESC}]0;title\x07", "\\x1b]0;title\\x07"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("c1 csi \x9b2J", "c1 csi \\x9b2J"),  # U+009B: CSI, a whole ESC [ in one character
        ("byte csi \udc9b2J", "byte csi \\x9b2J"),  # the undecodable byte 0x9b of a name
        ("café \udce9", "café \udce9"),  # text, and a byte 0xe9 that is no control
        # Where str.splitlines breaks a line, beyond the controls: the line and paragraph
        # separators (U+0085, NEL, is a C1 control, above).
        ("a\u2028b\u2029c\x85d", "a\\u2028b\\u2029c\\x85d"),
    ],
)
def test_one_line_escapes_every_control_character(text, shown):
    assert one_line(text) == shown


def test_one_line_can_keep_the_tabs_that_separate_fields():
    assert one_line(f"a\tb{ESC}\n", keep_tabs=True) == "a\tb\\x1b\\n"


FORGED = f"x\nfinal cost: 0.000001\n{ESC}]0;pwned\x07\x9b"


def test_every_plain_text_output_escapes_control_characters(capsys):
    emit(f"{FORGED}\t0.5")
    key_values([("train data", FORGED), (f"k{ESC}", "v\tw")])
    aligned(["name", "value"], [[FORGED, "1"]])
    error(FORGED)
    note(FORGED)
    out, err = capsys.readouterr()
    expected_text = "x\\nfinal cost: 0.000001\\n\\x1b]0;pwned\\x07\\x9b"
    assert out.splitlines() == [
        f"{expected_text}\t0.5",
        f"train data: {expected_text}",
        "k\\x1b: v\\tw",
        "name" + " " * (len(expected_text) - 2) + "value",
        f"{expected_text}  1",
    ]
    assert err.splitlines() == [f"catclf: error: {expected_text}", f"catclf: {expected_text}"]


def test_a_table_escapes_control_characters(capsys):
    table(f"T{ESC}", [(FORGED, f"v{ESC}[31m")], header=(f"h{ESC}", "x"))
    out = capsys.readouterr().out
    assert ESC not in out and "\x9b" not in out and "\x07" not in out
    assert "\\x1b" in out and "final cost" in out


def test_json_escapes_the_c1_controls_json_itself_leaves(capsys):
    emit_json({"path": FORGED + "\u2028"})
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and len(line.splitlines()) == 1
    assert "\x9b" not in line and ESC not in line and "\\u009b" in line
    assert json.loads(line) == {"path": FORGED + "\u2028"}


def test_every_line_of_results_is_one_line_to_splitlines(capsys):
    emit("a\u2028b\tc\u2029d\x1ce\x85f")
    key_values([("k\u2028", "v\u2029")])
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2


def test_with_stderr_closed_diagnostics_are_dropped_not_sent_to_stdout(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    error("a message")
    note("a note")
    emit("a result")
    assert capsys.readouterr().out == "a result\n"


def test_with_stdout_closed_results_are_an_error(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(OutputFailed, match="stdout: cannot write the results"):
        emit("a result")


@pytest.mark.parametrize(
    ("encoding", "written"),
    [
        ("utf-8", b"caf\xe9 \xc3\xa9 \xe2\x86\x92 \xf0\x9f\x90\x88\n"),
        ("ascii", b"caf\xe9 \\xe9 \\u2192 \\U0001f408\n"),  # PYTHONIOENCODING=ascii
    ],
)
def test_stdout_writes_undecodable_bytes_back_and_escapes_what_it_cannot_encode(
    monkeypatch, encoding, written
):
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.BytesIO(), encoding=encoding))
    configure_streams()
    emit("caf\udce9 \u00e9 \u2192 \U0001f408")  # a name with the byte 0xe9, then text
    out.flush()
    assert out.buffer.getvalue() == written
