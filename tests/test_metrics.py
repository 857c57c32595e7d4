"""Scores against values worked out by hand, edge cases, and a plain pair-counting AUC."""

import decimal
import json
import math
from decimal import Decimal
from statistics import NormalDist

import numpy as np
import pytest

from catclf import datasets, metrics
from catclf.evaluation import evaluate
from catclf.metrics import Confusion
from catclf.model import load_model
from catclf.modelfile import BUNDLED_PATH

# Six examples, one tie across the classes (0.7), worked out by hand:
#   p  0.9  0.7  0.7  0.4  0.3  0.1
#   y   1    1    0    1    0    0
# At threshold 0.5 the first three are called cats:
#   TP = 2 (0.9, 0.7), FP = 1 (0.7), FN = 1 (0.4), TN = 2 (0.3, 0.1)
#   accuracy 4/6, precision 2/3, recall 2/3, F1 = 2*2 / (2*2 + 1 + 1) = 2/3
# AUC from the 3 x 3 (positive, negative) pairs, a tie counting 1/2:
#   0.9 beats 0.7, 0.3, 0.1: 3;  0.7 ties 0.7, beats 0.3, 0.1: 2.5;  0.4 beats 0.3, 0.1: 2
#   AUC = 7.5 / 9 = 5/6
# Log loss: -(ln .9 + ln .7 + ln(1-.7) + ln .4 + ln(1-.3) + ln(1-.1)) / 6
#   = -ln(.9^2 * .7^2 * .3 * .4) / 6 = -ln(0.047628) / 6 = 0.507389
P6 = np.array([0.9, 0.7, 0.7, 0.4, 0.3, 0.1])
Y6 = np.array([1, 1, 0, 1, 0, 0])


def test_six_examples_by_hand():
    c = metrics.confusion(P6, Y6)
    assert c == Confusion(tp=2, fp=1, tn=2, fn=1)
    assert metrics.precision(c) == pytest.approx(2 / 3)
    assert metrics.recall(c) == pytest.approx(2 / 3)
    assert metrics.f1(c) == pytest.approx(2 / 3)
    assert metrics.roc_auc(P6, Y6) == pytest.approx(5 / 6)
    assert metrics.log_loss(P6, Y6) == pytest.approx(-math.log(0.047628) / 6, abs=1e-9)
    assert metrics.log_loss(P6, Y6) == pytest.approx(0.507389, abs=1e-6)


