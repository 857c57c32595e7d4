"""A report on a model: pictures of what it learned and how it does, on one HTML page.

The pictures come from `catclf.plots`; the page embeds them as data: URIs, with
inline CSS and no script, so that it opens from anywhere with no network. Files are
written atomically, after everything has been drawn, and only in place of files catclf
wrote (see `catclf.files`).
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catclf import modelfile, parameters, plots
from catclf._version import __version__
from catclf.errors import DataError
from catclf.evaluation import Evaluation, Mistake, evaluate, labelled_data, test_location
from catclf.model import load_model
from catclf.progress import Progress, note
from catclf.wording import one_line, percent, printable, score_rows

if TYPE_CHECKING:
    from catclf.dataset import Dataset
    from catclf.metrics import Scores
    from catclf.model import Model

LEARNING_CURVE = "learning_curve.png"
WEIGHTS = "weights.png"
CONFUSION = "confusion.png"
MISCLASSIFIED = "misclassified.png"
PAGE = "index.html"
WHAT = {
    LEARNING_CURVE: "learning curve",
    WEIGHTS: "weights",
    CONFUSION: "confusion matrix",
    MISCLASSIFIED: "misclassified",
    PAGE: "page",
}


# A name from a file (a class name) drawn in a picture: at most this many characters, so that
# a long one can neither squeeze the axes to nothing nor take minutes to lay out.
DRAWN_NAME = 24
CAPTION_NAME = 14  # in a caption under an image of the grid, 150 pixels wide


@dataclass(frozen=True, eq=False)
class Report:
    """The files of a report, by name, what the page says about the data, and what could not
    be drawn, each said in one line; once written (`run`), the folder, the files written
    there and the data the model was scored on (None: the report shows the model alone)."""

    files: dict[str, bytes]
    scores: Scores | None
    misclassified: int
    not_drawn: list[str] = field(default_factory=list)
    out: Path | None = None
    written: list[Path] = field(default_factory=list)
    data: Dataset | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as `catclf report --json` prints it."""
        return {
            "out": None if self.out is None else str(self.out),
            "files": [str(p) for p in self.written],
            "misclassified": None if self.data is None else self.misclassified,
            "scores": None if self.scores is None else self.scores.as_dict(),
        }

    def __repr__(self) -> str:
        return f"Report(out={str(self.out)!r}, files={sorted(self.files)})"


def run(
    out: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    positive: str | None = None,
    strict: bool = False,
    force: bool = False,
    jobs: int | None = None,
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
    on_saved: Callable[[], None] | None = None,
) -> Report:
    """A whole report, as `catclf report DATA --out OUT` makes it: the model file
    (`catclf.modelfile.find`, model naming it) drawn and, scored on data (any form
    `catclf.datasets.load_test` reads) or without data on the test set the model records,
    its scores and mistakes, all written into the folder out (`catclf.plots.write_files`;
    on_saved() once they are in place). The folder is checked before anything is read:
    matplotlib there, the names free or catclf's, or force. A test set that the model
    records but that is no longer there is noted, and the report shows the model alone."""
    plots.require()
    folder = Path(out)
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    plots.check_folder(folder)  # before the model is looked for
    path = modelfile.find(model)
    classifier = load_model(path)
    recorded = None if data is not None else test_location(classifier)
    scored = Path(data) if data is not None else Path(recorded) if recorded else None
    inputs = [path, *([scored] if scored is not None else [])]
    plots.check_folder(folder, may_write(scored is not None), force=force, inputs=inputs)
    try:
        labelled = labelled_data(
            classifier,
            str(path),
            data,
            positive=positive,
            strict=strict,
            jobs=jobs,
            memory_limit=memory_limit,
            progress=progress,
        )
        if labelled is None:
            note(f"{path} records no test set: give data to score the model in the report")
    except DataError as e:
        if data is not None:
            raise
        labelled = None
        note(f"{e}: the report shows the model alone")
    name = "the bundled model" if path == modelfile.BUNDLED_PATH else str(path)
    made = build(classifier, name, labelled)
    for said in made.not_drawn:
        note(said)
    written = plots.write_files(
        folder, made.files, replaces=tuple(WHAT), force=force, inputs=inputs, on_saved=on_saved
    )
    if labelled is not None and not made.misclassified:
        note(f"no image of {labelled.origin} is misclassified: no {MISCLASSIFIED}")
    return replace(made, out=folder, written=written, data=labelled)


