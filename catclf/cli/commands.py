"""The command line: parse, call the library, present. Exit statuses are decided here.

0  success
1  an error: bad input, a missing or damaged file, training that diverged, a stdout that
   is closed or fails (with predict: at least one image could not be scored; the rest are
   printed; with evaluate --min-accuracy: the accuracy is below it; the report is printed)
2  a usage error: unknown option, bad value
3  predict --exit-code: every image was scored and at least one is not a cat
130, 143, 129  interrupted by Ctrl-C (SIGINT), SIGTERM or SIGHUP (a closed terminal); a
               command that writes files leaves none, whole or partial ("nothing was saved"),
               or, once they are in place, says what was saved
141  stdout was closed by its reader (as `catclf predict dir | head -1` does); no message

A command that saves files and then cannot write its summary exits 0: its files are saved.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from catclf import wording
from catclf.cli import output, views
from catclf.cli.completion import COMPLETE_VAR, Shell
from catclf.cli.options import (
    DataArgument,
    EvaluateDataArgument,
    ExitCodeOption,
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
from catclf.cli.output import Advance, emit, emit_json, error, flush, is_terminal, note, warn
from catclf.cli.signals import (
    exit_status,
    handle_signals,
    interrupt_behind,
    keep_standard_streams_open,
    now_saved,
    say_stopped,
)
from catclf.errors import CatclfError, DataError, ImageError, TrainingDiverged, reason

if TYPE_CHECKING:
    from catclf.dataset import Dataset, Skipped
    from catclf.model import Model
    from catclf.selection import SweepRun
    from catclf.training import Plan

EXIT_ERROR = 1
EXIT_NOT_CAT = 3
EXIT_SIGPIPE = 141
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


_HelpFormatter: Any = typer.Context.formatter_class  # click's, vendored by typer or not


class _Formatter(_HelpFormatter):
    """Help that breaks no word on any terminal. As wide as the terminal however narrow
    (click makes it 50 columns at least, which a narrower terminal breaks anywhere); text
    wrapped at spaces only, never inside a word nor at its hyphens (--validation-fraction,
    cross-validation); options whose names take much of a narrow line have their help on
    the next; the lines of an example (a paragraph marked \\b, which click leaves as it is)
    folded at spaces when they are wider than the terminal, continued four places in."""

    def __init__(
        self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None
    ) -> None:
        if width is None:
            import shutil

            width = max(min(shutil.get_terminal_size().columns, max_width or 80) - 2, 20)
        super().__init__(indent_increment, width, max_width)

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(_wrapped(text, self.width - self.current_indent, indent) + "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        col_max = min(col_max, max(self.width // 2 - 4, 8))
        first_col = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            self.write(f"{indent}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = _wrapped(second, self.width - first_col - self.current_indent).split("\n")
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(" " * (first_col + self.current_indent) + line + "\n")


def _wrapped(text: str, width: int, indent: str = "") -> str:
    """text in lines of at most width characters after indent, paragraphs (apart by blank
    lines) filled, those marked \\b kept line by line and folded (`_fold`)."""
    import textwrap

    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if lines[0].strip() == "\b":
            kept = [part for line in lines[1:] for part in _fold(line, width)]
            paragraphs.append("\n".join(indent + line for line in kept))
        else:
            words = " ".join(line.strip() for line in lines)
            filled = textwrap.wrap(
                words, max(width, 1), break_long_words=False, break_on_hyphens=False
            )
            paragraphs.append("\n".join(indent + line for line in filled))
    return "\n\n".join(paragraphs)


def _fold(line: str, room: int) -> list[str]:
    """line in lines of at most room characters, broken at spaces only (a word longer than
    the room stays whole), each after the first four places further in than line."""
    import textwrap

    if len(line) <= room:
        return [line]
    lead = " " * (len(line) - len(line.lstrip()))
    return textwrap.wrap(
        line,
        max(room, 1),
        subsequent_indent=lead + "    ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


class _Context(typer.Context):
    formatter_class = _Formatter


class _Group(TyperGroup):
    """The command list of `catclf --help`, each summary whole: wrapped at word
    boundaries on a narrow terminal, never cut short with '...'."""

    context_class = _Context

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="catclf",
    cls=_Group,
    # catclf's own --install-completion and --show-completion take the shell by name.
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


class _Command(TyperCommand):
    """A command whose usage line names a required argument as DATA, as the docs do,
    where typer writes {DATA}, and whose help breaks no word (`_Formatter`)."""

    context_class = _Context

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


# click's UsageError, which typer vendors in some versions and imports in others: the
# base of its public BadParameter either way.
UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _show_usage_error(self: Any, file: Any = None) -> None:
    """A usage error as catclf writes every error: one line, then where help is."""
    message = self.format_message()
    if hasattr(self, "option_name") and hasattr(self, "possibilities"):  # NoSuchOption
        message = _unknown_option(self.option_name, self.possibilities or ())
    error(message)
    if self.ctx is not None:
        note(f"try '{self.ctx.command_path} --help'")


# How alike an unknown option and a real one must be (difflib's ratio) for the one to be
# suggested for the other: a misspelt --iteratons, not --lr, which names another setting
# than --l2 though it differs from it by one letter.
SUGGESTED = 0.85


def _unknown_option(name: str, possibilities: Sequence[str]) -> str:
    """'No such option: NAME', with a suggestion only for an option alike enough to be what
    was meant."""
    import difflib

    alike = sorted(
        p for p in possibilities if difflib.SequenceMatcher(None, name, p).ratio() >= SUGGESTED
    )
    said = f"no such option: {name}"
    return f"{said}; did you mean {' or '.join(alike)}?" if alike else said


# typer prints a usage error as click's block of usage, hint and message; catclf's errors
# are one line each, whatever finds them (documented in docs/reliability.md).
UsageError.show = _show_usage_error


def reports_errors(*, saves: bool) -> Callable[[F], F]:
    """Turn the project's errors and interrupts into one line on stderr and an exit status.

    saves: the command writes files, so that an interrupt says none was left behind, or,
    once they are in place, what was saved (see `catclf.cli.signals.now_saved`).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                try:
                    result = command(*args, **kwargs)
                except typer.Exit:
                    output.flush()
                    raise
                # Here, not at exit, so that results that cannot be written are reported.
                output.flush()
                return result
            except output.OutputFailed as e:
                error(str(e))
                _discard_stdout()
                raise typer.Exit(EXIT_ERROR) from None
            except CatclfError as e:
                error(str(e))
                raise typer.Exit(EXIT_ERROR) from None
            except (KeyboardInterrupt, RuntimeError) as e:
                # RuntimeError: Python 3.11 wraps an interrupt that comes as a class is made
                # (a module imported), in a descriptor's __set_name__.
                stop = interrupt_behind(e)
                if stop is None:
                    raise
                # Stopped now: results not yet written are dropped, not waited on.
                _discard_stdout()
                say_stopped(stop, saves)
                raise typer.Exit(exit_status(stop)) from None
            except output.OutputClosed:
                # The reader of the results has gone: stop quietly, with the status of a
                # command that SIGPIPE ends, as shell tools do.
                _discard_stdout()
                raise typer.Exit(EXIT_SIGPIPE) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit fails no more."""
    if sys.stdout is not None:
        output.discard(sys.stdout)


@contextmanager
def _summary_after_saving(saved: str) -> Iterator[None]:
    """Around the summary a command writes once its files are saved, so that its status
    still says they are (0): a summary that cannot be written is a note saying what was
    saved, or, when stdout's reader has gone, nothing at all."""
    try:
        yield
        output.flush()
    except output.OutputClosed:
        _discard_stdout()
    except output.OutputFailed as e:
        _discard_stdout()
        note(f"{e}; {saved}")