def test_score_gathers_the_same_values():
    s = metrics.score(P6, Y6)
    assert (s.examples, s.threshold) == (6, 0.5)
    assert s.accuracy == pytest.approx(4 / 6)
    assert (s.precision, s.recall, s.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert s.roc_auc == pytest.approx(5 / 6)
    assert s.log_loss == pytest.approx(0.507389, abs=1e-6)
    assert s.confusion == Confusion(2, 1, 2, 1)


def test_a_higher_threshold_by_hand():
    # At 0.8 only 0.9 is called a cat: TP 1, FP 0, FN 2 (0.7, 0.4), TN 3.
    s = metrics.score(P6, Y6, threshold=0.8)
    assert s.confusion == Confusion(tp=1, fp=0, tn=3, fn=2)
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.precision == 1.0
    assert s.recall == pytest.approx(1 / 3)
    # 2 * 1 / (2 * 1 + 0 + 2) = 1/2, the harmonic mean of 1 and 1/3.
    assert s.f1 == pytest.approx(1 / 2)
    # AUC and log loss do not depend on the threshold.
    assert s.roc_auc == pytest.approx(5 / 6)


def test_a_probability_equal_to_the_threshold_is_not_a_cat():
    assert metrics.confusion(np.array([0.5, 0.5]), np.array([1, 0])) == Confusion(0, 0, 1, 1)


def test_as_dict_is_json_ready():
    d = metrics.score(P6, Y6).as_dict()
    assert d["confusion"] == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert set(d) == {
        "examples",
        "threshold",
        "accuracy",
        "accuracy_ci",
        "baseline_accuracy",
        "precision",
        "recall",
        "f1",
        "log_loss",
        "roc_auc",
        "confusion",
    }
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    # 4 of 6 right; three of each class, so either answer alone scores 1/2.
    assert d["accuracy_ci"] == list(metrics.wilson_interval(4, 6))
    assert d["baseline_accuracy"] == 0.5


def test_no_positive_examples():
    # Labels all non-cat; 0.8 is called a cat: FP 1, TN 2.
    s = metrics.score(np.array([0.8, 0.2, 0.1]), np.array([0, 0, 0]))
    assert s.confusion == Confusion(tp=0, fp=1, tn=2, fn=0)
    assert s.accuracy == pytest.approx(2 / 3)
    assert s.precision == 0.0
    assert s.recall is None
    assert s.f1 == 0.0  # 0 / (0 + 1 + 0)
    assert s.roc_auc is None
    d = s.as_dict()
    assert (d["recall"], d["roc_auc"]) == (None, None)
    json.dumps(d, allow_nan=False)


def test_no_negative_examples():
    # Labels all cat; 0.3 is missed: TP 2, FN 1.
    s = metrics.score(np.array([0.9, 0.6, 0.3]), np.array([1, 1, 1]))
    assert s.confusion == Confusion(tp=2, fp=0, tn=0, fn=1)
    assert (s.precision, s.recall) == pytest.approx((1.0, 2 / 3))
    assert s.f1 == pytest.approx(4 / 5)  # 2*2 / (2*2 + 0 + 1)
    assert s.roc_auc is None


def test_nothing_predicted_a_cat():
    # Threshold 1: no probability is above it.
    s = metrics.score(P6, Y6, threshold=1.0)
    assert s.confusion == Confusion(tp=0, fp=0, tn=3, fn=3)
    assert s.precision is None
    assert s.recall == 0.0
    assert s.f1 == 0.0  # 0 / (0 + 0 + 3): recall 0 makes the harmonic mean 0
    assert s.accuracy == 0.5


def test_everything_predicted_a_cat():
    # Threshold 0: every probability here is above it.
    s = metrics.score(P6, Y6, threshold=0.0)
    assert s.confusion == Confusion(tp=3, fp=3, tn=0, fn=0)
    assert (s.precision, s.recall) == (0.5, 1.0)
    assert s.f1 == pytest.approx(2 / 3)  # 6 / (6 + 3 + 0)


def test_only_negatives_and_none_called_positive_leaves_f1_undefined():
    s = metrics.score(np.array([0.1, 0.2]), np.array([0, 0]))
    assert s.confusion == Confusion(tp=0, fp=0, tn=2, fn=0)
    assert (s.precision, s.recall, s.f1, s.roc_auc) == (None, None, None, None)
    assert s.accuracy == 1.0


def test_ties_in_probabilities():
    # Every probability the same: each of the 2 x 2 pairs is a tie, AUC = 2 / 4.
    same = np.full(4, 0.6)
    assert metrics.roc_auc(same, np.array([1, 0, 1, 0])) == 0.5
    # Positives {0.8, 0.5}, negatives {0.5, 0.5, 0.2}: 0.8 wins 3; 0.5 ties 2, wins 1.
    # (3 + 1 + 1) / 6 = 5/6
    p = np.array([0.5, 0.8, 0.5, 0.2, 0.5])
    y = np.array([0, 1, 1, 0, 0])
    assert metrics.roc_auc(p, y) == pytest.approx(5 / 6)


def test_perfect_and_reversed_rankings():
    y = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), y) == 1.0
    assert metrics.roc_auc(np.array([0.4, 0.3, 0.2, 0.1]), y) == 0.0


def test_probabilities_exactly_0_and_1():
    y = np.array([1, 0])
    # Right and certain: each term is -ln(1 - 1e-15), about 1e-15.
    right = metrics.log_loss(np.array([1.0, 0.0]), y)
    assert 0 <= right < 1e-12
    # Wrong and certain: clipped to -ln(1e-15) = 15 ln 10 = 34.54 each, not infinity.
    wrong = metrics.log_loss(np.array([0.0, 1.0]), y)
    assert wrong == pytest.approx(15 * math.log(10), abs=0.1)
    s = metrics.score(np.array([0.0, 1.0]), y)
    assert s.confusion == Confusion(tp=0, fp=1, tn=0, fn=1)
    assert s.roc_auc == 0.0
    assert math.isfinite(s.log_loss)


