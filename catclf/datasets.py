"""Data sets: a folder of class folders, an HDF5 file in the course layout, or a folder of those.

A data set holds its images as (m, 64, 64, 3) uint8 and its labels as (m,) 0 / 1;
`Dataset.X` and `Dataset.Y` give the course's (12288, m) and (1, m) matrices.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from catclf import hdf5, interrupts
from catclf.errors import DataError, ImageError, ParameterError, reason
from catclf.images import (
    CHANNELS,
    IMAGE_EXTENSIONS,
    IMAGE_SIZE,
    N_X,
    is_image_name,
    list_images,
    to_columns,
)
from catclf.memory import format_size
from catclf.workers import reader

BUNDLED_DIR = Path(__file__).parent / "data"
BUNDLED_NAME = "bundled cat / non-cat set"
BUNDLED_TEST_NAME = BUNDLED_NAME + " (test)"
POSITIVE_NAMES = ("cat", "cats")
DEFAULT_CLASSES = ("non-cat", "cat")
HDF5_SUFFIXES = (".h5", ".hdf5")
WRITE_CHUNK = 64  # images per HDF5 chunk: a slice of a large set reads few chunks
GZIP_LEVEL = 4

Progress = Callable[[int], None]
LABEL_ROWS = 1 << 16
# Images read from a file at a time, at most: 12 MB of pixels, enough to make each read
# cheap next to the arithmetic on it, and few enough that an interrupt, which waits for a
# read to end, is honoured within a few tens of milliseconds.
MAX_READ_ROWS = 1024
TAKE_ROWS = 16  # images picked one by one from a file per opening of it: 16 chunks at most


@dataclass(frozen=True)
class Skipped:
    """An image left out of a data set, and why."""

    path: str
    error: str


class _Images:
    """Dataset.images: the array given, or all the images read from the file of a
    `FilePixels` given instead (a dataclass field that is a descriptor, so that
    Dataset(images=...) and dataclasses.replace work as for any field)."""

    def __get__(self, data: object, owner: type | None = None) -> NDArray[np.uint8]:
        if data is None:
            raise AttributeError("images")  # a required field, without a default
        pixels = data.__dict__["_images"]
        return pixels.read_all() if isinstance(pixels, FilePixels) else pixels

    def __set__(self, data: object, value: NDArray[np.uint8] | FilePixels) -> None:
        data.__dict__["_images"] = value


@dataclass
class Dataset:
    """m examples: images (m, 64, 64, 3) uint8, labels (m,) int64 of 0 / 1.

    sources names each example (a file path, or "file.h5[i]"); classes is
    (negative name, positive name) as the data calls them; hdf5_file is the file
    the examples were read from when they come from one HDF5 file (example i is
    then its image i), else None. skipped lists the images, and the folders, of a photo
    folder that could not be read; ignored counts its files without an image extension
    (hidden files not counted); unsorted counts the images beside its class folders, in no
    class and so not used.

    images may be given as `FilePixels`, the images of an HDF5 file left in the file:
    `blocks` then reads them a slice at a time, while `images` and `X` read them all.
    """

    if TYPE_CHECKING:  # what readers get; the descriptor also takes FilePixels
        images: NDArray[np.uint8]
    else:
        images: _Images = _Images()
    labels: NDArray[np.int64]
    sources: list[str]
    classes: tuple[str, str]
    origin: str
    skipped: list[Skipped] = field(default_factory=list)
    hdf5_file: str | None = None
    ignored: int = 0
    unsorted: int = 0

    def __post_init__(self) -> None:
        # Refused here, whoever builds the set, so that no bad shape or label reaches the
        # math as numpy's own error, or as a model trained "successfully" on labels 5 and 7.
        source = self.__dict__["_images"]
        what = f"{self.origin}: " if isinstance(self.origin, str) and self.origin else ""
        if isinstance(source, FilePixels):
            m = source.m
        elif isinstance(source, np.ndarray):
            expected = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
            if source.dtype != np.uint8 or source.ndim != 4 or source.shape[1:] != expected:
                raise DataError(
                    f"{what}images are {source.dtype} {source.shape}, expected uint8 "
                    f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}) pixels"
                )
            m = source.shape[0]
        else:
            raise DataError(
                f"{what}images are a {type(source).__name__}, expected a numpy array of uint8 "
                f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}) pixels"
            )
        if m == 0:
            raise DataError(f"{what}holds no images")
        self.labels = _checked_labels(self.labels, m, what)
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
        return isinstance(self.__dict__["_images"], FilePixels)

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
        self, columns: int, rows: int, *, on_block: Progress | None = None
    ) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """(X_k (12288, k), Y_k (1, k)) for consecutive blocks of k <= columns examples.

        The columns of X_k are those of `X` exactly, but only one block is ever held:
        images are taken rows at a time (read from the file, or sliced from memory) and
        converted columns at a time into one reused float64 buffer, valid until the next
        block is taken. on_block(k) is called after each block has been used.
        """
        Y = self.Y
        buffer = np.empty((min(columns, self.m), N_X))
        start = 0
        for pixels in self.slices(rows):
            flat = pixels.reshape(pixels.shape[0], N_X)
            for j in range(0, flat.shape[0], columns):
                part = flat[j : j + columns]
                k = part.shape[0]
                # The division to_columns does, into the reused buffer: the same bits.
                np.divide(part, 255.0, out=buffer[:k])
                yield buffer[:k].T, Y[:, start : start + k]
                start += k
                if on_block is not None:
                    on_block(k)

    def slices(self, rows: int) -> Iterator[NDArray[np.uint8]]:
        """The images in order, in consecutive slices (k, 64, 64, 3) of at most about rows;
        of a set left in its file, each is read in turn (see `FilePixels.slices`), and
        valid until the next is taken."""
        source = self.__dict__["_images"]
        if isinstance(source, FilePixels):
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
        images = source.subset(chosen) if isinstance(source, FilePixels) else source[chosen]
        return Dataset(
            cast("NDArray[np.uint8]", images),  # the images field also takes FilePixels
            self.labels[chosen],
            [self.sources[i] for i in chosen],
            self.classes,
            origin,
        )

    def take(self, indices: Sequence[int] | NDArray[np.integer]) -> NDArray[np.uint8]:
        """The images at indices, (len(indices), 64, 64, 3); of a set left in its file,
        only those are read."""
        source = self.__dict__["_images"]
        if not isinstance(source, FilePixels):
            return source[np.asarray(indices, dtype=np.intp)]
        return source.take(indices)

    def describe(self) -> str:
        """'209 images: 72 cat, 137 non-cat', by the names of its classes."""
        negative, positive = self.classes
        images = "image" if self.m == 1 else "images"
        return (
            f"{self.m} {images}: {self.positives} {positive}, {self.m - self.positives} {negative}"
        )


def _checked_labels(labels: object, m: int, what: str) -> NDArray[np.int64]:
    """labels, (m,) or (1, m) of 0 / 1 (integers, booleans, or floats that are exactly 0 or
    1), as (m,) int64; DataError for anything else."""
    values = np.asarray(labels)
    if values.dtype.kind not in "biuf" or values.size != m or values.ndim not in (1, 2):
        raise DataError(
            f"{what}labels are {values.dtype} {values.shape}, expected {m} labels of 0 or 1"
        )
    values = values.reshape(-1)
    wrong = ~np.isin(values, (0, 1))  # NaN is neither
    if wrong.any():
        shown = ", ".join(str(v) for v in np.unique(values[wrong])[:5])
        raise DataError(f"{what}labels must be 0 (the first class) or 1 (the second): {shown}")
    return values.astype(np.int64)


class FilePixels:
    """The (m, 64, 64, 3) uint8 images of an HDF5 file, left in the file and read in slices.

    identity is that of the file as `read_hdf5` checked it (`catclf.hdf5.identity`): the
    file is read only while it is still that file. rows, when given, selects the images
    (positions in the file, increasing) that make up the set; m is then their number, while
    the file holds `stored`.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        m: int,
        chunk_rows: int | None,
        identity: tuple[int, ...],
        rows: NDArray[np.intp] | None = None,
    ) -> None:
        self.path, self.name, self.stored, self.chunk_rows = path, name, m, chunk_rows
        self.identity = identity
        self.rows = rows
        self.m = m if rows is None else int(rows.size)

    def subset(self, indices: NDArray[np.intp]) -> FilePixels:
        """The images at indices (increasing) of this set, still left in the file."""
        rows = indices if self.rows is None else self.rows[indices]
        return FilePixels(self.path, self.name, self.stored, self.chunk_rows, self.identity, rows)

    def read(self, start: int, stop: int) -> NDArray[np.uint8]:
        """Images start to stop, (stop - start, 64, 64, 3), read a slice at a time."""
        if self.rows is not None:
            return self.subset(np.arange(start, min(stop, self.m))).read_all()
        stop = min(stop, self.m)
        taken = np.empty((stop - start, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        for first, last in self._spans(MAX_READ_ROWS, start, stop):
            self._read_held(first, last, taken[first - start : last - start])
        return taken

    def read_all(self) -> NDArray[np.uint8]:
        """Every image of the set, (m, 64, 64, 3), read a slice at a time."""
        if self.rows is None:
            return self.read(0, self.m)
        taken = np.empty((self.m, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        start = 0
        for part in self.slices(MAX_READ_ROWS):
            taken[start : start + part.shape[0]] = part
            start += part.shape[0]
        return taken

    def take(self, indices: Sequence[int] | NDArray[np.integer]) -> NDArray[np.uint8]:
        """The images at indices, (len(indices), 64, 64, 3), TAKE_ROWS per opening of the
        file."""
        taken = np.empty((len(indices), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
        rows = [int(i) if self.rows is None else int(self.rows[i]) for i in indices]
        for k in range(0, len(rows), TAKE_ROWS):
            interrupts.call_held(self._take, rows[k : k + TAKE_ROWS], taken[k : k + TAKE_ROWS])
        return taken

    def slices(self, rows: int) -> Iterator[NDArray[np.uint8]]:
        """Consecutive slices of about rows images, (k, 64, 64, 3), read into one reused buffer.

        Reads are rounded to whole chunks of a chunked file, so that each chunk is read
        and decompressed once per pass; each opens the file again, in a region interrupts
        wait for (`catclf.interrupts`), so that none waits longer than one read. With a
        selection of rows, each read keeps the selected images only (a slice may then be
        smaller, never larger).
        """
        buffer: NDArray[np.uint8] | None = None
        for start, stop in self._spans(rows, 0, self.stored):
            if buffer is None:
                buffer = np.empty((stop - start, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), np.uint8)
            if self.rows is None:
                yield self._read_held(start, stop, buffer[: stop - start])
                continue
            first, last = np.searchsorted(self.rows, (start, stop))
            if first == last:
                continue  # nothing selected here: not read at all
            part = self._read_held(start, stop, buffer[: stop - start])
            yield part[self.rows[first:last] - start]

    def _spans(self, rows: int, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """(first, last) positions in the file, from start to stop, about rows at a time:
        whole chunks of a chunked file, so that no chunk is read twice."""
        if self.chunk_rows:
            rows = max(self.chunk_rows, rows - rows % self.chunk_rows)
        rows = max(1, min(rows, self.stored))
        first = start
        while first < stop:
            last = min((first // rows + 1) * rows, stop)
            yield first, last
            first = last

    def _read_held(self, start: int, stop: int, out: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Images start to stop read into out, the file opened for them alone."""
        return interrupts.call_held(self._read_opened, start, stop, out)

    def _read_opened(self, start: int, stop: int, out: NDArray[np.uint8]) -> NDArray[np.uint8]:
        with hdf5.reopen(self.path, self.identity, DataError) as f:
            return self._read(f, start, stop, out)

    def _take(self, rows: list[int], out: NDArray[np.uint8]) -> None:
        with hdf5.reopen(self.path, self.identity, DataError) as f:
            for k, row in enumerate(rows):
                self._read(f, row, row + 1, out[k : k + 1])

    def _read(self, f: Any, start: int, stop: int, out: NDArray[np.uint8]) -> NDArray[np.uint8]:
        try:
            node = hdf5.node(f, self.name, self.path, DataError, self.name)
            if node is None or node.shape[0] != self.stored:
                raise DataError(f"{self.path}: {self.name} changed while it was being read")
            node.read_direct(out, np.s_[start:stop])
            return out
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
            raise DataError(f"{self.path}: corrupt HDF5 file ({reason(e)})") from e


def bundled() -> tuple[Dataset, Dataset]:
    """The course's cat / non-cat training and test sets that ship inside the package."""
    train, test = load(BUNDLED_DIR)
    assert test is not None
    train.origin, test.origin = BUNDLED_NAME, BUNDLED_TEST_NAME
    return train, test


def load_data(
    data: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Callable[[int], Progress] | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
) -> tuple[Dataset, Dataset | None]:
    """(training set, test set or None) as `catclf train DATA --test TEST` takes them.

    data in any of its three forms (see `load`), or None for the bundled course set.
    The test set is test (of a course folder, its test_*.h5) when given, else the one
    data brings: the test file of a course folder, the bundled test set. Images that
    cannot be read are left out and listed in each set's `skipped`, or raise ImageError
    with strict. See `load` for progress, jobs and memory_limit.
    """
    options: dict[str, Any] = {
        "positive": positive,
        "strict": strict,
        "progress": progress,
        "jobs": jobs,
        "memory_limit": memory_limit,
    }
    train_set, test_set = bundled() if data is None else load(Path(data), **options)
    if test is not None:
        test_set = load_test(Path(test), **options)
    return train_set, test_set


def load_dataset() -> tuple[
    NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64], NDArray[np.bytes_]
]:
    """The bundled course set as the course notebook's own `load_dataset()` returns it:
    (train_set_x_orig (209, 64, 64, 3) uint8, train_set_y (1, 209) int64,
    test_set_x_orig (50, 64, 64, 3) uint8, test_set_y (1, 50) int64,
    classes (2,) bytes, [b"non-cat", b"cat"])."""
    train, test = bundled()
    classes = np.array([name.encode() for name in train.classes])
    return (
        train.images,
        train.labels.reshape(1, -1),
        test.images,
        test.labels.reshape(1, -1),
        classes,
    )


def load(
    path: Path,
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Callable[[int], Progress] | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
    in_file: bool = False,
) -> tuple[Dataset, Dataset | None]:
    """Load DATA in any of its three forms; return (data, test set it brings or None).

    - an HDF5 file: its train_set_* (or test_set_*) arrays; no test set;
    - a folder with train_*.h5 (and optionally test_*.h5): those two files;
    - a folder with two class folders: the images below them; no test set.

    progress(total) is called once the number of images to decode is known and
    returns a function called with the number decoded since its last call. Images are
    decoded in up to jobs processes. memory_limit, in bytes, leaves large HDF5 images in
    their file (see `read_hdf5`) and refuses a photo folder whose images would not fit.
    """
    kind = _kind(path)
    if kind is None:
        raise DataError(f"{path}: no such file or folder")
    if stat.S_ISREG(kind):
        return read_hdf5(path, memory_limit=memory_limit, in_file=in_file), None
    if not stat.S_ISDIR(kind):
        raise DataError(f"{path}: not a file or folder")
    train_files, test_files = course_files(path)
    if train_files:
        if len(train_files) > 1 or len(test_files) > 1:
            names = ", ".join(p.name for p in train_files + test_files)
            raise DataError(
                f"{path}: expected one train_*.h5 and at most one test_*.h5, found {names}"
            )
        test = (
            read_hdf5(test_files[0], memory_limit=memory_limit, in_file=in_file)
            if test_files
            else None
        )
        return read_hdf5(train_files[0], memory_limit=memory_limit, in_file=in_file), test
    folder = read_folder(
        path,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
    )
    return folder, None


def load_test(
    path: Path,
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Callable[[int], Progress] | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
    in_file: bool = False,
) -> Dataset:
    """Load DATA named as a test set: like `load`, but a course folder gives its test_*.h5.
    in_file leaves the images of an HDF5 set in their file (see `read_hdf5`)."""
    kind = _kind(path)
    if kind is not None and stat.S_ISDIR(kind):
        train_files, test_files = course_files(path)
        if len(test_files) == 1:
            return read_hdf5(test_files[0], memory_limit=memory_limit, in_file=in_file)
        if train_files or test_files:
            raise DataError(f"{path}: expected exactly one test_*.h5 file to use as the test set")
    data, _ = load(
        path,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
        in_file=in_file,
    )
    return data


def _kind(path: Path) -> int | None:
    """path's st_mode, following links; None when nothing is there. Raises DataError naming
    path and the reason when the system refuses to say (no permission, a name too long)."""
    try:
        return os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({reason(e)})") from e


def course_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(train_*.h5 files, test_*.h5 files) in folder, sorted; .hdf5 counts as .h5."""
    files = [
        p for p, kind in _entries(folder) if p.suffix.lower() in HDF5_SUFFIXES and kind == "file"
    ]
    train = [p for p in files if p.name.startswith("train_")]
    test = [p for p in files if p.name.startswith("test_")]
    return train, test


def read_hdf5(path: Path, *, memory_limit: int | None = None, in_file: bool = False) -> Dataset:
    """An HDF5 file in the course layout: {prefix}_x uint8 (m, 64, 64, 3), {prefix}_y (m,)
    or (1, m) of 0 / 1, and optionally list_classes [negative, positive], where prefix is
    train_set or test_set.

    A file written by `write_hdf5` also holds {prefix}_paths: the examples' sources are then
    those paths, joined to the file's source_folder attribute; otherwise "file.h5[i]".
    The images are read into memory unless `pixels_fit` says they do not fit memory_limit
    bytes, or in_file asks (for data read once, such as a set to score); then they stay in
    the file, read a slice at a time. The labels are read and
    checked a slice at a time either way. Only values the file itself holds are read, each
    read bounded before it is made (`catclf.hdf5`). The file is read in short regions that
    interrupts wait for (`catclf.interrupts`): what it says of itself, then its chunks
    checked a few at a time, then its images a slice at a time.
    """
    prefix, pixels, labels, sources, classes = interrupts.call_held(_read_course_file, path)
    try:
        hdf5.check_inflation(path, pixels.name, pixels.identity, DataError, f"{prefix}_x")
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        raise DataError(f"{path}: corrupt HDF5 file ({reason(e)})") from e
    left = in_file or not pixels_fit(pixels.m, memory_limit)
    images = cast("NDArray[np.uint8]", pixels if left else pixels.read_all())
    return Dataset(images, labels, sources, classes, origin=str(path), hdf5_file=str(path))


def _read_course_file(
    path: Path,
) -> tuple[str, FilePixels, NDArray[np.int64], list[str], tuple[str, str]]:
    """(prefix, the images left in the file, labels, sources, classes) of the course file
    at path, all checked but the inflation of the images' chunks."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if e.errno is not None:  # the system refused: permissions, say
            raise DataError(f"{path}: cannot read ({reason(e)})") from e
        raise DataError(f"{path}: not a readable HDF5 file ({reason(e)})") from e
    try:
        with f:
            prefix, x_node, y_node = _course_nodes(f, path)
            classes = _read_classes(f, path)
            m = x_node.shape[0]
            labels = _read_labels(y_node, m, path, prefix)
            sources = _read_sources(f, prefix, m, path)
            if m == 0:
                raise DataError(f"{path}: {prefix}_x holds no images")
            chunks = x_node.chunks[0] if x_node.chunks else None
            pixels = FilePixels(path, x_node.name, m, chunks, hdf5.identity(f))
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        # h5py reports damaged metadata (not only a short file) when a name is looked up.
        raise DataError(f"{path}: corrupt HDF5 file ({reason(e)})") from e
    return prefix, pixels, labels, sources, classes


def memory_needed(m: int) -> int:
    """Bytes that m images take in memory with their X: 1 byte a pixel value, 8 in X."""
    return 9 * N_X * m


def pixels_fit(m: int, memory_limit: int | None) -> bool:
    """Whether m images, 12288 bytes each, may be held in memory: in three quarters of the
    limit, which leaves a quarter for the blocks of X made from them (None: no limit)."""
    return memory_limit is None or N_X * m <= memory_limit * 3 // 4


def _course_nodes(f: Any, path: Path) -> tuple[str, Any, Any]:
    """(prefix, images node (m, 64, 64, 3), labels node) of an open course-layout file."""
    import h5py

    def find(name: str) -> Any:
        # By its link, looked at before it is followed: an external link is refused.
        return hdf5.node(f, name, path, DataError, name)

    prefix = "train_set"
    x_node = find("train_set_x")
    if x_node is None:
        prefix, x_node = "test_set", find("test_set_x")
    y_node = None if x_node is None else find(f"{prefix}_y")
    if x_node is None or y_node is None:
        found = ", ".join(sorted(f.keys())) or "nothing"
        raise DataError(
            f"{path}: expected datasets train_set_x and train_set_y (or test_set_x and "
            f"test_set_y), found {found}"
        )
    if not isinstance(x_node, h5py.Dataset) or not isinstance(y_node, h5py.Dataset):
        raise DataError(f"{path}: {prefix}_x and {prefix}_y must be datasets, not groups")
    expected = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
    if x_node.dtype != np.uint8 or x_node.ndim != 4 or x_node.shape[1:] != expected:
        raise DataError(
            f"{path}: {prefix}_x is {x_node.dtype} {x_node.shape}, expected uint8 "
            f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS})"
        )
    if y_node.dtype.kind not in "iufb":
        raise DataError(f"{path}: {prefix}_y has dtype {y_node.dtype}, expected numbers 0 / 1")
    # A few kilobytes could otherwise declare a billion images never written, or take
    # them from another file, and cost the memory or the hours of reading them. Its chunks
    # are inflated later, a few at a time (`hdf5.check_inflation`).
    hdf5.check_dataset(
        x_node, path, DataError, f"{prefix}_x", declared=f"{x_node.shape[0]} images", inflate=False
    )
    return prefix, x_node, y_node


def _read_labels(node: Any, m: int, path: Path, prefix: str) -> NDArray[np.int64]:
    """The m labels of node, (m,) or (1, m), read and checked LABEL_ROWS at a time."""
    if node.size != m:
        raise DataError(f"{path}: {prefix}_x has {m} images but {prefix}_y has {node.size} labels")
    hdf5.check_dataset(node, path, DataError, f"{prefix}_y", declared=f"{m} labels")
    labels = np.empty(m, dtype=np.int64)
    bad: list[NDArray[np.generic]] = []
    row = node.ndim == 2 and node.shape[0] == 1
    step = LABEL_ROWS if node.ndim == 1 or row else max(m, 1)
    for start in range(0, m, step):
        if node.ndim == 1:
            part = node[start : start + step]
        elif row:
            part = node[0, start : start + step]
        else:
            part = np.asarray(node[()]).reshape(-1)
        wrong = ~np.isin(part, (0, 1))
        if wrong.any():
            bad.append(np.unique(part[wrong]))
        else:  # only 0 / 1 is cast: a NaN or 1e300 would warn on the way to an integer
            labels[start : start + len(part)] = part
    if bad:
        values = ", ".join(str(v) for v in np.unique(np.concatenate(bad))[:5])
        raise DataError(f"{path}: {prefix}_y holds labels other than 0 and 1: {values}")
    return labels


def _read_classes(f: object, path: Path) -> tuple[str, str]:
    import h5py

    assert isinstance(f, h5py.File)
    node = hdf5.node(f, "list_classes", path, DataError, "list_classes")
    if node is None:
        return DEFAULT_CLASSES
    if (
        not isinstance(node, h5py.Dataset)
        or node.shape != (2,)
        or h5py.check_string_dtype(node.dtype) is None
    ):
        raise DataError(f"{path}: list_classes must hold two names, [negative, positive]")
    hdf5.check_dataset(node, path, DataError, "list_classes")
    names = [
        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for v in hdf5.read_texts(node, path, DataError, "list_classes")
    ]
    return names[0], names[1]


def _read_sources(f: object, prefix: str, m: int, path: Path) -> list[str]:
    import h5py

    assert isinstance(f, h5py.File)
    name = f"{prefix}_paths"
    node = hdf5.node(f, name, path, DataError, name)
    if node is None:
        return [f"{path}[{i}]" for i in range(m)]
    if (
        not isinstance(node, h5py.Dataset)
        or node.shape != (m,)
        or h5py.check_string_dtype(node.dtype) is None
    ):
        raise DataError(f"{path}: {name} must hold one path per image, {m} strings")
    hdf5.check_dataset(node, path, DataError, name)
    folder = hdf5.attribute(f, "source_folder", path, DataError, "attribute 'source_folder'")
    texts = hdf5.read_texts(node, path, DataError, name)
    return [str(Path(_fs_text(folder or ""), _fs_text(p))) for p in texts]


def _fs_text(value: object) -> str:
    """A path stored as the bytes the file system gave, back as the str Python uses for it."""
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def write_hdf5(
    path: Path,
    data: Dataset,
    prefix: str,
    paths: Sequence[str],
    attrs: Mapping[str, object],
    progress: Progress | None = None,
) -> None:
    """Write data to path in the course layout, as `read_hdf5` reads it.

    {prefix}_x uint8 (m, 64, 64, 3) and {prefix}_y int64 (m,) in gzip-compressed chunks
    of WRITE_CHUNK images; list_classes (2,) bytes [negative, positive]; {prefix}_paths
    (m,) the paths, as the file system's bytes (UTF-8 for any name that is valid UTF-8);
    attrs as file attributes. progress(n) is told of every n images written. The file
    (created, or emptied) is written in place, a chunk of images per region that interrupts
    wait for (`catclf.hdf5.Writing`): use `catclf.files.write_atomically` around it.
    """
    m = data.m
    images = data.images  # once: of a set left in its file, each use reads it all
    with hdf5.Writing(path) as out:
        out.run(_create_course_file, data, prefix, paths, attrs)
        for start in range(0, m, WRITE_CHUNK):
            stop = min(start + WRITE_CHUNK, m)
            out.run(_write_images, f"{prefix}_x", start, images[start:stop])
            if progress is not None:
                progress(stop - start)


def _create_course_file(
    f: Any, data: Dataset, prefix: str, paths: Sequence[str], attrs: Mapping[str, object]
) -> None:
    """Everything of write_hdf5's file but the images, which are declared, to be written."""
    import h5py

    m = data.m
    text = h5py.string_dtype("utf-8")
    packed = {"compression": "gzip", "compression_opts": GZIP_LEVEL}
    f.create_dataset(
        f"{prefix}_x",
        shape=(m, IMAGE_SIZE, IMAGE_SIZE, CHANNELS),
        dtype=np.uint8,
        chunks=(max(1, min(m, WRITE_CHUNK)), IMAGE_SIZE, IMAGE_SIZE, CHANNELS),
        **packed,
    )
    f.create_dataset(f"{prefix}_y", data=data.labels.astype(np.int64), **packed)
    f.create_dataset("list_classes", data=np.array([os.fsencode(c) for c in data.classes]))
    f.create_dataset(f"{prefix}_paths", data=[os.fsencode(p) for p in paths], dtype=text, **packed)
    for key, value in attrs.items():
        if isinstance(value, bytes):
            f.attrs.create(key, data=value, dtype=text)
        else:
            f.attrs[key] = value


def _write_images(f: Any, name: str, start: int, pixels: NDArray[np.uint8]) -> None:
    f[name][start : start + pixels.shape[0]] = pixels


def read_folder(
    folder: Path,
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Callable[[int], Progress] | None = None,
    jobs: int = 1,
    memory_limit: int | None = None,
    spill: Path | None = None,
) -> Dataset:
    """A folder with exactly two class folders; images below each, recursively.

    The class folder named positive (any case), or else the one named cat or cats,
    holds the positive examples. Unreadable images, and folders below a class folder that
    cannot be listed, are skipped and listed, or with strict=True raise ImageError; other
    files without an image extension are counted as ignored (`list_images`). Images are
    decoded in up to jobs processes, each straight into its row of the (m, 64, 64, 3)
    array, which must fit memory_limit (`pixels_fit`): only an HDF5 file can be read a
    slice at a time. Given a spill folder, an array that does not fit is kept in a file
    there instead (`spilled_pixels`).
    """
    negative_dir, positive_dir = class_folders(folder, positive)
    unsorted = sum(1 for p, kind in _entries(folder) if kind != "folder" and is_image_name(p))
    classes = ((positive_dir, 1), (negative_dir, 0))
    listings = {label: list_images(class_dir) for class_dir, label in classes}
    files = [(p, label) for _, label in classes for p in listings[label].images]
    skipped: list[Skipped] = []
    for class_dir, label in classes:
        for where, why in listings[label].unreadable:
            if where == str(class_dir):
                raise DataError(f"{where}: {why}")
            if strict:
                raise ImageError(f"{where}: {why}")
            skipped.append(Skipped(where, why))
        if not listings[label].images:
            raise DataError(
                f"{class_dir}: no images in this class folder (looked for "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
    fits = pixels_fit(len(files), memory_limit)
    if not fits and spill is None:
        raise DataError(
            f"{folder}: its {len(files)} images take {format_size(len(files) * N_X)} decoded, "
            f"more than 3/4 of the memory limit of {format_size(memory_limit or 0)}; write them "
            "once as course files with `catclf prepare DATA --out FOLDER` and train on FOLDER, "
            "which is read a slice at a time, or raise --memory-limit"
        )
    if spill is not None and not fits:
        images = spilled_pixels(spill, len(files))
    else:
        images = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    sources: list[str] = []
    with reader(jobs, len(files)) as read:
        advance = progress(len(files)) if progress is not None else None
        decoded = read((path, str(path)) for path, _ in files)
        for (path, label), pixels in zip(files, decoded, strict=True):
            if isinstance(pixels, ImageError):
                if strict:
                    raise pixels
                skipped.append(Skipped(str(path), str(pixels).removeprefix(f"{path}: ")))
            else:
                images[len(sources)] = pixels
                labels[len(sources)] = label
                sources.append(str(path))
            if advance is not None:
                advance(1)
    m = len(sources)
    positives = int(labels[:m].sum())
    for class_dir, count in ((positive_dir, positives), (negative_dir, m - positives)):
        if count == 0:
            raise DataError(f"{class_dir}: none of the images in this class folder could be read")
    return Dataset(
        images[:m],
        labels[:m],
        sources,
        (negative_dir.name, positive_dir.name),
        str(folder),
        skipped,
        ignored=sum(listing.ignored for listing in listings.values()),
        unsorted=unsorted,
    )


def spilled_pixels(folder: Path, m: int) -> NDArray[np.uint8]:
    """An (m, 64, 64, 3) uint8 array kept in a temporary file in folder, not in memory.

    The file has no name from the start (or loses it at once), so nothing of it is left
    behind, even by a crash; its pages are the system's to write out and reclaim. Its
    space is taken on the disk at once (posix_fallocate, where the system has it): a disk
    too full for it is an error here, where a page of a mapping that cannot be written
    later would end the process with SIGBUS.
    """
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".catclf-pixels-") as f:
            size = max(m, 1) * N_X
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(f.fileno(), 0, size)
            else:
                f.truncate(size)
            # The mapping keeps the file open after the with block closes it.
            return np.memmap(
                f, dtype=np.uint8, mode="r+", shape=(m, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
            )
    except OSError as e:
        raise DataError(f"{folder}: cannot hold the decoded images here ({reason(e)})") from e


def class_folders(folder: Path, positive: str | None = None) -> tuple[Path, Path]:
    """(negative folder, positive folder) among the two non-hidden subfolders of folder."""
    subdirs = [p for p, kind in _entries(folder) if kind == "folder" and not p.name.startswith(".")]
    if len(subdirs) != 2:
        found = ", ".join(p.name for p in subdirs) if subdirs else "none"
        raise DataError(
            f"{folder}: expected exactly two class folders (such as cat/ and non-cat/) or "
            f"train_*.h5 files, found {len(subdirs)} folder{'' if len(subdirs) == 1 else 's'}: "
            f"{found}"
        )
    if positive is not None:
        matches = [p for p in subdirs if p.name.lower() == positive.lower()]
        if not matches:
            names = ", ".join(p.name for p in subdirs)
            raise DataError(f"{folder}: no class folder named {positive!r} (found {names})")
    else:
        matches = [p for p in subdirs if p.name.lower() in POSITIVE_NAMES]
        if not matches:
            names = " and ".join(p.name for p in subdirs)
            raise DataError(
                f"{folder}: neither class folder ({names}) is named cat or cats; "
                "name the positive one with --positive NAME"
            )
    if len(matches) != 1:
        raise DataError(
            f"{folder}: both class folders match; name the positive one with --positive"
        )
    pos = matches[0]
    neg = subdirs[1] if subdirs[0] == pos else subdirs[0]
    return neg, pos


def _entries(folder: Path) -> list[tuple[Path, str]]:
    """The entries of folder, sorted, each with what it is: "folder", "file" (a regular
    file) or "other"; a link counts as what it leads to.

    Their kinds come from the listing itself where the system gives them, so that a folder
    that may be listed but not searched raises no internal error: an entry that cannot be
    examined raises DataError naming it.
    """
    entries: list[tuple[Path, str]] = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                path = Path(folder, entry.name)
                try:
                    kind = "folder" if entry.is_dir() else "file" if entry.is_file() else "other"
                except OSError as e:
                    raise DataError(f"{path}: cannot read ({reason(e)})") from e
                entries.append((path, kind))
    except OSError as e:
        raise DataError(f"{folder}: cannot list this folder ({reason(e)})") from e
    return sorted(entries)


def location(data: Dataset) -> str:
    """Where data can be read again: the bundled test set's name, or the absolute path of
    the file or folder it was read from; "" when it was not read from one (made in memory, a
    part of another set)."""
    if data.origin in (BUNDLED_NAME, BUNDLED_TEST_NAME):
        return data.origin
    try:
        return os.path.abspath(data.origin) if os.path.lexists(data.origin) else ""
    except (TypeError, ValueError):  # an origin that cannot be a path
        return ""


def unsorted_note(data: Dataset) -> str | None:
    """What to say of the images beside data's class folders, in one line, or None."""
    if not data.unsorted:
        return None
    images = "image is" if data.unsorted == 1 else "images are"
    return (
        f"{data.unsorted} {images} in {data.origin} beside its class folders, in no class, "
        f"and not used: move them into {data.classes[1]}/ or {data.classes[0]}/"
    )
