"""A trained model: w (12288, 1) and b, the settings that made them and what training found,
and the probability that an image shows a cat.

A Model is a value: two models are equal when everything they hold is, a model can be a
key of a dict, and its repr is one line. It is saved to, and loaded from, the model file
of `catclf.modelfile`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from catclf import modelfile, parameters
from catclf._version import __version__
from catclf.errors import ImageError, ModelError, ParameterError
from catclf.images import CHANNELS, IMAGE_SIZE, N_X, PREPROCESSING, Pixels, pixels_of, to_columns
from catclf.logistic import predict_proba
from catclf.wording import kind_of
from catclf.workers import reader

if TYPE_CHECKING:
    from catclf.dataset import Dataset
    from catclf.explanation import Explanation

SCORE_COLUMNS = 256  # examples scored at a time: 25 MB of X

PathLike = str | os.PathLike[str]
# What predict_proba takes: one image (a path, a PIL image, (64, 64, 3) uint8 pixels) or
# many (paths and PIL images in any iterable, (n, 64, 64, 3) uint8 pixels).
Images = Any


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


@dataclass(frozen=True, eq=False)
class Model:
    """Trained parameters, w (12288, 1) and b, and what the file says about them.

    train_examples are the examples w was trained on; validation_examples those held out
    of the same data to judge it (0 when none were: validation_accuracy and
    validation_cost are then None). final_cost is the cost gradient descent minimised,
    its L2 penalty included; validation_cost is the plain cross-entropy of the held-out
    examples. classes is (negative name, positive name), as the training data named them.
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
    # The mean of the training examples' X columns (12288, 1): the average training image,
    # the baseline `explain` can measure against. None in files written before models kept it.
    mean: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        # What the model file refuses is refused here: no model is made that could not be
        # saved and loaded again.
        w = np.asarray(self.w, dtype=np.float64)
        if w.size != N_X:
            raise ModelError(f"w has shape {w.shape}, expected ({N_X}, 1)")
        if not np.all(np.isfinite(w)) or not math.isfinite(self.b):
            raise ModelError("w and b must be finite numbers")
        modelfile.check_bounded(w, float(self.b), "model")
        object.__setattr__(self, "w", w.reshape(N_X, 1))
        object.__setattr__(self, "b", float(self.b))
        object.__setattr__(self, "costs", tuple(float(c) for c in self.costs))
        classes = tuple(self.classes)
        if len(classes) != 2 or not all(isinstance(c, str) for c in classes):
            raise ModelError(f"classes are {self.classes!r}, expected two names")
        object.__setattr__(self, "classes", classes)
        if self.mean is not None:
            mean = np.asarray(self.mean, dtype=np.float64)
            if mean.size != N_X or not np.all((mean >= 0) & (mean <= 1)):
                raise ModelError(f"mean must be ({N_X}, 1) values from 0 to 1")
            object.__setattr__(self, "mean", mean.reshape(N_X, 1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return all(
            np.array_equal(a, b) if f.name in ("w", "mean") and a is not None else a == b
            for f in fields(self)
            for a, b in [(getattr(self, f.name), getattr(other, f.name))]
        )

    def __hash__(self) -> int:
        return hash((self.b, self.settings, self.costs, self.classes, self.w.tobytes()))

    def __repr__(self) -> str:
        test = "none" if self.test_accuracy is None else f"{self.test_accuracy:.4g}"
        return (
            f"Model(classes={self.classes!r}, learning_rate={self.settings.learning_rate:g}, "
            f"num_iterations={self.settings.num_iterations}, l2={self.settings.l2:g}, "
            f"train_accuracy={self.train_accuracy:.4g}, test_accuracy={test})"
        )

    def label(self, probability: float, threshold: float = 0.5) -> str:
        """The class an image of this probability is: the positive class (classes[1], the
        cats) when probability is above threshold, else the negative one."""
        return self.classes[int(probability > threshold)]

    def predict_proba_X(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of cat for each column of the course's X (12288, m) of values in
        [0, 1]: an array of shape (m,). The other entries take images, never a matrix whose
        orientation would have to be guessed."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != N_X:
            raise ParameterError("X", X, f"({N_X}, m)", said=f"an array of shape {X.shape}")
        return predict_proba(self.w, self.b, X).reshape(-1)

    def probabilities_of(self, data: Dataset, columns: int = SCORE_COLUMNS) -> NDArray[np.float64]:
        """Probability of cat for each example of data, (m,), computed a block of columns
        examples at a time, so that X (12288, m) is never formed whole and a set left in
        its file is read a slice at a time."""
        from catclf.dataset import MAX_READ_ROWS  # here: predict reads no data set

        parts = [self.predict_proba_X(X_k) for X_k, _ in data.blocks(columns, MAX_READ_ROWS)]
        return np.concatenate(parts)

    def score_images(
        self,
        decoded: Iterable[Pixels | ImageError],
        on_batch: Callable[[], None] | None = None,
        *,
        start: int = 0,
    ) -> Iterator[float | ImageError]:
        """P(cat) for each decoded image (64, 64, 3), in order; an ImageError in the input
        comes out in its place. on_batch() is called once a batch's results are taken.

        The images are scored in batches of 1, 2, 4, ... up to SCORE_COLUMNS, errors
        counted, so that the first result comes after the first image, later ones at the
        pace of matrix products, and memory stays flat however many come. The same input
        gives the same batches, and so the same probabilities to the last bit. start is the
        position of the first of decoded in a longer stream scored in parts: its batches
        are the stream's (`batch_end`), so that parts that each begin where a batch does
        give the probabilities of the stream scored whole.
        """
        pixels = np.empty((SCORE_COLUMNS, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        waiting: list[ImageError | None] = []  # None: the next row of pixels
        rows, end = 0, batch_end(start)
        size = end - start

        def flush() -> Iterator[float | ImageError]:
            p = iter(self.predict_proba_X(to_columns(pixels[:rows])).tolist() if rows else [])
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
                rows, size = 0, batch_end(end) - end
                end += size
        if waiting:
            yield from flush()

    @overload
    def predict_proba(self, images: PathLike | Image.Image, *, jobs: int = 1) -> float: ...

    @overload
    def predict_proba(self, images: Images, *, jobs: int = 1) -> Any: ...

    def predict_proba(self, images: Images, *, jobs: int = 1) -> Any:
        """P(cat): of one image, a float; of many, an array of shape (n,) in input order.

        One image is a path (str or os.PathLike), a PIL image, or its pixels, a uint8 array
        of shape (64, 64, 3); many are an iterable of paths and PIL images, or a uint8 array
        of shape (n, 64, 64, 3). Files are decoded as `catclf.images` describes, in up to
        jobs processes; a PIL image goes through the same steps from its pixels on (a JPEG
        opened already is not decoded at catclf's reduced scale). The course's (12288, m)
        matrix has its own entry, `predict_proba_X`. Raises ImageError for the first image
        that cannot be read, ParameterError for anything else given.
        """
        one, pixels = _pixels(images, parameters.jobs(jobs))
        # Scored in the batches `score_images` makes, as `catclf predict` scores them: the
        # same images give the same probabilities to the last bit either way.
        p = np.fromiter(self.score_images(pixels), dtype=np.float64, count=pixels.shape[0])
        return float(p[0]) if one else p

    @overload
    def predict(
        self, images: PathLike | Image.Image, threshold: float = 0.5, *, jobs: int = 1
    ) -> str: ...

    @overload
    def predict(self, images: Images, threshold: float = 0.5, *, jobs: int = 1) -> Any: ...

    def predict(self, images: Images, threshold: float = 0.5, *, jobs: int = 1) -> Any:
        """The class of each image, by the model's names for them ("cat" or "non-cat" for the
        course's): of one image, a str; of many, a list in input order. The positive class
        when P(cat) is above threshold (see `label`); images as `predict_proba` takes them."""
        threshold = parameters.threshold(threshold)
        p = self.predict_proba(images, jobs=jobs)
        if isinstance(p, float):
            return self.label(p, threshold)
        return [self.label(float(q), threshold) for q in p]

    def explain(
        self, image: PathLike | Image.Image | Pixels, *, baseline: str = "black"
    ) -> Explanation:
        """Why this model gives one image (a path, a PIL image, or (64, 64, 3) uint8 pixels,
        as `predict_proba` takes one) its probability: an `Explanation`, whose parts add up
        to the logit. baseline: "black" (each share w_i x_i) or "mean" (w_i (x_i - mean_i),
        against the average training image, which models written before it was kept lack:
        ModelError)."""
        baseline = parameters.baseline(baseline)
        if baseline == "mean" and self.mean is None:
            raise ModelError(
                "the model keeps no average training image (models saved before catclf "
                "1.1 lack it): explain against a black image, or train the model again"
            )
        one, pixels = _pixels(image, 1)
        if not one:
            raise ParameterError(
                "image",
                image,
                "one image: a path, a PIL image, or (64, 64, 3) uint8 pixels",
                said=f"{pixels.shape[0]} images",
            )
        # here: predict explains nothing
        from catclf.explanation import Explanation
        from catclf.explanation import explain as explained

        contributions, base, logit, p = explained(
            self.w, self.b, pixels[0], self.mean if baseline == "mean" else None
        )
        source = os.fsdecode(image) if isinstance(image, (str, os.PathLike)) else "in memory"
        return Explanation(
            source,
            pixels[0],
            contributions,
            baseline,
            self.b,
            base,
            logit,
            p,
            self.label(p),
            self.classes,
        )

    def save(self, path: PathLike, *, force: bool = False) -> Path:
        """Write the model to path atomically; the file written (path, or the catclf model a
        link at path leads to). Only a catclf model is replaced, or with force any other
        regular file; never a folder, device, FIFO or socket. See `save_model`."""
        return save_model(self, Path(path), force=force)

    def as_dict(self) -> dict[str, Any]:
        """What the model file says of itself, JSON-ready: NaN and infinity become None,
        and so do the texts an older file lacks."""
        return {
            "format": modelfile.FORMAT,
            "format_version": modelfile.FORMAT_VERSION,
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
            "mean_image": self.mean is not None,
        }

    def _fields(self) -> dict[str, Any]:
        """The model as the model file's fields (`catclf.modelfile`)."""
        found = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        found.update(
            learning_rate=self.settings.learning_rate,
            num_iterations=self.settings.num_iterations,
            l2=self.settings.l2,
        )
        return found


def batch_end(position: int) -> int:
    """Where the batch of `Model.score_images` that holds the image at position (from 0) of
    a stream ends: the batches are 1, 2, 4, ... images long up to SCORE_COLUMNS, then
    SCORE_COLUMNS each."""
    start, size = 0, 1
    while size < SCORE_COLUMNS:
        if position < start + size:
            return start + size
        start, size = start + size, min(2 * size, SCORE_COLUMNS)
    return position + size - (position - start) % size


def _finite(value: float | None) -> float | None:
    """value for JSON, which has no NaN or infinity: those become None."""
    return value if value is not None and math.isfinite(value) else None


def save_model(
    model: Model,
    path: Path,
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write model to path atomically, as `catclf.modelfile.save` does: never over a file of
    inputs (the data it was made from), with on_saved() called as soon as it is in place."""
    return modelfile.save(model._fields(), path, force=force, inputs=inputs, on_saved=on_saved)


def load_model(path: PathLike | None = None) -> Model:
    """Read and check the model file at path (`catclf.modelfile.load`); without one, the
    file `catclf.modelfile.find` finds (model.h5 here, else the bundled model). Raises
    ModelError saying what is wrong with it."""
    found = modelfile.find(path)
    return from_fields(modelfile.load(found), found)


def from_fields(found: dict[str, Any], path: Path) -> Model:
    """The Model of a model file's fields, read from path."""
    settings = {name: found.pop(name) for name in ("learning_rate", "num_iterations", "l2")}
    try:
        return Model(settings=Settings(**settings), **found)
    except ParameterError as e:  # a setting no training could have used
        raise ModelError(f"{path}: {e}") from e
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e


def _pixels(images: Images, jobs: int) -> tuple[bool, NDArray[np.uint8]]:
    """(whether images is one image, their pixels (n, 64, 64, 3)), as predict_proba takes
    them."""
    if isinstance(images, (str, os.PathLike)):
        return True, _decoded([images], jobs)
    if isinstance(images, Image.Image):
        return True, pixels_of(images, "image")[np.newaxis]
    if isinstance(images, np.ndarray):
        shape = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
        if images.dtype == np.uint8 and images.shape == shape:
            return True, images[np.newaxis]
        if images.dtype == np.uint8 and images.ndim == 4 and images.shape[1:] == shape:
            return False, images
        raise ParameterError(
            "images",
            images,
            "uint8 pixels of shape (64, 64, 3) or (n, 64, 64, 3); for the course's "
            "(12288, m) X, predict_proba_X",
            said=f"an array of {images.dtype} {images.shape}",
        )
    if isinstance(images, (bytes, bytearray)) or not isinstance(images, Iterable):
        raise ParameterError(
            "images",
            images,
            "a path, a PIL image, uint8 pixels, or a list of paths or PIL images",
            said=kind_of(images),
        )
    items = list(images)
    paths = [i for i, item in enumerate(items) if isinstance(item, (str, os.PathLike))]
    out = np.empty((len(items), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
    for i, item in enumerate(items):
        if isinstance(item, Image.Image):
            out[i] = pixels_of(item, f"images[{i}]")
        elif not isinstance(item, (str, os.PathLike)):
            raise ParameterError(
                "images",
                items,
                "paths or PIL images",
                said=f"a list holding {kind_of(item)}",
            )
    if paths:
        out[paths] = _decoded([items[i] for i in paths], jobs)
    return False, out


def _decoded(paths: list[PathLike], jobs: int) -> NDArray[np.uint8]:
    """The pixels of the image files at paths, (n, 64, 64, 3), decoded in up to jobs
    processes; raises the ImageError of the first that cannot be read."""
    out = np.empty((len(paths), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
    with reader(jobs, len(paths)) as read:
        for i, result in enumerate(read((Path(p), os.fspath(p)) for p in paths)):
            if isinstance(result, ImageError):
                raise result
            out[i] = result
    return out