@pytest.mark.parametrize(
    ("probabilities", "labels", "message"),
    [
        ([], [], "no examples"),
        ([0.5, 0.5], [1], "2 probabilities but 1 labels"),
        ([0.5], [2], "0 or 1"),
        ([1.5], [1], "from 0 to 1"),
        ([math.nan], [1], "from 0 to 1"),
    ],
)
def test_bad_input_is_a_value_error(probabilities, labels, message):
    p, y = np.array(probabilities, dtype=float), np.array(labels)
    for function in (metrics.score, metrics.confusion, metrics.log_loss, metrics.roc_auc):
        with pytest.raises(ValueError, match=message):
            function(p, y)


def test_a_threshold_outside_0_to_1_is_a_value_error():
    with pytest.raises(ValueError, match="threshold"):
        metrics.score(P6, Y6, threshold=1.5)


def pair_counting_auc(p, y):
    """The definition, in O(m^2): over every (positive, negative) pair, 1 when the
    positive's probability is higher, 1/2 when they are equal."""
    positives = [a for a, label in zip(p, y, strict=True) if label == 1]
    negatives = [a for a, label in zip(p, y, strict=True) if label == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in positives for b in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(20))
def test_auc_agrees_with_pair_counting_on_random_data(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 200))
    # Rounding to 1 or 2 decimals makes ties common.
    p = np.round(rng.random(m), int(rng.integers(1, 4)))
    y = rng.integers(0, 2, m)
    y[:2] = [0, 1]  # both classes present
    assert metrics.roc_auc(p, y) == pytest.approx(pair_counting_auc(p, y), abs=1e-12)


def test_log_loss_agrees_with_the_plain_formula_on_random_data():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.01, 0.99, 500)
    y = rng.integers(0, 2, 500)
    terms = [math.log(a) if label else math.log(1 - a) for a, label in zip(p, y, strict=True)]
    plain = -sum(terms) / 500
    assert metrics.log_loss(p, y) == pytest.approx(plain, rel=1e-12)


def test_misclassified_by_hand():
    # At 0.5: 0.7 (a non-cat called a cat) and 0.4 (a cat missed) are wrong, at places 2, 3.
    assert metrics.misclassified(P6, Y6).tolist() == [2, 3]
    # At 0.8 only 0.9 is called a cat: the cats 0.7 and 0.4 are missed; the non-cats are right.
    assert metrics.misclassified(P6, Y6, threshold=0.8).tolist() == [1, 3]


# The uncertainty of an accuracy, and what always giving the same answer scores.

# The two-sided 95 % normal quantile, Phi^-1(0.975), to the digits a double holds; printed
# tables round it to 1.96.
Z95 = 1.959963984540054


