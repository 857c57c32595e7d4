"""A corpus of awkward and broken image files, generated (never downloaded) into a folder.

Each kind is one file (or link, folder, FIFO) a user might hand to catclf: photos in every
mode Pillow knows, from phones with EXIF orientations, cut short, mislabelled, hostile.
A Case records whether catclf must score it (readable) and, where they can be worked out
without catclf, the (64, 64, 3) pixels it must see.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

LANCZOS = Image.Resampling.LANCZOS
ORIENTATION = 0x0112  # the EXIF tag
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Case:
    """One hostile kind, made in a folder."""

    kind: str
    path: Path
    readable: bool  # catclf must score it; otherwise a one-line error naming it
    pixels: np.ndarray | None = None  # what catclf must make of it, when known by hand
    is_file: bool = True  # False: a folder named like an image, not an image file at all
    unprivileged: bool = False  # unreadable only when file permissions apply to the reader
    walked: bool = True  # found by walking the folder; False: only a path can name it
    costly: bool = False  # would cost minutes or gigabytes to decode: refused before decoding


def picture(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def resized(rgb: np.ndarray) -> np.ndarray:
    """The documented preprocessing of an RGB array: Lanczos to 64x64, aspect not kept."""
    if rgb.shape[:2] == (64, 64):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((64, 64), LANCZOS))


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# How a camera stores an upright picture under each EXIF orientation, and how to undo it.
STORED_AS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: np.rot90(u, 2),
    4: lambda u: u[::-1, :],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, 1),
    7: lambda u: np.rot90(u, 2).transpose(1, 0, 2),
    8: lambda u: np.rot90(u, -1),
}
UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],
    3: lambda s: np.rot90(s, 2),
    4: lambda s: s[::-1, :],
    5: lambda s: s.transpose(1, 0, 2),
    6: lambda s: np.rot90(s, -1),
    7: lambda s: np.rot90(s.transpose(1, 0, 2), 2),
    8: lambda s: np.rot90(s, 1),
}


def gray_tiff(gray: np.ndarray, extra: list[tuple[int, int, int, int]]) -> bytes:
    """An uncompressed 8-bit gray TIFF of the array gray, in one strip, written by hand, with
    extra entries (tag, type, count, value or offset) in its directory."""
    height, width = gray.shape
    data_at = 8 + 2 + 12 * (8 + len(extra)) + 4
    entries = sorted(
        [
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, data_at),
            (278, 4, 1, height),
            (279, 4, 1, width * height),
            *extra,
        ]
    )
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", *e) for e in entries
    )
    return b"II*\x00" + struct.pack("<I", 8) + directory + bytes(4) + gray.tobytes()


def jpeg_bytes(seed: int = 1) -> bytes:
    return encoded(Image.fromarray(picture(40, 60, seed)), "JPEG", quality=90)


def _exif_jpeg(folder: Path, orientation: int) -> Case:
    # A smooth picture, so that JPEG keeps its shape; the pixels compared are the ones
    # JPEG stored, turned upright with numpy.
    y, x = np.mgrid[0:30, 0:48]
    upright = np.stack([x * 5, y * 8, (x * y) % 256], axis=2).astype(np.uint8)
    stored = np.ascontiguousarray(STORED_AS[orientation](upright))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = folder / f"exif-{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    with Image.open(path) as im:
        as_stored = np.asarray(im.convert("RGB"))
    pixels = resized(np.ascontiguousarray(UPRIGHT[orientation](as_stored)))
    return Case(f"exif-orientation-{orientation}", path, True, pixels)


def build(folder: Path) -> list[Case]:
    """Make every kind in folder (which must exist) and return the cases, in a fixed order."""
    cases: list[Case] = []

    def write(kind: str, name: str | bytes, data: bytes, readable: bool, pixels=None) -> None:
        path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
        path.write_bytes(data)
        cases.append(Case(kind, path, readable, pixels))

    def save(kind: str, name: str | bytes, image: Image.Image, pixels=None, **options) -> None:
        fmt = options.pop("format", None)
        data = encoded(
            image, fmt or Image.registered_extensions()[Path(str(name)).suffix], **options
        )
        write(kind, name, data, True, pixels)

    jpeg = jpeg_bytes()
    rgb = picture(24, 40, 2)
    one_colour = Image.new("RGB", (64, 64), (1, 2, 3))

    # Not images at all, or cut short.
    write("empty file", "empty.jpg", b"", False)
    write("text named .jpg", "notes.jpg", b"Dear diary, today I saw a cat.\n" * 20, False)
    write("html error page as .png", "error-page.png", HTML_404, False)
    write("svg as .png", "drawing.png", SVG, False)
    write("jpeg cut in its header", "cut-header.jpg", jpeg[:20], False)
    write("jpeg cut in half", "cut-half.jpg", jpeg[: len(jpeg) // 2], False)
    write("jpeg cut near its end", "cut-end.jpg", jpeg[: len(jpeg) * 9 // 10], False)
    write("jpeg without end marker", "no-eoi.jpg", jpeg[:-2], False)
    good_png = encoded(Image.fromarray(rgb), "PNG")
    bad_crc = bytearray(good_png)
    bad_crc[8 + 8 + 13] ^= 0xFF  # the IHDR chunk's CRC
    write("png with a bad crc", "bad-crc.png", bytes(bad_crc), False)
    write("png cut in half", "cut-half.png", good_png[: len(good_png) // 2], False)
    write("png of 0x0 pixels", "zero-size.png", png_bytes(0, 0, 8, 2, zlib.compress(b"")), False)
    # 20000 x 20000 declared; the data is a few bytes, so nothing large exists anywhere.
    bomb = png_bytes(20_000, 20_000, 8, 2, zlib.compress(b"\x00" * 64))
    write("decompression bomb 20000x20000", "bomb.png", bomb, False)
    write(
        "gif header without frames", "no-frames.gif", b"GIF89a\x04\x00\x04\x00\x00\x00\x00;", False
    )
    write("hdf5 file named .png", "model.png", b"\x89HDF\r\n\x1a\n" + bytes(200), False)
    # Pillow would hand these to an interpreter (Ghostscript) or cannot read them at all.
    write("postscript named .jpg", "poster.jpg", EPS, False)
    write("pdf named .png", "scan.png", encoded(Image.fromarray(rgb), "PDF"), False)
    # 600 MiB long and a few kilobytes on disk: its decoder would read it all into memory.
    write("webp longer than the memory budget", "sparse.webp", encoded(one_colour, "WEBP"), False)
    os.truncate(folder / "sparse.webp", 600 << 20)

    # Sizes.
    one = np.array([[[200, 30, 90]]], dtype=np.uint8)
    save("1x1 image", "one-pixel.png", Image.fromarray(one), resized(one))
    tall = picture(500, 1, 3)
    save("1x500 image", "one-wide.png", Image.fromarray(tall), resized(tall))
    wide = picture(1, 500, 4)
    save("500x1 image", "one-high.png", Image.fromarray(wide), resized(wide))

    # Modes.
    gray = picture(32, 48, 5)[..., 0]
    bits = gray > 127
    save("mode 1", "bilevel.png", Image.fromarray(bits), resized(gray_to_rgb(bits * np.uint8(255))))
    save("mode L", "gray.png", Image.fromarray(gray), resized(gray_to_rgb(gray)))
    alpha = np.where(np.arange(48) % 2 == 0, 255, 0).astype(np.uint8)[None, :].repeat(32, 0)
    on_white = np.where(alpha == 255, gray, 255).astype(np.uint8)
    la = Image.fromarray(np.stack([gray, alpha], axis=2), "LA")
    save("mode LA", "gray-alpha.png", la, resized(gray_to_rgb(on_white)))
    rgba = np.dstack([picture(32, 48, 6), alpha])
    rgba_on_white = np.where(alpha[..., None] == 255, rgba[..., :3], 255).astype(np.uint8)
    save("mode RGBA", "rgba.png", Image.fromarray(rgba, "RGBA"), resized(rgba_on_white))
    indices = (np.arange(32 * 48).reshape(32, 48) % 3).astype(np.uint8)
    palette = np.array([[10, 20, 30], [200, 100, 0], [0, 255, 128]], dtype=np.uint8)
    paletted = Image.fromarray(indices, "P")
    paletted.putpalette(palette.reshape(-1).tolist())
    see_through = np.where(indices[..., None] == 1, 255, palette[indices]).astype(np.uint8)
    save("mode P with transparency", "palette.png", paletted, resized(see_through), transparency=1)
    write(
        "mode CMYK jpeg",
        "cmyk.jpg",
        encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95),
        True,
    )
    sixteen = (np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40).astype(np.uint16)
    as_8_bits = np.rint(sixteen * (255 / 65535)).astype(np.uint8)
    save(
        "mode I;16 png",
        "gray16.png",
        Image.frombytes("I;16", (48, 32), sixteen.astype("<u2").tobytes()),
        resized(gray_to_rgb(as_8_bits)),
    )
    integers = (np.arange(32 * 48, dtype=np.int32).reshape(32, 48) % 200).astype(np.int32)
    save(
        "mode I tiff",
        "int32.tif",
        Image.fromarray(integers),
        resized(gray_to_rgb(integers.astype(np.uint8))),
    )
    fractions = (np.arange(32 * 48, dtype=np.float32).reshape(32, 48) / (32 * 48)).astype(
        np.float32
    )
    save(
        "mode F tiff",
        "float.tif",
        Image.fromarray(fractions),
        resized(gray_to_rgb(np.rint(fractions.astype(np.float64) * 255).astype(np.uint8))),
    )
    rgb16 = np.random.default_rng(7).integers(0, 65536, (8, 8, 3)).astype(">u2")
    raw16 = b"".join(b"\x00" + row.tobytes() for row in rgb16)
    write("16-bit rgb png", "rgb16.png", png_bytes(8, 8, 16, 2, zlib.compress(raw16)), True)

    # Formats, several frames, wrong names.
    frames = [Image.fromarray(picture(20, 30, 10 + i)).convert("P") for i in range(3)]
    animated = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    write("animated gif", "animated.gif", animated, True)
    pages = [Image.fromarray(picture(20, 30, 20 + i)) for i in range(3)]
    first = np.asarray(pages[0])
    write(
        "multi-page tiff",
        "pages.tif",
        encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]),
        True,
        resized(first),
    )
    save("webp", "lossless.webp", Image.fromarray(rgb), resized(rgb), lossless=True)
    save("bmp", "bitmap.bmp", Image.fromarray(rgb), resized(rgb))
    # An iPhone's format; lossless, with no colour conversion, so the pixels are exact.
    heic = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(
        heic, format="HEIF", quality=-1, chroma=444, matrix_coefficients=0
    )
    write("heic", "IMG_0001.HEIC", heic.getvalue(), True, resized(rgb))
    save("avif", "photo.avif", Image.fromarray(rgb), quality=90)
    write("png named .jpg", "really-png.jpg", good_png, True, resized(rgb))
    write("jpeg named .png", "really-jpeg.png", jpeg, True)
    for orientation in range(1, 9):
        cases.append(_exif_jpeg(folder, orientation))

    # Readable, with metadata Pillow warns about as it skips it.
    gray8 = picture(8, 8, 30)[..., 0]
    write(
        "tiff with a tag past its end",
        "tag-past-end.tif",
        gray_tiff(gray8, [(65000, 7, 100_000, 8)]),
        True,
        resized(gray_to_rgb(gray8)),
    )
    mpf = jpeg_segment(0xE2, b"MPF\x00" + b"not tiff" + bytes(16))
    write("jpeg with a malformed MPO index", "bad-mpo.jpg", jpeg[:2] + mpf + jpeg[2:], True)
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<IHHHII", 8, 1, 0x010E, 2, 200, 500) + bytes(4)
    write(
        "jpeg with exif past its end",
        "exif-past-end.jpg",
        jpeg[:2] + jpeg_segment(0xE1, exif) + jpeg[2:],
        True,
    )
    icon_rgb = picture(20, 20, 31)
    icon = encoded(Image.fromarray(icon_rgb), "PNG")
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(icon), 22)
    write(
        "ico whose icon is not the size it says",
        "wrong-size.ico",
        struct.pack("<HHH", 0, 1, 1) + entry + icon,
        True,
        resized(icon_rgb),
    )

    # Names.
    write("name with spaces", "a name  with spaces.png", good_png, True, resized(rgb))
    write("name with a newline", "two\nlines.png", good_png, True, resized(rgb))
    write("name not valid UTF-8", b"caf\xe9 \xff.png", good_png, True, resized(rgb))

    # Things in a folder that are not regular files.
    loop = folder / "loop.jpg"
    os.symlink(loop.name, loop)
    cases.append(Case("symlink loop", loop, False))
    dangling = folder / "dangling.png"
    os.symlink("no-such-target.png", dangling)
    cases.append(Case("dangling symlink", dangling, False))
    (folder / "folder.jpg").mkdir()
    cases.append(Case("folder named like an image", folder / "folder.jpg", False, is_file=False))
    fifo = folder / "pipe.png"
    os.mkfifo(fifo)
    cases.append(Case("fifo", fifo, False))
    locked = folder / "locked.png"
    locked.write_bytes(good_png)
    locked.chmod(0)
    cases.append(Case("no read permission", locked, False, unprivileged=True))
    shut = folder / "no-search-permission"
    shut.mkdir()
    (shut / "inside.png").write_bytes(good_png)
    shut.chmod(0o600)  # its names can be listed, but nothing in it can be looked at
    cases.append(
        Case("in a folder without search permission", shut / "inside.png", False, unprivileged=True)
    )
    # One byte more than a file name can have (255): no such file can exist, but a path can
    # name it, and looking it up fails.
    too_long = folder / ("n" * 252 + ".png")
    cases.append(Case("name longer than 255 bytes", too_long, False, walked=False))
    return cases + build_costly(folder)


# Files that cost minutes or gigabytes, small on disk: what a decoder would spend its time or
# memory on is a run of zeros, which the file system keeps as a hole (a sparse file), or
# a few bytes repeated. JPEGs are written marker by marker, after the JPEG standard (ITU T.81).


def sparse(path: Path, length: int, pieces: dict[int, bytes]) -> None:
    """A file of length bytes: each piece at its offset, zeros (holes) everywhere else."""
    with open(path, "wb") as f:
        for offset, data in sorted(pieces.items()):
            f.seek(offset)
            f.write(data)
        f.truncate(length)


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


SOI, EOI = b"\xff\xd8", b"\xff\xd9"
# One quantization table of ones, and two Huffman tables of one code each, "0": for DC, the
# difference 0 (so a block's DC costs one bit); for AC, an end-of-band run of 2**14 blocks
# (symbol 0xE0, then 14 bits of run length, 0 here): 15 zero bits for 16,384 blocks.
JPEG_TABLES = (
    jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    + jpeg_segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    + jpeg_segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\xe0")
)


def jpeg_frame(marker: int, width: int, height: int, components: int) -> bytes:
    """A start of frame: 8 bits, every component sampled 1x1, with table 0."""
    body = struct.pack(">BHHB", 8, height, width, components)
    return jpeg_segment(
        marker, body + b"".join(bytes([c, 0x11, 0]) for c in range(1, components + 1))
    )


def jpeg_scan(
    components: list[int], start: int, end: int, high: int, low: int, tables: int = 0x00
) -> bytes:
    """A start of scan: the components given, with the Huffman tables tables (DC table in
    the high 4 bits, AC in the low), the spectral band start..end and the successive
    approximation bits high and low."""
    body = bytes([len(components)]) + b"".join(bytes([c, tables]) for c in components)
    return jpeg_segment(0xDA, body + bytes([start, end, (high << 4) | low]))


# For baseline JPEGs, AC table 1: one code, "0", for the end of a block (symbol 0x00). A
# block of zeros is then two zero bits, with DC table 0.
BASELINE_AC = jpeg_segment(0xC4, b"\x11" + bytes([1] + [0] * 15) + b"\x00")


def baseline_jpeg(side: int, components: int, interleaved: bool) -> bytes:
    """A baseline JPEG of side x side, every coefficient 0 (mid-gray, 128): one scan of all
    its components, or one scan for each (which makes libjpeg keep every coefficient)."""
    data = bytes(-(-2 * blocks(side, side) * (components if interleaved else 1) // 8))
    if interleaved:
        scans = jpeg_scan(list(range(1, components + 1)), 0, 63, 0, 0, 0x01) + data
    else:
        scans = b"".join(jpeg_scan([c], 0, 63, 0, 0, 0x01) + data for c in range(1, components + 1))
    return SOI + JPEG_TABLES + BASELINE_AC + jpeg_frame(0xC0, side, side, components) + scans + EOI


def blocks(width: int, height: int) -> int:
    return -(-width // 8) * -(-height // 8)


def many_scans_jpeg(side: int, scans: int) -> bytes:
    """A progressive gray JPEG of side x side: its DC, its AC at half precision, then scans
    times the same refinement of every AC coefficient, each scan a few end-of-band runs
    (a pass over every block for the decoder, a hundred bytes of file)."""
    n = blocks(side, side)
    runs = -(-n // 16384)
    ac = bytes(-(-runs * 15 // 8))
    return (
        SOI
        + JPEG_TABLES
        + jpeg_frame(0xC2, side, side, 1)
        + jpeg_scan([1], 0, 0, 0, 0)
        + bytes(-(-n // 8))
        + jpeg_scan([1], 1, 63, 0, 1)
        + ac
        + (jpeg_scan([1], 1, 63, 1, 0) + ac) * scans
        + EOI
    )


def progressive_cmyk_jpeg(path: Path, side: int) -> None:
    """A progressive CMYK JPEG of side x side, one colour: a DC scan of zero differences,
    one bit a block, all zeros (a hole). libjpeg keeps all its coefficients, 128 bytes a
    block of each component."""
    head = SOI + JPEG_TABLES + jpeg_frame(0xC2, side, side, 4) + jpeg_scan([1, 2, 3, 4], 0, 0, 0, 0)
    data = -(-4 * blocks(side, side) // 8)
    sparse(path, len(head) + data + 2, {0: head, len(head) + data: EOI})


@functools.lru_cache
def zeros_png_idat(width: int, height: int) -> bytes:
    """The zlib stream of an RGBA picture of zeros, width x height: each row compressed once
    and repeated (a full flush makes each independent of the last), with the Adler-32 of
    all the rows worked out as it is for zeros: a = 1, b = the length."""
    row = bytes(1 + 4 * width)
    z = zlib.compressobj(9)
    first = z.compress(row) + z.flush(zlib.Z_FULL_FLUSH)
    again = z.compress(row) + z.flush(zlib.Z_FULL_FLUSH)
    end = z.flush()[:-4]
    adler = ((len(row) * height) % 65521) << 16 | 1
    return first + again * (height - 1) + end + struct.pack(">I", adler)


@functools.lru_cache
def small_encoded(fmt: str) -> bytes:
    """A 64 x 64 picture of one colour in fmt, the start of a file made long with a hole."""
    image = Image.new("RGB", (64, 64), (1, 2, 3))
    if fmt == "HEIF":
        heif = io.BytesIO()
        pillow_heif.from_pillow(image).save(heif, format="HEIF")
        return heif.getvalue()
    return encoded(image, fmt)


def tiff_gray(
    width: int, height: int, strips: int, extra: list[tuple[int, int, int, int]]
) -> bytes:
    """A little-endian TIFF's header and first directory: 8-bit gray, uncompressed, in strips
    whose offsets and byte counts are in a hole at 4096, with extra entries (tag, type, count,
    value or offset)."""
    offsets = (273, 4, strips, 4096) if strips > 1 else (273, 4, 1, 4096)
    counts = (279, 4, strips, 4096 + 4 * strips) if strips > 1 else (279, 4, 1, width * height)
    entries = sorted(
        [
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (278, 4, 1, max(1, height // strips)),
            offsets,
            counts,
            *extra,
        ]
    )
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", *e) for e in entries
    )
    return b"II*\x00" + struct.pack("<I", 8) + directory + bytes(4)


def bmp_rle8(width: int, height: int, data_length: int) -> bytes:
    """A run-length encoded 8-bit BMP's headers and gray palette; data_length bytes of
    commands are to follow them."""
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, data_length, 0, 0, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + data_length, 0, 0, offset) + info + palette


def build_costly(folder: Path) -> list[Case]:
    """The files that cost minutes or gigabytes to decode, each refused before decoding."""
    cases: list[Case] = []

    def add(kind: str, name: str) -> Path:
        cases.append(Case(kind, folder / name, False, costly=True))
        return folder / name

    long = 256 << 20  # bytes of zeros that Pillow would walk one at a time

    # Minutes: work in proportion to the scans, or to bytes Pillow's Python code reads one
    # at a time.
    add("jpeg of 2,500 scans", "scans.jpg").write_bytes(many_scans_jpeg(8192, 2500))
    jfif = jpeg_bytes()
    app0 = 4 + struct.unpack(">H", jfif[4:6])[0]  # SOI and its first segment
    sparse(
        add("jpeg with 256 MiB of stray bytes", "stray.jpg"),
        long + len(jfif),
        {0: jfif[:app0], app0 + long: jfif[app0:]},
    )
    gif = encoded(Image.new("P", (16, 16), 3), "GIF")
    screen = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    sparse(
        add("gif with 256 MiB of stray bytes", "stray.gif"),
        long + len(gif),
        {0: gif[:screen], screen + long: gif[screen:]},
    )
    body = b"\n8 8\n255\n" + bytes(8 * 8 * 3)
    sparse(
        add("ppm comment of 256 MiB", "comment.ppm"),
        4 + long + len(body),
        {0: b"P6\n#", 4 + long: body},
    )
    bigtiff = b"II+\x00" + struct.pack("<HHQQ", 8, 0, 16, 2**40)
    sparse(add("bigtiff directory of 2**40 tags", "tags.tif"), long, {0: bigtiff})
    rle = bmp_rle8(64, 64, long)
    sparse(
        add("bmp of 256 MiB of empty run-length commands", "empty-commands.bmp"),
        len(rle) + long,
        {0: rle},
    )
    rle = bmp_rle8(4096, 4096, 4 * 4096 + 2)
    # Each row: one pixel, then the end of the row, which Pillow pads a pixel at a time.
    add("run-length bmp of 16 megapixels", "padded.bmp").write_bytes(
        rle + b"\x01\x05\x00\x00" * 4096 + b"\x00\x01"
    )

    # Gigabytes: what the decoder holds, or what Pillow reads whole before decoding.
    progressive_cmyk_jpeg(add("progressive cmyk jpeg 9400x9400", "cmyk-9400.jpg"), 9400)
    text = PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    text += struct.pack(">I", 600 << 20) + b"tEXt"
    sparse(
        add("png with a text chunk of 600 MiB", "text.png"), len(text) + (600 << 20) + 4, {0: text}
    )
    for fmt, name, length in (
        ("WEBP", "half-gig.webp", 500 << 20),
        ("AVIF", "sparse.avif", 300 << 20),
        ("HEIF", "sparse.heic", 300 << 20),
    ):
        sparse(
            add(f"{name.split('.')[1]} of {length >> 20} MiB, mostly a hole", name),
            length,
            {0: small_encoded(fmt)},
        )
    tag = tiff_gray(8, 8, 1, [(65000, 7, 400 << 20, 1 << 20)])
    sparse(add("tiff with a tag of 400 MiB", "tag.tif"), (1 << 20) + (400 << 20), {0: tag})
    strips = 1 << 20
    sparse(
        add("tiff of a million strips", "strips.tif"),
        4096 + 8 * strips + 8 * 8,
        {0: tiff_gray(8, strips, strips, [])},
    )
    side = 9000
    icon = (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0))
        + png_chunk(b"IDAT", zeros_png_idat(side, side))
        + png_chunk(b"IEND", b"")
    )
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(icon), 22)
    add("ico of a 9000x9000 png", "huge.ico").write_bytes(
        struct.pack("<HHH", 0, 1, 1) + entry + icon
    )
    return cases


HTML_404 = b"""<!DOCTYPE html>
<html><head><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>The requested URL /cat.png was not found on this server.</p></body>
</html>
"""
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
    b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="9"/></svg>\n'
