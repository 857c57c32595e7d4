"""The command line's shared options and arguments: names and help, in one place, so that
every command asks for the same thing the same way, each in one line of help at 80 columns.

Values are checked by the library, which says what it allows (`catclf.parameters`); the
command line says it again naming the flag (`FLAGS`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

# The flag of each setting, by the name the library gives it (`catclf.parameters`), so that
# the library's errors can be said in the command line's words.
FLAGS = {
    "learning_rate": "--learning-rate",
    "learning_rates": "--learning-rate",
    "num_iterations": "--iterations",
    "l2": "--l2",
    "l2_values": "--l2",
    "validation_fraction": "--validation-fraction",
    "test_fraction": "--test-fraction",
    "folds": "--folds",
    "jobs": "--jobs",
    "memory_limit": "--memory-limit",
    "threshold": "--threshold",
    "min_accuracy": "--min-accuracy",
    "name": "--name",
    "solver": "--solver",
    "baseline": "--baseline",
}


def flag(parameter: str) -> str:
    """The flag that sets the library's parameter."""
    return FLAGS.get(parameter, parameter)


class Solver(str, Enum):
    """How train computes the gradient descent: the same iterates either way."""

    auto = "auto"
    gram = "gram"
    primal = "primal"


class Baseline(str, Enum):
    """What an explanation measures against: a black image, or the average training one."""

    black = "black"
    mean = "mean"


ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        metavar="PATH",
        envvar="CATCLF_MODEL",
        readable=False,  # checked when the model is read or written, with a one-line error
        help="Model file; also $CATCLF_MODEL. [default: model.h5, else the bundled one]",
        show_envvar=False,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout, for programs.")]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Replace a file in the way that is not catclf's."),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or notes on stderr.")
]
PositiveOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Folder of the cats. [default: cat or cats]",
        show_default=False,
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="Stop at the first image that cannot be read."),
]
ThresholdOption = Annotated[
    float,
    typer.Option(
        metavar="T",
        help="An image is a cat when its probability is above T.",
    ),
]
DATA_FORMS = "Class folders (cat/ and another), a course HDF5 file, or a folder of train_*.h5."
DataArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help=f"{DATA_FORMS} [default: the bundled set]",
        show_default=False,
    ),
]
TestOption = Annotated[
    Path | None,
    typer.Option(
        "--test",
        metavar="DATA",
        help="The test set, in any form DATA takes.",
        show_default=False,
        readable=False,
    ),
]
IterationsOption = Annotated[
    int,
    typer.Option(
        "--iterations",
        "-n",
        metavar="N",
        help="Steps of gradient descent.",
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        help="Decoding processes. [default: one per core]",
        show_default=False,
    ),
]
SolverOption = Annotated[
    Solver,
    typer.Option(
        "--solver",
        metavar="S",
        help="gram or primal; the same w either way.",
    ),
]
MemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        metavar="SIZE",
        help="Memory for training data. [default: 1/4 free]",
        show_default=False,
    ),
]
TrainLearningRateOption = Annotated[
    float,
    typer.Option(
        "--learning-rate",
        "--lr",
        "-r",
        metavar="R",
        help="Step of gradient descent.",
    ),
]
L2Option = Annotated[
    float,
    typer.Option(
        "--l2",
        metavar="LAMBDA",
        help="L2 penalty on w; 0: none.",
    ),
]
ValidationFractionOption = Annotated[
    float | None,
    typer.Option(
        "--validation-fraction",
        metavar="F",
        help="Share of each class held out to judge by.",
        show_default=False,
    ),
]
FoldsOption = Annotated[
    int,
    typer.Option(
        "--folds",
        "-k",
        metavar="K",
        help="Folds of the cross-validation.",
    ),
]
SweepLearningRatesOption = Annotated[
    list[float] | None,
    typer.Option(
        "--learning-rate",
        "--lr",
        "-r",
        metavar="R",
        help="A rate to try; repeat. [default: 0.01 0.001 0.0001]",
        show_default=False,
    ),
]
SweepL2Option = Annotated[
    list[float] | None,
    typer.Option(
        "--l2",
        metavar="LAMBDA",
        help="A penalty to try; repeat. [default: 0]",
        show_default=False,
    ),
]
SweepFoldsOption = Annotated[
    int | None,
    typer.Option(
        "--folds",
        "-k",
        metavar="K",
        help="Judge each run by K-fold cross-validation.",
        show_default=False,
    ),
]
SweepOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Draw learning_curves.png into DIR.",
        show_default=False,
    ),
]
PrepareDataArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help="A folder of two class folders (cat/ and another).",
        show_default=False,
    ),
]
PrepareOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="FOLDER",
        help="Where to write train_NAME.h5 (and test_NAME.h5).",
        show_default=False,
    ),
]
PrepareTestFractionOption = Annotated[
    float | None,
    typer.Option(
        "--test-fraction",
        metavar="F",
        help="Also write test_NAME.h5 of this share.",
        show_default=False,
    ),
]
PrepareNameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        metavar="NAME",
        help="NAME in the file names. [default: DATA's]",
        show_default=False,
    ),
]
PrepareMemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        metavar="SIZE",
        help="Memory for decoded images. [default: 1/4 free]",
        show_default=False,
    ),
]
ReportOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Where to write the pictures and index.html.",
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
        help="Labelled images to score, in any form train takes. [default: the test set "
        "the model was tested on]",
        show_default=False,
    ),
]
EvaluateDataArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="DATA",
        readable=False,
        help=f"{DATA_FORMS} [default: the test set the model was tested on]",
        show_default=False,
    ),
]
MinAccuracyOption = Annotated[
    float | None,
    typer.Option(
        "--min-accuracy",
        metavar="A",
        help="Exit 1 when the accuracy is below A (0 to 1).",
        show_default=False,
    ),
]
PredictImagesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="IMAGE...",
        help="Images, folders (every image below), or - for an image on stdin.",
        show_default=False,
    ),
]
PredictFilesFromOption = Annotated[
    str | None,
    typer.Option(
        "--files-from",
        "-f",
        metavar="FILE",
        help="Image paths in FILE, one a line (- for stdin).",
        show_default=False,
    ),
]
PredictNullOption = Annotated[
    bool,
    typer.Option("--null", "-0", help="FILE's paths end with NUL (find -print0)."),
]
WithFilenameOption = Annotated[
    bool,
    typer.Option("--with-filename", "-H", help="PATH, probability, label for one image too."),
]
ExitCodeOption = Annotated[
    bool,
    typer.Option("--exit-code", help="Exit 3 when an image is not a cat."),
]
ExplainImageArgument = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE", help="The image to explain, or - for one on stdin.", show_default=False
    ),
]
BaselineOption = Annotated[
    Baseline,
    typer.Option(
        "--baseline",
        metavar="B",
        help="black, or mean: the average training image.",
    ),
]
ExplainOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="PNG",
        help="Also draw the map into this PNG (needs matplotlib).",
        show_default=False,
    ),
]
ExportHtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="PAGE",
        help="Write a page that scores photos in any browser.",
        show_default=False,
    ),
]
ExportOnnxOption = Annotated[
    Path | None,
    typer.Option(
        "--onnx",
        metavar="FILE",
        help="Write an ONNX file (needs onnx).",
        show_default=False,
    ),
]
