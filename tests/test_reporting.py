"""What people see: the sparkline against strings worked out by hand."""

import math

import pytest

from catclf.reporting import percent, sparkline


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
    assert percent(0.7, 50) == "70.00 % (35/50)"
    assert percent(207 / 209, 209) == "99.04 % (207/209)"


@pytest.mark.parametrize(
    ("fraction", "m", "text"),
    [(0.7, 0, "0.7"), (math.nan, 50, "nan"), (math.inf, 50, "inf")],
)
def test_percent_without_a_count_is_the_number(fraction, m, text):
    assert percent(fraction, m) == text
