"""The model file: w and b with everything needed to say what they are, in HDF5.

Layout (format "catclf-logistic-regression", version 1):
- dataset `w`: float64 (12288, 1); dataset `b`: float64 scalar;
- dataset `costs`: float64 (k,), the cost at iterations 0, 100, 200, ...;
- attributes: format, format_version, image_size, channels, classes,
  preprocessing, learning_rate, num_iterations, final_cost, train_examples,
  train_accuracy, test_examples, test_accuracy (NaN when there was no test
  set), train_data, catclf_version, created (ISO 8601, UTC);
- optionally test_data: where the test set can be read again (an absolute path, or the
  bundled set's name); files of runs without a test set, and older files, lack it;
- optionally the attribute solver ("gram" or "primal"), which files written
  before it existed lack: readers must not require it;
- optionally, as files written before they existed lack them: l2, the L2 penalty the
  training used (0.0 when absent; never negative), and validation_examples,
  validation_accuracy and validation_cost, of the examples held out of the training
  data to judge the model by (0, NaN and NaN when none were, or when absent).

Files are written to a temporary file beside the target and renamed over it, so
a model path always holds a complete model: the old one or the new one. Only a catclf
model is replaced (another file with force), never a device, FIFO or socket. Loading
reads numbers and strings only, and only those the file itself holds (`catclf.hdf5`);
nothing in a file is ever unpickled or run. w and b must keep w^T x + b finite.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from catclf import hdf5, interrupts, parameters
from catclf._version import __version__
from catclf.errors import ImageError, ModelError, ParameterError, reason
from catclf.files import check_file, write_atomically
from catclf.images import CHANNELS, IMAGE_SIZE, N_X, PREPROCESSING, Pixels, to_columns
from catclf.logistic import predict_proba

if TYPE_CHECKING:
    from catclf.dataset import Dataset

FORMAT = "catclf-logistic-regression"
FORMAT_VERSION = 1
DEFAULT_PATH = Path("model.h5")
BUNDLED_PATH = Path(__file__).parent / "data" / "model.h5"
MAX_COSTS = 10**6  # one cost per 100 iterations: 10**8 iterations, far beyond any real run
SCORE_COLUMNS = 256  # examples scored at a time: 25 MB of X
FRACTION = "a fraction from 0 to 1, or NaN"
MAX_Z = 1e300  # |w^T x + b| at most, for x in [0, 1]: see _check_bounded

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Settings:
    """The hyperparameters of one training run: l2 is the penalty lambd of
    `catclf.logistic.propagate`, 0.0 for the course's unregularised descent."""

    learning_rate: float = 0.005
    num_iterations: int = 2000
    l2: float = 0.0

    def __post_init__(self) -> None:
        # Checked once, here: no model can hold settings that training would refuse.
        object.__setattr__(self, "learning_rate", parameters.learning_rate(self.learning_rate))
        object.__setattr__(self, "num_iterations", parameters.num_iterations(self.num_iterations))
        object.__setattr__(self, "l2", parameters.l2(self.l2))


