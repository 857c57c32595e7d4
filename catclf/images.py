"""From an image file to the model's input: 64x64x3 uint8 pixels, then a column of X.

Every image goes through the same steps, in this order:
1. decoded by Pillow, first frame only (animations, multi-page TIFF); a JPEG of 512 pixels
   or more on each side is decoded at a reduced scale (1/2, 1/4 or 1/8, by the JPEG
   decoder itself) that keeps each side at least 256 pixels, 4 per output pixel: several
   times faster for a photo, and the final pixels differ from a full decode by about one
   level in 255 on average;
2. EXIF orientation applied, so a phone photo is upright;
3. converted to RGB: palette, grayscale, bilevel and CMYK as Pillow converts them;
   16-bit and 32-bit integer and float images scaled down to 0..255; transparency
   composited on a white background;
4. resized to 64x64 with Pillow's Lanczos filter (the aspect ratio is not kept, as in
   the course); an image already 64x64 is left untouched;
5. flattened in C order, (64, 64, 3) to 12288 values, and divided by 255.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import stat
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from numpy.typing import NDArray

from catclf.errors import CatclfError, ImageError, reason

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from PIL import Image

IMAGE_SIZE = 64
CHANNELS = 3
N_X = IMAGE_SIZE * IMAGE_SIZE * CHANNELS
# Decoding a JPEG at 1/8 scale leaves the Lanczos filter too few pixels to average (the
# result strays by 2 levels on average, up to 5); at 1/4 or finer it stays within one.
DRAFT_SIDE = 4 * IMAGE_SIZE
PREPROCESSING = (
    "first frame; JPEG decoded at reduced scale keeping each side >= 256 pixels; "
    "EXIF orientation applied; converted to RGB (16-bit and float scaled to 8 bits, "
    "transparency composited on white); resized to 64x64 with Pillow LANCZOS, aspect ratio not "
    "kept; (64, 64, 3) flattened in C order; divided by 255"
)
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
    }
)

Pixels = NDArray[np.uint8]


def is_image_name(path: Path) -> bool:
    """True when the file name has an image extension and is not hidden (no leading dot)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def find_images(folder: Path) -> list[Path]:
    """Every file named like an image below folder, recursively, in sorted order.

    Hidden files and folders (a leading dot) are skipped, and so are links to folders,
    so that a link loop cannot make the walk endless. A FIFO, a broken link or a link
    loop named like an image is listed, so that reading it reports what it is.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # files holds everything that is not a folder (os.walk sorts links to folders
        # into dirs), so a folder named like an image is never listed.
        found.extend(Path(root, name) for name in files if is_image_name(Path(name)))
    # os.walk lists a folder's files before its subfolders; sort the whole list instead.
    return sorted(found)


Source = Path | bytes
Reader = Callable[[Iterable[tuple[Source, str]]], Iterator[Pixels | ImageError]]
# Below this many images per process, starting the processes costs more than they save.
MIN_IMAGES_PER_PROCESS = 8
CHUNK = 4  # images per task sent to a worker: fewer round trips, still a fair share each
# Chunks in flight per worker: enough that none waits, and few enough that the results it
# holds (about 50 kB a chunk) fit its pipe, so that it never waits to send while this
# process waits to send it a chunk (an image read from stdin can be large).
TASKS_PER_PROCESS = 2
# SIGHUP: where the system has one (not on Windows, which runs no workers of this kind).
WORKER_SIGNALS = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
PR_SET_PDEATHSIG = 1  # prctl option: a signal for when the parent ends (Linux)


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def reader(jobs: int, count: int) -> Iterator[Reader]:
    """A function that decodes (source, name) pairs into pixels, in up to jobs processes.

    It yields, in input order, each image's (64, 64, 3) pixels or the ImageError that
    says why it cannot be read. count is how many images there will be: with jobs=1, or
    too few images to be worth a process each, everything is decoded in this process.
    Leaving the context stops the worker processes, also on Ctrl-C or an error.
    """
    processes = min(jobs, count // MIN_IMAGES_PER_PROCESS)
    if processes < 2:
        yield _read_here
        return
    import multiprocessing  # here: a one-image predict need not import it

    import PIL.Image  # noqa: F401  # before the fork, so that no worker imports it again

    context = multiprocessing.get_context(_start_method())
    # Ctrl-C or SIGTERM waits while the workers start: one that came before a worker had
    # set its own handlers would run this process's there, with a traceback. Each worker
    # keeps the signals blocked until it has set its handlers.
    workers: list[tuple[BaseProcess, Connection]] = []
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
    try:
        for _ in range(processes):
            here, there = context.Pipe()
            process = context.Process(  # type: ignore[attr-defined]
                target=_serve, args=(there, os.getpid()), daemon=True
            )
            workers.append((process, here))
            process.start()
            there.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a held signal arrives here
        yield lambda items: _read_in([c for _, c in workers], TASKS_PER_PROCESS, items)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        # Done, failed or interrupted alike: no worker outlives the reading.
        for process, connection in workers:
            connection.close()
            if process.pid is not None:
                process.kill()
        for process, _ in workers:
            if process.pid is not None:
                process.join()


def _start_method() -> str:
    # fork starts a worker in milliseconds with numpy and Pillow already imported; forkserver
    # and spawn start a new interpreter that imports them again. But fork copies only the
    # calling thread, and a lock another thread held at that moment stays locked in the
    # child for ever. So fork only on Linux, where it is the norm, and only while this
    # process runs no other Python thread (catclf's progress bars run none).
    import multiprocessing

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _serve(connection: Connection, parent: int) -> None:
    """A decoding worker: chunks of (source, name) in, their pixels or errors out, in turn,
    until the main process closes its end."""
    # Ctrl-C and a closed terminal's SIGHUP reach every process of the foreground group:
    # the main process alone handles them and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
    while True:
        try:
            chunk = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(list(_read_here(chunk)))


def _end_with(parent: int) -> None:
    """Have the system end this worker when the process that started it ends (Linux), so
    that no worker outlives it, however that process ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(0)


