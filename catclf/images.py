"""From an image file to the model's input: 64x64x3 uint8 pixels, then a column of X.

Every image goes through the same steps, in this order:
1. decoded by Pillow as one of the raster formats in FORMATS, whatever its name, and
   nothing else: the first frame only (animations, multi-page TIFF), refused before
   decoding when it would need more than MAX_IMAGE_BYTES of memory; a JPEG of 512 pixels
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

Steps 2 and 3 are done in the other order, and step 3 a band of rows at a time: each
changes pixels one by one, so the result is the same, and a large image is never copied
whole into floats.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageMode, UnidentifiedImageError

from catclf import bounds
from catclf.errors import ImageError, reason

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
# The formats catclf decodes, by Pillow's name, with the file extensions that name them, in
# the order they are tried. Raster formats only: Pillow picks a decoder from a file's
# content, not its name, and some of its decoders (EPS, PDF) hand the file to an
# interpreter (Ghostscript). A file of any other format is not an image here.
FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png", ".apng"),
    "GIF": (".gif",),
    "BMP": (".bmp",),
    "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",),
    "AVIF": (".avif",),
    "HEIF": (".heic", ".heif", ".hif"),  # read with pillow-heif
    "PPM": (".ppm", ".pgm", ".pbm", ".pnm", ".pfm"),
    "ICO": (".ico",),
    "TGA": (".tga",),  # last: its header has no signature to tell it by
}
FORMAT_NAMES = "JPEG, PNG, GIF, BMP, TIFF, WebP, AVIF, HEIC/HEIF, PPM/PGM/PBM, ICO and TGA"
IMAGE_EXTENSIONS = frozenset(ext for extensions in FORMATS.values() for ext in extensions)
# ISO base media files (HEIF, AVIF) say so in bytes 4 to 8.
ISO_MEDIA = b"ftyp"
# Memory one image may take to decode, worked out before decoding: what Pillow reads and keeps
# of the file, what its decoder holds, the decoded image and its 8-bit conversion. Enough
# for any photo (Pillow keeps a colour pixel in 4 bytes, 16-bit ones too: 48 megapixels take
# 192 MB), and far less than a hostile file can ask for.
MAX_IMAGE_BYTES = 512 << 20
# Pixels converted at a time by the steps that change pixels one by one (8 MB as float64).
BAND_PIXELS = 1 << 20
# What ImageOps.exif_transpose does for each EXIF orientation.
TURNS = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
ORIENTATION = 0x0112  # the EXIF tag

Pixels = NDArray[np.uint8]


def is_image_name(path: Path) -> bool:
    """True when the file name has an image extension and is not hidden (no leading dot)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def load_image(source: Path | bytes, name: str | None = None) -> Pixels:
    """Read one image and return its (64, 64, 3) uint8 pixels.

    source is a path or the file's bytes; name is what error messages call it
    (default: the path). Raises ImageError with a one-line reason for anything that is
    not a readable image in one of FORMATS, that would need more than MAX_IMAGE_BYTES of
    memory to decode, or whose structure would cost more time than any real image does
    (see catclf.bounds).
    """
    label = name if name is not None else str(source)
    try:
        return _load(source)
    except _Unreadable as e:
        raise ImageError(f"{label}: {e}") from e.__cause__


def read_or_reason(source: Path | bytes) -> Pixels | str:
    """The image's (64, 64, 3) uint8 pixels, as load_image gives them, or why it cannot be
    read: load_image's message without the name in front."""
    try:
        return _load(source)
    except _Unreadable as e:
        return str(e)