def _print_version(value: bool) -> None:
    if value:
        from catclf._version import __version__

        emit(f"catclf {__version__}")
        raise typer.Exit()


def _show_completion(shell: Shell | None) -> None:
    if shell is not None:
        from catclf.cli.completion import script

        output.emit_text(script(shell))
        raise typer.Exit()


def _install_completion(shell: Shell | None) -> None:
    if shell is not None:
        from catclf.cli.completion import install

        try:
            path = install(shell)
        except CatclfError as e:
            error(str(e))
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


def _memory_limit(memory_limit: str | None) -> int:
    """--memory-limit in bytes, or the default: a quarter of the available memory."""
    from catclf.memory import default_limit, parse_size

    return default_limit() if memory_limit is None else parse_size(memory_limit)


def _say_if_streamed(train_set: Dataset, how: Plan, limit: int, quiet: bool) -> None:
    """A note when the training data does not fit the memory limit and is streamed."""
    from catclf.dataset import memory_needed
    from catclf.memory import format_size

    if how.streamed and not quiet:
        note(
            f"the training images and their X would take "
            f"{format_size(memory_needed(train_set.m))}, more than the memory limit "
            f"of {format_size(limit)}: each iteration reads them {how.rows} at a time"
        )


def _decoding_jobs(jobs: int | None) -> int:
    """The number of decoding processes: jobs, or one per core this process may use."""
    from catclf.workers import default_jobs

    return default_jobs() if jobs is None else jobs


