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
  data to judge the model by (0, NaN and NaN when none were, or when absent);
- optionally dataset `mean`: float64 (12288, 1), the mean of the training examples' X
  columns (the average training image, each value / 255, so from 0 to 1), the baseline
  `Model.explain` can measure against; files written before it existed lack it.

Files are written to a temporary file beside the target and renamed over it, so
a model path always holds a complete model: the old one or the new one. Only a catclf
model is replaced (another file with force), never a device, FIFO or socket. Loading
reads numbers and strings only, and only those the file itself holds: a file laid out as
catclf writes it is read from its bytes (`catclf.hdf5lite`), any other through h5py
(`catclf.hdf5`), and both readings go through the same checks; nothing in a file is ever
unpickled or run. w and b must keep w^T x + b finite.

This module speaks in fields, a mapping of the names above (settings among them, w, b and
costs as arrays, NaN accuracies as None) to values; `catclf.model.Model` is made of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from numpy.typing import NDArray

from catclf import hdf5lite, interrupts
from catclf.errors import ModelError, reason
from catclf.images import CHANNELS, IMAGE_SIZE, N_X

FORMAT = "catclf-logistic-regression"
FORMAT_VERSION = 1
DEFAULT_PATH = Path("model.h5")
BUNDLED_PATH = Path(__file__).parent / "data" / "model.h5"
MAX_COSTS = 10**6  # one cost per 100 iterations: 10**8 iterations, far beyond any real run
FRACTION = "a fraction from 0 to 1, or NaN"
MAX_Z = 1e300  # |w^T x + b| at most, for x in [0, 1]: see check_bounded

Fields = Mapping[str, Any]


def find(path: str | os.PathLike[str] | None = None) -> Path:
    """The model file to use: path when given; else model.h5 in the current folder, where
    training saves one; else the bundled course model (`BUNDLED_PATH`)."""
    if path is not None:
        return Path(path)
    if DEFAULT_PATH.exists():
        return DEFAULT_PATH
    return BUNDLED_PATH


def is_model(f: BinaryIO) -> bool:
    """Whether the open file is a catclf model: an HDF5 file whose format attribute says so.
    Only that attribute is read, in a region interrupts wait for (`catclf.interrupts`); a
    file that is not HDF5, or is damaged, is not one."""
    from catclf import hdf5  # here: only writing a model asks, and reading one needs no h5py

    path = Path(str(getattr(f, "name", "")))
    try:
        if hdf5.check_heaps(f, path, ModelError) is None:
            return False
        return interrupts.call_held(_says_model, f, path)
    except (ModelError, OSError, RuntimeError, KeyError, ValueError, TypeError):
        return False


def _says_model(f: BinaryIO, path: Path) -> bool:
    import h5py  # here: as in is_model

    with h5py.File(f, "r") as h5:
        # Read as loading reads it: bounded, so that a huge attribute costs nothing.
        return _text(_Opened(h5, path), "format", path) == FORMAT