def pixels_of(image: Image.Image, name: str = "image") -> Pixels:
    """The (64, 64, 3) uint8 pixels of an image already opened with Pillow (its current
    frame), by the steps after decoding that `load_image` takes: turned upright as its EXIF
    says, made RGB (transparency on white), resized with Lanczos. A JPEG is taken at the
    size it was decoded, full size unless its opener asked for less (`load_image` decodes a
    large one at a reduced scale: about one level in 255 apart on average). The image is
    not changed. Raises ImageError, naming it name, for one above the pixel or memory limits
    of `load_image`, or that Pillow cannot load."""
    try:
        _check_pixels(image.width, image.height)
        _check_need(_decoded_bytes(image) + _converted_bytes(image))
        image.load()
        return _to_64x64(_to_8_bits(image), _turn(image))
    except _TooLarge as e:
        raise ImageError(
            f"{name}: needs {_mib(e.need)} to convert, more than the {_mib(MAX_IMAGE_BYTES)} "
            "allowed for one image",
            name,
        ) from None
    except _Unreadable as e:
        raise ImageError(f"{name}: {e}", name) from None
    except Exception as e:  # Pillow raises many types for an image it cannot load
        raise ImageError(f"{name}: cannot be read ({reason(e)})", name) from e


class _Unreadable(Exception):
    """Why an image cannot be read, in a few words that follow its name."""


