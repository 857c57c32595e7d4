"""What each command shows a person: its summaries, tables and lines, on a terminal or sent
to a pipe or a file (`catclf.cli.output` and `catclf.cli.tables` decide which and draw
them). The commands of `catclf.cli.commands` hand their results here; JSON is written
there, from the library's as_dict."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from catclf import wording
from catclf.cli.exits import told
from catclf.cli.output import emit, emit_json, error, is_terminal, note
from catclf.errors import ImageError

if TYPE_CHECKING:
    from catclf.cli import tables
    from catclf.evaluation import Evaluation
    from catclf.explaining import Explained
    from catclf.exporting import Exported
    from catclf.model import Model
    from catclf.prepare import Prepared
    from catclf.report import Report
    from catclf.selection import CrossValidation, Sweep
    from catclf.training import TrainingRun


def trained(run: TrainingRun) -> None:
    from catclf.cli import tables  # here: predict draws no table

    trained, train_set, test_set = run.model, run.train_set, run.test_set
    summary = run.as_dict()
    rows = [
        ("examples", train_set.describe()),
        ("test examples", "none" if test_set is None else test_set.describe()),
        ("train accuracy", wording.percent(trained.train_accuracy, trained.train_examples)),
    ]
    if trained.validation_accuracy is not None:
        rows += [
            ("validation examples", str(trained.validation_examples)),
            *wording.honest_rows(
                "validation accuracy",
                trained.validation_accuracy,
                trained.validation_examples,
                summary["validation_accuracy_ci"],
                None,
                "",
            ),
        ]
    if test_set is None or trained.test_accuracy is None:
        rows.append(("test accuracy", "no test set"))
    else:
        rows += wording.honest_rows(
            "test accuracy",
            trained.test_accuracy,
            test_set.m,
            summary["test_accuracy_ci"],
            summary["test_baseline_accuracy"],
            wording.commonest(test_set.positives, test_set.m, test_set.classes),
        )
    rows += [
        ("final cost", f"{trained.final_cost:.6f}"),
        ("skipped", str(len(summary["skipped"]))),
        ("ignored", str(summary["ignored"])),
        ("not in a class folder", str(summary["unsorted"])),
        ("model", summary["model"]),
    ]
    tables.summary("Trained", rows)


def accuracy_rows(m: Model) -> list[tuple[str, str]]:
    """The train and test accuracies a model records, as summary rows."""
    test = m.test_accuracy
    return [
        ("train accuracy", wording.percent(m.train_accuracy, m.train_examples)),
        (
            "test accuracy",
            "no test set" if test is None else wording.percent(test, m.test_examples),
        ),
    ]


def validation_rows(m: Model) -> list[tuple[str, str]]:
    """The examples a model held out of its training, and its accuracy on them."""
    if m.validation_accuracy is None:
        return []
    return [
        ("validation examples", str(m.validation_examples)),
        ("validation accuracy", wording.percent(m.validation_accuracy, m.validation_examples)),
    ]


def prepared(done: Prepared) -> None:
    from catclf.cli import tables  # here: predict draws no table
    from catclf.memory import format_size  # here: `catclf --help` imports no numpy

    rows = []
    for side, w in zip(("train", "test"), [*done.written, None], strict=False):
        rows += [
            (f"{side} file", "none" if w is None else f"{w.path} ({format_size(w.size)})"),
            (f"{side} examples", "none" if w is None else w.data.describe()),
        ]
    photos = done.photos
    rows += [
        ("skipped", str(len(photos.skipped))),
        ("ignored", str(photos.ignored)),
        ("not in a class folder", str(photos.unsorted)),
    ]
    tables.summary("Prepared", rows)


def sweep_table(sweep: Sweep) -> None:
    from catclf.cli import tables  # here: predict draws no table

    runs, has_test = sweep.runs, sweep.test_set is not None

    def pct(value: float | None) -> str:
        return "-" if value is None else wording.pct(value)

    rows = []
    for r in runs:
        rate, l2 = f"{r.learning_rate:g}", f"{r.l2:g}"
        if r.model is None:
            rows.append([rate, l2, "-", "-", "-", "-", "diverged"])
            continue
        rows.append(
            [
                rate,
                l2,
                pct(r.train_accuracy),
                pct(r.validation_accuracy),
                pct(r.test_accuracy) if has_test else "-",
                f"{r.model.final_cost:.6f}",
                ",".join(["best"] * r.best + ["warning"] * bool(r.warnings)),
            ]
        )
    headers = ["learning_rate", "l2", "train", "validation", "test", "final_cost", "note"]
    tables.grid("Sweep", headers, rows)


def cross_validation(result: CrossValidation) -> None:
    from catclf.cli import tables  # here: predict draws no table

    rows = [
        [
            str(k + 1),
            str(fold.validation_examples),
            wording.pct(fold.train_accuracy),
            wording.pct(fold.validation_accuracy),
            f"{fold.validation_cost:.6f}",
        ]
        for k, fold in enumerate(result.folds)
    ]
    headers = ["fold", "held_out", "train", "validation", "validation_cost"]
    tables.grid("Folds", headers, rows)
    mean, std = result.mean_validation_accuracy, result.std_validation_accuracy
    baseline = result.baseline_accuracy
    commonest = wording.commonest(result.positives, result.examples, result.classes)
    said = wording.verdict(
        (mean - std, mean + std), baseline, commonest, "within the spread of the folds"
    )
    tables.summary(
        "Cross-validation",
        [
            ("examples", result.described),
            ("mean train accuracy", wording.pct(result.mean_train_accuracy)),
            ("mean validation accuracy", wording.pct(mean)),
            ("standard deviation", f"{wording.pct(std)} from fold to fold"),
            ("baseline", f"{wording.pct(baseline)}, always answering {commonest}"),
            ("verdict", said),
        ],
    )


def report_written(made: Report) -> None:
    from catclf.cli import tables  # here: predict draws no table
    from catclf.report import WHAT  # here: `catclf --help` imports no numpy

    tables.summary("Written", [(WHAT[p.name], str(p)) for p in made.written])


def bundled_note(path: Path, classifier: Model, quiet: bool) -> None:
    """On a terminal, once: that the model is the bundled course model, how good it is, and
    how to train one's own. Never in a pipeline, whose reader knows what it asked for."""
    # here: `catclf --help` imports no numpy
    from catclf import modelfile

    if quiet or path != modelfile.BUNDLED_PATH or classifier.test_accuracy is None:
        return
    if not (is_terminal(sys.stdout) and is_terminal(sys.stderr)):
        return
    from catclf.metrics import wilson_interval  # here: only the note needs it

    m = classifier.test_examples
    low, high = wilson_interval(round(classifier.test_accuracy * m), m)
    note(
        f"no model.h5 here: using the course's model, trained on {classifier.train_examples} "
        f"small images, right on {wording.pct(classifier.test_accuracy)} of its {m} test "
        f"images ({wording.interval((low, high))}, 95 %), which calls most photos cats; "
        "train your own with `catclf train PHOTOS/` (a cat/ folder and another)"
    )