def wilson_by_hand(correct, n, z):
    """The closed formula, written out in exact decimal arithmetic (40 digits)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        p, n, z = Decimal(correct) / Decimal(n), Decimal(n), Decimal(repr(z))
        centre = p + z * z / (2 * n)
        spread = z * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt()
        scale = 1 + z * z / n
        return float((centre - spread) / scale), float((centre + spread) / scale)


def test_the_normal_quantile_is_the_tables():
    z = NormalDist().inv_cdf(0.975)
    assert z == pytest.approx(Z95, abs=1e-15)
    assert z == pytest.approx(1.96, abs=5e-5)
    assert NormalDist().inv_cdf(0.995) == pytest.approx(2.576, abs=5e-4)


def test_wilson_interval_of_the_course_test_accuracy():
    # 35 of the 50 test images right: 56.2 % to 80.9 %, and to the digits a double holds
    # 0.56249649535546... to 0.80896446499119...
    low, high = metrics.wilson_interval(35, 50)
    assert (round(low, 3), round(high, 3)) == (0.562, 0.809)
    assert (low, high) == pytest.approx(wilson_by_hand(35, 50, Z95), abs=1e-15)
    assert low == pytest.approx(0.562496495355466, abs=1e-15)
    assert high == pytest.approx(0.808964464991191, abs=1e-15)
    # With the table's rounded 1.96 the bounds move by less than 1e-5.
    assert (low, high) == pytest.approx(wilson_by_hand(35, 50, 1.96), abs=1e-5)


@pytest.mark.parametrize(("correct", "n"), [(35, 50), (33, 50), (207, 209), (1, 3), (17, 1000)])
def test_wilson_bounds_are_the_roots_of_the_score_equation(correct, n):
    # The interval is where |p - q| = z sqrt(q (1 - q) / n): both bounds solve it.
    p = correct / n
    for q in metrics.wilson_interval(correct, n):
        assert (p - q) ** 2 == pytest.approx(Z95**2 * q * (1 - q) / n, rel=1e-12)
    assert metrics.wilson_interval(correct, n) == pytest.approx(
        wilson_by_hand(correct, n, Z95), abs=1e-15
    )


def test_wilson_interval_at_none_and_all_right():
    # By hand: at p = 0 the bounds are 0 and z^2 / (n + z^2); at p = 1, n / (n + z^2) and 1.
    assert metrics.wilson_interval(0, 50) == (0.0, pytest.approx(Z95**2 / (50 + Z95**2)))
    assert metrics.wilson_interval(50, 50) == (pytest.approx(50 / (50 + Z95**2)), 1.0)
    assert metrics.wilson_interval(1, 1) == (pytest.approx(1 / (1 + Z95**2)), 1.0)


def test_wilson_interval_at_another_confidence():
    z99 = NormalDist().inv_cdf(0.995)
    low, high = metrics.wilson_interval(35, 50, confidence=0.99)
    assert (low, high) == pytest.approx(wilson_by_hand(35, 50, z99), abs=1e-15)
    wide = metrics.wilson_interval(35, 50)
    assert low < wide[0] and high > wide[1]


@pytest.mark.parametrize(
    ("correct", "n", "confidence", "message"),
    [
        (1, 0, 0.95, "n >= 1"),
        (51, 50, 0.95, "correct <= n"),
        (-1, 50, 0.95, "correct <= n"),
        (2.5, 50, 0.95, "whole numbers"),
        (35, 50, 1.0, "confidence"),
        (35, 50, 0.0, "confidence"),
        (35, 50, math.nan, "confidence"),
    ],
)
def test_wilson_interval_refuses_what_is_not_a_count(correct, n, confidence, message):
    with pytest.raises(ValueError, match=message):
        metrics.wilson_interval(correct, n, confidence)


def test_baseline_accuracy_of_the_bundled_sets():
    train_set, test_set = datasets.bundled()
    # 33 cats among 50 test images: "cat" every time scores 66 %.
    assert metrics.baseline_accuracy(test_set.labels) == 33 / 50 == 0.66
    # 72 cats among 209 training images: "non-cat" every time scores 137 / 209.
    assert metrics.baseline_accuracy(train_set.labels) == 137 / 209
    assert metrics.baseline_accuracy(test_set.Y) == 0.66  # (1, m) too


def test_baseline_accuracy_by_hand():
    assert metrics.baseline_accuracy(np.array([1, 0, 1, 0])) == 0.5
    assert metrics.baseline_accuracy(np.array([0, 0, 0])) == 1.0
    assert metrics.baseline_accuracy(np.array([1.0, 1.0, 0.0])) == 2 / 3
    with pytest.raises(ValueError, match="empty"):
        metrics.baseline_accuracy(np.array([]))
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.baseline_accuracy(np.array([0, 2]))


def test_evaluation_of_the_bundled_model_gives_its_interval_and_baseline():
    _, test_set = datasets.bundled()
    result = evaluate(load_model(BUNDLED_PATH), test_set)
    assert result.accuracy == 35 / 50
    assert result.accuracy_ci == metrics.wilson_interval(35, 50)
    assert result.baseline_accuracy == 0.66
    d = result.as_dict()
    assert d["accuracy_ci"] == list(metrics.wilson_interval(35, 50))
    assert d["baseline_accuracy"] == 0.66
    # The point of both: 70 % on 50 images cannot be told from answering "cat" (66 %).
    assert result.accuracy_ci[0] < result.baseline_accuracy