def _load(source: Path | bytes) -> Pixels:
    if isinstance(source, bytes):
        if not source:
            raise _Unreadable("empty input, expected an image")
        return _decode(io.BytesIO(source), len(source))
    try:
        # A FIFO or a device is refused without being opened: opening a FIFO waits for a
        # writer, and opening some devices does something. One stat, whose error says
        # why: a link loop is not "no such file".
        _first_look(source)
        with _open_regular(source) as f:
            return _decode(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise _Unreadable("no such file") from None
    except OSError as e:
        raise _Unreadable(f"cannot read: {reason(e)}") from e


def _first_look(path: Path) -> None:
    _check_kind(os.stat(path))


def _check_kind(info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise _Unreadable("is a folder, expected an image file")
    if not stat.S_ISREG(info.st_mode):
        raise _Unreadable("not a regular file, expected an image file")
    if info.st_size == 0:
        raise _Unreadable("empty file, expected an image")


def _open_regular(path: Path) -> io.FileIO:
    """path opened for reading, once what was opened is known to be a regular file.

    The file may have been swapped for a FIFO or a device since it was looked at: the
    open does not wait for a writer (O_NONBLOCK) nor make a terminal this process's
    (O_NOCTTY), and what it opened is checked before anything is read from it.
    """
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_NOCTTY", 0))
    try:
        _check_kind(os.fstat(fd))
        if nonblocking:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return io.FileIO(fd, "rb")


class _TooLarge(Exception):
    """An image that would need more than MAX_IMAGE_BYTES to decode: need, in bytes."""

    def __init__(self, need: int) -> None:
        super().__init__(need)
        self.need = need


class _Bounded(io.BufferedReader):
    """An image file that refuses, before reading, to read more than limit bytes at once: a
    guard for a file the survey cannot tell the format of, should its reader read it whole
    (a file of a few kilobytes on disk can be gigabytes long, a sparse file). What a surveyed
    format's reader reads has been counted; each read through here costs a Python call."""

    def __init__(self, raw: io.FileIO, limit: int) -> None:
        super().__init__(raw)
        self.limit = limit

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0 or size > self.limit:
            left = os.fstat(self.fileno()).st_size - self.tell()
            wanted = left if size is None or size < 0 else min(size, left)
            if wanted > self.limit:
                raise _TooLarge(wanted)
        return super().read(size)


def _decode(source: BinaryIO, size: int) -> Pixels:
    """The pixels of the image in source, a file of size bytes (unbuffered, or in memory).

    What decoding will hold is counted twice before it happens: from the file's structure
    before Pillow reads it (catclf.bounds), then from the header Pillow has read, before
    the pixels are decoded. Pillow's warnings (damaged metadata it skips) go to the
    program's own warning filters: no filter is changed here, from any thread.
    """
    try:
        survey = bounds.survey(source, size)
        stream: BinaryIO = source
        if isinstance(source, io.FileIO):
            stream = (
                io.BufferedReader(source) if survey.format else _Bounded(source, MAX_IMAGE_BYTES)
            )
        if survey.size is not None:
            _check_pixels(*survey.size)
        _check_need(survey.held + survey.on_open)
        with Image.open(stream, formats=_formats(stream)) as im:
            im.seek(0)
            # Pillow warns above its pixel limit (and raises at twice it): refused here the
            # same, whatever the warning filters do with the warning.
            _check_pixels(im.width, im.height)
            pixels = im.width * im.height
            # Only JPEG decoders scale while decoding; for other formats this does nothing.
            # The request is square, so an EXIF turn applied later cannot shorten a side.
            im.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            _check_need(
                survey.held
                + survey.coefficients
                + survey.per_pixel * pixels
                + _decoded_bytes(im)
                + _converted_bytes(im)
            )
            im.load()
            turn = _turn(im)
            converted = _to_8_bits(im)
            if converted is im:
                return _to_64x64(converted, turn)
        # Closed, and let go with what its decoder holds: the decoded image need not
        # stay beside its conversion while that is turned and resized.
        del im
        return _to_64x64(converted, turn)
    except bounds.Unfit as e:
        raise _Unreadable(f"refused before decoding: {e}") from None
    except _TooLarge as e:
        raise _Unreadable(
            f"needs {_mib(e.need)} to decode, more than the {_mib(MAX_IMAGE_BYTES)} "
            "allowed for one image"
        ) from None
    except _Unreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # The warning, raised by a program that makes warnings errors.
        raise _Unreadable(f"image too large to decode safely ({e})") from e
    except UnidentifiedImageError as e:
        raise _Unreadable(f"not an image (catclf reads {FORMAT_NAMES})") from e
    except Exception as e:  # Pillow's decoders raise many types for corrupt data
        raise _Unreadable(f"corrupt or truncated image ({reason(e)})") from e


def _check_pixels(width: int, height: int) -> None:
    """Refuse an image above Pillow's own pixel limit, Image.MAX_IMAGE_PIXELS (read, never
    set here: a program may raise it, or set it to None for no limit)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise _Unreadable(
            f"image too large to decode safely ({width * height:,} pixels, more than the "
            f"{limit:,} allowed)"
        )


def _check_need(need: int) -> None:
    if need > MAX_IMAGE_BYTES:
        raise _TooLarge(need)


def _formats(stream: BinaryIO) -> list[str]:
    """The formats to try for the file in stream: FORMATS, HEIF only for an ISO media file
    and when pillow-heif is there. Importing pillow-heif takes longer than starting
    catclf, so it is imported only for such a file."""
    head = stream.read(8)
    stream.seek(0)
    if head[4:8] == ISO_MEDIA and _heif_registered():
        return list(FORMATS)
    return [name for name in FORMATS if name != "HEIF"]


def _heif_registered() -> bool:
    if "HEIF" not in Image.OPEN:
        try:
            # here: the HEIC reader only for a HEIC photo (a phone's)
            from pillow_heif import register_heif_opener
        except ImportError:
            return False
        register_heif_opener()
    return True


def _decoded_bytes(im: Image.Image) -> int:
    """Bytes Pillow takes for im decoded: a band of more than 8 bits a pixel is kept whole,
    bands of 8 bits are packed into 4 bytes (RGB takes 4 bytes a pixel)."""
    try:
        mode = ImageMode.getmode(im.mode)
    except KeyError:  # a mode Pillow does not describe: count it as the widest there is
        per_pixel = 8
    else:
        item = np.dtype(mode.typestr).itemsize
        per_pixel = item if len(mode.bands) == 1 else max(4, item * len(mode.bands))
    return im.width * im.height * per_pixel


def _converted_bytes(im: Image.Image) -> int:
    """Bytes of the 8-bit image `_to_8_bits` makes beside im: none when im is RGB or L
    already, L for one band of more than 8 bits, RGB (4 bytes a pixel) otherwise."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return im.width * im.height
    if im.mode in ("RGB", "L") and "transparency" not in im.info:
        return 0
    return 4 * im.width * im.height


def _mib(size: int) -> str:
    return f"{-(-size // (1 << 20)):,} MiB"


def _to_64x64(im: Image.Image, turn: Image.Transpose | None) -> Pixels:
    """The (64, 64, 3) pixels of im, an RGB or L image (`_to_8_bits`), turned upright."""
    # Turned once converted: the conversion changes pixels one by one, so the order changes
    # nothing, and the image turned is the smaller one.
    if turn is not None:
        im = im.transpose(turn)
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    # Lanczos treats the bands alike: a gray image resized, then made RGB, gives what RGB
    # resized gives, from a third of the memory.
    pixels = np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE, CHANNELS):
        raise ValueError(f"decoded to shape {pixels.shape}")
    return pixels


def _turn(im: Image.Image) -> Image.Transpose | None:
    """What turns im upright, as its EXIF orientation says (as ImageOps.exif_transpose
    does); None for upright, or a malformed EXIF block, which is no reason to refuse the
    pixels: they are kept as stored."""
    try:
        name = TURNS.get(im.getexif().get(ORIENTATION, 1))
    except Exception:
        return None
    return None if name is None else Image.Transpose[name]


def _to_8_bits(im: Image.Image) -> Image.Image:
    """im as an RGB image of the same size, or L for gray without transparency.

    Palette, bilevel, CMYK and the like as Pillow converts them; more than 8 bits a band
    scaled down (`_scale_to_8_bits`); transparency composited on white. A band of rows at a
    time, so that what is held beside im is the result and one band.
    """
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _scale_to_8_bits(im)
    transparent = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if not transparent and im.mode in ("RGB", "L"):
        return im
    out = Image.new("RGB", im.size)
    for top, rows in _bands(im):
        if transparent:
            rgba = rows.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rows = Image.alpha_composite(white, rgba)
        out.paste(rows.convert("RGB"), (0, top))
    return out


def _bands(im: Image.Image) -> Iterator[tuple[int, Image.Image]]:
    """(top, rows): im cut across into bands of about BAND_PIXELS pixels, each with the
    index of its first row."""
    width, height = im.size
    step = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, step):
        yield top, im.crop((0, top, width, min(top + step, height)))


