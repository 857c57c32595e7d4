"""A folder of photos decoded once into the course's datasets/ layout: train_NAME.h5 and,
with a test fraction, test_NAME.h5.

The split is decided per file by a hash of its path relative to the photo folder, so a
photo keeps its side when others are added, and the folder can be moved or copied without
changing it. Both files are written together, atomically, and only in place of files
catclf wrote (see `catclf.files`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from catclf import parameters, timestamps
from catclf._version import __version__
from catclf.coursefiles import WRITE_CHUNK, course_files, write_hdf5
from catclf.dataset import Dataset
from catclf.errors import DataError, reason
from catclf.files import Writer, check_names, write_files
from catclf.images import PREPROCESSING
from catclf.photos import read_folder, spilled_pixels
from catclf.progress import Progress, Step, note, unwatched
from catclf.splits import stable_fraction


@dataclass(frozen=True)
class Written:
    """A file written by `write`: its path, the examples in it and its size on disk."""

    path: Path
    data: Dataset
    size: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: path, examples, positives, negatives, bytes."""
        return {
            "path": str(self.path),
            "examples": self.data.m,
            "positives": self.data.positives,
            "negatives": self.data.m - self.data.positives,
            "bytes": self.size,
        }


@dataclass(frozen=True)
class Prepared:
    """What `prepare` did: the photos it read from source, and the files it wrote into
    folder (train first, then test with a test fraction); removed is a test file of an
    earlier run that it removed, or None."""

    folder: Path
    name: str
    source: Path
    photos: Dataset
    test_fraction: float | None
    written: list[Written]
    removed: Path | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as `catclf prepare --json` prints it (without the seconds)."""
        train, *test = self.written
        return {
            "folder": str(self.folder),
            "name": self.name,
            "source": str(self.source),
            "classes": list(self.photos.classes),
            "test_fraction": self.test_fraction,
            "train": train.as_dict(),
            "test": test[0].as_dict() if test else None,
            "skipped": [{"path": s.path, "error": s.error} for s in self.photos.skipped],
            "ignored": self.photos.ignored,
            "unsorted": self.photos.unsorted,
        }


def prepare(
    source: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    test_fraction: float | None = None,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    memory_limit: int | str | None = "auto",
    force: bool = False,
    progress: Progress | None = None,
    on_saved: Callable[[], None] | None = None,
) -> Prepared:
    """Decode the photos of source (a folder of class folders) once and write them into
    folder as train_NAME.h5, and with test_fraction also test_NAME.h5 (see `split`).

    name defaults to source's own name. Both places are checked before any photo is
    decoded. Images beyond memory_limit wait in a temporary file beside folder.
    progress watches the "decoding" and then the "writing" of the images
    (`catclf.progress`); a test file of an earlier run that this one replaces with none is
    removed, and noted. on_saved: see `write`. See `read_folder` for the rest, and
    `catclf.training.run` for jobs and memory_limit.
    """
    source, folder = Path(source), Path(folder)
    name = default_name(source) if name is None else parameters.file_name(name)
    if test_fraction is not None:
        test_fraction = parameters.fraction(test_fraction, "test_fraction")
    jobs = parameters.jobs(jobs)
    memory_limit = parameters.memory_limit(memory_limit)
    check_source(source)
    check_target(folder, name, test=test_fraction is not None, force=force, inputs=[source])
    # Where images beyond the memory limit wait to be written: the disk that takes them.
    spill = folder if folder.is_dir() else folder.parent
    photos = read_folder(
        source,
        positive=positive,
        strict=strict,
        progress=progress,
        jobs=jobs,
        memory_limit=memory_limit,
        spill=spill,
    )
    train, test = (
        (photos, None)
        if test_fraction is None
        else split(photos, source, test_fraction, spill=spill)
    )
    stale = targets(folder, name)[1]
    removed = stale if test is None and stale.is_file() else None
    total = train.m + (0 if test is None else test.m)
    written = write(
        folder,
        name,
        source,
        train,
        test,
        test_fraction=test_fraction,
        step=(progress or unwatched)("writing", total, unit="images"),
        force=force,
        on_saved=on_saved,
    )
    if removed is not None:
        note(f"removed {removed}, the test set of an earlier run")
    return Prepared(folder, name, source, photos, test_fraction, written, removed)


def default_name(folder: Path) -> str:
    """The photo folder's own name, made safe; 'data' when nothing of it is left."""
    return parameters.safe_name(Path(os.path.abspath(folder)).name) or "data"


def targets(out: Path, name: str) -> tuple[Path, Path]:
    """(train file, test file) that `write` writes for name into out."""
    return out / f"train_{name}.h5", out / f"test_{name}.h5"


def check_source(folder: Path) -> None:
    """Raise DataError unless folder is a folder (what is inside is read_folder's to judge)."""
    try:
        info = folder.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{folder}: no such folder") from None
    except OSError as e:  # no permission, a name too long
        raise DataError(f"{folder}: cannot read ({reason(e)})") from e
    if not stat.S_ISDIR(info.st_mode):
        raise DataError(f"{folder}: not a folder; prepare reads a folder with two class folders")