def predictions(
    classifier: Model,
    scored: Iterable[tuple[str, float | ImageError]],
    threshold: float,
    as_json: bool,
    single: bool,
) -> tuple[bool, bool]:
    """Each image's line as it is scored: its probability alone (single), or its path,
    probability and label, or a JSON object; an error on stderr (and in JSON) for one that
    cannot be scored. (whether any failed, whether every image scored is a cat)."""
    # here: `catclf --help` imports no numpy
    from catclf import parameters

    threshold = parameters.threshold(threshold)
    failed, all_cats = False, True
    for name, p in scored:
        if isinstance(p, ImageError):
            error(told(p))
            if as_json:
                emit_json(error_record(name, p))
            failed = True
            continue
        verdict = classifier.label(p, threshold)
        all_cats = all_cats and verdict == classifier.classes[1]
        if as_json:
            emit_json({"path": name, "probability": p, "label": verdict})
        elif single:
            emit(f"{p:.6f}")
        else:
            emit(f"{tsv_field(name)}\t{p:.6f}\t{verdict}")
    return failed, all_cats


def accuracy(result: Evaluation) -> str:
    """An evaluation's accuracy in words: a percentage and the count it is of."""
    return wording.percent(result.scores.accuracy, result.scores.examples)


def error_record(name: str, e: ImageError) -> dict[str, str]:
    """{"path", "error"} for an input that cannot be scored: its path as it was given (name,
    or for an argument or list entry that named no image, the path the error is about), and
    the reason."""
    path = name or e.path or ""
    return {"path": path, "error": ImageError(str(e), path).reason}


def tsv_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


SHOWN = 20  # misclassified images listed on a terminal