@app.command(cls=_Command, short_help="Learn w and b by gradient descent, and save the model.")
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
    jobs = _decoding_jobs(jobs)
    from catclf import model as model_file
    from catclf import modelfile, training
    from catclf.datasets import BUNDLED_DIR

    limit = _memory_limit(memory_limit)
    started = time.perf_counter()
    show = is_terminal(sys.stderr) and not quiet
    out = model if model is not None else modelfile.DEFAULT_PATH
    inputs = [data if data is not None else BUNDLED_DIR, *([test] if test else [])]
    modelfile.check_target(out, force=force, inputs=inputs)  # before training, not after it
    train_set, test_set, skipped = _load_sets(
        data, test, positive, strict, quiet, jobs, memory_limit=limit
    )

    how = training.plan(train_set, iterations, solver=solver.value, memory_limit=limit)
    _say_if_streamed(train_set, how, limit, quiet)
    total = iterations * train_set.m + train_set.m + (0 if test_set is None else test_set.m)
    with _training_bar(how.streamed, total if how.streamed else iterations, show) as watch:
        try:
            trained = training.train(
                train_set,
                test_set,
                learning_rate=learning_rate,
                num_iterations=iterations,
                l2=l2,
                validation_fraction=validation_fraction,
                solver=solver.value,
                memory_limit=limit,
                on_iteration=watch.iterated,
                on_examples=watch.examples,
            )
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{e}; {DIVERGED_ADVICE}; no model was saved") from e
    saved = f"the model was saved to {out}"
    model_file.save_model(
        trained, out, force=force, inputs=inputs, on_saved=lambda: now_saved(saved)
    )
    for said in training.cost_warnings(trained):
        warn(said)
    summary = {
        "model": str(out),
        **training.run_summary(train_set, test_set, learning_rate, iterations, trained),
        "skipped": _skipped_json(skipped),
        "ignored": _ignored(train_set, test_set),
        "unsorted": train_set.unsorted + (0 if test_set is None else test_set.unsorted),
        "solver": trained.solver,
        "streamed": how.streamed,
        "seconds": round(time.perf_counter() - started, 3),
    }
    with _summary_after_saving(saved):
        if as_json:
            emit_json(summary)
        else:
            views.trained(trained, train_set, test_set, summary)


class _TrainingBar:
    """The progress of a training run, for its bar: the cost after each iteration, and when
    the data is streamed (an iteration can then take minutes) the examples read."""

    def __init__(self, advance: output.Advance, streamed: bool) -> None:
        self.advance, self.streamed = advance, streamed
        self.cost, self.seen, self.begun = "", 0, time.perf_counter()

    def iterated(self, i: int, cost: float) -> None:
        self.cost = f"cost {cost:.6f}"
        self.advance(0 if self.streamed else 1, status=self.cost)

    def examples(self, k: int) -> None:
        self.seen += k
        rate = self.seen / max(time.perf_counter() - self.begun, 1e-9)
        self.advance(k, status=f"{self.cost}  {rate:,.0f} examples/s".strip())


