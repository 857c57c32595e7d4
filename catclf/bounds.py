"""What an image file will cost to decode, worked out from its structure before any decoder
reads it.

Pillow reads part of a file itself, in Python, before its decoder runs, and keeps what it
reads: a JPEG's APP segments, a PNG's ancillary chunks, a TIFF's tags, a GIF's comments, a
whole WebP, AVIF or HEIF file. A file of a few kilobytes on disk can be gigabytes long (a
sparse file), and a small file can hold what takes Pillow's Python code minutes to walk:
stray bytes it skips one at a time, a run-length encoded BMP of empty commands. Decoders
hold more than the decoded image too: libjpeg keeps every DCT coefficient of a progressive
or multi-scan JPEG at full size, whatever the scale it decodes to, and passes over all of
them once for each scan.

`survey` walks a file's markers, chunks, tags or blocks, never its pixel data, and says what
Pillow will hold before and beside the decoded image (`Survey`), or raises `Unfit` for a file
with more of something than any real image has. Each walk reads a bounded number of small
pieces, or searches the file for markers a block at a time, in C.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
from typing import BinaryIO, NamedTuple

# A progressive JPEG from libjpeg has 6 scans (gray), 10 (colour) or 18 (CMYK); mozjpeg's
# smallest files 4, 8 or 17; a baseline JPEG one for each component at most. Each scan costs
# the decoder a pass over every block of a component: 100 scans of an image at Pillow's
# pixel limit take a few seconds, thousands take minutes.
MAX_SCANS = 100
# Segments before a JPEG's first scan (Pillow reads each in Python; real files have a few,
# a few hundred with extended XMP), and of those, EXIF segments, which Pillow joins one to
# the next (each join copies all before it).
MAX_SEGMENTS = 1024
MAX_EXIF_SEGMENTS = 16
# Bytes that are not a marker or a block, between a JPEG's segments before its first scan or
# a GIF's blocks before its first frame: Pillow skips them one at a time, a few million a
# second. A writer may leave a few; none leaves kilobytes.
MAX_STRAY = 64 << 10
# PNG chunks: Pillow reads each in Python. libpng writes 8 KB of pixel data a chunk, so a PNG
# within the memory budget holds about 65,000.
MAX_CHUNKS = 1 << 18
# A GIF's sub-blocks (255 bytes each at most) before its first frame: 16 MB of metadata.
MAX_BLOCKS = 1 << 16
# Entries of one TIFF directory (a classic TIFF cannot have more; a BigTIFF can), and values
# of one numeric tag (a strip or tile offset each, which Pillow makes a tile of).
MAX_TAGS = 65_535
MAX_TAG_VALUES = 1 << 18
# A PPM, PGM or PBM header with its comments: Pillow reads it a byte at a time.
MAX_PPM_HEADER = 64 << 10
# Run-length encoded BMPs are decoded by Python code a command at a time, and a row's end
# padded a pixel at a time: 4 megapixels take about a second.
MAX_RLE_PIXELS = 1 << 22
# What Pillow keeps for each JPEG segment or PNG chunk beside its data (the objects that hold
# it), and for each value of a TIFF tag once it has made Python objects of it (measured: about
# 150 bytes a strip offset, with the tile Pillow makes of it).
PIECE_COST = 200
VALUE_COST = 160
# Pillow's PNG reader inflates each compressed text or ICC chunk to at most 1 MiB, and all of
# them to at most 64 MiB (PngImagePlugin.MAX_TEXT_CHUNK and MAX_TEXT_MEMORY).
TEXT_CHUNK = 1 << 20
TEXT_MEMORY = 64 << 20
# The WebP, AVIF and HEIF readers hold the whole file twice (measured on sparse files).
WHOLE_FILE_COPIES = 2
# Bytes a pixel the decoder keeps beside Pillow's image (measured on photos of 24 and 48
# megapixels: 12.1; 4.5 and 5.3; 3.8 and 3.6): the WebP decoder a canvas, the previous canvas
# and a copy; the AVIF and HEIF decoders their own planes and an RGB copy.
DECODER_PIXEL_BYTES = {"WEBP": 12, "AVIF": 6, "HEIF": 5}
# An ICO's icon, which Pillow decodes while it opens the file, in bytes a pixel as its header
# declares it (measured): a PNG icon decoded as RGBA, then made RGB; a BMP icon's header
# declares twice its height (the image, then its mask), and Pillow reads its alpha again,
# makes a mask and an RGBA composite of it.
PNG_ICON_PIXEL_BYTES = 8
BMP_ICON_PIXEL_BYTES = 5

JPEG_SIGNATURE = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BLOCK = 1 << 20  # bytes read at a time when searching a file, after FIRST_BLOCK
FIRST_BLOCK = 1 << 12
HEAD = 1 << 14  # bytes read at once from the start of a file, where its headers are


class Unfit(Exception):
    """A file with more of something than any real image has: what, in a few words."""


class Survey(NamedTuple):
    """What decoding a file takes beside the decoded image, as its structure says.

    format: the format its signature names ("JPEG", "PNG", ...), None when it names none.
    held: bytes Pillow reads and keeps before its decoder runs (metadata, whole files).
    coefficients: bytes of DCT coefficients libjpeg keeps (progressive or multi-scan JPEG).
    per_pixel: bytes the decoder keeps for each pixel of the full-size image, beside
    Pillow's own image.
    size: (width, height) as the header declares it, when read here; None otherwise.
    on_open: bytes taken by the pixels of an image that Pillow decodes as it opens the file
    (ICO), before anything here can look at the image Pillow made.
    """

    format: str | None
    held: int = 0
    coefficients: int = 0
    per_pixel: int = 0
    size: tuple[int, int] | None = None
    on_open: int = 0


def survey(stream: BinaryIO, size: int) -> Survey:
    """Walk the image file in stream, size bytes long, and leave the stream at its start.

    Raises Unfit for a file with more scans, segments, chunks, blocks, tags, commands or
    stray bytes than the limits above allow.
    """
    f = _File(stream, size)
    try:
        head = f.at(0, 16)
        if head.startswith(JPEG_SIGNATURE):
            return _jpeg(f)
        if head.startswith(PNG_SIGNATURE):
            return _png(f, 0, MAX_CHUNKS)[0]
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(f)
        if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff(f)
        if head.startswith(b"BM"):
            return _bmp(f)
        if head[:4] == b"\x00\x00\x01\x00":
            return _ico(f)
        if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6", b"f", b"F"):
            return _ppm(f)
        whole = None
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            whole = "WEBP"
        elif head[4:8] == b"ftyp":
            whole = "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIF"
        if whole is not None:
            return Survey(whole, WHOLE_FILE_COPIES * size, per_pixel=DECODER_PIXEL_BYTES[whole])
        return Survey(None)
    finally:
        stream.seek(0)


class _File:
    """A seekable stream of known size, read at positions. Its start, where most headers
    lie, is read once; the rest of a file with pread, which reads what is asked and no more
    (a PNG's chunk headers are 8 bytes every 8 KB)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.fd: int | None = None
        if hasattr(os, "pread"):
            with contextlib.suppress(OSError, AttributeError):  # io.UnsupportedOperation
                self.fd = stream.fileno()
        self.head = self._read(0, HEAD)

    def at(self, position: int, count: int) -> bytes:
        """Up to count bytes from position (fewer at the end of the file)."""
        if position >= self.size or count <= 0:
            return b""
        count = min(count, self.size - position)
        if position + count <= len(self.head):
            return self.head[position : position + count]
        return self._read(position, count)

    def _read(self, position: int, count: int) -> bytes:
        count = min(count, self.size - position)
        if count <= 0:
            return b""
        if self.fd is not None:
            return os.pread(self.fd, count, position)
        self.stream.seek(position)
        return self.stream.read(count)

    def search(
        self, pattern: re.Pattern[bytes], position: int, within: int | None = None
    ) -> int | None:
        """Where the first match of pattern (two bytes long at most) starts, at or after
        position and, given within, less than within bytes after it; None when there is
        none. What is sought is most often close: the first block read is small."""
        end = self.size if within is None else min(self.size, position + within)
        if position < len(self.head):
            found = pattern.search(self.head, position, min(end + 1, len(self.head)))
            if found is not None and found.start() < end:
                return found.start()
            # A match may start on the head's last byte and end after it.
            position = max(position, min(end, len(self.head) - 1))
        block = FIRST_BLOCK
        while position < end:
            found = pattern.search(self.at(position, block + 1))
            if found is not None and found.start() < min(block, end - position):
                return position + found.start()
            position += block
            block = BLOCK
        return None


def _u16(data: bytes, offset: int, order: str = ">") -> int:
    return int(struct.unpack_from(order + "H", data, offset)[0])


def _u32(data: bytes, offset: int, order: str = ">") -> int:
    return int(struct.unpack_from(order + "I", data, offset)[0])


# JPEG


# A marker: 0xFF and any byte but 0x00 (a stuffed 0xFF of entropy-coded data), 0xFF (fill,
# which may precede a marker) and 0xD0 to 0xD7 (restart markers, inside a scan).
JPEG_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
# Start of frame markers: 0xC0 to 0xCF but DHT (0xC4), JPG (0xC8) and DAC (0xCC).
SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
SOS, EOI = 0xDA, 0xD9
CODES = frozenset(range(0x01, 0xFF)) - frozenset(range(0xD0, 0xD8))  # what JPEG_MARKER takes
STANDALONE = frozenset({0x01, 0xD8})  # TEM and SOI: no length follows


class _Frame(NamedTuple):
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]  # (horizontal, vertical) for each component
    progressive: bool