def may_write(with_data: bool) -> tuple[str, ...]:
    """The files a report may write: with data, all of WHAT; else those of the model alone."""
    return tuple(name for name in WHAT if with_data or name not in (CONFUSION, MISCLASSIFIED))


def build(model: Model, model_name: str, data: Dataset | None) -> Report:
    """Every picture and the page, in memory. With data: its scores, the confusion
    matrix and the images the model gets wrong (all the pictures if it gets none wrong
    but the misclassified one)."""
    files: dict[str, bytes] = {}
    costs, not_drawn = plots.drawable(model.costs)
    if any(math.isfinite(c) for c in costs):
        files[LEARNING_CURVE] = plots.learning_curve(costs, model.settings.learning_rate)
    files[WEIGHTS] = plots.weights(model.w, model.classes)
    scores, wrong, mistakes = None, 0, []
    if data is not None:
        result = evaluate(model, data)
        mistakes = _most_wrong_first(result)
        scores = result.scores
        c = scores.confusion
        files[CONFUSION] = plots.confusion(c.tp, c.fp, c.tn, c.fn, _drawn_pair(data.classes))
        wrong = len(result.misclassified)
        if wrong:
            files[MISCLASSIFIED] = _misclassified(model, result)
    notes = [] if not_drawn is None else [f"learning curve: {not_drawn}"]
    page = _page(model, model_name, data, scores, files, not_drawn, mistakes)
    # Valid Unicode whatever the names hold: the bytes of one that is not UTF-8 as \xNN.
    files[PAGE] = printable(page).encode("utf-8", "backslashreplace")
    return Report(files, scores, wrong, notes)


def drawn(text: str, most: int = DRAWN_NAME, *, end: bool = False) -> str:
    """A name from a file as a picture shows it: on one line, valid Unicode, and at most
    most characters, its beginning kept, or with end its end (which tells files apart); the
    page gives it whole."""
    text = printable(one_line(text))
    if len(text) <= most:
        return text
    return "\u2026" + text[1 - most :] if end else text[: most - 1] + "\u2026"


def _drawn_pair(classes: tuple[str, str]) -> tuple[str, str]:
    return drawn(classes[0]), drawn(classes[1])


def _most_wrong_first(result: Evaluation) -> list[Mistake]:
    """The images the model gets wrong, the most confidently wrong first: by the distance of
    P(cat) from the true label's 0 or 1."""
    labels = result.data.labels
    return sorted(result.misclassified, key=lambda w: -abs(w.probability - labels[w.index]))


def _misclassified(model: Model, result: Evaluation) -> bytes:
    """The grid of wrongly classified images, the most confidently wrong first, each beside
    the map of why the model got it wrong."""
    data = result.data
    wrong = _most_wrong_first(result)
    shown = wrong[: plots.GRID_MAX]
    captions = [
        f"{drawn(_file_name(w.source), CAPTION_NAME + 6, end=True)}\n"
        f"true: {drawn(w.true, CAPTION_NAME)}\np = {w.probability:.2f}"
        for w in shown
    ]
    pixels = data.take([w.index for w in shown])
    explained = [model.explain(image) for image in pixels]
    return plots.misclassified(explained, captions, len(wrong) - len(shown))