@contextmanager
def _training_bar(streamed: bool, total: int, show: bool) -> Iterator[_TrainingBar]:
    """A 'training' bar on stderr (when show), counting examples when streamed, else
    iterations."""
    # Streamed: "cost 0.693147  12,345 examples/s".
    room = 34 if streamed else 13
    with output.progress(
        "training", total, enabled=show, status="cost", status_room=room
    ) as advance:
        yield _TrainingBar(advance, streamed)


@contextmanager
def _bars(show: bool, source: Path | None = None) -> Iterator[Callable[[str, int], Advance]]:
    """A progress(what, total) for the library: each call ends the bar before it and starts
    one named what ("decoding", "writing"), shown when show is true, all of them closed at
    the end of the with block. With source, decoding is also announced in a note."""
    with ExitStack() as bars:

        def progress(what: str, total: int) -> Advance:
            if source is not None and what == "decoding":
                note(f"decoding {total} images from {source}")
            bars.close()  # one bar at a time
            return bars.enter_context(output.progress(what, total, enabled=show))

        yield progress


def _note_left_out(*sets: Dataset | None) -> None:
    """What of each data set's folder was left out: the images that could not be read, and
    a warning for images beside the class folders."""
    from catclf.photos import unsorted_note

    for data in sets:
        if data is None:
            continue
        for s in data.skipped:
            note(f"skipped {s.path}: {s.error}")
        said = unsorted_note(data)
        if said is not None:
            warn(said)


@app.command(cls=_Command, short_help="Decode a folder of photos once into HDF5 files for train.")
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
    from catclf import prepare as preparing

    started = time.perf_counter()
    saved = f"the data files were saved in {out}"
    with _bars(is_terminal(sys.stderr) and not quiet, None if quiet else data) as progress:
        done = preparing.prepare(
            data,
            out,
            name=name,
            test_fraction=test_fraction,
            positive=positive,
            strict=strict,
            jobs=_decoding_jobs(jobs),
            memory_limit=_memory_limit(memory_limit),
            force=force,
            progress=progress,
            on_saved=lambda: now_saved(saved),
        )
    _note_left_out(done.photos)
    if done.removed is not None and not quiet:
        note(f"removed {done.removed}, the test set of an earlier run")
    with _summary_after_saving(saved):
        if as_json:
            emit_json({**done.as_dict(), "seconds": round(time.perf_counter() - started, 3)})
        else:
            views.prepared(done)


def _load_sets(
    data: Path | None,
    test: Path | None,
    positive: str | None,
    strict: bool,
    quiet: bool,
    jobs: int,
    memory_limit: int | None = None,
    with_test: bool = True,
) -> tuple[Dataset, Dataset | None, list[Skipped]]:
    """(training set, test set or None, images skipped in either), decoded once, as train
    takes DATA and --test; says on stderr what was found. memory_limit: see datasets.load.
    Without with_test, a test set DATA brings is left aside (None)."""
    from catclf import datasets

    with _bars(is_terminal(sys.stderr) and not quiet) as bars:
        decoding = functools.partial(bars, "decoding")
        train_set, test_set = datasets.load_data(
            data,
            test,
            positive=positive,
            strict=strict,
            progress=decoding,
            jobs=jobs,
            memory_limit=memory_limit,
        )
    test_set = test_set if with_test else None
    skipped = train_set.skipped + (test_set.skipped if test_set is not None else [])
    _note_left_out(train_set, test_set)
    if not quiet:
        note(f"training on {train_set.origin}: {train_set.describe()}")
        if test_set is not None:
            note(f"testing on {test_set.origin}: {test_set.describe()}")
    return train_set, test_set, skipped


def _skipped_json(skipped: list[Skipped]) -> list[dict[str, str]]:
    return [{"path": s.path, "error": s.error} for s in skipped]


def _ignored(train_set: Dataset, test_set: Dataset | None) -> int:
    """Files without an image extension in the photo folders read, hidden files aside."""
    return train_set.ignored + (test_set.ignored if test_set is not None else 0)