def _jpeg(f: _File) -> Survey:
    """A JPEG's markers from its SOI to its EOI, found past the entropy-coded data."""
    position = 2
    scans = segments = exif = stray = held = 0
    frame: _Frame | None = None
    multi_scan = False
    head = f.head
    while True:
        if position + 4 <= len(head) and head[position] == 0xFF and head[position + 1] in CODES:
            start = position  # most often, the next segment follows the last
        else:
            # Up to the first scan, Pillow's own loop reads what lies between segments.
            within = None if scans else MAX_STRAY - stray + 1
            found = f.search(JPEG_MARKER, position, within)
            if found is None:
                if within is not None and f.size - position >= within:
                    raise Unfit(
                        f"corrupt JPEG: more than {MAX_STRAY >> 10} KiB of stray bytes "
                        "between its segments"
                    )
                break
            start = found
            if not scans:
                stray += start - position
        marker = head[start : start + 4] if start + 4 <= len(head) else f.at(start, 4)
        code = marker[1]  # after 0xFF; then a segment's length
        position = start + 2
        if code == EOI:
            break
        if code in STANDALONE:
            continue
        if len(marker) < 4:
            break
        length = marker[2] << 8 | marker[3]
        if not scans:
            segments += 1
            if segments > MAX_SEGMENTS:
                raise Unfit(f"a JPEG of more than {MAX_SEGMENTS:,} segments before its image")
            if length < 2:
                # Pillow reads a segment whose length is below 2 to the end of the file.
                held += 2 * (f.size - position)
                break
            held += PIECE_COST
            if 0xE0 <= code <= 0xEF or code == 0xFE:
                # APP and COM segments, kept in the image's applist and again in its info.
                held += 2 * (length - 2)
                if code == 0xE1 and f.at(position + 2, 6) == b"Exif\x00\x00":
                    exif += 1
                    if exif > MAX_EXIF_SEGMENTS:
                        raise Unfit(f"a JPEG of more than {MAX_EXIF_SEGMENTS} EXIF segments")
        if code in SOF and frame is None:
            frame = _frame(f.at(position + 2, length - 2), code in PROGRESSIVE)
        elif code == SOS:
            scans += 1
            if scans > MAX_SCANS:
                raise Unfit(
                    f"a JPEG of more than {MAX_SCANS} scans (a progressive photo has about 10)"
                )
            if scans == 1:
                # libjpeg keeps every coefficient when the first scan leaves out a component.
                components = f.at(position + 2, 1)
                multi_scan = (
                    frame is not None and bool(components) and components[0] < len(frame.sampling)
                )
                if frame is None or not (frame.progressive or multi_scan):
                    # One scan holds the whole image: libjpeg stops at its end, and calls a
                    # second scan an error. What follows costs it nothing.
                    break
        position += max(length, 2)
    if frame is None:
        return Survey("JPEG", held)
    coefficients = 0
    if frame.progressive or multi_scan:
        coefficients = _coefficient_bytes(frame)
    return Survey("JPEG", held, coefficients, size=(frame.width, frame.height))