def check_target(path: Path, *, force: bool = False, inputs: Sequence[Path] = ()) -> Path:
    """The file to write the model to for path: path, or the model a link at path leads to.

    Raises ModelError unless a model may be written there: in a folder that can be written,
    over nothing, over a catclf model, or, with force, over another regular file; never
    over a folder, device, FIFO or socket, nor over the data in inputs (files, or folders
    and the files in them). See `catclf.files.check_file`.
    """
    from catclf.files import check_file  # here: loading a model writes nothing

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
    fields: Fields,
    path: Path,
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write the model of fields to path atomically: a temporary file in the same folder, then
    a rename.
    What is at path is checked as check_target does, again just before the rename. Returns
    the file written: path, or the model a link at path leads to. on_saved() is called as
    soon as the model is in place, before an interrupt that came meanwhile is raised (see
    `catclf.files.write_atomically`)."""

    target = check_target(path, force=force, inputs=inputs)

    def unchanged() -> None:
        if check_target(path, force=force, inputs=inputs) != target:
            raise ModelError(f"{path}: changed while the model was written; it was not saved")

    from catclf.files import write_atomically  # here: loading a model writes nothing

    write_atomically(
        [(target, lambda tmp: _write(fields, tmp))],
        lambda target, why: ModelError(f"{target}: cannot write the model ({why})"),
        check=unchanged,
        on_saved=on_saved,
    )
    return target


def _write(fields: Fields, path: Path) -> None:
    """The model into a new HDF5 file at path, in one region that interrupts wait for, by
    `hdf5.write`, which a full disk cannot crash."""
    from catclf import hdf5  # here: reading a model needs no h5py

    hdf5.write(path, lambda f: _fill(fields, f))


# Written as they are, in this order; test_data and solver only when there is one.
NUMBERS = (
    "learning_rate",
    "num_iterations",
    "l2",
    "final_cost",
    "train_examples",
    "train_accuracy",
    "test_examples",
    "test_accuracy",
    "validation_examples",
    "validation_accuracy",
    "validation_cost",
)
TEXTS = ("preprocessing", "train_data", "test_data", "catclf_version", "created", "solver")


def _fill(fields: Fields, f: Any) -> None:
    """The model of fields into f, a new h5py File."""
    f.create_dataset("w", data=np.asarray(fields["w"], dtype=np.float64).reshape(N_X, 1))
    f.create_dataset("b", data=np.float64(fields["b"]))
    f.create_dataset("costs", data=np.asarray(fields["costs"], dtype=np.float64))
    if fields.get("mean") is not None:
        f.create_dataset("mean", data=np.asarray(fields["mean"], dtype=np.float64).reshape(N_X, 1))
    a = f.attrs
    a["format"] = FORMAT
    a["format_version"] = FORMAT_VERSION
    a["image_size"] = IMAGE_SIZE
    a["channels"] = CHANNELS
    stored = [_storable(name) for name in fields["classes"]]
    # One type for both: numpy makes no array of str and bytes together.
    if any(isinstance(name, bytes) for name in stored):
        stored = [np.bytes_(os.fsencode(name)) for name in fields["classes"]]
    a["classes"] = stored
    for name in NUMBERS:
        value = fields[name]
        a[name] = value if isinstance(value, int) else _or_nan(value)
    for name in TEXTS:
        if fields[name] or name not in ("test_data", "solver"):
            a[name] = _storable(fields[name])


def load(path: Path) -> dict[str, Any]:
    """The fields of the model file at path, read and checked; HDF5's own reading in one
    region that interrupts wait for (`catclf.interrupts`). Raises ModelError saying what is
    wrong with it."""
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file, expected a catclf model (.h5)")
    contents = hdf5lite.read(path)
    if contents is not None:
        try:
            return _read(_Read(contents), path)
        except (ModelError, hdf5lite.NotMine):
            pass  # read again through h5py, which says what is wrong as it always has
    from catclf import hdf5  # here: only a file not laid out as catclf writes it needs h5py

    walked = hdf5.check_heaps(path, path, ModelError)
    return interrupts.call_held(_load_h5py, path, walked)


def _load_h5py(path: Path, walked: tuple[int, ...] | None) -> dict[str, Any]:
    """The fields read with h5py, from the file whose heaps `hdf5.check_heaps` walked."""
    import h5py  # here: as hdf5 in load

    from catclf import hdf5  # here: as h5py

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
        with hdf5.same_file(f, walked, path, ModelError):
            return _read(_Opened(f, path), path)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        # h5py reports damaged metadata when a name is looked up, not only on open.
        raise ModelError(f"{path}: damaged model file ({e})") from e


class _Source(Protocol):
    """A model file as `_read` checks it, read by h5py (`_Opened`) or from its bytes
    (`_Read`): each gives the same values for the same file."""

    def attribute(self, name: str, values: int = 1) -> Any:
        """Attribute name as h5py gives it (None when there is none, or it is empty), of at
        most `values` values."""

    def has_attribute(self, name: str) -> bool: ...

    def has(self, name: str) -> bool:
        """Whether name leads to anything in the file."""

    def dataset(self, name: str) -> _Stored | None:
        """The dataset name leads to; None when it leads to no dataset."""


class _Stored(Protocol):
    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    def values(self) -> Any:
        """Every value, once what is stored is known to be bounded."""


class _Opened:
    """A model file open in h5py, read through `catclf.hdf5`."""

    def __init__(self, f: Any, path: Path) -> None:
        self.f, self.path = f, path

    def attribute(self, name: str, values: int = 1) -> Any:
        from catclf import hdf5  # here: h5py is imported with this reader only

        return hdf5.attribute(self.f, name, self.path, ModelError, f"attribute {name!r}", values)

    def has_attribute(self, name: str) -> bool:
        return name in self.f.attrs

    def has(self, name: str) -> bool:
        return self._node(name) is not None

    def dataset(self, name: str) -> _Stored | None:
        import h5py  # here: h5py is imported with this reader only

        node = self._node(name)
        return _H5Stored(node, name, self.path) if isinstance(node, h5py.Dataset) else None

    def _node(self, name: str) -> Any:
        from catclf import hdf5  # here: h5py is imported with this reader only

        return hdf5.node(self.f, name, self.path, ModelError, f"dataset {name!r}")


class _H5Stored:
    def __init__(self, node: Any, name: str, path: Path) -> None:
        self.node, self.name, self.path = node, name, path
        self.dtype, self.shape = node.dtype, node.shape

    def values(self) -> Any:
        from catclf import hdf5  # here: h5py is imported with this reader only

        hdf5.check_dataset(self.node, self.path, ModelError, f"dataset {self.name!r}")
        return self.node[()]


class _Read:
    """A model file read from its bytes by `catclf.hdf5lite`."""

    def __init__(self, contents: hdf5lite.Contents) -> None:
        self.contents = contents

    def attribute(self, name: str, values: int = 1) -> Any:
        return self.contents.attribute(name, values)

    def has_attribute(self, name: str) -> bool:
        return name in self.contents.attributes

    def has(self, name: str) -> bool:
        return name in self.contents.datasets

    def dataset(self, name: str) -> _Stored | None:
        array = self.contents.datasets.get(name)
        return None if array is None else _ArrayStored(array)


class _ArrayStored:
    def __init__(self, array: NDArray[np.float64]) -> None:
        self.array, self.dtype, self.shape = array, array.dtype, array.shape

    def values(self) -> NDArray[np.float64]:
        return self.array


def _read(f: _Source, path: Path) -> dict[str, Any]:
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
    check_bounded(w, b, path)
    costs = _array(f, "costs", None, path, allow_nonfinite=True)
    classes = f.attribute("classes", values=2)
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
    return {
        "w": w,
        "b": b,
        "learning_rate": _number(f, "learning_rate", path, "a positive number", _positive),
        "num_iterations": int(_number(f, "num_iterations", path, "a whole number >= 1", _count)),
        "l2": l2,
        "costs": tuple(float(c) for c in costs.reshape(-1)),
        "final_cost": _number(f, "final_cost", path, "a cost of 0 or more", _non_negative),
        "classes": (_decoded(classes[0]), _decoded(classes[1])),
        "train_examples": int(_number(f, "train_examples", path, "a whole number", _whole)),
        "train_accuracy": _number(f, "train_accuracy", path, FRACTION, _fraction_or_nan),
        "test_examples": int(_number(f, "test_examples", path, "a whole number", _whole)),
        "test_accuracy": None if math.isnan(test_accuracy) else test_accuracy,
        "train_data": _text(f, "train_data", path),
        "test_data": _text(f, "test_data", path),
        "created": _text(f, "created", path),
        "catclf_version": _text(f, "catclf_version", path),
        "preprocessing": _text(f, "preprocessing", path),
        "solver": _text(f, "solver", path),
        "validation_examples": validation_examples,
        "validation_accuracy": _nan_to_none(validation_accuracy) if held else None,
        "validation_cost": _nan_to_none(validation_cost) if held else None,
        "mean": _mean(f, path),
    }


def _mean(f: _Source, path: Path) -> NDArray[np.float64] | None:
    """The optional dataset `mean`: None where the file has none; refused unless it is
    (12288, 1) values from 0 to 1."""
    if not f.has("mean"):
        return None
    mean = _array(f, "mean", (N_X, 1), path)
    if not np.all((mean >= 0) & (mean <= 1)):
        raise ModelError(f"{path}: dataset 'mean' holds values outside 0 to 1")
    return mean


def check_bounded(w: NDArray[np.float64], b: float, path: Path | str) -> None:
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
    f: _Source,
    name: str,
    shape: tuple[int, ...] | None,
    path: Path,
    *,
    allow_nonfinite: bool = False,
) -> NDArray[np.float64]:
    node = f.dataset(name)
    if node is None:
        raise ModelError(f"{path}: no dataset {name!r} in the model file")
    if node.dtype.kind != "f":
        raise ModelError(f"{path}: dataset {name!r} has dtype {node.dtype}, expected floats")
    if shape is not None and node.shape != shape:
        raise ModelError(f"{path}: dataset {name!r} has shape {node.shape}, expected {shape}")
    # Checked before reading: a compressed or chunked dataset can declare far more values
    # than the file stores, and reading them all could exhaust memory.
    if shape is None and (len(node.shape) != 1 or node.shape[0] > MAX_COSTS):
        raise ModelError(
            f"{path}: dataset {name!r} has shape {node.shape}, expected (k,) with k at most "
            f"{MAX_COSTS}"
        )
    with np.errstate(over="ignore"):  # a float128 beyond float64 becomes inf, refused below
        values = np.asarray(node.values(), dtype=np.float64)
    if not allow_nonfinite and not np.all(np.isfinite(values)):
        raise ModelError(f"{path}: dataset {name!r} holds NaN or infinite values")
    return values


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def _whole(x: float) -> bool:
    return _non_negative(x) and x == int(x)


def _count(x: float) -> bool:
    return _whole(x) and x >= 1


def _fraction_or_nan(x: float) -> bool:
    # NaN: not known (a test accuracy without a test set), which info and report show as such.
    return math.isnan(x) or 0 <= x <= 1


def _number(
    f: _Source,
    name: str,
    path: Path,
    expected: str = "a finite number",
    valid: Callable[[float], bool] = math.isfinite,
) -> float:
    """Attribute name, a real number (of any integer or float type, or one such in an
    array) for which valid is true."""
    label = f"attribute {name!r}"
    value = f.attribute(name)
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
    f: _Source,
    name: str,
    path: Path,
    default: float,
    expected: str,
    valid: Callable[[float], bool],
) -> float:
    """The number attribute name, as `_number` checks it, or default when the file (older
    than that attribute) lacks it."""
    if not f.has_attribute(name):
        return default
    return _number(f, name, path, expected, valid)


def _cost_or_nan(x: float) -> bool:
    return math.isnan(x) or _non_negative(x)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _text(f: _Source, name: str, path: Path) -> str:
    """Attribute name as text; "" when the file has none."""
    return _decoded(f.attribute(name))


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
