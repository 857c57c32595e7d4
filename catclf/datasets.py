"""The three forms DATA takes, and the course's own set bundled with catclf: a folder of two
class folders of photos (`catclf.photos`), an HDF5 file in the course layout
(`catclf.coursefiles`), or a folder holding train_*.h5 and test_*.h5 files.

Each form becomes a `catclf.dataset.Dataset`: images (m, 64, 64, 3) uint8, labels (m,) 0 / 1,
whose `X` and `Y` are the course's (12288, m) and (1, m) matrices.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from catclf import parameters
from catclf.coursefiles import course_files, read_hdf5
from catclf.dataset import Dataset
from catclf.errors import DataError, reason
from catclf.photos import read_folder
from catclf.progress import Progress

BUNDLED_DIR = Path(__file__).parent / "data"
BUNDLED_NAME = "bundled cat / non-cat set"
BUNDLED_TEST_NAME = BUNDLED_NAME + " (test)"


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
    progress: Progress | None = None,
    jobs: int | None = 1,
    memory_limit: int | str | None = None,
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
    path: str | os.PathLike[str],
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    jobs: int | None = 1,
    memory_limit: int | str | None = None,
    in_file: bool = False,
) -> tuple[Dataset, Dataset | None]:
    """Load DATA in any of its three forms; return (data, test set it brings or None).

    - an HDF5 file: its train_set_* (or test_set_*) arrays; no test set;
    - a folder with train_*.h5 (and optionally test_*.h5): those two files;
    - a folder with two class folders: the images below them; no test set.

    progress watches the decoding of photos (`catclf.progress`). Images are
    decoded in up to jobs processes. memory_limit, in bytes, leaves large HDF5 images in
    their file (see `read_hdf5`) and refuses a photo folder whose images would not fit;
    see `catclf.parameters` for the values jobs and memory_limit take.
    """
    path = Path(path)
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
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
    path: str | os.PathLike[str],
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    jobs: int | None = 1,
    memory_limit: int | str | None = None,
    in_file: bool = False,
) -> Dataset:
    """Load DATA named as a test set: like `load`, but a course folder gives its test_*.h5.
    in_file leaves the images of an HDF5 set in their file (see `read_hdf5`)."""
    path = Path(path)
    memory_limit = parameters.memory_limit(memory_limit)
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