SWEEP_RATES = (0.01, 0.001, 0.0001)
DIVERGED_ADVICE = "try a smaller --learning-rate"
CURVES = "learning_curves.png"


@app.command(cls=_Command, short_help="Compare learning rates and penalties, a run of each.")
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
    from catclf import selection, training

    if validation_fraction is not None and folds is not None:
        raise typer.BadParameter("give --validation-fraction or --folds, not both")
    inputs = [p for p in (data, test) if p is not None]
    if out is not None:
        from catclf import plots, report

        plots.require()
        report.check_folder(out, [CURVES], force=force, inputs=inputs)
    limit = _memory_limit(memory_limit)
    train_set, test_set, skipped = _load_sets(
        data, test, positive, strict, quiet, _decoding_jobs(jobs), memory_limit=limit
    )
    # The same for every rate: it depends on the data and the iterations only.
    how = training.plan(train_set, iterations, solver=solver.value, memory_limit=limit)
    _say_if_streamed(train_set, how, limit, quiet)
    with _bars(is_terminal(sys.stderr) and not quiet) as bars:

        def bar(rate: float) -> Callable[[int, float], None]:
            advance = bars(f"rate {rate:g}", iterations * (1 + (folds or 0)))
            return lambda i, cost: advance(1, status=f"cost {cost:.6f}")

        runs = selection.sweep(
            train_set,
            test_set,
            learning_rates or list(SWEEP_RATES),
            num_iterations=iterations,
            l2_values=l2 or [0.0],
            validation_fraction=validation_fraction,
            folds=folds,
            solver=solver.value,
            memory_limit=limit,
            on_run=bar,
        )
    for run in runs:
        if run.diverged is not None and not quiet:
            note(f"{run.diverged}; {DIVERGED_ADVICE}")
        for said in run.warnings:
            warn(said)
    if runs[0].selected_by is None and not quiet:
        note(
            "no run is marked best: nothing was held out to judge them by "
            "(--validation-fraction F or --folds K); the test set is never used to choose"
        )
    if as_json:
        emit_json([_sweep_json(r, train_set, test_set, skipped, how) for r in runs])
    else:
        views.sweep_table(runs, has_test=test_set is not None)
    if all(run.model is None for run in runs):
        raise TrainingDiverged("training diverged in every run; try smaller rates")
    if out is not None:
        pictures = {CURVES: plots.learning_curves(*views.curves(runs))}
        saved = f"the learning curves were saved in {out}"
        written = report.write_files(
            out, pictures, force=force, inputs=inputs, on_saved=lambda: now_saved(saved)
        )
        for path in written:
            if not quiet:
                note(f"wrote {path}")


def _sweep_json(
    run: SweepRun, train_set: Dataset, test_set: Dataset | None, skipped: list[Skipped], how: Plan
) -> dict[str, Any]:
    summary = run.as_dict(train_set, test_set)
    if run.diverged is not None:
        summary["reason"] = f"{run.diverged}; {DIVERGED_ADVICE}"
    return {
        **summary,
        "skipped": _skipped_json(skipped),
        "solver": how.solver,
        "streamed": how.streamed,
    }


@app.command(
    cls=_Command, short_help="Cross-validate: the accuracy on images training did not see."
)
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
    from catclf import selection

    limit = _memory_limit(memory_limit)
    train_set, _, _ = _load_sets(
        data, None, positive, strict, quiet, _decoding_jobs(jobs), limit, with_test=False
    )
    with _bars(is_terminal(sys.stderr) and not quiet) as bars:

        def bar(k: int) -> Callable[[int, float], None]:
            advance = bars(f"fold {k + 1} of {folds}", iterations)
            return lambda i, cost: advance(1, status=f"cost {cost:.6f}")

        result = selection.cross_validate(
            train_set,
            folds,
            learning_rate=learning_rate,
            num_iterations=iterations,
            l2=l2,
            solver=solver.value,
            memory_limit=limit,
            on_fold=bar,
        )
    if as_json:
        emit_json(result.as_dict())
    else:
        views.cross_validation(result, train_set)


