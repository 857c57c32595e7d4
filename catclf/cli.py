"""The command line: parse, call the library, present. Exit statuses are decided here.

0  success
1  an error: bad input, a missing or damaged file, training that diverged
   (with predict: at least one image could not be scored; the rest are printed;
   with evaluate --min-accuracy: the accuracy is below it; the report is printed)
2  a usage error: unknown option, bad value
3  predict --exit-code: every image was scored and at least one is not a cat
130, 143  interrupted by Ctrl-C (SIGINT) or SIGTERM; a command that writes files
          leaves none, whole or partial ("nothing was saved")
141  stdout was closed by its reader (as `catclf predict dir | head -1` does); no message
"""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from catclf import reporting
from catclf.errors import CatclfError, ImageError, TrainingDiverged, reason
from catclf.reporting import emit, emit_json, error, is_terminal, note

if TYPE_CHECKING:
    from catclf.datasets import Dataset, Skipped
    from catclf.evaluation import Evaluation
    from catclf.images import Reader
    from catclf.model import Model
    from catclf.prepare import Written
    from catclf.training import Plan, SweepRun

EXIT_ERROR = 1
EXIT_NOT_CAT = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
EXIT_SIGPIPE = 141
BATCH = 256
MAX_STDIN_BYTES = 256 << 20
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