def check_target(
    out: Path,
    name: str,
    *,
    test: bool = False,
    force: bool = False,
    inputs: Sequence[Path] = (),
) -> None:
    """Raise DataError unless out can be written for name: a folder, or a path whose parent
    is one, that holds no course files of another name (`catclf train out` would not know
    which to use), and in which train_NAME.h5 (with test: test_NAME.h5 too; without:
    test_NAME.h5 removed) is not in the place of a file catclf did not write (with force:
    of anything but a regular file or link, or one of inputs). See
    `catclf.files.check_names`."""
    train_path, test_path = targets(out, name)
    check_names(
        out,
        [train_path.name, test_path.name] if test else [train_path.name],
        error=DataError,
        force=force,
        inputs=inputs,
        remove=[] if test else [test_path.name],
    )
    check_alone(out, name)


def check_alone(out: Path, name: str) -> None:
    """Raise DataError if out holds course files of another name than name."""
    if not out.is_dir():
        return
    train_files, test_files = course_files(out)
    others = [p.name for p in train_files + test_files if p not in targets(out, name)]
    if others:
        raise DataError(
            f"{out}: already holds {', '.join(others)}, of another data set than {name!r}, and "
            "a folder of course files to train on holds a single train_*.h5; choose another "
            "folder, or remove them"
        )


def hash_fraction(relative: PurePath) -> float:
    """Where a file falls in [0, 1): `validation.stable_fraction` (the first 8 bytes of a
    SHA-256, over 2**64) of its POSIX path relative to the photo folder, in the file
    system's bytes."""
    return stable_fraction(os.fsencode(relative.as_posix()))


def relative_paths(data: Dataset, folder: Path) -> list[PurePath]:
    """Each example's path relative to folder, the photo folder read_folder read."""
    return [PurePath(source).relative_to(folder) for source in data.sources]


def split(
    data: Dataset, folder: Path, test_fraction: float, *, spill: Path | None = None
) -> tuple[Dataset, Dataset]:
    """(training set, test set): a file goes to the test set when its hash_fraction is below
    test_fraction, decided within each class. A class that would have no file on one side
    gets its file nearest the line moved across, so both sides hold both classes. Each side
    keeps data's order. Raises DataError for a class of a single image.

    Images that read_folder kept in a file (a spill folder) stay in files, in spill."""
    fractions = np.array([hash_fraction(p) for p in relative_paths(data, folder)])
    in_test = fractions < test_fraction
    for label in (1, 0):
        members = np.flatnonzero(data.labels == label)
        if members.size < 2:
            raise DataError(
                f"{folder}: class folder {data.classes[label]!r} has a single readable image; "
                "a training and a test set need at least 2 images of each class"
            )
        side = in_test[members]
        if not side.any():
            in_test[members[np.argmin(fractions[members])]] = True
        elif side.all():
            in_test[members[np.argmax(fractions[members])]] = False
    return _subset(data, ~in_test, spill), _subset(data, in_test, spill)


def _subset(data: Dataset, keep: np.ndarray, spill: Path | None) -> Dataset:
    chosen = np.flatnonzero(keep)
    pixels = data.images
    if isinstance(pixels, np.memmap) and spill is not None:
        images = spilled_pixels(spill, chosen.size)
        for start in range(0, chosen.size, WRITE_CHUNK):
            images[start : start + WRITE_CHUNK] = pixels[chosen[start : start + WRITE_CHUNK]]
    else:
        images = pixels[chosen]
    return replace(
        data,
        images=images,
        labels=data.labels[chosen],
        sources=[data.sources[i] for i in chosen],
        skipped=[],
    )


def write(
    out: Path,
    name: str,
    folder: Path,
    train: Dataset,
    test: Dataset | None,
    *,
    test_fraction: float | None = None,
    step: Step | None = None,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> list[Written]:
    """Write train (and test) read from the photo folder into out as train_NAME.h5 (and
    test_NAME.h5), creating out if needed; without a test set, a test_NAME.h5 left by an
    earlier run is removed so that it cannot pass for this one's. step(n) is told of every
    n images written. What is in out is checked as check_target checks it, with the
    photo folder and inputs as the command's input, and again just before the files are
    renamed into place, with out locked against other catclf runs (see
    `catclf.files.write_files`): two runs into one folder leave one run's files. on_saved()
    is called as soon as they are in place."""
    check_target(out, name, test=test is not None, force=force, inputs=[folder, *inputs])
    attrs: dict[str, object] = {
        "catclf_version": __version__,
        "preprocessing": PREPROCESSING,
        "source_folder": os.fsencode(os.path.abspath(folder)),
        "created": timestamps.now(),
    }
    if test_fraction is not None:
        attrs["test_fraction"] = test_fraction
    train_path, test_path = targets(out, name)
    sets = [(train_path, train, "train_set")]
    if test is not None:
        sets.append((test_path, test, "test_set"))

    sizes: dict[Path, int] = {}

    def writer(path: Path, data: Dataset, prefix: str) -> Writer:
        paths = [p.as_posix() for p in relative_paths(data, folder)]

        def write_set(tmp: Path) -> None:
            write_hdf5(tmp, data, prefix, paths, attrs, step)
            sizes[path] = tmp.stat().st_size  # this run's file, whatever another puts there

        return write_set

    write_files(
        out,
        [(path.name, writer(path, data, prefix)) for path, data, prefix in sets],
        lambda target, why: DataError(f"{target}: cannot write ({why})"),
        error=DataError,
        force=force,
        inputs=[folder, *inputs],
        remove=[] if test is not None else [test_path.name],
        check=lambda: check_alone(out, name),
        on_saved=on_saved,
    )
    return [Written(path, data, sizes[path]) for path, data, _ in sets]
