"""The command line: parse, call the library, present. Exit statuses are decided here.

0  success
1  an error: bad input, a missing or damaged file, training that diverged
   (with predict: at least one image could not be scored; the rest are printed)
2  a usage error: unknown option, bad value
3  predict --exit-code: every image was scored and at least one is not a cat
130, 143  interrupted by Ctrl-C (SIGINT) or SIGTERM; nothing was saved
"""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from catclf import reporting
from catclf.errors import CatclfError, ImageError, TrainingDiverged, reason
from catclf.reporting import emit, emit_json, error, is_terminal, note

if TYPE_CHECKING:
    from catclf.model import Model

EXIT_ERROR = 1
EXIT_NOT_CAT = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
BATCH = 256
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


def reports_errors(command: F) -> F:
    """Turn the project's errors and interrupts into one line on stderr and an exit status."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CatclfError as e:
            error(str(e))
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt as e:
            terminated = isinstance(e, Terminated)
            note(f"{'terminated' if terminated else 'interrupted'}; nothing was saved")
            raise typer.Exit(EXIT_SIGTERM if terminated else EXIT_SIGINT) from None

    return wrapper  # type: ignore[return-value]


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


def _size(value: str | None) -> str | None:
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
        envvar="CATCLF_MODEL",
        readable=False,  # checked when the model is read or written, with a one-line error
        show_envvar=True,
        help="Model file. [default: model.h5 in the current folder]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or notes on stderr.")
]


@app.command()
@reports_errors
def train(
    data: Annotated[
        Path | None,
        typer.Argument(
            metavar="DATA",
            readable=False,
            help="A folder with two class folders (cat/ and another), an HDF5 file in the "
            "course layout, or a folder with train_*.h5 and test_*.h5. [default: the bundled "
            "cat / non-cat set]",
            show_default=False,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test", help="Test set, in any of the same forms.", show_default=False, readable=False
        ),
    ] = None,
    model: ModelOption = None,
    learning_rate: Annotated[
        float,
        typer.Option("--learning-rate", "-r", callback=_positive_rate, help="Gradient step size."),
    ] = 0.005,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", min=1, help="Gradient descent iterations.")
    ] = 2000,
    positive: Annotated[
        str | None,
        typer.Option(
            help="Name of the class folder that holds the cats. [default: cat or cats]",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Stop at the first unreadable image instead of skipping it."),
    ] = False,
    solver: Annotated[
        Solver,
        typer.Option(
            "--solver",
            help="gram: iterate on the m x m Gram matrix X^T X, fast when m is well below "
            "12288; primal: iterate on X itself; auto: whichever needs fewer multiplications. "
            "The results are the same.",
        ),
    ] = Solver.auto,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            metavar="SIZE",
            callback=_size,
            help="Memory the training data may take, such as 600MB, 2GB or 512MiB. An HDF5 "
            "set larger than this is read from its file a slice at a time in every iteration. "
            "[default: a quarter of the available memory]",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train w and b by batch gradient descent and save them to the model file.

    \b
    Examples:
      catclf train                     # the bundled cat / non-cat set, saves model.h5
      catclf train data/ --test holdout/ --learning-rate 0.005 --iterations 2000
    """
    from catclf import datasets
    from catclf import model as model_file
    from catclf.datasets import Dataset
    from catclf.memory import default_limit, format_size, parse_size
    from catclf.model import Settings
    from catclf.training import plan
    from catclf.training import train as fit

    limit = default_limit() if memory_limit is None else parse_size(memory_limit)
    started = time.perf_counter()
    show = is_terminal(sys.stderr) and not quiet
    say = (lambda message: None) if quiet else note
    out = model if model is not None else model_file.DEFAULT_PATH
    model_file.check_target(out)  # before training, not after it

    with ExitStack() as bars:

        def decoding(total: int) -> Callable[[int], None]:
            return bars.enter_context(reporting.progress("decoding", total, enabled=show))

        implied_test: Dataset | None
        if data is None:
            train_set, implied_test = datasets.bundled()
        else:
            train_set, implied_test = datasets.load(
                data, positive=positive, strict=strict, progress=decoding, memory_limit=limit
            )
        test_set = implied_test
        if test is not None:
            test_set = datasets.load_test(
                test, positive=positive, strict=strict, progress=decoding, memory_limit=limit
            )
    skipped = train_set.skipped + (test_set.skipped if test_set is not None else [])
    for s in skipped:
        note(f"skipped {s.path}: {s.error}")
    say(f"training on {train_set.origin}: {train_set.describe()}")
    if test_set is not None:
        say(f"testing on {test_set.origin}: {test_set.describe()}")

    settings = Settings(learning_rate=learning_rate, num_iterations=iterations)
    how = plan(train_set, iterations, solver=solver.value, memory_limit=limit)
    if how.streamed:
        say(
            f"the training images and their X would take "
            f"{format_size(datasets.memory_needed(train_set.m))}, more than the memory limit "
            f"of {format_size(limit)}: each iteration reads them {how.rows} at a time"
        )
    # Streamed, an iteration can take minutes: the bar counts examples, not iterations.
    total = (iterations + 1) * train_set.m + (0 if test_set is None else test_set.m)
    with reporting.progress(
        "training", total if how.streamed else iterations, enabled=show, status="cost"
    ) as advance:
        cost_text = ""
        begun = time.perf_counter()
        seen = 0

        def iterated(i: int, cost: float) -> None:
            nonlocal cost_text
            cost_text = f"cost {cost:.6f}"
            advance(0 if how.streamed else 1, status=cost_text)

        def examples(k: int) -> None:
            nonlocal seen
            seen += k
            rate = seen / max(time.perf_counter() - begun, 1e-9)
            advance(k, status=f"{cost_text}  {rate:,.0f} examples/s".strip())

        try:
            trained = fit(
                train_set,
                test_set,
                settings,
                solver=solver.value,
                memory_limit=limit,
                on_iteration=iterated,
                on_examples=examples,
            )
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{e}; no model was saved") from e
    model_file.save(trained, out)

    summary = {
        "model": str(out),
        "train_data": train_set.origin,
        "test_data": None if test_set is None else test_set.origin,
        "train_examples": trained.train_examples,
        "test_examples": trained.test_examples,
        "train_accuracy": trained.train_accuracy,
        "test_accuracy": trained.test_accuracy,
        "final_cost": trained.final_cost,
        "costs": list(trained.costs),
        "learning_rate": learning_rate,
        "num_iterations": iterations,
        "classes": list(trained.classes),
        "solver": trained.solver,
        "streamed": how.streamed,
        "skipped": [{"path": s.path, "error": s.error} for s in skipped],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        emit_json(summary)
        return
    rows = [
        ("examples", train_set.describe()),
        ("test examples", "none" if test_set is None else test_set.describe()),
        ("train accuracy", _percent(trained.train_accuracy, train_set.m)),
        (
            "test accuracy",
            "no test set" if test_set is None else _percent(trained.test_accuracy, test_set.m),
        ),
        ("final cost", f"{trained.final_cost:.6f}"),
        ("skipped", str(len(skipped))),
        ("model", str(out)),
    ]
    if is_terminal(sys.stdout):
        reporting.table("Trained", rows)
    else:
        reporting.key_values(rows)


def _percent(fraction: float | None, m: int) -> str:
    assert fraction is not None
    return f"{100 * fraction:.2f} % ({round(fraction * m)}/{m})"


@dataclass(frozen=True)
class _Input:
    name: str
    source: Path | bytes


@app.command()
@reports_errors
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
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Probability above which the label is cat.")
    ] = 0.5,
    as_json: JsonOption = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help=f"Exit 0 when every image is a cat, {EXIT_NOT_CAT} when any is not.",
        ),
    ] = False,
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
    classifier = _load_model_for_predict(model, quiet)

    found = list(_inputs(images or [], files_from, null))
    items = [item for item in found if item is not None]
    failed = len(items) < len(found)
    verdicts: list[bool] = []
    # Results on a terminal show progress themselves; a bar is for output sent elsewhere.
    show = not quiet and len(items) > 1 and is_terminal(sys.stderr) and not is_terminal(sys.stdout)
    with reporting.progress("scoring", len(items), enabled=show) as advance:
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            scored = _score(batch, classifier)
            failed = failed or len(scored) < len(batch)
            for name, p in scored:
                is_cat = p > threshold
                verdicts.append(is_cat)
                label = "cat" if is_cat else "non-cat"
                if as_json:
                    emit_json({"path": name, "probability": p, "label": label})
                elif single:
                    emit(f"{p:.6f}")
                else:
                    emit(f"{_tsv_field(name)}\t{p:.6f}\t{label}")
            sys.stdout.flush()
            advance(len(batch))

    if failed:
        raise typer.Exit(EXIT_ERROR)
    if exit_code and not all(verdicts):
        raise typer.Exit(EXIT_NOT_CAT)


