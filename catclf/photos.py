"""A folder of photos in two class folders: the class folder named cat or cats (or as
`positive` says) holds the cats, the other everything else; every image below each, decoded
in worker processes (`catclf.workers`) straight into its row of the (m, 64, 64, 3) pixels.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from catclf.dataset import Dataset, Skipped, pixels_fit
from catclf.errors import DataError, ImageError, reason
from catclf.folders import entries, list_images
from catclf.images import CHANNELS, IMAGE_EXTENSIONS, IMAGE_SIZE, N_X, is_image_name
from catclf.memory import format_size
from catclf.progress import Progress, note, unwatched, warn
from catclf.workers import reader

POSITIVE_NAMES = ("cat", "cats")


def read_folder(
    folder: Path,
    *,
    positive: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
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
    unsorted = sum(1 for p, kind in entries(folder) if kind != "folder" and is_image_name(p))
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
            f"more than 3/4 of the memory limit of {format_size(memory_limit or 0)}",
            advice="prepare",
        )
    if spill is not None and not fits:
        images = spilled_pixels(spill, len(files))
    else:
        images = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE, CHANNELS), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    sources: list[str] = []
    with reader(jobs, len(files)) as read:
        note(f"decoding {len(files)} images from {folder}")
        step = (progress or unwatched)("decoding", len(files), unit="images")
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
            step(1)
    for s in skipped:
        note(f"skipped {s.path}: {s.error}")
    m = len(sources)
    positives = int(labels[:m].sum())
    for class_dir, count in ((positive_dir, positives), (negative_dir, m - positives)):
        if count == 0:
            raise DataError(f"{class_dir}: none of the images in this class folder could be read")
    data = Dataset(
        images[:m],
        labels[:m],
        sources,
        (negative_dir.name, positive_dir.name),
        str(folder),
        skipped,
        ignored=sum(listing.ignored for listing in listings.values()),
        unsorted=unsorted,
    )
    said = unsorted_note(data)
    if said is not None:
        warn(said)
    return data


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
    subdirs = [p for p, kind in entries(folder) if kind == "folder" and not p.name.startswith(".")]
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
                f"{folder}: neither class folder ({names}) is named cat or cats",
                advice="positive",
            )
    if len(matches) != 1:
        raise DataError(f"{folder}: both class folders match", advice="positive")
    pos = matches[0]
    neg = subdirs[1] if subdirs[0] == pos else subdirs[0]
    return neg, pos


def unsorted_note(data: Dataset) -> str | None:
    """What to say of the images beside data's class folders, in one line, or None."""
    if not data.unsorted:
        return None
    images = "image is" if data.unsorted == 1 else "images are"
    return (
        f"{data.unsorted} {images} in {data.origin} beside its class folders, in no class, "
        f"and not used: move them into {data.classes[1]}/ or {data.classes[0]}/"
    )