app = typer.Typer(
    name="catclf",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that the same clean-up runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def reports_errors(*, saves: bool) -> Callable[[F], F]:
    """Turn the project's errors and interrupts into one line on stderr and an exit status.

    saves: the command writes files, so that an interrupt says none was left behind.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except CatclfError as e:
                error(str(e))
                raise typer.Exit(EXIT_ERROR) from None
            except KeyboardInterrupt as e:
                terminated = isinstance(e, Terminated)
                what = "terminated" if terminated else "interrupted"
                note(f"{what}; nothing was saved" if saves else what)
                raise typer.Exit(EXIT_SIGTERM if terminated else EXIT_SIGINT) from None
            except reporting.OutputClosed:
                # The reader of the results has gone: stop quietly, with the status of a
                # command that SIGPIPE ends, as shell tools do.
                _discard_stdout()
                raise typer.Exit(EXIT_SIGPIPE) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _print_version(value: bool) -> None:
    if value:
        from catclf import __version__

        emit(f"catclf {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Cat / non-cat image classifier: logistic regression on 64x64 pixels, as the course
    teaches it.

    \b
    Quick start:
      catclf train                     # train on the bundled set, write model.h5
      catclf predict photo.jpg         # the probability that photo.jpg shows a cat
    """


def _memory_size(value: str | None) -> str | None:
    from catclf.memory import parse_size

    if value is not None:
        try:
            parse_size(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def _positive_rate(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a positive number")
    return value


def _probability(value: float | None) -> float | None:
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
        callback=_probability,
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
        callback=_memory_size,
        help="Memory the training data may take, such as 600MB, 2GB or 512MiB. An HDF5 "
        "set larger than this is read from its file a slice at a time in every iteration. "
        "[default: a quarter of the available memory]",
        show_default=False,
    ),
]


def _memory_limit(memory_limit: str | None) -> int:
    """--memory-limit in bytes, or the default: a quarter of the available memory."""
    from catclf.memory import default_limit, parse_size

    return default_limit() if memory_limit is None else parse_size(memory_limit)


def _say_if_streamed(train_set: Dataset, how: Plan, limit: int, quiet: bool) -> None:
    """A note when the training data does not fit the memory limit and is streamed."""
    from catclf.datasets import memory_needed
    from catclf.memory import format_size

    if how.streamed and not quiet:
        note(
            f"the training images and their X would take "
            f"{format_size(memory_needed(train_set.m))}, more than the memory limit "
            f"of {format_size(limit)}: each iteration reads them {how.rows} at a time"
        )


def _decoding_jobs(jobs: int | None) -> int:
    """The number of decoding processes: jobs, or one per core this process may use."""
    from catclf.images import default_jobs

    return default_jobs() if jobs is None else jobs


@app.command()
@reports_errors(saves=True)
def train(
    data: DataArgument = None,
    test: TestOption = None,
    model: ModelOption = None,
    learning_rate: Annotated[
        float,
        typer.Option(
            "--learning-rate",
            "-r",
            metavar="R",
            callback=_positive_rate,
            help="Gradient step size.",
        ),
    ] = 0.005,
    iterations: IterationsOption = 2000,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    jobs: JobsOption = None,
    solver: SolverOption = Solver.auto,
    memory_limit: MemoryLimitOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train w and b by batch gradient descent and save them to the model file.

    \b
    Examples:
      catclf train                     # the bundled cat / non-cat set, saves model.h5
      catclf train data/ --test holdout/ --learning-rate 0.005 --iterations 2000
    """
    jobs = _decoding_jobs(jobs)
    from catclf import model as model_file
    from catclf import training
    from catclf.datasets import BUNDLED_DIR

    limit = _memory_limit(memory_limit)
    started = time.perf_counter()
    show = is_terminal(sys.stderr) and not quiet
    out = model if model is not None else model_file.DEFAULT_PATH
    inputs = [data if data is not None else BUNDLED_DIR, *([test] if test else [])]
    model_file.check_target(out, force=force, inputs=inputs)  # before training, not after it
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
                solver=solver.value,
                memory_limit=limit,
                on_iteration=watch.iterated,
                on_examples=watch.examples,
            )
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{e}; {DIVERGED_ADVICE}; no model was saved") from e
    model_file.save(trained, out, force=force, inputs=inputs)

    if as_json:
        emit_json(
            {
                "model": str(out),
                **training.run_summary(train_set, test_set, learning_rate, iterations, trained),
                "skipped": _skipped_json(skipped),
                "ignored": _ignored(train_set, test_set),
                "solver": trained.solver,
                "streamed": how.streamed,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        return
    reporting.summary(
        "Trained",
        [
            ("examples", train_set.describe()),
            ("test examples", "none" if test_set is None else test_set.describe()),
            *_accuracy_rows(trained),
            ("final cost", f"{trained.final_cost:.6f}"),
            ("skipped", str(len(skipped))),
            ("ignored", str(_ignored(train_set, test_set))),
            ("model", str(out)),
        ],
    )


def _accuracy_rows(m: Model) -> list[tuple[str, str]]:
    """The train and test accuracies a model records, as summary rows."""
    test = m.test_accuracy
    return [
        ("train accuracy", reporting.percent(m.train_accuracy, m.train_examples)),
        (
            "test accuracy",
            "no test set" if test is None else reporting.percent(test, m.test_examples),
        ),
    ]


class _TrainingBar:
    """The progress of a training run, for its bar: the cost after each iteration, and when
    the data is streamed (an iteration can then take minutes) the examples read."""

    def __init__(self, advance: reporting.Advance, streamed: bool) -> None:
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
    with reporting.progress("training", total, enabled=show, status="cost") as advance:
        yield _TrainingBar(advance, streamed)


@contextmanager
def _decoding_bars(
    show: bool, announce: Callable[[int], None] | None = None
) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """A progress(total) for the datasets module: each call starts a 'decoding' bar,
    shown when show is true and closed at the end of the with block; announce(total),
    if given, is called first."""
    with ExitStack() as bars:

        def decoding(total: int) -> Callable[[int], None]:
            if announce is not None:
                announce(total)
            return bars.enter_context(reporting.progress("decoding", total, enabled=show))

        yield decoding


def _fraction(value: float | None) -> float | None:
    if value is not None and not 0 < value < 1:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (both excluded)")
    return value


def _file_name(value: str | None) -> str | None:
    from catclf.prepare import safe_name

    if value is not None and (not value or safe_name(value) != value):
        raise typer.BadParameter(
            f"{value!r} is not a safe file name: use letters, digits, '_', '-' and '.' "
            "(not first or last), 100 bytes at most"
        )
    return value


@app.command()
@reports_errors(saves=True)
def prepare(
    data: Annotated[
        Path,
        typer.Argument(
            metavar="DATA",
            readable=False,
            help="A folder with two class folders (cat/ and another).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FOLDER",
            help="Folder to write train_NAME.h5 (and test_NAME.h5) into; created if missing.",
            show_default=False,
        ),
    ],
    test_fraction: Annotated[
        float | None,
        typer.Option(
            "--test-fraction",
            metavar="F",
            callback=_fraction,
            help="Also write test_NAME.h5 with about this fraction of each class, chosen by "
            "a hash of each file's path.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            callback=_file_name,
            help="NAME in the file names. [default: DATA's folder name]",
            show_default=False,
        ),
    ] = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            metavar="SIZE",
            callback=_memory_size,
            help="Memory the decoded images may take, such as 600MB, 2GB or 512MiB; more are "
            "kept in a temporary file beside FOLDER until they are written. [default: a "
            "quarter of the available memory]",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Decode a folder of photos once into the course's HDF5 layout, for `catclf train
    FOLDER`.

    \b
    Examples:
      catclf prepare photos/ --out datasets/       # datasets/train_photos.h5
      catclf prepare photos/ --out datasets/ --test-fraction 0.2
    """
    jobs = _decoding_jobs(jobs)
    from catclf import datasets
    from catclf import prepare as preparing
    from catclf.memory import format_size

    started = time.perf_counter()
    show = is_terminal(sys.stderr) and not quiet
    say = (lambda message: None) if quiet else note
    name = name if name is not None else preparing.default_name(data)
    # Before decoding, not after it.
    preparing.check_source(data)
    preparing.check_target(out, name, test=test_fraction is not None, force=force, inputs=[data])
    # Where images beyond the memory limit wait to be written: the disk that takes them.
    spill = out if out.is_dir() else out.parent

    def announce(total: int) -> None:
        say(f"decoding {total} images from {data}")

    with _decoding_bars(show, announce) as decoding:
        photos = datasets.read_folder(
            data,
            positive=positive,
            strict=strict,
            progress=decoding,
            jobs=jobs,
            memory_limit=_memory_limit(memory_limit),
            spill=spill,
        )
    for s in photos.skipped:
        note(f"skipped {s.path}: {s.error}")
    if test_fraction is None:
        train_set, test_set = photos, None
    else:
        train_set, test_set = preparing.split(photos, data, test_fraction, spill=spill)
    total = photos.m if test_set is None else train_set.m + test_set.m
    stale = preparing.targets(out, name)[1]
    if test_set is None and stale.is_file():
        say(f"removing {stale}, the test set of an earlier run")
    with reporting.progress("writing", total, enabled=show) as advance:
        written = preparing.write(
            out,
            name,
            data,
            train_set,
            test_set,
            test_fraction=test_fraction,
            progress=advance,
            force=force,
        )

    sides = {"train": written[0], "test": written[1] if len(written) > 1 else None}
    if as_json:
        emit_json(
            {
                "folder": str(out),
                "name": name,
                "source": str(data),
                "classes": list(photos.classes),
                "test_fraction": test_fraction,
                **{side: None if w is None else _file_summary(w) for side, w in sides.items()},
                "skipped": _skipped_json(photos.skipped),
                "ignored": photos.ignored,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        return
    rows = []
    for side, w in sides.items():
        rows += [
            (f"{side} file", "none" if w is None else f"{w.path} ({format_size(w.size)})"),
            (f"{side} examples", "none" if w is None else w.data.describe()),
        ]
    rows += [("skipped", str(len(photos.skipped))), ("ignored", str(photos.ignored))]
    if is_terminal(sys.stdout):
        reporting.table("Prepared", rows)
    else:
        reporting.key_values(rows)


def _file_summary(w: Written) -> dict[str, Any]:
    return {
        "path": str(w.path),
        "examples": w.data.m,
        "positives": w.data.positives,
        "negatives": w.data.m - w.data.positives,
        "bytes": w.size,
    }


def _load_sets(
    data: Path | None,
    test: Path | None,
    positive: str | None,
    strict: bool,
    quiet: bool,
    jobs: int,
    memory_limit: int | None = None,
) -> tuple[Dataset, Dataset | None, list[Skipped]]:
    """(training set, test set or None, images skipped in either), decoded once, as train
    takes DATA and --test; says on stderr what was found. memory_limit: see datasets.load."""
    from catclf import datasets

    with _decoding_bars(is_terminal(sys.stderr) and not quiet) as decoding:
        train_set, test_set = datasets.load_data(
            data,
            test,
            positive=positive,
            strict=strict,
            progress=decoding,
            jobs=jobs,
            memory_limit=memory_limit,
        )
    skipped = train_set.skipped + (test_set.skipped if test_set is not None else [])
    for s in skipped:
        note(f"skipped {s.path}: {s.error}")
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
DIVERGED_ADVICE = (
    "try a smaller --learning-rate (or, since the cost can rise before it falls, more --iterations)"
)
CURVES = "learning_curves.png"


def _positive_rates(values: list[float] | None) -> list[float] | None:
    for value in values or []:
        _positive_rate(value)
    return values


@app.command()
@reports_errors(saves=True)
def sweep(
    data: DataArgument = None,
    test: TestOption = None,
    learning_rates: Annotated[
        list[float] | None,
        typer.Option(
            "--learning-rate",
            "-r",
            metavar="R",
            callback=_positive_rates,
            help="A learning rate to try; repeat the option for each. "
            "[default: 0.01, 0.001, 0.0001]",
            show_default=False,
        ),
    ] = None,
    iterations: IterationsOption = 2000,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Also draw learning_curves.png, the cost curves of every rate, into DIR "
            "(created if missing). Needs matplotlib: pip install 'catclf[plot]'.",
            show_default=False,
        ),
    ] = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    jobs: JobsOption = None,
    solver: SolverOption = Solver.auto,
    memory_limit: MemoryLimitOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train once per learning rate on the same data and compare the runs. Saves no model.

    The best run is the one with the highest test accuracy, a tie going to the lower final
    cost; without a test set, the one with the lowest final cost. A rate whose training
    diverges is reported as such, and the others still run: the exit status is 1 only if
    every rate diverged.

    \b
    Examples:
      catclf sweep                     # the course's rates 0.01, 0.001, 0.0001
      catclf sweep -r 0.005 -r 0.001 --iterations 1500 --out curves/
    """
    from catclf import training

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
    with ExitStack() as bars:
        show = is_terminal(sys.stderr) and not quiet

        def bar(rate: float) -> Callable[[int, float], None]:
            bars.close()  # the previous rate's
            advance = bars.enter_context(
                reporting.progress(f"rate {rate:g}", iterations, enabled=show, status="cost")
            )
            return lambda i, cost: advance(1, status=f"cost {cost:.6f}")

        runs = training.sweep(
            train_set,
            test_set,
            learning_rates or list(SWEEP_RATES),
            num_iterations=iterations,
            solver=solver.value,
            memory_limit=limit,
            on_run=bar,
        )
    for run in runs:
        if run.diverged is not None and not quiet:
            note(f"{run.diverged}; {DIVERGED_ADVICE}")
    if as_json:
        emit_json([_sweep_json(r, train_set, test_set, skipped, how) for r in runs])
    else:
        _sweep_table(runs, has_test=test_set is not None)
    if all(run.model is None for run in runs):
        raise TrainingDiverged(
            "training diverged at every learning rate; try smaller rates (or, since the cost "
            "can rise before it falls, more --iterations)"
        )
    if out is not None:
        curves = [(r.learning_rate, None if r.model is None else list(r.costs)) for r in runs]
        pictures = {CURVES: plots.learning_curves(curves)}
        for path in report.write_files(out, pictures, force=force, inputs=inputs):
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


def _sweep_table(runs: list[SweepRun], *, has_test: bool) -> None:
    rows = []
    for r in runs:
        if r.model is None:
            rows.append([f"{r.learning_rate:g}", "-", "-", "-", "diverged"])
            continue
        rows.append(
            [
                f"{r.learning_rate:g}",
                f"{100 * r.model.train_accuracy:.2f}%",
                f"{100 * (r.model.test_accuracy or 0.0):.2f}%" if has_test else "-",
                f"{r.model.final_cost:.6f}",
                "best" if r.best else "",
            ]
        )
    headers = ["learning_rate", "train_accuracy", "test_accuracy", "final_cost", "note"]
    reporting.grid("Sweep", headers, rows)


@app.command()
@reports_errors(saves=True)
def report(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder to write the pictures and index.html into; created if missing.",
            show_default=False,
        ),
    ],
    model: ModelOption = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            metavar="DATA",
            readable=False,
            help="Labelled images to score, in any form train takes; of a folder with "
            "train_*.h5 and test_*.h5, the test set.",
            show_default=False,
        ),
    ] = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Draw pictures of a model into DIR, on one self-contained page, index.html.

    learning_curve.png (the cost during training) and weights.png (w as a 64x64 image);
    with --data, also confusion.png, misclassified.png and the scores on that data.
    Needs matplotlib: pip install 'catclf[plot]'.

    \b
    Examples:
      catclf report --out report/      # the model, then open report/index.html
      catclf report --model model.h5 --data catclf/data/ --out report/
    """
    jobs = _decoding_jobs(jobs)
    from catclf import model as model_file
    from catclf import plots
    from catclf import report as reports

    plots.require()
    reports.check_folder(out)  # before the model is looked for
    path = _model_path(model, quiet)
    inputs = [path, *([data] if data is not None else [])]
    names = reports.may_write(data is not None)
    reports.check_folder(out, names, force=force, inputs=inputs)
    classifier = model_file.load(path)
    model_name = "the bundled model" if path == model_file.BUNDLED_PATH else str(path)
    labelled = None
    if data is not None:
        labelled = _load_labelled(data, positive, strict, quiet, jobs)
        if not quiet:
            note(f"scoring {labelled.origin}: {labelled.describe()}")
    made = reports.build(classifier, model_name, labelled)
    written = reports.write_files(
        out, made.files, replaces=tuple(reports.WHAT), force=force, inputs=inputs
    )

    if as_json:
        emit_json(
            {
                "out": str(out),
                "files": [str(p) for p in written],
                "misclassified": None if labelled is None else made.misclassified,
                "scores": None if made.scores is None else made.scores.as_dict(),
            }
        )
        return
    if labelled is not None and not made.misclassified and not quiet:
        note(f"no image of {labelled.origin} is misclassified: no {reports.MISCLASSIFIED}")
    rows = [(reports.WHAT[p.name], str(p)) for p in written]
    if is_terminal(sys.stdout):
        reporting.table("Written", rows)
    else:
        reporting.key_values(rows)


def _load_labelled(
    data: Path, positive: str | None, strict: bool, quiet: bool, jobs: int
) -> Dataset:
    """DATA as a test set (of a course folder, its test_*.h5); skipped images are noted."""
    from catclf import datasets

    with _decoding_bars(is_terminal(sys.stderr) and not quiet) as decoding:
        labelled = datasets.load_test(
            data,
            positive=positive,
            strict=strict,
            progress=decoding,
            jobs=jobs,
            memory_limit=_memory_limit(None),
        )
    for s in labelled.skipped:
        note(f"skipped {s.path}: {s.error}")
    return labelled


@dataclass(frozen=True)
class _Input:
    name: str
    source: Path | bytes


@app.command()
@reports_errors(saves=False)
def predict(
    images: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="IMAGE",
            help="Image files, folders (every image below them, in sorted order), or - for an "
            "image on stdin.",
            show_default=False,
        ),
    ] = None,
    files_from: Annotated[
        str | None,
        typer.Option(
            "--files-from",
            "-f",
            metavar="FILE",
            help="Read image paths from FILE, one per line (- for stdin).",
            show_default=False,
        ),
    ] = None,
    null: Annotated[
        bool,
        typer.Option(
            "--null",
            "-0",
            help="With --files-from: paths end with NUL, as find -print0 writes them.",
        ),
    ] = False,
    model: ModelOption = None,
    threshold: ThresholdOption = 0.5,
    as_json: JsonOption = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help=f"Exit 0 when every image is a cat, {EXIT_NOT_CAT} when any is not.",
        ),
    ] = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Print the probability that each image shows a cat.

    One image: one line, the probability. Several images, folders or --files-from: one line
    each, PATH<TAB>PROBABILITY<TAB>LABEL. --json: one JSON object per line.

    \b
    Examples:
      catclf predict photo.jpg         # prints e.g. 0.734125
      find photos -name '*.jpg' | catclf predict --files-from - --json
      if catclf predict --exit-code photo.jpg > /dev/null; then echo cat; fi
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
    single = (
        files_from is None
        and images is not None
        and len(images) == 1
        and (images[0] == "-" or not Path(images[0]).is_dir())
    )
    jobs = _decoding_jobs(jobs)
    from catclf import model as model_file
    from catclf.images import reader

    classifier = model_file.load(_model_path(model, quiet))

    found = list(_inputs(images or [], files_from, null))
    items = [item for item in found if item is not None]
    failed = len(items) < len(found)
    verdicts: list[bool] = []
    # Results on a terminal show progress themselves; a bar is for output sent elsewhere.
    show = not quiet and len(items) > 1 and is_terminal(sys.stderr) and not is_terminal(sys.stdout)
    with (
        reader(jobs, len(items)) as read,
        reporting.progress("scoring", len(items), enabled=show) as advance,
    ):
        for name, p in _scores(items, classifier, read, advance):
            if name is None:
                failed = True
                continue
            is_cat = p > threshold
            verdicts.append(is_cat)
            label = "cat" if is_cat else "non-cat"
            if as_json:
                emit_json({"path": name, "probability": p, "label": label})
            elif single:
                emit(f"{p:.6f}")
            else:
                emit(f"{_tsv_field(name)}\t{p:.6f}\t{label}")

    if failed:
        raise typer.Exit(EXIT_ERROR)
    if exit_code and not all(verdicts):
        raise typer.Exit(EXIT_NOT_CAT)


