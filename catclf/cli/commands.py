"""The command line: each command parses, makes one library call and shows what it returns.

Every rule and every check of a value is the library's: the commands pass what they are
given, and `catclf.cli.exits` says the library's errors in the command line's words, with
the exit statuses listed there.

Unlike the other modules, this one has its annotations evaluated as it is imported (no
`from __future__ import annotations`): typer reads every command's parameters at each
start, and annotations kept as strings would have to be parsed and evaluated each time.
"""

import functools
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from catclf.cli import output, views
from catclf.cli.completion import COMPLETE_VAR, Shell
from catclf.cli.exits import (
    EXIT_ERROR,
    EXIT_NOT_CAT,
    discard_stdout,
    reports_errors,
    summary_after_saving,
    told,
)
from catclf.cli.help import Command, Group
from catclf.cli.options import (
    Baseline,
    BaselineOption,
    DataArgument,
    EvaluateDataArgument,
    ExitCodeOption,
    ExplainImageArgument,
    ExplainOutOption,
    ExportHtmlOption,
    ExportOnnxOption,
    FoldsOption,
    ForceOption,
    IterationsOption,
    JobsOption,
    JsonOption,
    L2Option,
    MemoryLimitOption,
    MinAccuracyOption,
    ModelOption,
    PositiveOption,
    PredictFilesFromOption,
    PredictImagesArgument,
    PredictNullOption,
    PrepareDataArgument,
    PrepareMemoryLimitOption,
    PrepareNameOption,
    PrepareOutOption,
    PrepareTestFractionOption,
    QuietOption,
    ReportDataArgument,
    ReportDataOption,
    ReportOutOption,
    Solver,
    SolverOption,
    StrictOption,
    SweepFoldsOption,
    SweepL2Option,
    SweepLearningRatesOption,
    SweepOutOption,
    TestOption,
    ThresholdOption,
    TrainLearningRateOption,
    ValidationFractionOption,
    WithFilenameOption,
)
from catclf.cli.output import emit, emit_json, error, watching
from catclf.cli.signals import (
    exit_status,
    handle_signals,
    interrupt_behind,
    keep_standard_streams_open,
    now_saved,
    say_stopped,
)
from catclf.errors import CatclfError, reason

if TYPE_CHECKING:
    from catclf.model import Model

# The library's progress and notes, its errors in the command line's words.
watch = functools.partial(watching, told=told)
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
AUTO = "auto"  # the memory limit when none is given: see catclf.parameters.memory_limit

