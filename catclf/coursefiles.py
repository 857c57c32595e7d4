"""The course's HDF5 layout, as its notebook's `load_dataset` reads it: {prefix}_x uint8
(m, 64, 64, 3), {prefix}_y of 0 / 1 and list_classes [negative, positive], where prefix is
train_set or test_set; with the photos' paths when `catclf prepare` wrote the file.

Only values the file itself holds are read, each read bounded before it is made
(`catclf.hdf5`), and every piece of HDF5 work is short and held against interrupts
(`catclf.interrupts`). Images may stay in the file (`FilePixels`) and be read a slice at a
time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import h5py
import numpy as np
from numpy.typing import NDArray

from catclf import hdf5, interrupts
from catclf.dataset import MAX_READ_ROWS, Dataset, pixels_fit
from catclf.errors import DataError, reason
from catclf.folders import entries
from catclf.images import CHANNELS, IMAGE_SIZE
from catclf.progress import Step

DEFAULT_CLASSES = ("non-cat", "cat")
HDF5_SUFFIXES = (".h5", ".hdf5")
WRITE_CHUNK = 64  # images per HDF5 chunk: a slice of a large set reads few chunks
# Labels and paths only. Pixels are stored as they are: the pixels of photos shrink by 12 to
# 14 % under gzip, and inflating them runs at about 150 MB/s: more than ten times the
# arithmetic of an iteration when training streams a large set from its file.
GZIP_LEVEL = 4
LABEL_ROWS = 1 << 16
TAKE_ROWS = 16  # images picked one by one from a file per opening of it: 16 chunks at most


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
        # Whole chunks (`_spans`), each read once: nothing for a chunk cache to keep.
        with hdf5.reopen(self.path, self.identity, DataError, chunk_cache=False) as f:
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


def course_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(train_*.h5 files, test_*.h5 files) in folder, sorted; .hdf5 counts as .h5."""
    files = [
        p for p, kind in entries(folder) if p.suffix.lower() in HDF5_SUFFIXES and kind == "file"
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
    walked = hdf5.check_heaps(path, path, DataError)
    prefix, pixels, labels, sources, classes = interrupts.call_held(_read_course_file, path, walked)
    try:
        hdf5.check_inflation(path, pixels.name, pixels.identity, DataError, f"{prefix}_x")
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        raise DataError(f"{path}: corrupt HDF5 file ({reason(e)})") from e
    left = in_file or not pixels_fit(pixels.m, memory_limit)
    images = cast("NDArray[np.uint8]", pixels if left else pixels.read_all())
    return Dataset(images, labels, sources, classes, origin=str(path), hdf5_file=str(path))


def _read_course_file(
    path: Path, walked: tuple[int, ...] | None
) -> tuple[str, FilePixels, NDArray[np.int64], list[str], tuple[str, str]]:
    """(prefix, the images left in the file, labels, sources, classes) of the course file
    at path, all checked but the inflation of the images' chunks; the file must be the one
    whose heaps `hdf5.check_heaps` walked."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if e.errno is not None:  # the system refused: permissions, say
            raise DataError(f"{path}: cannot read ({reason(e)})") from e
        raise DataError(f"{path}: not a readable HDF5 file ({reason(e)})") from e
    try:
        with hdf5.same_file(f, walked, path, DataError):
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


def _course_nodes(f: Any, path: Path) -> tuple[str, Any, Any]:
    """(prefix, images node (m, 64, 64, 3), labels node) of an open course-layout file."""

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
    step: Step | None = None,
) -> None:
    """Write data to path in the course layout, as `read_hdf5` reads it.

    {prefix}_x uint8 (m, 64, 64, 3) in chunks of at most WRITE_CHUNK images (`chunk_rows`),
    uncompressed, so that
    a set streamed from the file is read at the speed of memory; {prefix}_y int64 (m,)
    gzip-compressed; list_classes (2,) bytes [negative, positive]; {prefix}_paths
    (m,) the paths, as the file system's bytes (UTF-8 for any name that is valid UTF-8);
    attrs as file attributes. step(n) is told of every n images written. The file
    (created, or emptied) is written in place, a chunk of images per region that interrupts
    wait for (`catclf.hdf5.Writing`): use `catclf.files.write_atomically` around it.
    """
    m = data.m
    images = data.images  # once: of a set left in its file, each use reads it all
    with hdf5.Writing(path) as out:
        out.run(_create_course_file, data, prefix, paths, attrs)
        rows = chunk_rows(m)  # a chunk per write, whole
        for start in range(0, m, rows):
            stop = min(start + rows, m)
            out.run(_write_images, f"{prefix}_x", start, images[start:stop])
            if step is not None:
                step(stop - start)


def _create_course_file(
    f: Any, data: Dataset, prefix: str, paths: Sequence[str], attrs: Mapping[str, object]
) -> None:
    """Everything of write_hdf5's file but the images, which are declared, to be written."""
    m = data.m
    text = h5py.string_dtype("utf-8")
    packed = {"compression": "gzip", "compression_opts": GZIP_LEVEL}
    f.create_dataset(
        f"{prefix}_x",
        shape=(m, IMAGE_SIZE, IMAGE_SIZE, CHANNELS),
        dtype=np.uint8,
        chunks=(chunk_rows(m), IMAGE_SIZE, IMAGE_SIZE, CHANNELS),
    )
    f.create_dataset(f"{prefix}_y", data=data.labels.astype(np.int64), **packed)
    f.create_dataset("list_classes", data=np.array([os.fsencode(c) for c in data.classes]))
    f.create_dataset(f"{prefix}_paths", data=[os.fsencode(p) for p in paths], dtype=text, **packed)
    for key, value in attrs.items():
        if isinstance(value, bytes):
            f.attrs.create(key, data=value, dtype=text)
        else:
            f.attrs[key] = value


def chunk_rows(m: int) -> int:
    """Images per chunk for m images: at most WRITE_CHUNK, and as equal as can be, since
    HDF5 stores every chunk whole: 135 images take 3 chunks of 45, not 3 of 64 with 57
    images' room left empty, stored as they are."""
    chunks = -(-max(m, 1) // WRITE_CHUNK)
    return -(-max(m, 1) // chunks)


def _write_images(f: Any, name: str, start: int, pixels: NDArray[np.uint8]) -> None:
    f[name][start : start + pixels.shape[0]] = pixels
