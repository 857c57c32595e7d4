"""catclf as scikit-learn estimators: the course's logistic regression, and images read as
catclf reads them.

    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from catclf.sklearn import ImagePixels, LogisticRegressionGD

    pipe = make_pipeline(ImagePixels(), LogisticRegressionGD())
    cross_val_score(pipe, ["cat.jpg", "dog.png", ...], ["cat", "non-cat", ...], cv=5)

The orientations differ, and each side keeps its own: scikit-learn's X is (m, n_features),
one example per row; the course's X, which catclf.logistic takes, is (n_features, m), one
example per column. `LogisticRegressionGD` takes scikit-learn's and hands the solvers its
transpose, a view.

This module imports scikit-learn (1.6 or later); `import catclf` does not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from catclf import parameters
from catclf.errors import ImageError, TrainingDiverged
from catclf.images import CHANNELS, IMAGE_SIZE, Pixels, pixels_of, to_columns
from catclf.logistic import (
    choose_solver,
    initialize_with_zeros,
    optimize_gram,
    optimize_primal,
    sigmoid,
)
from catclf.workers import reader

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # validate_data came with scikit-learn 1.6
    raise ImportError(
        "catclf.sklearn needs scikit-learn 1.6 or later: install the sklearn extra, "
        "pip install 'catclf[sklearn]', or pip install scikit-learn"
    ) from e

__all__ = ["ImagePixels", "LogisticRegressionGD"]


class LogisticRegressionGD(ClassifierMixin, BaseEstimator):
    """Binary logistic regression by batch gradient descent from w = 0, b = 0, as the
    course trains it: num_iterations steps of learning_rate, with the L2 penalty l2
    (cost += l2 / (2 m) sum(w^2); 0 for the course's descent).

    The steps are catclf.train's, taken by the same solvers (`logistic.optimize_gram` or
    `optimize_primal`, as `logistic.choose_solver` picks), so the costs, w and b are
    those catclf.train gives on the same examples. The parameters are checked when `fit`
    runs, by catclf's rules (`catclf.parameters`); a bad one raises catclf.ParameterError,
    a ValueError.

    y holds two classes, of any labels: `classes_` holds them sorted, and the second is
    the positive one, whose probability the model gives (for 0 / 1 labels, 1).

    Fitted attributes: coef_ (1, n_features) and intercept_ (1,), the course's w^T and b;
    classes_ (2,); n_features_in_, and feature_names_in_ when X has column names; costs_
    (k,), the cost at iterations 0, 100, 200, ... (k = ceil(num_iterations / 100)), as the
    course records it; n_iter_, the iterations taken.
    """

    def __init__(
        self, learning_rate: float = 0.005, num_iterations: int = 2000, l2: float = 0.0
    ) -> None:
        self.learning_rate = learning_rate
        self.num_iterations = num_iterations
        self.l2 = l2

    def fit(self, X: Any, y: Any) -> LogisticRegressionGD:
        """Train on X (m, n_features) of numbers and y (m,) of two labels; returns self.

        Raises ValueError for a bad parameter, for X with NaN, infinity or the wrong shape,
        and for y with one class or more than two; catclf.TrainingDiverged when the cost
        or the weights stop being finite numbers (a learning rate far too large).
        """
        rate = parameters.learning_rate(self.learning_rate)
        iterations = parameters.num_iterations(self.num_iterations)
        l2 = parameters.l2(self.l2)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        classes = np.unique(y)
        if kind != "binary":
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{kind}: y holds {len(classes)} classes, expected two"
            )
        if len(classes) < 2:
            raise ValueError(
                f"y holds one class ({classes.tolist()[0]!r}), expected two: "
                f"{type(self).__name__} is a binary classifier"
            )
        Y = (y == classes[1]).astype(np.float64).reshape(1, -1)  # the course's (1, m)
        course_X = X.T  # (n_features, m), a view of scikit-learn's (m, n_features)
        n_x, m = course_X.shape
        optimize = optimize_gram if choose_solver(n_x, m, iterations) == "gram" else optimize_primal
        w, b = initialize_with_zeros(n_x)

        def watch(i: int, cost: float) -> None:
            if not math.isfinite(cost):
                raise TrainingDiverged(_diverged(rate, f"the cost became {cost} at iteration {i}"))

        # Overflow is what a divergence looks like on its way: watch and the check below
        # report it in words, not as numpy's warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            params, _, costs = optimize(
                w, b, course_X, Y, iterations, rate, lambd=l2, callback=watch
            )
        w, b = np.asarray(params["w"]), float(params["b"])
        if not (np.all(np.isfinite(w)) and math.isfinite(b)):
            raise TrainingDiverged(_diverged(rate, "the weights stopped being finite numbers"))
        self.classes_ = classes
        self.coef_ = w.reshape(1, -1)
        self.intercept_ = np.array([b])
        self.costs_ = np.array(costs, dtype=np.float64)
        self.n_iter_ = iterations
        return self

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """z = X w + b for X (n, n_features): (n,), positive where the second class is
        predicted."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        with np.errstate(over="ignore", invalid="ignore"):
            z: NDArray[np.float64] = X @ self.coef_[0] + self.intercept_[0]
        return z

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """(n, 2): the probabilities of classes_[0] and classes_[1], sigmoid(-z) and
        sigmoid(z), for X (n, n_features)."""
        z = self.decision_function(X)
        # sigmoid(-z) rather than 1 - sigmoid(z): a small probability keeps its digits.
        return np.column_stack([sigmoid(-z), sigmoid(z)])

    def predict(self, X: Any) -> NDArray[Any]:
        """(n,) labels from classes_: the second where z > 0, that is where its probability
        is above 0.5."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.intp)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def _diverged(rate: float, what: str) -> str:
    return f"gradient descent diverged at learning_rate {rate:g}: {what}; try a smaller one"


class ImagePixels(TransformerMixin, BaseEstimator):
    """Images to rows of X as catclf reads them: a list of n images gives (n, 12288) floats.

    Each image is an image file's path (str or os.PathLike) or a PIL image. A file is read
    by `catclf.images.load_image`, the function that reads every image catclf trains on
    or scores; a PIL image is taken as it has been decoded (its current frame, at its full
    size) and then goes through the same steps (`catclf.images.pixels_of`): EXIF
    orientation, conversion to RGB, the resize to 64x64. The (64, 64, 3) pixels are
    flattened in C order and divided by 255, as `catclf.images.to_columns` does.

    Stateless: fit checks the parameters and learns nothing. jobs is the number of
    processes that decode the images (`catclf.workers.reader`; 1 decodes in this
    process). An image that cannot be read raises catclf.ImageError, whose message begins
    with its name (the path, or "X[i]" for the i-th item when that is not a path).
    """

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def fit(self, X: Any, y: Any = None) -> ImagePixels:
        """Check the parameters and that X is a list of images; returns self."""
        parameters.jobs(self.jobs)
        _items(X)
        return self

    def transform(self, X: Any) -> NDArray[np.float64]:
        """X, n images (a list, tuple, 1-d array or pandas Series), to (n, 12288) float64
        rows in [0, 1], in order. Raises catclf.ImageError for the first image that cannot
        be read, and ValueError for an X that is not a list of images."""
        jobs = parameters.jobs(self.jobs)
        items = _items(X)
        given = list(_sources(items))
        files = [item for item in given if isinstance(item, tuple)]
        pixels = np.empty((len(items), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        with reader(jobs, len(files)) as read:
            decoded = read(iter(files))
            for i, item in enumerate(given):
                result = next(decoded) if isinstance(item, tuple) else item
                if isinstance(result, ImageError):
                    raise result
                pixels[i] = result
        rows: NDArray[np.float64] = to_columns(pixels).T  # (n, 12288)
        return rows

    def __sklearn_tags__(self) -> Any:
        # As scikit-learn's text vectorizers declare theirs: the input is a list of things
        # to read, not a matrix of numbers, and a stateless transformer needs no fit.
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags


def _items(X: Any) -> Sequence[Any]:
    """X as a sequence of images, or ValueError for what is not a 1-d list of them."""
    if isinstance(X, (str, bytes, os.PathLike, Image.Image)):
        raise ValueError(
            f"X is one image ({type(X).__name__}), expected a list of images (paths or PIL images)"
        )
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(
            f"X has shape {tuple(shape)}, expected a 1-d list of images (paths or PIL images)"
        )
    try:
        return list(X)
    except TypeError:
        raise ValueError(
            f"X is of type {type(X).__name__}, expected a list of images (paths or PIL images)"
        ) from None


def _sources(items: Sequence[Any]) -> Iterator[tuple[Path, str] | Pixels | ImageError]:
    """For each image: (path, name) of a file, for `workers.reader` to decode, or the pixels
    of a PIL image (`images.pixels_of`, the steps a file takes after it is decoded), or the
    ImageError of an item that is neither."""
    for i, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            name = os.fsdecode(item)
            yield Path(name), name
        elif isinstance(item, Image.Image):
            try:
                yield pixels_of(item, f"X[{i}] (a PIL image)")
            except ImageError as e:
                yield e
        else:
            yield ImageError(
                f"X[{i}]: of type {type(item).__name__}, expected a path "
                "(str or os.PathLike) or a PIL image"
            )