app = typer.Typer(
    name="catclf",
    cls=Group,
    # catclf's own --install-completion and --show-completion take the shell by name.
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from catclf._version import __version__  # here: read only when asked for

        emit(f"catclf {__version__}")
        raise typer.Exit()


def _show_completion(shell: Shell | None) -> None:
    if shell is not None:
        from catclf.cli.completion import script  # here: only completion needs it

        output.emit_text(script(shell))
        raise typer.Exit()


def _install_completion(shell: Shell | None) -> None:
    if shell is not None:
        from catclf.cli.completion import install  # here: only completion needs it

        try:
            path = install(shell)
        except CatclfError as e:
            error(told(e))
            raise typer.Exit(EXIT_ERROR) from None
        emit(f"{shell.value} completion installed in {path}; it works in new {shell.value} shells")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    install_completion: Annotated[
        Shell | None,
        typer.Option(
            metavar="SHELL",
            callback=_install_completion,
            is_eager=True,
            help="Install tab completion for SHELL: bash, zsh or fish.",
            show_default=False,
        ),
    ] = None,
    show_completion: Annotated[
        Shell | None,
        typer.Option(
            metavar="SHELL",
            callback=_show_completion,
            is_eager=True,
            help="Print SHELL's completion script, to install it by hand.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Cat / non-cat image classifier: logistic regression on 64x64 pixels, as the course
    teaches it.

    \b
    Quick start:
      catclf train               # learn from the bundled set, write model.h5
      catclf predict photo.jpg   # the probability that photo.jpg shows a cat
    """


@app.command(cls=Command, short_help="Learn w and b by gradient descent, and save the model.")
@reports_errors(saves=True)
def train(
    data: DataArgument = None,
    test: TestOption = None,
    model: ModelOption = None,
    learning_rate: TrainLearningRateOption = 0.005,
    iterations: IterationsOption = 2000,
    l2: L2Option = 0.0,
    validation_fraction: ValidationFractionOption = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    jobs: JobsOption = None,
    solver: SolverOption = Solver.auto,
    memory_limit: MemoryLimitOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Learn w and b by batch gradient descent on DATA, and save them to a model file.

    \b
    Examples:
      catclf train                          # the bundled set; writes model.h5
      catclf train photos/ --test holdout/  # your photos, judged on others
      catclf train photos/ --validation-fraction 0.2 --l2 0.5
    """
    # here: `catclf --help` imports no numpy
    from catclf import modelfile, training

    out = model if model is not None else modelfile.DEFAULT_PATH
    saved = f"the model was saved to {out}"
    with watch(quiet=quiet) as progress:
        done = training.run(
            data,
            test,
            save_to=out,
            force=force,
            positive=positive,
            strict=strict,
            jobs=jobs,
            learning_rate=learning_rate,
            num_iterations=iterations,
            l2=l2,
            validation_fraction=validation_fraction,
            solver=solver.value,
            memory_limit=memory_limit or AUTO,
            progress=progress,
            on_saved=lambda: now_saved(saved),
        )
    with summary_after_saving(saved):
        emit_json(done.as_dict()) if as_json else views.trained(done)


@app.command(cls=Command, short_help="Decode a folder of photos once into HDF5 files for train.")
@reports_errors(saves=True)
def prepare(
    data: PrepareDataArgument,
    out: PrepareOutOption,
    test_fraction: PrepareTestFractionOption = None,
    name: PrepareNameOption = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    memory_limit: PrepareMemoryLimitOption = None,
    quiet: QuietOption = False,
) -> None:
    """Decode a folder of photos once into the course's HDF5 layout, which train reads a
    slice at a time.

    \b
    Examples:
      catclf prepare photos/ --out data/    # writes data/train_photos.h5
      catclf prepare photos/ --out data/ --test-fraction 0.2
    """
    # here: `catclf --help` imports no numpy
    from catclf import prepare as preparing

    saved = f"the data files were saved in {out}"
    with watch(quiet=quiet) as progress:
        done = preparing.prepare(
            data,
            out,
            name=name,
            test_fraction=test_fraction,
            positive=positive,
            strict=strict,
            jobs=jobs,
            memory_limit=memory_limit or AUTO,
            force=force,
            progress=progress,
            on_saved=lambda: now_saved(saved),
        )
    with summary_after_saving(saved):
        emit_json(done.as_dict()) if as_json else views.prepared(done)


@app.command(cls=Command, short_help="Compare learning rates and penalties, a run of each.")
@reports_errors(saves=True)
def sweep(
    data: DataArgument = None,
    test: TestOption = None,
    learning_rates: SweepLearningRatesOption = None,
    iterations: IterationsOption = 2000,
    l2: SweepL2Option = None,
    validation_fraction: ValidationFractionOption = None,
    folds: SweepFoldsOption = None,
    out: SweepOutOption = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    jobs: JobsOption = None,
    solver: SolverOption = Solver.auto,
    memory_limit: MemoryLimitOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train once per learning rate and L2 penalty, and compare the runs. The best is the
    one most accurate on data held out of training (--validation-fraction or --folds),
    never on the test set. Saves no model.

    \b
    Examples:
      catclf sweep                          # the course's 0.01, 0.001, 0.0001
      catclf sweep --validation-fraction 0.2 -r 0.005 -r 0.001 --l2 0 --l2 1
      catclf sweep --folds 5 -n 1500 --out curves/
    """
    # here: `catclf --help` imports no numpy
    from catclf import curves, selection

    with watch(quiet=quiet) as progress:
        done = curves.sweep(
            data,
            test,
            out=out,
            force=force,
            learning_rates=learning_rates or selection.SWEEP_RATES,
            num_iterations=iterations,
            l2_values=l2 or [0.0],
            validation_fraction=validation_fraction,
            folds=folds,
            positive=positive,
            strict=strict,
            jobs=jobs,
            solver=solver.value,
            memory_limit=memory_limit or AUTO,
            progress=progress,
            on_saved=lambda: now_saved(f"the learning curves were saved in {out}"),
        )
    emit_json(done.as_dict()) if as_json else views.sweep_table(done)
    if done.diverged:
        error("training diverged in every run; try smaller rates")
        raise typer.Exit(EXIT_ERROR)


@app.command(cls=Command, short_help="Cross-validate: the accuracy on images training did not see.")
@reports_errors(saves=False)
def cv(
    data: DataArgument = None,
    folds: FoldsOption = 5,
    learning_rate: TrainLearningRateOption = 0.005,
    iterations: IterationsOption = 2000,
    l2: L2Option = 0.0,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    jobs: JobsOption = None,
    solver: SolverOption = Solver.auto,
    memory_limit: MemoryLimitOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Cross-validate the training settings on DATA: train K times, each time holding out
    one of K folds (stratified, and decided by each image's content), and report the
    accuracy on the folds held out. Saves no model; never uses a test set.

    \b
    Examples:
      catclf cv                             # 5 folds of the bundled training set
      catclf cv photos/ --folds 10 --lr 0.001 --l2 0.5 --json
    """
    # here: `catclf --help` imports no numpy
    from catclf import selection

    with watch(quiet=quiet) as progress:
        result = selection.run_cv(
            data,
            folds,
            positive=positive,
            strict=strict,
            jobs=jobs,
            learning_rate=learning_rate,
            num_iterations=iterations,
            l2=l2,
            solver=solver.value,
            memory_limit=memory_limit or AUTO,
            progress=progress,
        )
    emit_json(result.as_dict()) if as_json else views.cross_validation(result)


@app.command(cls=Command, short_help="Draw a model and its mistakes on one HTML page.")
@reports_errors(saves=True)
def report(
    out: ReportOutOption,
    data_argument: ReportDataArgument = None,
    model: ModelOption = None,
    data: ReportDataOption = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Draw a model into DIR: its learning curve and weights, and, scored on DATA, its
    confusion matrix and mistakes, on one page, index.html. Needs matplotlib.

    \b
    Examples:
      catclf report --out report/           # then open report/index.html
      catclf report holdout/ --model model.h5 --out report/
    """
    # here: `catclf --help` imports no numpy
    from catclf import report as reports

    if data_argument is not None and data is not None:
        raise typer.BadParameter("give DATA once, as an argument or as --data", param_hint="DATA")
    saved = f"the report was saved in {out}"
    with watch(quiet=quiet) as progress:
        made = reports.run(
            out,
            data if data is not None else data_argument,
            model=model,
            positive=positive,
            strict=strict,
            force=force,
            jobs=jobs,
            progress=progress,
            on_saved=lambda: now_saved(saved),
        )
    with summary_after_saving(saved):
        emit_json(made.as_dict()) if as_json else views.report_written(made)


@app.command(cls=Command, short_help="Print the probability that each image shows a cat.")
@reports_errors(saves=False)
def predict(
    images: PredictImagesArgument = None,
    files_from: PredictFilesFromOption = None,
    null: PredictNullOption = False,
    model: ModelOption = None,
    threshold: ThresholdOption = 0.5,
    as_json: JsonOption = False,
    with_filename: WithFilenameOption = False,
    exit_code: ExitCodeOption = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Print the probability that each image shows a cat. For one image, the probability;
    for several, folders or --files-from, PATH, probability and label, tab-separated, a
    line each; with --json, a JSON object each.

    \b
    Examples:
      catclf predict photo.jpg              # prints e.g. 0.734125
      find . -name '*.jpg' | catclf predict --files-from - --json
      catclf predict --exit-code photo.jpg > /dev/null && echo cat
    """
    # here: `catclf --help` imports no numpy
    from catclf.cli import inputs

    inputs.check_named(images, files_from, null)
    load = functools.partial(_predicting_model, model, quiet)
    with inputs.scoring(load, images or [], files_from, null, jobs=jobs) as scoring:
        # Results on a terminal show progress themselves; a bar is for output sent elsewhere.
        bars = not quiet and output.is_terminal(sys.stderr) and not output.is_terminal(sys.stdout)
        with watch(quiet=quiet, bars=bars) as progress:
            scored = scoring.scored(progress=progress, on_batch=output.flush)
            single = inputs.single(images, files_from, with_filename)
            failed, all_cats = views.predictions(scoring.model, scored, threshold, as_json, single)
    if failed:
        raise typer.Exit(EXIT_ERROR)
    if exit_code and not all_cats:
        raise typer.Exit(EXIT_NOT_CAT)


@app.command(cls=Command, short_help="Show why a model gives an image its probability.")
@reports_errors(saves=False)
def explain(
    image: ExplainImageArgument,
    model: ModelOption = None,
    baseline: BaselineOption = Baseline.black,
    out: ExplainOutOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Show why a model gives an image its probability: the logit w.x + b split exactly
    into each pixel's share, the sum of those shares, and a map of them.

    \b
    Examples:
      catclf explain photo.jpg
      catclf explain photo.jpg --baseline mean --out why.png
      catclf explain photo.jpg --json | jq .logit
    """
    # here: `catclf --help` imports no numpy
    from catclf import explaining
    from catclf.cli import inputs
    from catclf.errors import ImageError

    given: str | bytes = image
    if image == "-":
        read = inputs.stdin_image()
        if isinstance(read, ImageError):
            raise read
        given = bytes(read.source) if isinstance(read.source, bytes) else image
    done = explaining.run(given, model=model, baseline=baseline.value, out=out, force=force)
    emit_json(done.as_dict()) if as_json else views.explained(done)


@app.command(cls=Command, short_help="Write a model as a page for any browser, or ONNX.")
@reports_errors(saves=True)
def export(
    html: ExportHtmlOption = None,
    onnx: ExportOnnxOption = None,
    model: ModelOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write a model for use elsewhere: a self-contained HTML page that scores a photo in
    any browser as predict does, with the map of why; an ONNX file for any ONNX runtime.

    \b
    Examples:
      catclf export --html cat-or-not.html  # open it, or send it to a friend
      catclf export --onnx model.onnx --model mine.h5
    """
    # here: `catclf --help` imports no numpy
    from catclf import exporting

    def saved(files: list[Path]) -> str:
        return " and ".join(map(str, files)) + (" was" if len(files) == 1 else " were") + " saved"

    done = exporting.run(
        model=model, html=html, onnx=onnx, force=force, on_saved=lambda f: now_saved(saved(f))
    )
    with summary_after_saving(saved(list(done.written.values()))):
        emit_json(done.as_dict()) if as_json else views.exported(done)


def _predicting_model(model: Path | None, quiet: bool) -> "Model":
    """The model predict scores with (read while the first images decode), and the note
    that it is the bundled one."""
    # here: imported once the images are on their way to the decoding processes
    from catclf import model as models

    path = _model_path(model)
    classifier = models.load_model(path)
    views.bundled_note(path, classifier, quiet)
    return classifier


def _model_path(model: Path | None) -> Path:
    # here: `catclf --help` imports no numpy
    from catclf import modelfile

    return modelfile.find(model)


@app.command(cls=Command, short_help="Score a model on labelled images.")
@reports_errors(saves=False)
def evaluate(
    data: EvaluateDataArgument = None,
    model: ModelOption = None,
    threshold: ThresholdOption = 0.5,
    min_accuracy: MinAccuracyOption = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Score a model on labelled images: accuracy (with its interval and baseline),
    precision, recall, F1, log loss, ROC AUC, the confusion matrix and the mistakes.

    \b
    Examples:
      catclf evaluate                       # on the test set the model records
      catclf evaluate holdout/ --model model.h5 --json
      catclf evaluate holdout/ --min-accuracy 0.7 -q || echo "not good enough"
    """
    # here: `catclf --help` imports no numpy
    from catclf import evaluation

    with watch(quiet=quiet) as progress:
        result = evaluation.run(
            data,
            model=model,
            threshold=threshold,
            min_accuracy=min_accuracy,
            positive=positive,
            strict=strict,
            jobs=jobs,
            progress=progress,
        )
    emit_json(result.as_dict()) if as_json else views.evaluation(result)
    if result.below:
        error(f"accuracy {views.accuracy(result)} is below --min-accuracy {min_accuracy:g}")
        raise typer.Exit(EXIT_ERROR)


@app.command(cls=Command, short_help="Show what a model file says of itself.")
@reports_errors(saves=False)
def info(
    model: ModelOption = None, as_json: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Show what a model file says of itself: how it was trained, on what, how well, and
    its cost history.

    \b
    Examples:
      catclf info                           # model.h5, or the bundled model
      catclf info --model old.h5 --json | jq .test_accuracy
    """
    # here: `catclf --help` imports no numpy
    from catclf import model as models

    path = _model_path(model)
    found = models.load_model(path)
    emit_json({"model": str(path), **found.as_dict()}) if as_json else views.model(path, found)


def main() -> None:
    """The `catclf` command (catclf.cli.start.main imports this module, then runs it)."""
    keep_standard_streams_open()
    handle_signals()
    # Before numpy is imported: one BLAS thread unless the environment says otherwise. The
    # products of training read memory more than they compute, so more threads gain little,
    # and on a machine busy with other work each product waits for its threads (5 to 20
    # times slower, measured on two shared cores).
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")
    output.configure_streams()
    # No Python warning reaches a user of the command (Pillow's about metadata it skips, any
    # library's): the library leaves the filters to the program, and this program ignores
    # them, as do the decoding processes it starts (a forked one has these filters, a new
    # interpreter takes them from the environment).
    warnings.simplefilter("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"
    if sys.stdout is None:
        # Refused before any work, so that no command saves files and then fails.
        error("stdout is closed: there is nowhere to write the results; nothing was done")
        sys.exit(EXIT_ERROR)
    if COMPLETE_VAR in os.environ:  # a shell asks what completes a word
        # here: `catclf --help` imports no numpy
        from typer.completion import completion_init

        completion_init()  # typer's answers for bash, zsh and fish
    try:
        app(prog_name="catclf")
    except BaseException as e:
        stop = interrupt_behind(e)
        if stop is not None:
            # It came while typer made or read the command line, before any command ran
            # (commands report their own).
            say_stopped(stop, saves=True)
            sys.exit(exit_status(stop))
        if not isinstance(e, Exception):
            raise
        failed = str(e) if isinstance(e, output.OutputFailed) else None
        if isinstance(e, OSError) and _raised_in_typer(e):  # its own output: --help
            failed = f"stdout: cannot write the results ({reason(e)})"
        if failed is not None:  # output typer wrote, or --version, outside any command
            error(failed)
            discard_stdout()
            sys.exit(EXIT_ERROR)
        # A bug in catclf: still one line, the traceback on request.
        if os.environ.get("CATCLF_DEBUG"):
            raise
        error(f"internal error: {type(e).__name__}: {e} (run with CATCLF_DEBUG=1 for details)")
        sys.exit(EXIT_ERROR)


def _raised_in_typer(e: BaseException) -> bool:
    """Whether e was raised in typer's own code, which opens no file: writing its output."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("typer")