def _read_here(items: Iterable[tuple[Source, str]]) -> Iterator[Pixels | ImageError]:
    for source, name in items:
        try:
            yield load_image(source, name)
        except ImageError as e:
            yield e


def _read_in(
    connections: list[Connection], ahead: int, items: Iterable[tuple[Source, str]]
) -> Iterator[Pixels | ImageError]:
    """Chunks of items sent to the workers in turn and their results read back in the same
    turn, so that they come in input order; at most ahead chunks per worker in flight."""
    pending: deque[Connection] = deque()  # the worker of each chunk sent, oldest first
    turns = itertools.cycle(connections)
    for chunk in _chunks(items):
        connection = next(turns)
        try:
            connection.send(chunk)
        except OSError as e:  # the worker has died since its last result: a broken pipe
            raise _worker_died() from e
        pending.append(connection)
        if len(pending) >= ahead * len(connections):
            yield from _results(pending.popleft())
    while pending:
        yield from _results(pending.popleft())


def _results(connection: Connection) -> list[Pixels | ImageError]:
    try:
        results: list[Pixels | ImageError] = connection.recv()
    except (EOFError, OSError) as e:  # a decoder that crashed takes its worker with it
        raise _worker_died() from e
    return results


def _worker_died() -> CatclfError:
    return CatclfError(
        "a decoding process ended without a result; --jobs 1 decodes in this process"
    )


def _chunks(items: Iterable[tuple[Source, str]]) -> Iterator[list[tuple[Source, str]]]:
    chunk: list[tuple[Source, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load_image(source: Path | bytes, name: str | None = None) -> Pixels:
    """Read one image and return its (64, 64, 3) uint8 pixels.

    source is a path or the file's bytes; name is what error messages call it
    (default: the path). Raises ImageError with a one-line reason for anything
    that is not a readable image.
    """
    label = name if name is not None else str(source)
    if isinstance(source, bytes):
        if not source:
            raise ImageError(f"{label}: empty input, expected an image")
        return _decode(io.BytesIO(source), label)
    try:
        try:
            # One stat, whose error says why: a link loop is not "no such file".
            info = source.stat()
        except FileNotFoundError:
            raise ImageError(f"{label}: no such file") from None
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(f"{label}: is a folder, expected an image file")
        if not stat.S_ISREG(info.st_mode):
            # Never opened: opening a FIFO or a device for reading can block forever.
            raise ImageError(f"{label}: not a regular file, expected an image file")
        if info.st_size == 0:
            raise ImageError(f"{label}: empty file, expected an image")
        with open(source, "rb") as f:
            return _decode(f, label)
    except OSError as e:
        raise ImageError(f"{label}: cannot read: {reason(e)}") from e


def _decode(stream: BinaryIO, label: str) -> Pixels:
    # Here, not at the top: commands that only read HDF5 files never load Pillow.
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns about damaged metadata it skips; a user would see Python's
            # warning lines. The pixels decide: they decode, or raise.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Pillow checks the declared size on open, before any pixel is decoded; above
            # Image.MAX_IMAGE_PIXELS it warns, which is an error here.
            with Image.open(stream) as im:
                im.seek(0)
                # Only JPEG decoders scale while decoding; for other formats this does nothing.
                # The request is square, so an EXIF turn applied later cannot shorten a side.
                im.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
                im.load()
                return _to_pixels(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{label}: image too large to decode safely ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{label}: not an image, or a format Pillow cannot read") from e
    except Exception as e:  # Pillow's decoders raise many types for corrupt data
        raise ImageError(f"{label}: corrupt or truncated image ({reason(e)})") from e


def _to_pixels(im: Image.Image) -> Pixels:
    from PIL import Image, ImageOps

    # A malformed EXIF block is no reason to refuse the pixels: keep them as stored.
    with contextlib.suppress(Exception):
        im = ImageOps.exif_transpose(im) or im
    im = _to_rgb(im)
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(im, dtype=np.uint8)
    if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE, CHANNELS):
        raise ValueError(f"decoded to shape {pixels.shape}")
    return pixels


def _to_rgb(im: Image.Image) -> Image.Image:
    from PIL import Image

    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return Image.fromarray(_scale_to_8_bits(np.asarray(im), im.mode)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _scale_to_8_bits(values: NDArray[np.generic], mode: str) -> NDArray[np.uint8]:
    """Scale a single-channel image of more than 8 bits to 0..255.

    16-bit images are scaled by 255/65535. Integer ("I") and float ("F") images have no
    declared range: values within 0..255 are kept, within 0..65535 treated as 16-bit,
    floats within 0..1 as fractions, anything else stretched from its minimum to maximum
    (an image of one value, which has no range to stretch, is clipped to 0..255).
    """
    v = values.astype(np.float64)
    v[~np.isfinite(v)] = 0.0
    low, high = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        v = v * (255.0 / 65535.0)
    elif low >= 0 and high <= 1.0 and mode == "F":
        v = v * 255.0
    elif low >= 0 and high <= 255:
        pass
    elif low >= 0 and high <= 65535:
        v = v * (255.0 / 65535.0)
    elif high > low:
        v = (v - low) * (255.0 / (high - low))
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def to_columns(images: Pixels) -> NDArray[np.float64]:
    """(m, 64, 64, 3) uint8 pixels to X of shape (12288, m): one flattened image per column / 255.

    The same reshape as the course: images.reshape(m, -1).T / 255.
    """
    m = images.shape[0]
    return images.reshape(m, -1).T / 255.0
