"""catclf's own model files read from their bytes, without h5py: quickly, or not at all.

Importing h5py takes longer than all the rest of `catclf predict one.jpg` does with the model,
so the model files catclf writes are read here from the file's own bytes. Only the HDF5
structures h5py writes for such a file are read, each exactly as h5py writes it: superblock
version 0 with 8-byte offsets and lengths; version-1 object headers, with continuation
blocks; the root group's symbol table (a one-node v1 B-tree, a local heap, one symbol table
node) naming the datasets w, b, costs and mean; each a little-endian float64 dataset stored
contiguously; the root group's attributes (version 1): int64 and float64 scalars,
variable-length UTF-8 strings in global heap collections, and fixed-length byte strings, of one
or two values. Anything else, or anything out of place (an unknown message, a reserved byte
that is not zero, an offset outside the file, a structure met twice, more of anything than a
model holds), means the file is not one of these: `read` returns None and the caller reads
the file with h5py, as for any other file.

`read` never raises for what a file holds, never follows anything outside the file, makes
no loop or recursion without a bound, and holds nothing much larger than the file, which it
reads in one read of at most MAX_FILE_BYTES. What it gives is what h5py gives for the same
file, value for value and bit for bit (the tests hold it to that).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_FILE_BYTES = 1 << 20  # a model file is about 200 KB
# What one text may take (a name, a path, an attribute), here and in `catclf.hdf5`.
MAX_TEXT_BYTES = 64 * 10**3
MAX_VALUES = 2  # in one attribute: the two class names
MAX_ATTRIBUTES = 64
MAX_MESSAGES = 128  # in one object header, its continuations included
MAX_BLOCKS = 8  # continuation blocks of one object header
MAX_FREE_BLOCKS = 16  # in the local heap's free list
DATASETS = frozenset({"w", "b", "costs", "mean"})

SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEFINED = (1 << 64) - 1
FREE_NULL = 1  # the end of a local heap's free list
LEAF_K, INTERNAL_K = 4, 16  # the B-tree and symbol table node sizes h5py leaves as they are
SUPERBLOCK_BYTES = 96
ENTRY_BYTES = 40  # a symbol table entry
GLOBAL_HEAP_MIN = 4096

NIL, DATASPACE, DATATYPE, FILL, LAYOUT, ATTRIBUTE, CONTINUATION, SYMBOL_TABLE = (
    0x0,
    0x1,
    0x3,
    0x5,
    0x8,
    0xC,
    0x10,
    0x11,
)
# Message flags as h5py writes them: a dataset's type and fill value are constant.
FLAGS = {NIL: 0, DATASPACE: 0, DATATYPE: 1, FILL: 1, LAYOUT: 0, ATTRIBUTE: 0, CONTINUATION: 0}
FLAGS[SYMBOL_TABLE] = 0

# Datatype messages, byte for byte: little-endian IEEE float64; little-endian signed int64;
# a variable-length UTF-8 string of unsigned bytes. Fixed-length strings: FIXED_STRING and
# the length.
FLOAT64 = bytes.fromhex("11203f000800000000004000340b0034ff030000")
INT64 = bytes.fromhex("100800000800000000004000")
VLEN_UTF8 = bytes.fromhex("1901010010000000100000000100000000000800")
FIXED_STRING = bytes.fromhex("13010000")  # null-padded ASCII
VLEN_BYTES = 16  # an element: length (4), collection address (8), index (4)
# A dataset's fill value message: version 2, allocated late, written if set, the default.
FILL_LATE = bytes.fromhex("0202020100000000")


class NotMine(Exception):
    """The file, or the value asked for, is outside what this module reads."""


class Contents:
    """The root attributes and datasets of a model file read by `read`.

    attributes hold values as h5py gives them: numpy int64 and float64 scalars, str, numpy
    bytes_, or 1-d numpy arrays of str (dtype object) or of bytes (dtype S); datasets hold
    float64 arrays of the shape stored.
    """

    def __init__(self, attributes: dict[str, Any], datasets: dict[str, NDArray[np.float64]]):
        self.attributes = attributes
        self.datasets = datasets

    def attribute(self, name: str, values: int = 1) -> Any:
        """Attribute name, or None when there is none. Raises NotMine for one of more than
        `values` values, which only the h5py path words an error for."""
        value = self.attributes.get(name)
        if value is not None and np.size(value) > values:
            raise NotMine(name)
        return value


def read(path: Path) -> Contents | None:
    """The contents of the model file at path, or None for a file this module does not read
    (or cannot open: h5py then says why)."""
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        return _File(data).contents()
    except NotMine:
        return None


def _read_bytes(path: Path) -> bytes | None:
    """The bytes of the regular file at path, of at most MAX_FILE_BYTES, in one read: opened
    without blocking, so that a FIFO put there meanwhile is refused rather than waited for."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_FILE_BYTES:
            return None
        data = os.read(fd, status.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == status.st_size else None


def _aligned(n: int) -> int:
    return (n + 7) & ~7


class _File:
    """One pass over the bytes of a file; every structure's address is taken once."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.seen: set[int] = set()
        self.collections: dict[int, dict[int, bytes]] = {}

    # Bytes, bounded

    def take(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise NotMine("outside the file")
        return self.data[offset : offset + size]

    def number(self, offset: int, size: int) -> int:
        return int.from_bytes(self.take(offset, size), "little")

    def claim(self, address: int) -> None:
        if address in self.seen or len(self.seen) > 4 * MAX_MESSAGES:
            raise NotMine("a structure met twice")
        self.seen.add(address)

    # The file

    def contents(self) -> Contents:
        btree, heap, header = self.superblock()
        messages = self.header(header)
        tables = [body for kind, body in messages if kind == SYMBOL_TABLE]
        if tables != [btree.to_bytes(8, "little") + heap.to_bytes(8, "little")]:
            raise NotMine("the root group's symbol table")
        attributes: dict[str, Any] = {}
        for kind, body in messages:
            if kind == ATTRIBUTE:
                name, value = self.attribute(body)
                if name in attributes or len(attributes) >= MAX_ATTRIBUTES:
                    raise NotMine(name)
                attributes[name] = value
            elif kind not in (NIL, SYMBOL_TABLE):
                raise NotMine(f"message {kind} in the root group")
        names = self.symbols(btree, heap)
        return Contents(attributes, {name: self.dataset(at) for name, at in names.items()})

    def superblock(self) -> tuple[int, int, int]:
        """The root group's B-tree, local heap and object header addresses."""
        head = self.take(0, SUPERBLOCK_BYTES)
        fixed = SIGNATURE + bytes([0, 0, 0, 0, 0, 8, 8, 0])
        fixed += LEAF_K.to_bytes(2, "little") + INTERNAL_K.to_bytes(2, "little") + bytes(4)
        if head[:24] != fixed or self.number(24, 8) != 0:  # flags; base address 0
            raise NotMine("superblock")
        free_space, end, driver = self.number(32, 8), self.number(40, 8), self.number(48, 8)
        if (free_space, end, driver) != (UNDEFINED, len(self.data), UNDEFINED):
            raise NotMine("superblock")
        name, header, cache = self.number(56, 8), self.number(64, 8), self.number(72, 8)
        if (name, cache) != (0, 1):  # the root entry caches its symbol table's addresses
            raise NotMine("root entry")
        return self.number(80, 8), self.number(88, 8), header

    def header(self, address: int) -> list[tuple[int, bytes]]:
        """The messages of the version-1 object header at address, continuations followed,
        as (type, body)."""
        self.claim(address)
        prefix = self.take(address, 16)
        count, size = self.number(address + 2, 2), self.number(address + 8, 4)
        if prefix[:2] != b"\x01\x00" or self.number(address + 4, 4) != 1 or prefix[12:] != bytes(4):
            raise NotMine("object header")
        blocks = [(address + 16, size)]
        messages: list[tuple[int, bytes]] = []
        seen = 0
        for start, length in blocks:  # grows as continuations are met, to MAX_BLOCKS
            at, end = start, start + length
            self.take(start, length)
            while at < end:
                kind, body_size = self.number(at, 2), self.number(at + 2, 2)
                flags, reserved = self.number(at + 4, 1), self.take(at + 5, 3)
                body = self.take(at + 8, body_size)
                if (
                    body_size % 8
                    or at + 8 + body_size > end
                    or reserved != bytes(3)
                    or FLAGS.get(kind) != flags
                ):
                    raise NotMine("message")
                seen += 1
                if seen > MAX_MESSAGES:
                    raise NotMine("too many messages")
                if kind == CONTINUATION:
                    target, target_size = self.number(at + 8, 8), self.number(at + 16, 8)
                    if body_size != 16 or target_size < 8 or len(blocks) >= MAX_BLOCKS:
                        raise NotMine("continuation")
                    self.claim(target)
                    blocks.append((target, target_size))
                elif kind == NIL:
                    if body != bytes(body_size):
                        raise NotMine("message")
                else:
                    messages.append((kind, body))
                at += 8 + body_size
        if seen != count:
            raise NotMine("message count")
        return messages

    # The root group's datasets

    def symbols(self, btree: int, heap: int) -> dict[str, int]:
        """The root group's names and their object headers' addresses."""
        names = self.local_heap(heap)
        self.claim(btree)
        # HDF5 reads the whole node, room for 2K children, before it looks at one.
        node = self.take(btree, 24 + 8 * (4 * INTERNAL_K + 1))
        if node[:8] != b"TREE\x00\x00\x01\x00" or node[8:24] != b"\xff" * 16:
            raise NotMine("B-tree")  # one leaf node of one child, no siblings
        left, child, right = (self.number(btree + at, 8) for at in (24, 32, 40))
        self.claim(child)
        snod = self.take(child, 8 + 2 * LEAF_K * ENTRY_BYTES)
        count = self.number(child + 6, 2)
        if snod[:6] != b"SNOD\x01\x00" or not 1 <= count <= 2 * LEAF_K:
            raise NotMine("symbol table node")
        found: dict[str, int] = {}
        keys: list[bytes] = []
        for i in range(count):
            entry = child + 8 + ENTRY_BYTES * i
            key = names(self.number(entry, 8))
            header = self.number(entry + 8, 8)
            if self.take(entry + 16, ENTRY_BYTES - 16) != bytes(ENTRY_BYTES - 16):
                raise NotMine("symbol table entry")  # a dataset's: nothing cached
            keys.append(key)
            name = key.decode("ascii", "replace")
            if name not in DATASETS or name in found:
                raise NotMine("name")
            found[name] = header
        # HDF5 finds a name by bisection between the B-tree's keys: they must bound the names
        # in order, for it to find exactly these.
        if keys != sorted(set(keys)) or not names(left) < keys[0] or keys[-1] > names(right):
            raise NotMine("order of names")
        return found

    def local_heap(self, address: int) -> Any:
        """The names of the local heap at address, as a function of an offset."""
        self.claim(address)
        if self.take(address, 8) != b"HEAP\x00\x00\x00\x00":
            raise NotMine("local heap")
        size, free, start = (self.number(address + at, 8) for at in (8, 16, 24))
        if start != address + 32:  # the names right after the heap's header, as h5py puts them
            raise NotMine("local heap")
        segment = self.take(start, size)
        for _ in range(MAX_FREE_BLOCKS):
            if free == FREE_NULL:
                break
            if free % 8 or free + 16 > size:
                raise NotMine("local heap free list")
            following, length = self.number(start + free, 8), self.number(start + free + 8, 8)
            ends = following == FREE_NULL or following > free  # in order: no cycle
            if length < 16 or free + length > size or not ends:
                raise NotMine("local heap free list")
            free = following
        else:
            raise NotMine("local heap free list")

        def name(offset: int) -> bytes:
            end = segment.find(b"\x00", offset) if offset < size else -1
            if end < 0:
                raise NotMine("name")
            return segment[offset:end]

        return name

    def dataset(self, address: int) -> NDArray[np.float64]:
        parts: dict[int, bytes] = {}
        for kind, body in self.header(address):
            if kind not in (DATASPACE, DATATYPE, FILL, LAYOUT) or kind in parts:
                raise NotMine(f"message {kind} in a dataset")
            parts[kind] = body
        if len(parts) != 4 or parts[DATATYPE] != FLOAT64 + bytes(4) or parts[FILL] != FILL_LATE:
            raise NotMine("dataset")
        shape, used = self.dataspace(parts[DATASPACE])
        if _aligned(used) != len(parts[DATASPACE]):
            raise NotMine("dataspace")
        layout = parts[LAYOUT]
        stored, size = self.number_in(layout, 2, 8), self.number_in(layout, 10, 8)
        if layout[:2] != b"\x03\x01" or len(layout) != 24 or layout[18:] != bytes(6):
            raise NotMine("layout")  # version 3, contiguous
        if size != 8 * int(np.prod(shape)):
            raise NotMine("layout")
        return np.frombuffer(self.take(stored, size), "<f8").astype(np.float64).reshape(shape)

    # Attributes

    def attribute(self, body: bytes) -> tuple[str, Any]:
        """(name, value) of an attribute message's body, the value as h5py reads it."""
        if len(body) < 8 or body[:2] != b"\x01\x00":
            raise NotMine("attribute")
        name_size, type_size, space_size = (self.number_in(body, at, 2) for at in (2, 4, 6))
        at = 8
        raw_name = body[at : at + name_size]
        at += _aligned(name_size)
        datatype = body[at : at + type_size]
        type_end = at + type_size
        at += _aligned(type_size)
        shape, used = self.dataspace(body[at : at + space_size])
        space_end = at + space_size
        at += _aligned(space_size)
        count = int(np.prod(shape))
        if (
            used != space_size
            or len(raw_name) != name_size
            or name_size < 2
            or raw_name.find(b"\x00") != name_size - 1
            or not raw_name[:-1].isascii()
            or any(body[8 + name_size : 8 + _aligned(name_size)])
            or any(body[type_end : type_end + _aligned(type_size) - type_size])
            or any(body[space_end : space_end + _aligned(space_size) - space_size])
            or count > MAX_VALUES
        ):
            raise NotMine("attribute")
        name = raw_name[:-1].decode("ascii")
        if datatype == FLOAT64:
            kind, each = "<f8", 8
        elif datatype == INT64:
            kind, each = "<i8", 8
        elif datatype == VLEN_UTF8:
            kind, each = "vlen", VLEN_BYTES
        elif len(datatype) == 8 and datatype[:4] == FIXED_STRING:
            each = self.number_in(datatype, 4, 4)
            kind = f"S{each}"
            if not 1 <= each * count <= MAX_TEXT_BYTES:
                raise NotMine("attribute")
        else:
            raise NotMine("datatype")
        raw = body[at : at + each * count]
        end = at + len(raw)
        if len(raw) != each * count or _aligned(end) != len(body) or any(body[end:]):
            raise NotMine("attribute")
        if kind == "vlen":
            texts = [self.text(raw[i : i + VLEN_BYTES]) for i in range(0, len(raw), VLEN_BYTES)]
            array: NDArray[Any] = np.empty(count, dtype=object)
            array[:] = texts
        else:
            array = np.frombuffer(raw, kind).copy()
        array = array.reshape(shape)
        return name, array[()] if shape == () else array

    def dataspace(self, body: bytes) -> tuple[tuple[int, ...], int]:
        """The shape of a version-1 dataspace message, and the bytes it takes: a scalar, or
        1 or 2 dimensions, each with a maximum equal to itself."""
        if len(body) < 8 or body[0] != 1 or body[1] > 2 or body[3:8] != bytes(5):
            raise NotMine("dataspace")
        rank = body[1]
        if body[2] != (1 if rank else 0) or len(body) < 8 + 16 * rank:
            raise NotMine("dataspace")
        dims = tuple(self.number_in(body, 8 + 8 * i, 8) for i in range(rank))
        maxima = tuple(self.number_in(body, 8 + 8 * (rank + i), 8) for i in range(rank))
        if dims != maxima or any(not 1 <= d <= len(self.data) for d in dims):
            raise NotMine("dataspace")
        return dims, 8 + 16 * rank

    def text(self, element: bytes) -> str:
        """A variable-length string: its length, and the object in a global heap collection
        that holds it, of exactly that length."""
        length = self.number_in(element, 0, 4)
        address, index = self.number_in(element, 4, 8), self.number_in(element, 12, 4)
        stored = self.collection(address).get(index)
        if stored is None or len(stored) != length or b"\x00" in stored:
            raise NotMine("string")
        try:
            text = stored.decode("utf-8")
        except UnicodeDecodeError:
            raise NotMine("string") from None
        if len(text) > MAX_TEXT_BYTES:
            raise NotMine("string")
        return text

    def collection(self, address: int) -> dict[int, bytes]:
        """The objects of the global heap collection at address, by index: each in turn,
        then the free space to the end, as HDF5 reads them."""
        if address in self.collections:
            return self.collections[address]
        self.claim(address)
        if self.take(address, 8) != b"GCOL\x01\x00\x00\x00":
            raise NotMine("global heap")
        size = self.number(address + 8, 8)
        if size < GLOBAL_HEAP_MIN or size % 8:
            raise NotMine("global heap")
        heap = self.take(address, size)
        objects: dict[int, bytes] = {}
        at = 16
        while at < size:  # each object takes at least 16 bytes
            index, reserved = self.number_in(heap, at, 2), heap[at + 4 : at + 8]
            length = self.number_in(heap, at + 8, 8)
            if at + 16 > size or reserved != bytes(4) or index in objects:
                raise NotMine("global heap")
            if index == 0:  # the free space, its header included, to the end
                if length != size - at or any(heap[at + 16 :]):
                    raise NotMine("global heap")
                break
            end = at + 16 + length
            if end > size or any(heap[end : at + 16 + _aligned(length)]):
                raise NotMine("global heap")
            objects[index] = heap[at + 16 : end]
            at += 16 + _aligned(length)
        else:
            if at != size:
                raise NotMine("global heap")
        self.collections[address] = objects
        return objects

    @staticmethod
    def number_in(body: bytes, at: int, size: int) -> int:
        if at + size > len(body):
            raise NotMine("outside the message")
        return int.from_bytes(body[at : at + size], "little")