def _score(batch: list[_Input], classifier: Model) -> list[tuple[str, float]]:
    """(name, probability of cat) for each image of batch that can be read, in order;
    the others are reported on stderr."""
    import numpy as np

    from catclf.images import load_image, to_columns

    pixels, names = [], []
    for item in batch:
        try:
            pixels.append(load_image(item.source, item.name))
            names.append(item.name)
        except ImageError as e:
            error(str(e))
    if not pixels:
        return []
    probabilities = classifier.probabilities(to_columns(np.stack(pixels)))
    return [(name, float(p)) for name, p in zip(names, probabilities, strict=True)]


def _load_model_for_predict(path: Path | None, quiet: bool) -> Model:
    from catclf import model as model_file

    if path is None:
        if model_file.DEFAULT_PATH.exists():
            path = model_file.DEFAULT_PATH
        else:
            if not quiet:
                note(
                    "no model.h5 here (and no --model or CATCLF_MODEL): using the model "
                    "trained on the bundled cat / non-cat set"
                )
            path = model_file.BUNDLED_PATH
    return model_file.load(path)


def _inputs(images: list[str], files_from: str | None, null: bool) -> Iterator[_Input | None]:
    """The images to score, in order; None for an argument that names nothing to score
    (the error has been reported)."""
    from catclf.images import find_images

    names = list(images)
    if files_from is not None:
        names += _read_list(files_from, null)
    for name in names:
        if name == "-":
            yield _Input("-", sys.stdin.buffer.read())
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
