"""What a folder holds: its entries and what each is, and the images below it, found by a
walk that keeps a list of the folders still to list rather than recursing, and goes no
deeper than MAX_DEPTH."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from catclf.errors import DataError, ImageError, reason
from catclf.images import is_image_name

# Folders followed below a folder of images: far more than any collection of photos uses, and
# few enough that no path grows beyond what the system takes.
MAX_DEPTH = 64


@dataclass(frozen=True)
class Listing:
    """What is below a folder: the files named like images, sorted; how many other files
    were ignored (hidden files not counted); and each folder that could not be listed, as
    (its path, why)."""

    images: list[Path]
    ignored: int
    unreadable: list[tuple[str, str]]


def list_images(folder: Path) -> Listing:
    """The files named like an image below folder, recursively, and what was left out.

    Hidden files and folders (a leading dot: .DS_Store, ._IMG_1.jpg, .git/) are skipped
    unseen, and so are links to folders, so that a link loop cannot make the walk
    endless. Any other file without an image extension is counted as ignored. A FIFO, a
    broken link or a link loop named like an image is listed, so that reading it reports
    what it is. A folder that cannot be listed, folder itself included, is in unreadable,
    and so is a folder MAX_DEPTH levels below folder that holds folders: those are not
    searched. The walk keeps a list of the folders still to list, not a recursion, so that
    no depth of folders exhausts Python's stack.
    """
    images: list[Path] = []
    ignored = 0
    unreadable: list[tuple[str, str]] = []
    waiting = [(folder, 0)]  # (a folder to list, its depth below folder)
    while waiting:
        here, depth = waiting.pop()
        try:
            with os.scandir(here) as listed:
                entries = list(listed)
        except OSError as e:
            unreadable.append((str(here), f"cannot list this folder ({reason(e)})"))
            continue
        below = []
        for entry in entries:
            path = Path(here, entry.name)
            if _is_folder(entry):
                if not entry.name.startswith(".") and not entry.is_symlink():
                    below.append(path)
            elif is_image_name(path):
                images.append(path)
            elif not entry.name.startswith("."):
                ignored += 1
        if below and depth >= MAX_DEPTH:
            unreadable.append(
                (str(here), f"holds folders more than {MAX_DEPTH} levels deep; not searched")
            )
            continue
        waiting.extend((p, depth + 1) for p in sorted(below, reverse=True))
    return Listing(sorted(images), ignored, sorted(unreadable))


def _is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether entry is a folder, or a link to one; an entry that cannot be looked at is not
    (reading it says why)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def find_images(folder: Path) -> list[Path]:
    """Every file named like an image below folder, recursively, in sorted order, as
    `list_images` finds them. Raises ImageError for the first folder that cannot be
    listed, the folder itself included, rather than leave out what it holds."""
    listing = list_images(folder)
    if listing.unreadable:
        where, why = listing.unreadable[0]
        raise ImageError(f"{where}: {why}")
    return listing.images


def entries(folder: Path) -> list[tuple[Path, str]]:
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