@dataclass(frozen=True)
class Model:
    """Trained parameters, w (12288, 1) and b, and what the file says about them.

    train_examples are the examples w was trained on; validation_examples those held out
    of the same data to judge it (0 when none were: validation_accuracy and
    validation_cost are then None). final_cost is the cost gradient descent minimised,
    its L2 penalty included; validation_cost is the plain cross-entropy of the held-out
    examples.
    """

    w: NDArray[np.float64]
    b: float
    settings: Settings
    costs: tuple[float, ...]
    final_cost: float
    classes: tuple[str, str]
    train_examples: int
    train_accuracy: float
    test_examples: int
    test_accuracy: float | None
    train_data: str
    created: str
    catclf_version: str = __version__
    preprocessing: str = PREPROCESSING
    solver: str = ""  # how w was computed; the same w either way, up to float rounding
    validation_examples: int = 0
    validation_accuracy: float | None = None
    validation_cost: float | None = None
    test_data: str = ""  # where its test set can be read again ("" when it had none)

    def label(self, probability: float, threshold: float = 0.5) -> str:
        """The class an image of this probability is: the positive class (classes[1], the
        cats) when probability is above threshold, else the negative one."""
        return self.classes[int(probability > threshold)]

    def probabilities(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of cat for each column of X (12288, m): an array of shape (m,)."""
        return predict_proba(self.w, self.b, X).reshape(-1)

    def probabilities_of(self, data: Dataset, columns: int = SCORE_COLUMNS) -> NDArray[np.float64]:
        """Probability of cat for each example of data, (m,), computed a block of columns
        examples at a time, so that X (12288, m) is never formed whole and a set left in
        its file is read a slice at a time."""
        from catclf.dataset import MAX_READ_ROWS

        parts = [self.probabilities(X_k) for X_k, _ in data.blocks(columns, MAX_READ_ROWS)]
        return np.concatenate(parts)

    def score_images(
        self,
        decoded: Iterable[Pixels | ImageError],
        on_batch: Callable[[], None] | None = None,
    ) -> Iterator[float | ImageError]:
        """P(cat) for each decoded image (64, 64, 3), in order; an ImageError in the input
        comes out in its place. on_batch() is called once a batch's results are taken.

        The images are scored in batches of 1, 2, 4, ... up to SCORE_COLUMNS, errors
        counted, so that the first result comes after the first image, later ones at the
        pace of matrix products, and memory stays flat however many come. The same input
        gives the same batches, and so the same probabilities to the last bit.
        """
        pixels = np.empty((SCORE_COLUMNS, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        waiting: list[ImageError | None] = []  # None: the next row of pixels
        rows, size = 0, 1

        def flush() -> Iterator[float | ImageError]:
            p = iter(self.probabilities(to_columns(pixels[:rows])).tolist() if rows else [])
            for item in waiting:
                yield next(p) if item is None else item
            waiting.clear()
            if on_batch is not None:
                on_batch()

        for result in decoded:
            if isinstance(result, ImageError):
                waiting.append(result)
            else:
                pixels[rows] = result
                waiting.append(None)
                rows += 1
            if len(waiting) == size:
                yield from flush()
                rows, size = 0, min(2 * size, SCORE_COLUMNS)
        if waiting:
            yield from flush()

    def predict_proba(self, images: Iterable[PathLike], *, jobs: int = 1) -> NDArray[np.float64]:
        """P(cat) for each image file, in input order: an array of shape (m,).

        Images are decoded as `catclf.images` describes, in up to jobs processes. Raises
        ImageError for the first image that cannot be read.
        """
        from catclf.workers import reader

        jobs = parameters.jobs(jobs)
        items = [(Path(p), os.fspath(p)) for p in images]
        with reader(jobs, len(items)) as read:
            results = list(self.score_images(read(items)))
        for result in results:
            if isinstance(result, ImageError):
                raise result
        return np.array(results, dtype=np.float64)

    def predict(
        self, images: Iterable[PathLike], threshold: float = 0.5, *, jobs: int = 1
    ) -> list[str]:
        """The class of each image file, in input order: its name, as the model's classes give
        it ("cat" or "non-cat" for the course's), the positive one when P(cat) is above
        threshold (see `label`). Raises ImageError for the first image that cannot be read."""
        threshold = parameters.threshold(threshold)
        return [self.label(p, threshold) for p in self.predict_proba(images, jobs=jobs)]

    def save(self, path: PathLike) -> None:
        """Write the model to path atomically; see `save`."""
        save(self, Path(path))

    def as_dict(self) -> dict[str, Any]:
        """What the model file says of itself, JSON-ready: NaN and infinity become None,
        and so do the texts an older file lacks."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "image_size": IMAGE_SIZE,
            "channels": CHANNELS,
            "preprocessing": self.preprocessing,
            "learning_rate": _finite(self.settings.learning_rate),
            "num_iterations": self.settings.num_iterations,
            "l2": self.settings.l2,
            "solver": self.solver or None,
            "train_data": self.train_data,
            "test_data": self.test_data or None,
            "train_examples": self.train_examples,
            "train_accuracy": _finite(self.train_accuracy),
            "test_examples": self.test_examples,
            "test_accuracy": _finite(self.test_accuracy),
            "validation_examples": self.validation_examples,
            "validation_accuracy": _finite(self.validation_accuracy),
            "validation_cost": _finite(self.validation_cost),
            "final_cost": _finite(self.final_cost),
            "created": self.created or None,
            "catclf_version": self.catclf_version or None,
            "costs": [_finite(c) for c in self.costs],
        }


def _finite(value: float | None) -> float | None:
    """value for JSON, which has no NaN or infinity: those become None."""
    return value if value is not None and math.isfinite(value) else None


def load_model(path: PathLike) -> Model:
    """Read and check the model file at path; see `load`."""
    return load(Path(path))


def is_model(f: BinaryIO) -> bool:
    """Whether the open file is a catclf model: an HDF5 file whose format attribute says so.
    Only that attribute is read, in a region interrupts wait for (`catclf.interrupts`); a
    file that is not HDF5, or is damaged, is not one."""
    try:
        return interrupts.call_held(_says_model, f)
    except (ModelError, OSError, RuntimeError, KeyError, ValueError, TypeError):
        return False


def _says_model(f: BinaryIO) -> bool:
    import h5py

    with h5py.File(f, "r") as h5:
        # Read as loading reads it: bounded, so that a huge attribute costs nothing.
        return _text(h5, "format", Path(str(getattr(f, "name", "")))) == FORMAT


def check_target(path: Path, *, force: bool = False, inputs: Sequence[Path] = ()) -> Path:
    """The file to write the model to for path: path, or the model a link at path leads to.

    Raises ModelError unless a model may be written there: in a folder that can be written,
    over nothing, over a catclf model, or, with force, over another regular file; never
    over a folder, device, FIFO or socket, nor over the data in inputs (files, or folders
    and the files in them). See `catclf.files.check_file`.
    """
    return check_file(
        path,
        ours=is_model,
        not_ours="is not a catclf model",
        error=ModelError,
        force=force,
        inputs=inputs,
        what="the model",
    )


def save(
    model: Model,
    path: Path,
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write model to path atomically: a temporary file in the same folder, then a rename.
    What is at path is checked as check_target does, again just before the rename. Returns
    the file written: path, or the model a link at path leads to. on_saved() is called as
    soon as the model is in place, before an interrupt that came meanwhile is raised (see
    `catclf.files.write_atomically`)."""

    target = check_target(path, force=force, inputs=inputs)

    def unchanged() -> None:
        if check_target(path, force=force, inputs=inputs) != target:
            raise ModelError(f"{path}: changed while the model was written; it was not saved")

    write_atomically(
        [(target, lambda tmp: _write(model, tmp))],
        lambda target, why: ModelError(f"{target}: cannot write the model ({why})"),
        check=unchanged,
        on_saved=on_saved,
    )
    return target


def _write(model: Model, path: Path) -> None:
    """The model into a new HDF5 file at path, in one region that interrupts wait for, by
    `hdf5.write`, which a full disk cannot crash."""
    hdf5.write(path, lambda f: _fill(model, f))


def _fill(model: Model, f: Any) -> None:
    """The model into f, a new h5py File."""
    f.create_dataset("w", data=np.asarray(model.w, dtype=np.float64).reshape(N_X, 1))
    f.create_dataset("b", data=np.float64(model.b))
    f.create_dataset("costs", data=np.asarray(model.costs, dtype=np.float64))
    a = f.attrs
    a["format"] = FORMAT
    a["format_version"] = FORMAT_VERSION
    a["image_size"] = IMAGE_SIZE
    a["channels"] = CHANNELS
    stored = [_storable(name) for name in model.classes]
    # One type for both: numpy makes no array of str and bytes together.
    if any(isinstance(name, bytes) for name in stored):
        stored = [np.bytes_(os.fsencode(name)) for name in model.classes]
    a["classes"] = stored
    a["preprocessing"] = model.preprocessing
    a["learning_rate"] = model.settings.learning_rate
    a["num_iterations"] = model.settings.num_iterations
    a["l2"] = model.settings.l2
    a["final_cost"] = model.final_cost
    a["train_examples"] = model.train_examples
    a["train_accuracy"] = model.train_accuracy
    a["test_examples"] = model.test_examples
    a["test_accuracy"] = math.nan if model.test_accuracy is None else model.test_accuracy
    a["validation_examples"] = model.validation_examples
    a["validation_accuracy"] = _or_nan(model.validation_accuracy)
    a["validation_cost"] = _or_nan(model.validation_cost)
    a["train_data"] = _storable(model.train_data)
    if model.test_data:
        a["test_data"] = _storable(model.test_data)
    a["catclf_version"] = model.catclf_version
    a["created"] = model.created
    if model.solver:
        a["solver"] = model.solver


def load(path: Path) -> Model:
    """Read and check a model file, in one region that interrupts wait for
    (`catclf.interrupts`). Raises ModelError saying what is wrong with it."""
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file, expected a catclf model (.h5)")
    return interrupts.call_held(_load, path)


def _load(path: Path) -> Model:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if e.errno is not None:  # the system refused: permissions, say
            raise ModelError(f"{path}: cannot read the model ({reason(e)})") from e
        raise ModelError(
            f"{path}: not a catclf model: not a readable HDF5 file (empty, truncated "
            "or another format)"
        ) from e
    try:
        with f:
            return _read(f, path)
    except ParameterError as e:  # a setting no training could have used
        raise ModelError(f"{path}: {e}") from e
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        # h5py reports damaged metadata when a name is looked up, not only on open.
        raise ModelError(f"{path}: damaged model file ({e})") from e


def _read(f: object, path: Path) -> Model:
    import h5py

    assert isinstance(f, h5py.File)
    fmt = _text(f, "format", path)
    if fmt != FORMAT:
        raise ModelError(f"{path}: not a catclf model (format is {fmt!r}, expected {FORMAT!r})")
    version = _number(f, "format_version", path)
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format version {version:g}, but this catclf reads version "
            f"{FORMAT_VERSION}{'; upgrade catclf' if version > FORMAT_VERSION else ''}"
        )
    size, channels = _number(f, "image_size", path), _number(f, "channels", path)
    if (size, channels) != (IMAGE_SIZE, CHANNELS):
        raise ModelError(
            f"{path}: model is for {size:g}x{size:g}x{channels:g} images, this catclf uses "
            f"{IMAGE_SIZE}x{IMAGE_SIZE}x{CHANNELS}"
        )
    w = _array(f, "w", (N_X, 1), path)
    b = float(_array(f, "b", (), path))
    _check_bounded(w, b, path)
    costs = _array(f, "costs", None, path, allow_nonfinite=True)
    classes = hdf5.attribute(f, "classes", path, ModelError, "attribute 'classes'", values=2)
    if classes is None or np.ndim(classes) != 1 or len(classes) != 2:
        raise ModelError(f"{path}: attribute 'classes' must hold two names")
    test_accuracy = _number(f, "test_accuracy", path, FRACTION, _fraction_or_nan)
    l2 = _optional_number(f, "l2", path, 0.0, "a number >= 0", _non_negative)
    validation_examples = int(
        _optional_number(f, "validation_examples", path, 0.0, "a whole number >= 0", _whole)
    )
    held = validation_examples > 0
    validation_accuracy = _optional_number(
        f, "validation_accuracy", path, math.nan, FRACTION, _fraction_or_nan
    )
    validation_cost = _optional_number(
        f, "validation_cost", path, math.nan, "a cost of 0 or more, or NaN", _cost_or_nan
    )
    return Model(
        w=w,
        b=b,
        settings=Settings(
            learning_rate=_number(f, "learning_rate", path, "a positive number", _positive),
            num_iterations=int(_number(f, "num_iterations", path, "a whole number", _whole)),
            l2=l2,
        ),
        costs=tuple(float(c) for c in costs.reshape(-1)),
        final_cost=_number(f, "final_cost", path, "a cost of 0 or more", _non_negative),
        classes=(_decoded(classes[0]), _decoded(classes[1])),
        train_examples=int(_number(f, "train_examples", path, "a whole number", _whole)),
        train_accuracy=_number(f, "train_accuracy", path, FRACTION, _fraction_or_nan),
        test_examples=int(_number(f, "test_examples", path, "a whole number", _whole)),
        test_accuracy=None if math.isnan(test_accuracy) else test_accuracy,
        train_data=_text(f, "train_data", path),
        test_data=_text(f, "test_data", path),
        created=_text(f, "created", path),
        catclf_version=_text(f, "catclf_version", path),
        preprocessing=_text(f, "preprocessing", path),
        solver=_text(f, "solver", path),
        validation_examples=validation_examples,
        validation_accuracy=_nan_to_none(validation_accuracy) if held else None,
        validation_cost=_nan_to_none(validation_cost) if held else None,
    )


def _check_bounded(w: NDArray[np.float64], b: float, path: Path) -> None:
    """Raise ModelError unless w^T x + b stays within MAX_Z for every x in [0, 1]^12288.

    |w^T x + b| <= sum(|w|) + |b|: bounding that keeps z, and every sum of it the math
    makes, finite, so that no probability is NaN; finite weights alone do not.
    """
    with np.errstate(over="ignore"):
        reach = float(np.sum(np.abs(w))) + abs(b)
    if not reach <= MAX_Z:
        raise ModelError(
            f"{path}: weights too large: sum(|w|) + |b| is {reach:.3g}, more than {MAX_Z:g}, "
            "so w^T x + b could overflow"
        )


def _array(
    f: object,
    name: str,
    shape: tuple[int, ...] | None,
    path: Path,
    *,
    allow_nonfinite: bool = False,
) -> NDArray[np.float64]:
    import h5py

    assert isinstance(f, h5py.File)
    label = f"dataset {name!r}"
    node = hdf5.node(f, name, path, ModelError, label)
    if not isinstance(node, h5py.Dataset):
        raise ModelError(f"{path}: no dataset {name!r} in the model file")
    if node.dtype.kind != "f":
        raise ModelError(f"{path}: dataset {name!r} has dtype {node.dtype}, expected floats")
    if shape is not None and node.shape != shape:
        raise ModelError(f"{path}: dataset {name!r} has shape {node.shape}, expected {shape}")
    # Checked before reading: a compressed or chunked dataset can declare far more values
    # than the file stores, and reading them all could exhaust memory.
    if shape is None and (node.ndim != 1 or node.shape[0] > MAX_COSTS):
        raise ModelError(
            f"{path}: dataset {name!r} has shape {node.shape}, expected (k,) with k at most "
            f"{MAX_COSTS}"
        )
    hdf5.check_dataset(node, path, ModelError, label)
    with np.errstate(over="ignore"):  # a float128 beyond float64 becomes inf, refused below
        values = np.asarray(node[()], dtype=np.float64)
    if not allow_nonfinite and not np.all(np.isfinite(values)):
        raise ModelError(f"{path}: dataset {name!r} holds NaN or infinite values")
    return values


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def _whole(x: float) -> bool:
    return _non_negative(x) and x == int(x)


def _fraction_or_nan(x: float) -> bool:
    # NaN: not known (a test accuracy without a test set), which info and report show as such.
    return math.isnan(x) or 0 <= x <= 1


def _number(
    f: object,
    name: str,
    path: Path,
    expected: str = "a finite number",
    valid: Callable[[float], bool] = math.isfinite,
) -> float:
    """Attribute name, a real number (of any integer or float type, or one such in an
    array) for which valid is true."""
    label = f"attribute {name!r}"
    value = hdf5.attribute(f, name, path, ModelError, label)
    if value is None:
        raise ModelError(f"{path}: {label} is missing from the model file")
    array = np.asarray(value)
    # Checked before converting: numpy warns as it drops the imaginary part of a complex.
    if array.dtype.kind not in "iuf" or array.size != 1:
        raise ModelError(f"{path}: {label} is {array.tolist()!r}, expected {expected}")
    with np.errstate(over="ignore"):  # a float128 beyond float64 becomes inf, refused below
        number = float(array.reshape(()))
    if not valid(number):
        raise ModelError(f"{path}: {label} is {number:g}, expected {expected}")
    return number


def _optional_number(
    f: object,
    name: str,
    path: Path,
    default: float,
    expected: str,
    valid: Callable[[float], bool],
) -> float:
    """The number attribute name, as `_number` checks it, or default when the file (older
    than that attribute) lacks it."""
    if name not in f.attrs:  # type: ignore[attr-defined]
        return default
    return _number(f, name, path, expected, valid)


def _cost_or_nan(x: float) -> bool:
    return math.isnan(x) or _non_negative(x)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _text(f: object, name: str, path: Path) -> str:
    """Attribute name as text; "" when the file has none."""
    return _decoded(hdf5.attribute(f, name, path, ModelError, f"attribute {name!r}"))


def _storable(text: str) -> str | np.bytes_:
    """text as the model file stores it: itself, or, for a name that is not UTF-8 (which
    Python holds with lone surrogates and HDF5 cannot store as text), the file system's
    bytes, which `_decoded` gives back as the same str."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return np.bytes_(os.fsencode(text))
    return text


def _decoded(value: object) -> str:
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return "" if value is None else str(value)