def _scores(
    items: list[_Input], classifier: Model, read: Reader, advance: Callable[[int], None]
) -> Iterator[tuple[str | None, float]]:
    """(name, probability of cat) for each image of items, in order, scored BATCH at a
    time; (None, nan) for one that cannot be read, which is reported on stderr."""
    import numpy as np

    from catclf.images import CHANNELS, IMAGE_SIZE, to_columns

    pixels = np.empty((BATCH, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
    names: list[str] = []

    def scored() -> Iterator[tuple[str | None, float]]:
        probabilities = classifier.probabilities(to_columns(pixels[: len(names)]))
        yield from zip(names, map(float, probabilities), strict=True)
        reporting.flush()
        names.clear()

    decoded = read((item.source, item.name) for item in items)
    for item, result in zip(items, decoded, strict=True):
        advance(1)
        if isinstance(result, ImageError):
            error(str(result))
            yield None, math.nan
            continue
        pixels[len(names)] = result
        names.append(item.name)
        if len(names) == BATCH:
            yield from scored()
    if names:
        yield from scored()


def _model_path(path: Path | None, quiet: bool) -> Path:
    """The model to use: --model or CATCLF_MODEL, else ./model.h5, else the bundled one
    (with a note saying so)."""
    from catclf import model as model_file

    if path is not None:
        return path
    if model_file.DEFAULT_PATH.exists():
        return model_file.DEFAULT_PATH
    if not quiet:
        note(
            "no model.h5 here (and no --model or CATCLF_MODEL): using the model "
            "trained on the bundled cat / non-cat set"
        )
    return model_file.BUNDLED_PATH


def _inputs(images: list[str], files_from: str | None, null: bool) -> Iterator[_Input | None]:
    """The images to score, in order; None for an argument that names nothing to score
    (the error has been reported)."""
    from catclf.images import find_images

    names = list(images)
    if files_from is not None:
        names += _read_list(files_from, null)
    for name in names:
        if name == "-":
            # Bounded, so that an endless stream (yes | catclf predict -) cannot fill memory.
            data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
            if len(data) > MAX_STDIN_BYTES:
                error(f"-: more than {MAX_STDIN_BYTES >> 20} MiB on stdin, too large for an image")
                yield None
            else:
                yield _Input("-", data)
            continue
        path = Path(name)
        if path.is_dir():
            found = find_images(path)
            if not found:
                error(f"{name}: no images below this folder")
                yield None
            for p in found:
                yield _Input(str(p), p)
        else:
            yield _Input(name, path)


def _read_list(files_from: str, null: bool) -> list[str]:
    try:
        if files_from == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(files_from, "rb") as f:
                raw = f.read()
    except OSError as e:
        raise CatclfError(f"{files_from}: cannot read the list of paths ({reason(e)})") from e
    parts = raw.split(b"\0") if null else raw.splitlines()
    return [os.fsdecode(p) for p in parts if p]


def _tsv_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


SHOWN = 20  # misclassified images listed on a terminal


@app.command()
@reports_errors(saves=False)
def evaluate(
    data: Annotated[
        Path | None,
        typer.Argument(
            metavar="DATA",
            readable=False,
            help=f"{DATA_FORMS} A course folder gives its test_*.h5. [default: the bundled "
            "test set]",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    threshold: ThresholdOption = 0.5,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            "--min-accuracy",
            min=0.0,
            max=1.0,
            metavar="A",
            callback=_probability,
            help=f"Exit {EXIT_ERROR} when the accuracy is below A (0 to 1).",
            show_default=False,
        ),
    ] = None,
    positive: PositiveOption = None,
    strict: StrictOption = False,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Score the model on labelled data.

    Accuracy, precision, recall, F1, log loss, ROC AUC, the confusion matrix and the
    images it gets wrong. A score the data cannot define is 'undefined' (null in JSON).

    \b
    Examples:
      catclf evaluate                  # model.h5 on the bundled test set
      catclf evaluate holdout/ --model model.h5 --json
      catclf evaluate holdout/ --min-accuracy 0.7 -q > report.txt || echo "not good enough"
    """
    from catclf import datasets, evaluation
    from catclf import model as model_file

    path = _model_path(model, quiet)
    classifier = model_file.load(path)  # before decoding a large folder, not after
    if data is None:
        test_set = datasets.bundled()[1]
    else:
        test_set = _load_labelled(data, positive, strict, quiet, _decoding_jobs(jobs))
    result = evaluation.evaluate(classifier, test_set, threshold)
    scores = result.scores
    if as_json:
        emit_json({"model": str(path), **result.as_dict()})
    else:
        _show_evaluation(result, path)
    if min_accuracy is not None and scores.accuracy < min_accuracy:
        error(
            f"accuracy {reporting.percent(scores.accuracy, scores.examples)} is below "
            f"--min-accuracy {min_accuracy:g}"
        )
        raise typer.Exit(EXIT_ERROR)


def _show_evaluation(result: Evaluation, path: Path) -> None:
    data, c = result.data, result.confusion
    rows = [
        ("data", data.origin),
        ("model", str(path)),
        ("examples", data.describe()),
        ("threshold", f"{result.scores.threshold:g}"),
        *reporting.score_rows(result.scores),
    ]
    counts = [
        ("true positives", str(c.tp)),
        ("false positives", str(c.fp)),
        ("true negatives", str(c.tn)),
        ("false negatives", str(c.fn)),
        ("skipped", str(len(data.skipped))),
        ("misclassified", str(len(result.misclassified))),
    ]
    lines = [[w.source, f"{w.probability:.6f}", w.true] for w in result.misclassified]
    if not is_terminal(sys.stdout):
        reporting.key_values(rows + counts)
        for line in lines:
            emit("\t".join(_tsv_field(field) for field in line))
        return
    reporting.table("Evaluated", rows + counts[-2:])
    reporting.table(
        "Confusion matrix",
        [("true cat", str(c.tp), str(c.fn)), ("true non-cat", str(c.fp), str(c.tn))],
        header=("", "predicted cat", "predicted non-cat"),
    )
    if lines:
        reporting.table(
            "Misclassified",
            [tuple(line) for line in lines[:SHOWN]],
            header=("image", "probability", "true label"),
        )
    if len(lines) > SHOWN:
        emit(f"... {len(lines) - SHOWN} more (--json lists them all)")


@app.command()
@reports_errors(saves=False)
def info(
    model: ModelOption = None, as_json: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Show what a model file says of itself.

    How it was trained, on what, how well, and its cost history.

    \b
    Examples:
      catclf info                      # model.h5, or the bundled model
      catclf info --model old.h5 --json | jq .test_accuracy
    """
    from catclf import model as model_file
    from catclf.images import CHANNELS, IMAGE_SIZE

    path = _model_path(model, quiet)
    m = model_file.load(path)
    costs = list(m.costs)
    if as_json:
        emit_json({"model": str(path), **m.as_dict()})
        return
    rows = [
        ("model", str(path)),
        ("format", f"{model_file.FORMAT} version {model_file.FORMAT_VERSION}"),
        ("classes", f"{m.classes[0]} / {m.classes[1]} (negative / positive)"),
        ("image size", f"{IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS}"),
        ("preprocessing", m.preprocessing or "unknown"),
        ("learning rate", f"{m.settings.learning_rate:g}"),
        ("iterations", str(m.settings.num_iterations)),
        ("solver", m.solver or "unknown"),
        ("train data", m.train_data or "unknown"),
        ("train examples", str(m.train_examples)),
        _accuracy_rows(m)[0],
        ("test examples", str(m.test_examples)),
        _accuracy_rows(m)[1],
        ("final cost", f"{m.final_cost:.6f}"),
        ("created", m.created or "unknown"),
        ("catclf version", m.catclf_version or "unknown"),
    ]
    if is_terminal(sys.stdout):
        history = "none"
        if costs:
            history = (
                f"{reporting.sparkline(costs)}  {costs[0]:.6f} → {costs[-1]:.6f} "
                "(every 100 iterations)"
            )
        reporting.table("Model", rows + [("cost history", history)])
    else:
        reporting.key_values(rows + [("costs", " ".join(f"{c:.6f}" for c in costs))])


def main() -> None:
    """The `catclf` command."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Before numpy is imported: one BLAS thread unless the environment says otherwise. The
    # products of training read memory more than they compute, so more threads gain little,
    # and on a machine busy with other work each product waits for its threads (5 to 20
    # times slower, measured on two shared cores).
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")
    # Paths that are not valid UTF-8 are written back as the bytes they were.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(
                errors="surrogateescape" if stream is sys.stdout else "backslashreplace"
            )
    try:
        app(prog_name="catclf")
    except Exception as e:  # a bug in catclf: still one line, the traceback on request
        if os.environ.get("CATCLF_DEBUG"):
            raise
        error(f"internal error: {type(e).__name__}: {e} (run with CATCLF_DEBUG=1 for details)")
        sys.exit(EXIT_ERROR)
