"""A data set: m labelled images, held as the course holds them, (m, 64, 64, 3) uint8 with
(m,) labels of 0 / 1, and given to the math as the course's (12288, m) X and (1, m) Y.

Its images are in memory, or stay in the file they came from (`StoredImages`, such as the
images of a course HDF5 file, `catclf.coursefiles.StoredImages`), read a slice at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from catclf.errors import DataError, ParameterError
from catclf.images import CHANNELS, IMAGE_SIZE, N_X, to_columns
from catclf.logistic import pixel_blocks

# Images read from a file at a time, at most: 12 MB of pixels, enough to make each read
# cheap next to the arithmetic on it.
MAX_READ_ROWS = 1024


class StoredImages(Protocol):
    """Images that stay where they are stored and are read when asked for, (m, 64, 64, 3)
    uint8 in all."""

    m: int

    def read_all(self) -> NDArray[np.uint8]:
        """Every image, (m, 64, 64, 3)."""
        ...

    def slices(self, rows: int) -> Iterator[NDArray[np.uint8]]:
        """The images in order, in consecutive slices of about rows images."""
        ...

    def subset(self, indices: NDArray[np.intp]) -> StoredImages:
        """The images at indices (increasing), still stored."""
        ...

    def take(self, indices: Sequence[int] | NDArray[np.integer]) -> NDArray[np.uint8]:
        """The images at indices, (len(indices), 64, 64, 3), read now."""
        ...


@dataclass(frozen=True)
class Skipped:
    """An image left out of a data set, and why."""

    path: str
    error: str


class _Images:
    """Dataset.images: the array given, or all the images read from the file of a
    `StoredImages` given instead (a dataclass field that is a descriptor, so that
    Dataset(images=...) and dataclasses.replace work as for any field)."""

    def __get__(self, data: object, owner: type | None = None) -> NDArray[np.uint8]:
        if data is None:
            raise AttributeError("images")  # a required field, without a default
        pixels = data.__dict__["_images"]
        return pixels.read_all() if not isinstance(pixels, np.ndarray) else pixels

    def __set__(self, data: object, value: NDArray[np.uint8] | StoredImages) -> None:
        data.__dict__["_images"] = value


@dataclass(eq=False, repr=False)
class Dataset:
    """m examples: images (m, 64, 64, 3) uint8, labels (m,) int64 of 0 / 1.

    sources names each example (a file path, or "file.h5[i]"); classes is
    (negative name, positive name) as the data calls them; hdf5_file is the file
    the examples were read from when they come from one HDF5 file (example i is
    then its image i), else None. skipped lists the images, and the folders, of a photo
    folder that could not be read; ignored counts its files without an image extension
    (hidden files not counted); unsorted counts the images beside its class folders, in no
    class and so not used.

    images may be given as `StoredImages`, the images of an HDF5 file left in the file:
    `blocks` then reads them a slice at a time, while `images` and `X` read them all.

    Made in a program, Dataset(images, labels) is enough: its classes are then the
    course's, its origin "in memory" and its sources "in memory[i]". Two sets are the same
    only if they are the same object.
    """

    if TYPE_CHECKING:  # what readers get; the descriptor also takes StoredImages
        images: NDArray[np.uint8]
    else:
        images: _Images = _Images()
    labels: NDArray[np.int64]
    sources: list[str] = field(default_factory=list)
    classes: tuple[str, str] = ("non-cat", "cat")
    origin: str = "in memory"
    skipped: list[Skipped] = field(default_factory=list)
    hdf5_file: str | None = None
    ignored: int = 0
    unsorted: int = 0

    def __post_init__(self) -> None:
        # Refused here, whoever builds the set, so that no bad shape or label reaches the
        # math as numpy's own error, or as a model trained "successfully" on labels 5 and 7.
        source = self.__dict__["_images"]
        what = f"{self.origin}: " if isinstance(self.origin, str) and self.origin else ""
        if isinstance(source, np.ndarray):
            expected = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
            if source.dtype != np.uint8 or source.ndim != 4 or source.shape[1:] != expected:
                raise DataError(
                    f"{what}images are {source.dtype} {source.shape}, expected uint8 "
                    f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}) pixels"
                )
            m = source.shape[0]
        elif all(hasattr(source, name) for name in ("m", "slices", "subset", "take")):
            m = source.m
        else:
            raise DataError(
                f"{what}images are a {type(source).__name__}, expected a numpy array of uint8 "
                f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}) pixels"
            )
        if m == 0:
            raise DataError(f"{what}holds no images")
        self.labels = checked_labels(self.labels, m, what)
        if not self.sources:
            self.sources = [f"{self.origin}[{i}]" for i in range(m)]
        if len(self.sources) != m:
            raise DataError(f"{what}{len(self.sources)} sources for {m} images, expected one each")
        classes = tuple(self.classes)
        if len(classes) != 2 or not all(isinstance(c, str) for c in classes):
            raise DataError(f"{what}classes are {self.classes!r}, expected two names")
        if classes[0] == classes[1]:
            raise DataError(f"{what}both classes are named {classes[0]!r}, expected two names")
        self.classes = (classes[0], classes[1])

    @property
    def in_file(self) -> bool:
        """True when the images stay in their HDF5 file and are read a slice at a time."""
        return not isinstance(self.__dict__["_images"], np.ndarray)

    @property
    def m(self) -> int:
        return int(self.labels.shape[0])

    @property
    def positives(self) -> int:
        return int(self.labels.sum())

    @property
    def X(self) -> NDArray[np.float64]:
        """(12288, m) float64 in [0, 1]."""
        return to_columns(self.images)

    @property
    def Y(self) -> NDArray[np.float64]:
        """(1, m) float64 of 0.0 / 1.0."""
        return self.labels.reshape(1, -1).astype(np.float64)

    def blocks(
        self, columns: int, rows: int, *, on_block: Callable[[int], None] | None = None
    ) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """(X_k (12288, k), Y_k (1, k)) for consecutive blocks of k <= columns examples.

        The columns of X_k are those of `X` exactly, but only one block is ever held:
        images are taken rows at a time (read from the file, or sliced from memory) and
        converted columns at a time into one reused float64 buffer, valid until the next
        block is taken. on_block(k) is called after each block has been used.
        """
        for P_k, Y_k in self.pixel_blocks(columns, rows, on_block=on_block):
            # The division to_columns does, of the same values: the same bits.
            np.divide(P_k, 255.0, out=P_k)
            yield P_k, Y_k

    def pixel_blocks(
        self, columns: int, rows: int, *, on_block: Callable[[int], None] | None = None
    ) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """(P_k (12288, k), Y_k (1, k)): `blocks` before the division by 255, the pixel
        values 0 .. 255 as float64 (`logistic.pixel_blocks`), for the math to scale."""
        for P_k, Y_k in pixel_blocks(self.slices(rows), self.Y, columns):
            yield P_k, Y_k
            if on_block is not None:
                on_block(P_k.shape[1])

    def mean_column(self, rows: int = MAX_READ_ROWS) -> NDArray[np.float64]:
        """The mean of X's columns, (12288, 1): the average image, as the model sees images
        (each value / 255). Summed exactly in integers a slice at a time, so a set left in
        its file is read once and nothing the size of X is formed."""
        total = np.zeros(N_X, dtype=np.uint64)
        for pixels in self.slices(rows):
            flat = pixels.reshape(pixels.shape[0], N_X)
            # 257 values of at most 255 fit a uint16 (257 x 255 = 65535): summed in it, a
            # slice takes two fifths of the time a uint64 sum takes.
            for i in range(0, flat.shape[0], 257):
                total += np.add.reduce(flat[i : i + 257], axis=0, dtype=np.uint16)
        return (total / (255.0 * self.m)).reshape(N_X, 1)

    def slices(self, rows: int) -> Iterator[NDArray[np.uint8]]:
        """The images in order, in consecutive slices (k, 64, 64, 3) of at most about rows;
        of a set left in its file, each is read in turn (see `StoredImages.slices`), and
        valid until the next is taken."""
        source = self.__dict__["_images"]
        if not isinstance(source, np.ndarray):
            yield from source.slices(rows)
        else:
            for i in range(0, self.m, rows):
                yield source[i : i + rows]

    def subset(self, indices: Sequence[int] | NDArray[np.integer], origin: str) -> Dataset:
        """The examples at indices (in increasing order) as a data set named origin, in
        that order. Images held in memory are copied; a set left in its file gives one
        still left there, read a slice at a time. hdf5_file is None: example i of the
        subset is not image i of the file (its source still says which it is)."""
        chosen = np.asarray(indices, dtype=np.intp).reshape(-1)
        if np.any(np.diff(chosen) <= 0) or (
            chosen.size and not 0 <= chosen[0] <= chosen[-1] < self.m
        ):
            raise ParameterError(
                "indices", chosen.tolist()[:8], f"positions that increase, within 0 .. {self.m - 1}"
            )
        source = self.__dict__["_images"]
        images = source[chosen] if isinstance(source, np.ndarray) else source.subset(chosen)
        return Dataset(
            cast("NDArray[np.uint8]", images),  # the images field also takes StoredImages
            self.labels[chosen],
            [self.sources[i] for i in chosen],
            self.classes,
            origin,
        )

    def take(self, indices: Sequence[int] | NDArray[np.integer]) -> NDArray[np.uint8]:
        """The images at indices, (len(indices), 64, 64, 3); of a set left in its file,
        only those are read."""
        source = self.__dict__["_images"]
        if isinstance(source, np.ndarray):
            return source[np.asarray(indices, dtype=np.intp)]
        return source.take(indices)

    def __repr__(self) -> str:
        return f"Dataset({self.origin!r}, {self.describe()})"

    def describe(self) -> str:
        """'209 images: 72 cat, 137 non-cat', by the names of its classes."""
        negative, positive = self.classes
        images = "image" if self.m == 1 else "images"
        return (
            f"{self.m} {images}: {self.positives} {positive}, {self.m - self.positives} {negative}"
        )


def checked_labels(labels: object, m: int, what: str) -> NDArray[np.int64]:
    """labels, (m,) or (1, m) of 0 / 1 (integers, booleans, or floats that are exactly 0 or
    1), as (m,) int64; DataError, its message beginning with what, for anything else."""
    values = np.asarray(labels)
    check_label_form(values.dtype, values.shape, m, what)
    values = values.reshape(-1)
    wrong = ~np.isin(values, (0, 1))  # NaN is neither
    if wrong.any():
        shown = ", ".join(str(v) for v in np.unique(values[wrong])[:5])
        raise DataError(f"{what}labels must be 0 (the first class) or 1 (the second): {shown}")
    return values.astype(np.int64)


def check_label_form(dtype: np.dtype[Any], shape: tuple[int, ...], m: int, what: str) -> None:
    """The part of `checked_labels` that needs no label's value: numbers, m of them, (m,) or
    (1, m). DataError, its message beginning with what, for anything else."""
    if dtype.kind not in "biuf" or math.prod(shape) != m or len(shape) not in (1, 2):
        raise DataError(f"{what}labels are {dtype} {shape}, expected {m} labels of 0 or 1")


def memory_needed(m: int) -> int:
    """Bytes that m images take in memory with their X: 1 byte a pixel value, 8 in X."""
    return 9 * N_X * m


def pixels_fit(m: int, memory_limit: int | None) -> bool:
    """Whether m images, 12288 bytes each, may be held in memory: in three quarters of the
    limit, which leaves a quarter for the blocks of X made from them (None: no limit)."""
    return memory_limit is None or N_X * m <= memory_limit * 3 // 4
