"""The command line's shared options and arguments: names, help and checks, in one place,
so that every command asks for the same thing the same way. A check that fails is a usage
error (typer.BadParameter), before anything runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


def memory_size(value: str | None) -> str | None:
    from catclf.memory import parse_size

    if value is not None:
        try:
            parse_size(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def positive_rate(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a positive number")
    return value


def probability(value: float | None) -> float | None:
    # Every comparison with NaN is false, so the range check of the option lets it through.
    if value is not None and not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"{value} is not a probability between 0 and 1")
    return value


class Solver(str, Enum):
    """How train computes the gradient descent: the same iterates either way."""

    auto = "auto"
    gram = "gram"
    primal = "primal"


ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        metavar="PATH",
        envvar="CATCLF_MODEL",
        readable=False,  # checked when the model is read or written, with a one-line error
        show_envvar=True,
        help="Model file. [default: model.h5 in the current folder]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace a file in the way that catclf did not write (never a folder, device, "
        "FIFO or socket, nor a file the command reads).",
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or notes on stderr.")
]
DATA_FORMS = (
    "A folder with two class folders (cat/ and another), an HDF5 file in the course layout, "
    "or a folder with train_*.h5 and test_*.h5."
)
PositiveOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Name of the class folder that holds the cats. [default: cat or cats]",
        show_default=False,
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="Stop at the first unreadable image instead of skipping it."),
]
ThresholdOption = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        metavar="T",
        callback=probability,
        help="Probability above which the label is cat.",
    ),
]

DataArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help=f"{DATA_FORMS} [default: the bundled cat / non-cat set]",
        show_default=False,
    ),
]
TestOption = Annotated[
    Path | None,
    typer.Option(
        "--test",
        metavar="DATA",
        help="Test set, in any of the same forms.",
        show_default=False,
        readable=False,
    ),
]
IterationsOption = Annotated[
    int,
    typer.Option("--iterations", "-n", min=1, metavar="N", help="Gradient descent iterations."),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Decode images in up to N processes; 1 decodes them in this one. [default: all cores]",
        metavar="N",
        show_default=False,
    ),
]

SolverOption = Annotated[
    Solver,
    typer.Option(
        "--solver",
        metavar="S",
        help="gram: iterate on the m x m Gram matrix X^T X, fast when m is well below "
        "12288; primal: iterate on X itself; auto: whichever needs fewer multiplications. "
        "The results are the same.",
    ),
]
MemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        metavar="SIZE",
        callback=memory_size,
        help="Memory the training data may take, such as 600MB, 2GB or 512MiB. An HDF5 "
        "set larger than this is read from its file a slice at a time in every iteration. "
        "[default: a quarter of the available memory]",
        show_default=False,
    ),
]


def fraction(value: float | None) -> float | None:
    if value is not None and not 0 < value < 1:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (both excluded)")
    return value


def file_name(value: str | None) -> str | None:
    from catclf.prepare import safe_name

    if value is not None and (not value or safe_name(value) != value):
        raise typer.BadParameter(
            f"{value!r} is not a safe file name: use letters, digits, '_', '-' and '.' "
            "(not first or last), 100 bytes at most"
        )
    return value


def each(check: Callable[[float], float]) -> Callable[[list[float] | None], list[float] | None]:
    """The check of a repeatable option: check on every value given."""

    def checked(values: list[float] | None) -> list[float] | None:
        for value in values or []:
            check(value)
        return values

    return checked


TrainLearningRateOption = Annotated[
    float,
    typer.Option(
        "--learning-rate",
        "--lr",
        "-r",
        metavar="R",
        callback=positive_rate,
        help="Gradient step size.",
    ),
]
PrepareDataArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help="A folder with two class folders (cat/ and another).",
        show_default=False,
    ),
]
PrepareOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="FOLDER",
        help="Folder to write train_NAME.h5 (and test_NAME.h5) into; created if missing.",
        show_default=False,
    ),
]
PrepareTestFractionOption = Annotated[
    float | None,
    typer.Option(
        "--test-fraction",
        metavar="F",
        callback=fraction,
        help="Also write test_NAME.h5 with about this fraction of each class, chosen by "
        "a hash of each file's path.",
        show_default=False,
    ),
]
PrepareNameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        metavar="NAME",
        callback=file_name,
        help="NAME in the file names. [default: DATA's folder name]",
        show_default=False,
    ),
]
PrepareMemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        metavar="SIZE",
        callback=memory_size,
        help="Memory the decoded images may take, such as 600MB, 2GB or 512MiB; more are "
        "kept in a temporary file beside FOLDER until they are written. [default: a "
        "quarter of the available memory]",
        show_default=False,
    ),
]
SweepLearningRatesOption = Annotated[
    list[float] | None,
    typer.Option(
        "--learning-rate",
        "--lr",
        "-r",
        metavar="R",
        callback=each(positive_rate),
        help="A learning rate to try; repeat the option for each. [default: 0.01, 0.001, 0.0001]",
        show_default=False,
    ),
]
SweepOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Also draw learning_curves.png, the cost curves of every rate, into DIR "
        "(created if missing). Needs matplotlib: pip install matplotlib.",
        show_default=False,
    ),
]
ReportOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Folder to write the pictures and index.html into; created if missing.",
        show_default=False,
    ),
]
ReportDataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "-d",
        metavar="DATA",
        readable=False,
        help="DATA, given as an option.",
        show_default=False,
    ),
]
ReportDataArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help="Labelled images to score, in any form train takes; of a folder with "
        "train_*.h5 and test_*.h5, the test set. Also --data DATA.",
        show_default=False,
    ),
]
PredictImagesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="IMAGE...",
        help="Image files, folders (every image below them, in sorted order), or - for an "
        "image on stdin.",
        show_default=False,
    ),
]
PredictFilesFromOption = Annotated[
    str | None,
    typer.Option(
        "--files-from",
        "-f",
        metavar="FILE",
        help="Read image paths from FILE, one per line (- for stdin).",
        show_default=False,
    ),
]
PredictNullOption = Annotated[
    bool,
    typer.Option(
        "--null",
        "-0",
        help="With --files-from: paths end with NUL, as find -print0 writes them.",
    ),
]
EvaluateDataArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help=f"{DATA_FORMS} A course folder gives its test_*.h5. [default: the bundled test set]",
        show_default=False,
    ),
]


def penalty(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"{value} is not a number of 0 or more")
    return value


L2Option = Annotated[
    float,
    typer.Option(
        "--l2",
        metavar="LAMBDA",
        callback=penalty,
        help="L2 regularisation: adds LAMBDA / (2m) times the sum of w squared to the cost "
        "(b is not penalised); 0 is the course's plain logistic regression.",
    ),
]
ValidationFractionOption = Annotated[
    float | None,
    typer.Option(
        "--validation-fraction",
        metavar="F",
        callback=fraction,
        help="Hold out about this fraction of each class of the training data, chosen by "
        "each image's content, and report the accuracy on it; the model learns from the rest.",
        show_default=False,
    ),
]
FoldsOption = Annotated[
    int,
    typer.Option("--folds", "-k", min=2, metavar="K", help="Folds of the cross-validation."),
]
SweepL2Option = Annotated[
    list[float] | None,
    typer.Option(
        "--l2",
        metavar="LAMBDA",
        callback=each(penalty),
        help="An L2 penalty to try with every rate; repeat the option for each. [default: 0]",
        show_default=False,
    ),
]
SweepFoldsOption = Annotated[
    int | None,
    typer.Option(
        "--folds",
        "-k",
        min=2,
        metavar="K",
        help="Judge each run by K-fold cross-validation of the training data.",
        show_default=False,
    ),
]