@app.command(cls=_Command, short_help="Draw a model and its mistakes on one HTML page.")
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
    if data_argument is not None and data is not None:
        raise typer.BadParameter("give DATA once, as an argument or as --data", param_hint="DATA")
    data = data if data is not None else data_argument
    jobs = _decoding_jobs(jobs)
    from catclf import evaluation, modelfile, plots
    from catclf import model as model_file
    from catclf import report as reports

    plots.require()
    reports.check_folder(out)  # before the model is looked for
    path = _model_path(model)
    classifier = model_file.load_model(path)
    recorded = None if data is not None else evaluation.test_location(classifier)
    scored = data if data is not None else Path(recorded) if recorded else None
    inputs = [path, *([scored] if scored is not None else [])]
    names = reports.may_write(data is not None or recorded is not None)
    reports.check_folder(out, names, force=force, inputs=inputs)
    model_name = "the bundled model" if path == modelfile.BUNDLED_PATH else str(path)
    labelled = None
    if data is not None:
        labelled = _load_labelled(data, positive, strict, quiet, jobs)
        if not quiet:
            note(f"scoring {labelled.origin}: {labelled.describe()}")
    else:
        try:
            labelled = _recorded_test_set(classifier, path, quiet, jobs)
            said = f"{path} records no test set: give DATA to score the model in the report"
        except DataError as e:
            said = f"{e}: the report shows the model alone"
        if labelled is None and not quiet:
            note(said)
    made = reports.build(classifier, model_name, labelled)
    for said in made.not_drawn:
        if not quiet:
            note(said)
    saved = f"the report was saved in {out}"
    written = reports.write_files(
        out,
        made.files,
        replaces=tuple(reports.WHAT),
        force=force,
        inputs=inputs,
        on_saved=lambda: now_saved(saved),
    )
    with _summary_after_saving(saved):
        views.report_written(out, made, written, labelled, as_json=as_json, quiet=quiet)


def _recorded_test_set(classifier: Model, path: Path, quiet: bool, jobs: int) -> Dataset | None:
    """The test set the model records it was tested on, read again (None when it records
    none); says which on stderr."""
    from catclf import evaluation

    with _bars(is_terminal(sys.stderr) and not quiet) as bars:
        test_set = evaluation.recorded_test_set(
            classifier,
            str(path),
            progress=functools.partial(bars, "decoding"),
            jobs=jobs,
            memory_limit=_memory_limit(None),
        )
    if test_set is not None:
        _note_left_out(test_set)
        if not quiet:
            note(f"scoring the test set the model was tested on, {test_set.origin}")
    return test_set


def _load_labelled(
    data: Path, positive: str | None, strict: bool, quiet: bool, jobs: int
) -> Dataset:
    """DATA as a test set (of a course folder, its test_*.h5); skipped images are noted."""
    from catclf import datasets

    with _bars(is_terminal(sys.stderr) and not quiet) as bars:
        decoding = functools.partial(bars, "decoding")
        labelled = datasets.load_test(
            data,
            positive=positive,
            strict=strict,
            progress=decoding,
            jobs=jobs,
            memory_limit=_memory_limit(None),
            in_file=True,  # scored in one pass: a slice at a time is enough
        )
    _note_left_out(labelled)
    return labelled