def _file_name(source: str) -> str:
    """The last part of an example's source: a photo's file name, or "file.h5[17]"."""
    return source.replace("\\", "/").rsplit("/", 1)[-1]


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1240px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { text-align: left; padding: 0.25em 1em 0.25em 0; border-bottom: 1px solid #eee; }
th { font-weight: 600; color: #444; }
td.num { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
figure { margin: 0; }
figcaption, .note { color: #555; font-size: 0.95em; max-width: 60em; }
table.mistakes td:first-child { overflow-wrap: anywhere; }
"""


def _page(
    model: Model,
    model_name: str,
    data: Dataset | None,
    scores: Scores | None,
    files: dict[str, bytes],
    not_drawn: str | None,
    mistakes: list[Mistake],
) -> str:
    e = html.escape
    test = (
        "no test set"
        if model.test_accuracy is None
        else percent(model.test_accuracy, model.test_examples)
    )
    facts = [
        ("learning rate", f"{model.settings.learning_rate:g}"),
        ("iterations", str(model.settings.num_iterations)),
        ("final cost", f"{model.final_cost:.6f}"),
        ("trained on", model.train_data),
        ("train accuracy", percent(model.train_accuracy, model.train_examples)),
        ("test accuracy", test),
        ("classes", f"{model.classes[0]} (0), {model.classes[1]} (1)"),
        ("created", model.created),
        ("catclf version", model.catclf_version),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>catclf report: {e(model_name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>catclf report</h1>",
        f'<p class="sub">Model: {e(model_name)}</p>',
        "<h2>The model</h2>",
        '<p class="note">As the model file records its training run.</p>',
        _table(facts),
        "<h2>Learning curve</h2>",
        *(
            [
                _figure(
                    files[LEARNING_CURVE],
                    "learning curve",
                    "The cost J on the training set every 100 iterations of gradient descent: "
                    "it should fall steeply, then flatten.",
                )
            ]
            if LEARNING_CURVE in files
            else []
        ),
        *([f'<p class="note">{e(not_drawn.capitalize())}.</p>'] if not_drawn else []),
        "<h2>The weights</h2>",
        _figure(
            files[WEIGHTS],
            "the weights as images",
            "w has one weight per pixel value, so it can be shown as a 64x64 RGB image: the "
            "template the model compares every photo with. Bright places in the second panel "
            "are where brightness in that colour makes a picture look more like a cat; in the "
            "third, less. The last sums the three colours: red where a brighter pixel pushes "
            "toward cat, blue toward non-cat.",
        ),
    ]
    if data is not None and scores is not None:
        parts += [
            f"<h2>On {e(data.origin)}</h2>",
            f'<p class="note">{e(data.describe())}. Label {e(data.classes[1])} when the '
            f"probability is above {scores.threshold:g}.</p>",
            _table(_metric_rows(scores, data.classes)),
            _figure(
                files[CONFUSION],
                "confusion matrix",
                "Rows: the true class; columns: the class the model gave. The diagonal is "
                "right, the other two cells are wrong.",
            ),
            "<h2>Misclassified images</h2>",
        ]
        wrong = scores.confusion.fp + scores.confusion.fn
        if wrong:
            shown = min(wrong, plots.GRID_MAX)
            were = "images is" if wrong == 1 else "images are"  # one of nine images is
            parts.append(
                f'<p class="note">{wrong} of {scores.examples} {were} misclassified'
                + (f"; the {shown} most confidently wrong are shown" if shown < wrong else "")
                + ".</p>"
            )
            parts.append(
                _figure(
                    files[MISCLASSIFIED],
                    "misclassified images",
                    "Each with its file name, its true class and p, the model's probability "
                    "that it shows a cat, and beside it why: each pixel's share of the logit "
                    "(red toward cat, blue toward non-cat; catclf explain gives one image "
                    "in full); the most confidently wrong first.",
                )
            )
            parts.append(_mistakes_table(mistakes))
        else:
            parts.append(
                f'<p class="note">None: the model classifies all {scores.examples} images '
                "rightly.</p>"
            )
    parts += [
        f'<p class="note">Made by catclf {e(__version__)}.</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _mistakes_table(mistakes: list[Mistake]) -> str:
    """Every image the model gets wrong, with its whole path, in the order of the grid."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(w.source)}</td><td>{e(w.true)}</td><td>{e(w.predicted)}</td>"
        f'<td class="num">{w.probability:.6f}</td></tr>'
        for w in mistakes
    )
    head = "<tr><th>image</th><th>true</th><th>predicted</th><th>p</th></tr>"
    return f'<table class="mistakes">{head}{rows}</table>'


def _metric_rows(scores: Scores, classes: tuple[str, str]) -> list[tuple[str, str]]:
    c = scores.confusion
    return [
        ("examples", str(scores.examples)),
        # The positives are the cats: true positives and false negatives.
        *score_rows(scores, c.tp + c.fn, classes),
        ("true positives, false positives", f"{c.tp}, {c.fp}"),
        ("true negatives, false negatives", f"{c.tn}, {c.fn}"),
    ]


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td class="num">{html.escape(v)}</td></tr>'
        for k, v in rows
    )
    return f"<table>{body}</table>"


def _figure(png: bytes, alt: str, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="{uri}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