def _scale_to_8_bits(im: Image.Image) -> Image.Image:
    """A single-channel image of more than 8 bits as L, scaled to 0..255.

    16-bit images are scaled by 255/65535. Integer ("I") and float ("F") images have no
    declared range: values within 0..255 are kept, within 0..65535 treated as 16-bit,
    floats within 0..1 as fractions, anything else stretched from its minimum to maximum
    (an image of one value, which has no range to stretch, is clipped to 0..255). NaN and
    infinities count as 0. Worked out in float64 a band at a time, never the whole image.
    """
    mode = im.mode
    low, high = 0.0, 0.0
    if not mode.startswith("I;16"):
        ranges = [(v.min(), v.max()) for v in (_floats(rows) for _, rows in _bands(im)) if v.size]
        if ranges:
            low = float(min(r[0] for r in ranges))
            high = float(max(r[1] for r in ranges))
    out = np.empty((im.height, im.width), dtype=np.uint8)
    for top, rows in _bands(im):
        v = _floats(rows)
        if mode.startswith("I;16"):
            v *= 255.0 / 65535.0
        elif low >= 0 and high <= 1.0 and mode == "F":
            v *= 255.0
        elif low >= 0 and high <= 255:
            pass
        elif low >= 0 and high <= 65535:
            v *= 255.0 / 65535.0
        elif high > low:
            v -= low
            v *= 255.0 / (high - low)
        np.rint(v, out=v)
        np.clip(v, 0, 255, out=v)
        out[top : top + v.shape[0]] = v
    return Image.fromarray(out)


def _floats(rows: Image.Image) -> NDArray[np.float64]:
    v = np.asarray(rows).astype(np.float64)
    v[~np.isfinite(v)] = 0.0
    return v


def to_columns(images: Pixels) -> NDArray[np.float64]:
    """(m, 64, 64, 3) uint8 pixels to X of shape (12288, m): one flattened image per column / 255.

    The same reshape as the course: images.reshape(m, -1).T / 255.
    """
    m = images.shape[0]
    return images.reshape(m, -1).T / 255.0
