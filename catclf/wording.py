"""How catclf puts numbers and verdicts into words, and makes text from files safe to show:
one way for the command line, the report's page and anything else that shows them.

An accuracy is a percentage with the count it stands for ("99.04 % (207/209)"), with its
95 % interval and the baseline of always answering the commonest class where those are
known, and a verdict that says what they mean together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catclf.metrics import Scores

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
# The bytes of a name that is not UTF-8, which Python holds as lone surrogates: written as
# \xNN where text must be valid Unicode (a page, a picture).
UNDECODABLE = {0xDC00 + c: f"\\x{c:02x}" for c in range(0x80, 0x100)}


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


def kind_of(value: object) -> str:
    """What value is, as messages name what they were given: "a list", "an int"."""
    noun = type(value).__name__
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"
