"""The images a command line names: image paths, folders (every image below them), - for
an image on stdin, and lists of paths (--files-from), read as a stream so that an endless
list neither waits for its end nor fills memory. Whatever cannot name an image comes as an
ImageError in its place, in order, for the caller to report; the others are still served.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import typer

from catclf.errors import CatclfError, ImageError, reason
from catclf.parameters import jobs as checked_jobs
from catclf.progress import Progress, unwatched
from catclf.workers import MIN_IMAGES_PER_PROCESS, reader

if TYPE_CHECKING:
    from catclf.images import Pixels
    from catclf.model import Model

MAX_STDIN_BYTES = 256 << 20
PATH_MAX = 4096  # bytes in the longest path Linux takes, with the NUL that ends it in C
LIST_READ = 1 << 16
SHOWN_OF_A_LONG_ENTRY = 60


@dataclass(frozen=True)
class Input:
    """An image to decode: the name to show for it, and its path or (for -) its bytes."""

    name: str
    source: Path | bytes


Named = Input | ImageError


class Scoring:
    """The images a command line names, on their way to be decoded and scored by model (see
    `scoring`)."""

    def __init__(
        self,
        model: Model,
        decoded: Iterator[Pixels | ImageError],
        pending: deque[str | ImageError],
        count: int,
        total: int | None,
    ) -> None:
        self.model = model
        self.decoded = decoded
        self.pending = pending
        self.count = count
        self.total = total

    def scored(
        self,
        progress: Progress | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> Iterator[tuple[str, float | ImageError]]:
        """(name, P(cat)) for every image, in input order, as it is decoded and scored; the
        ImageError instead for one that cannot be scored, and for an argument or entry that
        names no image (with "" as its name).

        progress watches the "scoring" of more than one image (`catclf.progress`), told of
        each image decoded; its total is None for a list, which is not counted to its end.
        on_batch() is called once the results of a batch of images have been taken (see
        `Model.score_images`).
        """
        watched = progress if progress is not None and self.count != 1 else unwatched
        advance = watched("scoring", self.total, unit="images")
        pending = self.pending

        def decoded() -> Iterator[Pixels | ImageError]:
            for result in self.decoded:
                advance(1)
                yield result

        def unnamed() -> Iterator[tuple[str, ImageError]]:
            while pending and isinstance(pending[0], ImageError):
                yield "", cast(ImageError, pending.popleft())

        for result in self.model.score_images(decoded(), on_batch=on_batch):
            yield from unnamed()
            yield cast(str, pending.popleft()), result
        yield from unnamed()


@contextmanager
def scoring(
    load: Callable[[], Model],
    images: Sequence[str],
    files_from: str | None = None,
    null: bool = False,
    *,
    jobs: int | None = 1,
) -> Iterator[Scoring]:
    """The images that images and the list files_from name (see `images_named` and
    `list_entries`), decoded in up to jobs processes, to be scored by the model load()
    reads (`Scoring.scored`). Leaving the context stops the processes.

    The first images are sent to the processes before load() is called: they decode while
    it reads the model. When stdin holds an image or the list, load() is called first,
    before anything is read: a model that cannot be read is said without waiting on stdin.
    """
    jobs = checked_jobs(jobs)
    model = load() if files_from == "-" or "-" in images else None
    with ExitStack() as stack:
        names: Iterable[str | ImageError] = images
        if files_from is not None:
            listed = stack.enter_context(open_list(files_from))
            names = itertools.chain(names, list_entries(listed, files_from, null))
        # Only a list's first images are counted, enough to decide whether worker
        # processes pay; one that holds that many is taken as long. The arguments are
        # counted whole.
        enough = sys.maxsize if files_from is None else jobs * MIN_IMAGES_PER_PROCESS
        count, found = counted(images_named(names), enough)
        read = stack.enter_context(reader(jobs, count if count < enough else sys.maxsize))
        # In input order: the names sent to be decoded and not yet scored, and between
        # them the arguments or entries that named nothing to decode.
        pending: deque[str | ImageError] = deque()

        def sources() -> Iterator[tuple[Path | bytes, str]]:
            for item in found:
                if isinstance(item, ImageError):
                    pending.append(item)
                else:
                    pending.append(item.name)
                    yield item.source, item.name

        # The images counted are at hand: as many as pay go to the processes at once.
        decoded = read(sources(), count)
        if model is None:
            model = load()
        total = None if files_from is not None else count
        yield Scoring(model, decoded, pending, count, total)


def check_named(images: list[str] | None, files_from: str | None, null: bool) -> None:
    """Raise a usage error unless the arguments name images one way or another, and in ways
    that go together."""
    if not images and files_from is None:
        raise typer.BadParameter(
            "give at least one IMAGE, or --files-from FILE", param_hint="IMAGE"
        )
    if files_from == "-" and images and "-" in images:
        raise typer.BadParameter(
            "stdin cannot be both an image and the list of paths", param_hint="'--files-from'"
        )
    if null and files_from is None:
        raise typer.BadParameter("--null goes with --files-from", param_hint="'--null'")


def single(images: list[str] | None, files_from: str | None, with_filename: bool) -> bool:
    """Whether one image is named, alone, so that its probability is all there is to print."""
    return (
        not with_filename
        and files_from is None
        and images is not None
        and len(images) == 1
        and (images[0] == "-" or not is_folder(Path(images[0])))
    )


def images_named(names: Iterable[str | ImageError]) -> Iterator[Named]:
    """The images that names (paths, folders, - for stdin) hold, in order, as names are
    read; an ImageError for a name that gives nothing to decode, and for a folder below
    which a folder cannot be listed (the images beside it still come)."""
    for name in names:
        if isinstance(name, ImageError):
            yield name
        elif name == "-":
            yield stdin_image()
        elif is_folder(Path(name)):
            from catclf.folders import list_images  # here: only a folder is listed

            listing = list_images(Path(name))
            for where, why in listing.unreadable:
                yield ImageError(f"{where}: {why}", where)
            if not listing.images and not listing.unreadable:
                yield ImageError(f"{name}: no images below this folder", name)
            for p in listing.images:
                yield Input(str(p), p)
        else:
            yield Input(name, Path(name))


def counted(found: Iterator[Named], enough: int) -> tuple[int, Iterator[Named]]:
    """(the number of images in found, counted no further than enough; found, whole)."""
    ahead: list[Named] = []
    count = 0
    for item in found:
        ahead.append(item)
        count += isinstance(item, Input)
        if count >= enough:
            break
    return count, itertools.chain(ahead, found)


def is_folder(path: Path) -> bool:
    """Whether path is a folder. A path that cannot be looked at (a name too long, a folder
    without search permission on the way) is not one: reading it says why."""
    try:
        return path.is_dir()
    except OSError:
        return False


def stdin_image() -> Named:
    """The image on stdin, read to its end but never beyond MAX_STDIN_BYTES, so that an
    endless stream (yes | catclf predict -) cannot fill memory."""
    if sys.stdin is None:
        return ImageError("-: cannot read an image from stdin: it is closed", "-")
    try:
        data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    except OSError as e:
        return ImageError(f"-: cannot read an image from stdin ({reason(e)})", "-")
    if len(data) > MAX_STDIN_BYTES:
        return ImageError(
            f"-: more than {MAX_STDIN_BYTES >> 20} MiB on stdin, too large for an image", "-"
        )
    return Input("-", data)


@contextmanager
def open_list(files_from: str) -> Iterator[BinaryIO]:
    """The list of paths files_from names, open for reading (stdin for -). Raises
    CatclfError for a list that cannot be opened, before any image is decoded."""
    if files_from == "-":
        if sys.stdin is None:
            raise CatclfError("-: cannot read the list of paths: stdin is closed")
        yield sys.stdin.buffer
        return
    try:
        listed = open(files_from, "rb")  # noqa: SIM115  # closed below, once it is read
    except OSError as e:
        raise CatclfError(f"{files_from}: cannot read the list of paths ({reason(e)})") from e
    with listed:
        yield listed


def list_entries(listed: BinaryIO, files_from: str, null: bool) -> Iterator[str | ImageError]:
    """The paths in a list, one per line (or ending with NUL), each as soon as it has come;
    empty ones are skipped. An ImageError for an entry that cannot be a path (a - in a list
    read from stdin), and for a list that cannot be read to its end.

    A list stops being read, with an ImageError naming it, as soon as it shows it is not a
    list of paths: an entry longer than any path (PATH_MAX - 1 bytes), more than PATH_MAX bytes
    without a path (a run of empty entries), or a NUL byte in a list of lines. So an endless
    stream that names no path (/dev/zero) is never read for ever, and nothing of an entry
    is kept beyond PATH_MAX bytes.
    """
    ends = b"\0" if null else b"\n"
    entry = bytearray()  # PATH_MAX bytes at most
    empty = 0  # bytes read since the last entry, in separators of empty entries

    def not_a_list(why: str) -> ImageError:
        return ImageError(
            f"{files_from}: not a list of paths: {why}; the rest is not read", files_from
        )

    def too_long(part: bytes) -> ImageError:
        start = os.fsdecode(bytes(entry + part[:SHOWN_OF_A_LONG_ENTRY]))[:SHOWN_OF_A_LONG_ENTRY]
        return not_a_list(
            f"an entry is longer than any path ({PATH_MAX - 1} bytes), from {start}..."
        )

    def finished() -> str | ImageError:
        name = os.fsdecode(bytes(entry))
        entry.clear()
        if name == "-" and files_from == "-":
            return ImageError("-: stdin holds the list of paths, not an image", "-")
        return name

    # read1 returns what has come so far, so that a slow list is served as it comes.
    read = getattr(listed, "read1", listed.read)
    while True:
        try:
            block = read(LIST_READ)
        except OSError as e:
            yield ImageError(
                f"{files_from}: cannot read the rest of the list of paths ({reason(e)})",
                files_from,
            )
            return
        if not block:
            break
        if not null:
            # As bytes.splitlines splits: at \n, \r\n and \r (empty entries are skipped).
            block = block.replace(b"\r", b"\n")
        *complete, rest = block.split(ends)
        for part in complete:
            if len(entry) + len(part) > PATH_MAX - 1:
                yield too_long(part)
                return
            if b"\0" in part:
                yield not_a_list("a line holds a NUL byte (--null reads NUL-ended paths)")
                return
            entry.extend(part)
            if entry:
                empty = 0
                yield finished()
            else:
                empty += 1
                if empty > PATH_MAX:
                    yield not_a_list(f"more than {PATH_MAX} bytes without a path")
                    return
        if len(entry) + len(rest) > PATH_MAX - 1:
            yield too_long(rest)
            return
        if b"\0" in rest:  # in a list of lines: with --null, NUL ends each entry
            yield not_a_list("a line holds a NUL byte (--null reads NUL-ended paths)")
            return
        entry.extend(rest)
    if entry:
        yield finished()