def _frame(body: bytes, progressive: bool) -> _Frame | None:
    """A start of frame segment's size and sampling factors; None when it is too short."""
    if len(body) < 6:
        return None
    height, width, count = _u16(body, 1), _u16(body, 3), body[5]
    sampling = tuple(
        (body[i + 1] >> 4, body[i + 1] & 15) for i in range(6, min(len(body) - 2, 6 + 3 * count), 3)
    )
    return _Frame(width, height, sampling, progressive)


def _coefficient_bytes(frame: _Frame) -> int:
    """What libjpeg's whole-image coefficient buffer takes: for each component, its blocks
    (rounded up to whole MCUs) of 64 coefficients of 2 bytes."""
    if not frame.sampling or any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in frame.sampling):
        return 0  # libjpeg refuses such a frame before it allocates anything
    h_max = max(h for h, _ in frame.sampling)
    v_max = max(v for _, v in frame.sampling)
    total = 0
    for h, v in frame.sampling:
        columns = -(-frame.width * h // (h_max * 8))
        rows = -(-frame.height * v // (v_max * 8))
        total += -(-columns // h) * h * -(-rows // v) * v * 128
    return total


# PNG


TEXT_CHUNKS = frozenset({b"zTXt", b"iTXt", b"iCCP"})
DATA_CHUNKS = frozenset({b"IDAT", b"fdAT"})


def _png(f: _File, start: int, limit: int) -> tuple[Survey, int]:
    """A PNG's chunks from start, and how many were walked (at most limit)."""
    position = start + len(PNG_SIGNATURE)
    chunks = held = largest = texts = 0
    size = None
    while len(header := f.at(position, 8)) == 8:
        length, kind = _u32(header, 0), header[4:]
        chunks += 1
        if chunks > limit:
            raise Unfit(f"a PNG of more than {MAX_CHUNKS:,} chunks")
        if kind == b"IHDR" and size is None and len(body := f.at(position + 8, 8)) == 8:
            size = (_u32(body, 0), _u32(body, 4))
        # Pillow can read no more of a chunk than the file holds.
        present = min(length, f.size - position - 8)
        if kind in DATA_CHUNKS:
            # Read a piece at a time, but what the decoder leaves of a chunk in one read.
            largest = max(largest, present)
        else:
            # Read whole, kept and decoded (text, ICC profile, EXIF, unknown chunks).
            held += 3 * present + PIECE_COST
            texts += kind in TEXT_CHUNKS
        if kind == b"IEND":
            break
        position += 12 + length
    held += largest + min(texts * TEXT_CHUNK, TEXT_MEMORY)
    return Survey("PNG", held, size=size), chunks


# GIF


GIF_BLOCK = re.compile(rb"[!,;]")


def _gif(f: _File) -> Survey:
    """A GIF's blocks up to its first frame, which is all Pillow reads of it here."""
    screen = f.at(6, 7)
    if len(screen) < 7:
        return Survey("GIF")
    width, height, flags = _u16(screen, 0, "<"), _u16(screen, 2, "<"), screen[4]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    held = blocks = stray = 0
    while True:
        # Pillow reads what lies between blocks a byte at a time.
        within = MAX_STRAY - stray + 1
        found = f.search(GIF_BLOCK, position, within)
        if found is None:
            if f.size - position >= within:
                raise Unfit(
                    f"corrupt GIF: more than {MAX_STRAY >> 10} KiB of stray bytes before its "
                    "first frame"
                )
            break
        stray += found - position
        kind = f.at(found, 1)
        if kind == b",":
            descriptor = f.at(found + 1, 8)
            if len(descriptor) == 8:
                left, top, w, h = struct.unpack("<4H", descriptor)
                width, height = max(width, left + w), max(height, top + h)
            break
        if kind == b";":
            break
        label = f.at(found + 1, 1)
        position = found + 2
        while (sub := f.at(position, 1)) and sub[0]:
            blocks += 1
            if blocks > MAX_BLOCKS:
                raise Unfit(f"a GIF of more than {MAX_BLOCKS:,} blocks before its first frame")
            if label == b"\xfe":  # a comment, kept
                held += 2 * sub[0] + PIECE_COST
            position += 1 + sub[0]
        position += 1
    return Survey("GIF", held, size=(width, height))


# TIFF


# Bytes a value of each TIFF type takes, as Pillow reads them; other types it skips.
TIFF_TYPES = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8,
    17: 8, 18: 8,
}  # fmt: skip
TIFF_BYTES = frozenset({1, 2, 6, 7})  # kept as bytes or text, not a Python object a value
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
COMPRESSION, ORIENTATION = 259, 274


def _tiff(f: _File) -> Survey:
    """A TIFF's first directory, and the EXIF, GPS and interoperability directories Pillow
    reads when it decodes the image."""
    head = f.at(0, 16)
    if len(head) < 16:
        return Survey("TIFF")
    order = "<" if head[:2] == b"II" else ">"
    big = _u16(head, 2, order) == 43
    first = struct.unpack_from(order + "Q", head, 8)[0] if big else _u32(head, 4, order)
    # Pillow reads the first directory's tags when it opens the file, and again for EXIF.
    held, tags = _ifd(f, first, order, big, copies=3)
    seen = {first}
    for pointer in (EXIF_IFD, GPS_IFD, INTEROP_IFD):
        offset = tags.get(pointer)
        if offset is not None and offset not in seen:
            seen.add(offset)
            more, inner = _ifd(f, offset, order, big, copies=2)
            held += more
            if pointer == EXIF_IFD and INTEROP_IFD in inner:
                tags.setdefault(INTEROP_IFD, inner[INTEROP_IFD])
    per_pixel = 0
    if tags.get(COMPRESSION, 1) != 1:
        held += f.size  # libtiff maps the file into memory to decode it
    if tags.get(ORIENTATION, 1) in range(2, 9):
        per_pixel = 4  # Pillow turns the decoded image upright, into a copy
    return Survey("TIFF", held, per_pixel=per_pixel)


def _ifd(f: _File, offset: int, order: str, big: bool, copies: int) -> tuple[int, dict[int, int]]:
    """What Pillow keeps of the directory at offset, read copies times, and the first value
    of its tags of one integer (tag: value)."""
    count_bytes = f.at(offset, 8 if big else 2)
    if len(count_bytes) < (8 if big else 2):
        return 0, {}
    count = struct.unpack(order + ("Q" if big else "H"), count_bytes)[0]
    if count > MAX_TAGS:
        raise Unfit(f"a TIFF directory of more than {MAX_TAGS:,} tags")
    entry = 20 if big else 12
    inline = 8 if big else 4
    entries = f.at(offset + len(count_bytes), count * entry)
    held = total = 0
    tags: dict[int, int] = {}
    layout = order + ("HHQ8s" if big else "HHI4s")
    for i in range(len(entries) // entry):
        tag, kind, values, data = struct.unpack_from(layout, entries, i * entry)
        unit = TIFF_TYPES.get(kind)
        if unit is None:
            continue
        size = values * unit
        if kind not in TIFF_BYTES and values > MAX_TAG_VALUES:
            raise Unfit(f"a TIFF tag of more than {MAX_TAG_VALUES:,} values")
        if size <= inline:
            if values == 1 and kind in (3, 4, 13, 16, 18):
                tags[tag] = struct.unpack_from(order + {2: "H", 4: "I", 8: "Q"}[unit], data)[0]
            continue
        total += size
        if total > f.size:
            continue  # Pillow skips tag data that would take it past the end of the file
        held += copies * size + (0 if kind in TIFF_BYTES else VALUE_COST * values)
    return held, tags


# BMP and ICO


RLE = frozenset({1, 2})  # BI_RLE8, BI_RLE4
BMP_HEADERS = (12, 40, 52, 56, 64, 108, 124)


def _bmp(f: _File) -> Survey:
    """A BMP's headers: what Pillow reads of its info header, and, for run-length encoded
    pixels, whether Pillow's Python decoder can get through them quickly."""
    head = f.at(0, 14)
    if len(head) < 14:
        return Survey("BMP")
    data_offset = _u32(head, 10, "<")
    survey, info = _dib(f, 14)
    if info is not None:
        width, height, compression = info
        if compression in RLE:
            if width * height > MAX_RLE_PIXELS:
                raise Unfit(f"a run-length encoded BMP of more than {MAX_RLE_PIXELS:,} pixels")
            # Two bytes a pixel and two a row, for the commands that encode them one by one.
            if f.size - data_offset > 2 * width * height + 2 * height + 2:
                raise Unfit("a run-length encoded BMP of more commands than it has pixels")
    return survey


def _dib(f: _File, start: int) -> tuple[Survey, tuple[int, int, int] | None]:
    """A device-independent bitmap's info header at start: what Pillow holds of it, and its
    (width, height, compression), when the header is one Pillow reads."""
    header = f.at(start, 4)
    if len(header) < 4:
        return Survey("BMP"), None
    length = _u32(header, 0, "<")
    if length > max(BMP_HEADERS):
        # Pillow reads the header whole before it looks at its size.
        raise Unfit(f"corrupt BMP: an info header of {length:,} bytes")
    info = f.at(start + 4, 16)
    if length not in BMP_HEADERS or len(info) < 16:
        return Survey("BMP", length), None
    if length == 12:
        width, height, compression = _u16(info, 0, "<"), _u16(info, 2, "<"), 0
    else:
        width, height = struct.unpack_from("<ii", info)
        compression = _u32(info, 12, "<")
    width, height = abs(width), abs(height)
    return Survey("BMP", length, size=(width, height)), (width, height, compression)


def _ico(f: _File) -> Survey:
    """An ICO's directory and the header of each image it holds: Pillow decodes the largest
    while it opens the file."""
    head = f.at(4, 2)
    if len(head) < 2:
        return Survey("ICO")
    directory = f.at(6, 16 * _u16(head, 0, "<"))
    held = on_open = 0
    walked: set[int] = set()
    chunks_left = MAX_CHUNKS
    for i in range(len(directory) // 16):
        offset = _u32(directory, 16 * i + 12, "<")
        if offset in walked:
            continue
        walked.add(offset)
        if f.at(offset, 8) == PNG_SIGNATURE:
            icon, chunks = _png(f, offset, chunks_left)
            chunks_left -= chunks
            per_pixel = PNG_ICON_PIXEL_BYTES
        else:
            icon, per_pixel = _dib(f, offset)[0], BMP_ICON_PIXEL_BYTES
        held = max(held, icon.held)
        if icon.size is not None:
            on_open = max(on_open, per_pixel * icon.size[0] * icon.size[1])
    return Survey("ICO", held, on_open=on_open)


# PPM


PPM_SPACE = b" \t\n\x0b\x0c\r"


def _ppm(f: _File) -> Survey:
    """A PPM, PGM, PBM or PFM header: its size, and whether Pillow reads it quickly."""
    head = f.at(0, MAX_PPM_HEADER + 1)
    tokens = 2 if head[1:2] in (b"1", b"4") else 3
    found: list[bytes] = []
    i = 2
    while len(found) < tokens:
        while i < len(head) and head[i] in PPM_SPACE:
            i += 1
        if i >= len(head):
            break
        if head[i : i + 1] == b"#":
            ends = [e for e in (head.find(b"\n", i), head.find(b"\r", i)) if e >= 0]
            if not ends:
                break
            i = min(ends) + 1
            continue
        token_end = i
        while token_end < len(head) and head[token_end] not in PPM_SPACE + b"#":
            token_end += 1
        found.append(head[i:token_end])
        i = token_end
    if len(found) < tokens and len(head) > MAX_PPM_HEADER:
        raise Unfit(f"a PPM header longer than {MAX_PPM_HEADER >> 10} KiB")
    size = None
    # Pillow reads a number of 10 digits at most.
    if len(found) >= 2 and all(t.isdigit() and len(t) <= 10 for t in found[:2]):
        size = (int(found[0]), int(found[1]))
    return Survey("PPM", size=size)