def evaluation(result: Evaluation) -> None:
    from catclf.cli import tables  # here: predict draws no table

    data, c = result.data, result.confusion
    rows = [
        ("data", data.origin),
        ("model", str(result.model_file)),
        ("examples", data.describe()),
        ("threshold", f"{result.scores.threshold:g}"),
        *wording.score_rows(result.scores, data.positives, data.classes),
    ]
    counts = [
        ("true positives", str(c.tp)),
        ("false positives", str(c.fp)),
        ("true negatives", str(c.tn)),
        ("false negatives", str(c.fn)),
        ("skipped", str(len(data.skipped))),
        ("misclassified", str(len(result.misclassified))),
    ]
    lines = [[w.source, f"{w.probability:.6f}", w.true, w.predicted] for w in result.misclassified]
    if not is_terminal(sys.stdout):
        tables.key_values(rows + counts)
        for line in lines:
            emit("\t".join(tsv_field(field) for field in line))
        return
    tables.table("Evaluated", rows + counts[-2:])
    negative, positive = data.classes
    tables.table(
        "Confusion matrix",
        [
            (f"true {positive}", str(c.tp), str(c.fn)),
            (f"true {negative}", str(c.fp), str(c.tn)),
        ],
        header=("", f"predicted {positive}", f"predicted {negative}"),
    )
    if lines:
        tables.table(
            "Misclassified",
            [tuple(line) for line in lines[:SHOWN]],
            header=("image", "probability", "true", "predicted"),
        )
    if len(lines) > SHOWN:
        tables.remark(f"... {len(lines) - SHOWN} more (--json lists them all)")


def model(path: Path, m: Model) -> None:
    # here: `catclf --help` imports no numpy
    from catclf import modelfile
    from catclf.cli import tables  # here: predict draws no table
    from catclf.images import CHANNELS, IMAGE_SIZE

    costs = list(m.costs)
    train_accuracy, test_accuracy = accuracy_rows(m)
    rows = [
        ("model", str(path)),
        ("format", f"{modelfile.FORMAT} version {modelfile.FORMAT_VERSION}"),
        ("classes", f"{m.classes[0]} / {m.classes[1]} (negative / positive)"),
        ("image size", f"{IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS}"),
        ("preprocessing", m.preprocessing or "unknown"),
        ("learning rate", f"{m.settings.learning_rate:g}"),
        ("iterations", str(m.settings.num_iterations)),
        ("l2", f"{m.settings.l2:g}"),
        ("solver", m.solver or "unknown"),
        ("train data", m.train_data or "unknown"),
        ("train examples", str(m.train_examples)),
        train_accuracy,
        *validation_rows(m),
        ("test examples", str(m.test_examples)),
        test_accuracy,
        ("final cost", f"{m.final_cost:.6f}"),
        ("created", m.created or "unknown"),
        ("catclf version", m.catclf_version or "unknown"),
        ("average image", "kept" if m.mean is not None else "not kept (older file)"),
    ]
    if is_terminal(sys.stdout):
        history: tables.Cell = "none"
        if costs:
            history = tables.Sparkline(
                costs, f"{costs[0]:.6f} → {costs[-1]:.6f}", "(every 100 iterations)"
            )
        tables.table("Model", [*rows, ("cost history", history)])
    else:
        tables.key_values(rows + [("costs", " ".join(f"{c:.6f}" for c in costs))])


def explained(done: Explained) -> None:
    """The probability, the logit and the parts it is the sum of, then the map."""
    from catclf.cli import tables  # here: predict draws no table

    e = done.explanation
    negative, positive = e.classes
    base = "bias b" if e.baseline == "black" else "average training image"
    rows: list[tuple[str, tables.Cell]] = [
        ("image", e.source),
        ("model", str(done.model_file)),
        ("probability", f"{e.probability:.6f} ({e.label})"),
        ("logit", f"{e.logit:.6f}"),
        (base, f"{e.base:+.6f}"),
        (f"toward {positive}", f"{e.toward:+.6f}"),
        (f"toward {negative}", f"{e.away:+.6f}"),
        ("their sum", f"{e.base + e.toward + e.away:.6f}, the logit"),
    ]
    if done.picture is not None:
        rows.append(("map", str(done.picture)))
    tables.summary("Why", rows)
    colour = is_terminal(sys.stdout) and os.environ.get("NO_COLOR", "") == ""
    tables.heat_map(e.map, e.limit, e.classes, colour)


def exported(done: Exported) -> None:
    """What was written, a line each."""
    from catclf.cli import tables  # here: predict draws no table

    names = {"html": "page", "onnx": "onnx"}
    tables.key_values([(names[kind], str(path)) for kind, path in done.written.items()])