@app.command(cls=_Command, short_help="Print the probability that each image shows a cat.")
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
    if not images and files_from is None:
        raise typer.BadParameter(
            "give at least one IMAGE, or --files-from FILE", param_hint="IMAGE"
        )
    if files_from == "-" and images and "-" in images:
        raise typer.BadParameter(
            "stdin cannot be both an image and the list of paths", param_hint="'--files-from'"
        )
    if null and files_from is None:
        raise typer.BadParameter("--null goes with --files-from", param_hint="'--null'")
    from catclf import model as model_file
    from catclf.cli import inputs

    single = (
        not with_filename
        and files_from is None
        and images is not None
        and len(images) == 1
        and (images[0] == "-" or not inputs.is_folder(Path(images[0])))
    )
    path = _model_path(model)
    classifier = model_file.load_model(path)
    _say_if_bundled(path, classifier, quiet)
    jobs = _decoding_jobs(jobs)
    failed, all_cats = False, True
    # Results on a terminal show progress themselves; a bar is for output sent elsewhere.
    show = not quiet and is_terminal(sys.stderr) and not is_terminal(sys.stdout)

    def bar(total: int | None) -> AbstractContextManager[Advance]:
        return output.progress("scoring", total, enabled=show and total != 1)

    scored = inputs.scored(
        classifier, images or [], files_from, null, jobs=jobs, progress=bar, on_batch=flush
    )
    for name, p in scored:
        if isinstance(p, ImageError):
            error(str(p))
            if as_json:
                emit_json(views.error_record(name, p))
            failed = True
            continue
        verdict = classifier.label(p, threshold)
        all_cats = all_cats and verdict == classifier.classes[1]
        if as_json:
            emit_json({"path": name, "probability": p, "label": verdict})
        elif single:
            emit(f"{p:.6f}")
        else:
            emit(f"{views.tsv_field(name)}\t{p:.6f}\t{verdict}")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    if exit_code and not all_cats:
        raise typer.Exit(EXIT_NOT_CAT)


def _model_path(path: Path | None) -> Path:
    """The model to use: --model or CATCLF_MODEL, else ./model.h5, else the bundled one."""
    from catclf import modelfile

    if path is not None:
        return path
    if modelfile.DEFAULT_PATH.exists():
        return modelfile.DEFAULT_PATH
    return modelfile.BUNDLED_PATH


def _say_if_bundled(path: Path, classifier: Model, quiet: bool) -> None:
    """On a terminal, once: that the model is the bundled course model, how good it is, and
    how to train one's own. Never in a pipeline, whose reader knows what it asked for."""
    from catclf import modelfile
    from catclf.metrics import wilson_interval

    if quiet or path != modelfile.BUNDLED_PATH or classifier.test_accuracy is None:
        return
    if not (is_terminal(sys.stdout) and is_terminal(sys.stderr)):
        return
    m = classifier.test_examples
    low, high = wilson_interval(round(classifier.test_accuracy * m), m)
    note(
        f"no model.h5 here: using the course's model, trained on {classifier.train_examples} "
        f"small images, right on {wording.pct(classifier.test_accuracy)} of its {m} test "
        f"images ({wording.interval((low, high))}, 95 %), which calls most photos cats; "
        "train your own with `catclf train PHOTOS/` (a cat/ folder and another)"
    )


@app.command(cls=_Command, short_help="Score a model on labelled images.")
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
    from catclf import evaluation
    from catclf import model as model_file

    path = _model_path(model)
    classifier = model_file.load_model(path)  # before decoding a large folder, not after
    if data is None:
        test_set = _recorded_test_set(classifier, path, quiet, _decoding_jobs(jobs))
        if test_set is None:
            raise typer.BadParameter(
                f"{path} records no test set it was tested on (it was trained without "
                "--test): give the labelled data to score it on",
                param_hint="DATA",
            )
    else:
        test_set = _load_labelled(data, positive, strict, quiet, _decoding_jobs(jobs))
    result = evaluation.evaluate(classifier, test_set, threshold)
    scores = result.scores
    if as_json:
        emit_json({"model": str(path), **result.as_dict()})
    else:
        views.evaluation(result, path)
    if min_accuracy is not None and scores.accuracy < min_accuracy:
        error(
            f"accuracy {wording.percent(scores.accuracy, scores.examples)} is below "
            f"--min-accuracy {min_accuracy:g}"
        )
        raise typer.Exit(EXIT_ERROR)


@app.command(cls=_Command, short_help="Show what a model file says of itself.")
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
    from catclf import model as model_file

    path = _model_path(model)
    m = model_file.load_model(path)
    if as_json:
        emit_json({"model": str(path), **m.as_dict()})
    else:
        views.model(path, m)


def main() -> None:
    """The `catclf` command (catclf.cli.signals.main imports this module, then runs it)."""
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
            _discard_stdout()
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
