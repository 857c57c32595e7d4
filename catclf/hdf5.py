"""HDF5 files read as nothing but themselves, each read bounded before it is made.

HDF5 lets a file take a dataset's values from elsewhere: raw storage in external files
(any file the reader can open: another user's data, a FIFO that never answers, a sparse
file of zeros), external links to other HDF5 files (opened, FIFO or not, as soon as the
link is followed), virtual datasets mapped onto other datasets. It lets a file declare
values it never wrote, which read back as the fill value; chunks of up to 4 GiB; compressed
chunks that inflate far beyond their declared size (HDF5 grows its buffer to whatever the
stream holds: a 1 MB chunk becomes 1 GB); strings of any length, and variable-length
strings that all point at one long string stored once. And HDF5 itself loops for ever on
a damaged heap of variable-length strings (a free space of no size, from one byte
changed). Model and data files are read through this module, which refuses all of these
from the file's metadata, from one bounded inflation of each compressed chunk, and from
its own walk through each heap of strings, before any value is read.

Errors are raised as the caller's CatclfError subclass, with messages that start with the
file's path and name the dataset or attribute as the caller calls it (`label`).

Files are written through `Writing`, which HDF5 can always close (see there). Every piece
of HDF5 work, reading or writing, runs in a region that interrupts wait for
(`catclf.interrupts`), one short piece at a time, and no h5py object outlives its region.
"""

from __future__ import annotations

import errno
import io
import itertools
import math
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5l, h5o

from catclf import interrupts
from catclf.errors import CatclfError, reason
from catclf.hdf5lite import MAX_TEXT_BYTES
from catclf.memory import format_size

Error = type[CatclfError]
T = TypeVar("T")

# What one chunk may hold once read; one text (a name, a path, an attribute): MAX_TEXT_BYTES.
MAX_CHUNK_BYTES = 64 * 10**6
# What one read of variable-length strings may take: each may be as long as the file.
TEXT_READ_BYTES = 64 * 10**6
MAX_SOFT_LINKS = 16  # followed in one name, as HDF5's own default limit
# An element of variable length (a string, a reference) as stored: its length, the address
# of its heap (at most 16 bytes) and its index there. More than any file uses.
STORED_OBJECT_BYTES = 32
GZIP, SHUFFLE, FLETCHER32 = 1, 2, 3  # HDF5's numbers for its filters
FILTERS_CHECKED = (GZIP, SHUFFLE, FLETCHER32)
CHECKSUM_BYTES = 4  # fletcher32 adds it to a chunk; written before gzip, it is inflated
ITSELF = "catclf reads only what the file itself holds"
# Compressed chunks inflated in one held region, in bytes once inflated (at least one
# chunk): a few milliseconds of work, so that an interrupt waits no longer.
REGION_BYTES = 16 * 10**6
HEAP = b"GCOL"  # the signature of a global heap collection, where HDF5 keeps such strings
SCAN_BYTES = 1 << 20  # read at a time, looking for heaps
MAX_HEAP_BYTES = TEXT_READ_BYTES  # HDF5 reads a heap whole: one may take no more


def node(f: Any, name: str, path: Path, error: Error, label: str) -> Any | None:
    """The object of open file f that name leads to (an h5py Dataset, Group or Datatype),
    or None when there is no such link.

    Links are followed one at a time, each looked at before it is followed: soft links
    within the file are taken; an external link, or a kind HDF5 leaves to plug-ins, raises
    error, since following it opens another file (which may never answer) before
    anything could be checked.
    """

    root = h5o.open(f.id, b"/")
    here = root
    parts = _parts(name.encode())
    hops = 0
    while parts:
        part = parts.pop(0)
        if not isinstance(here, h5g.GroupID) or not here.links.exists(part):
            return None
        kind = here.links.get_info(part).type
        if kind == h5l.TYPE_HARD:
            here = h5o.open(here, part)
        elif kind == h5l.TYPE_SOFT:
            hops += 1
            if hops > MAX_SOFT_LINKS:
                raise error(
                    f"{path}: {label} is reached through more than {MAX_SOFT_LINKS} soft links"
                )
            target = here.links.get_val(part)
            parts = _parts(target) + parts
            here = root if target.startswith(b"/") else here
        elif kind == h5l.TYPE_EXTERNAL:
            file, inside = here.links.get_val(part)
            raise error(
                f"{path}: {label} is an external link to {_decoded(inside)} in "
                f"{_decoded(file)}; {ITSELF}"
            )
        else:
            raise error(f"{path}: {label} is a user-defined link, which catclf does not follow")
    if isinstance(here, h5py.h5d.DatasetID):
        return h5py.Dataset(here)
    if isinstance(here, h5g.GroupID):
        return h5py.Group(here)
    return h5py.Datatype(here)


def check_dataset(
    ds: Any,
    path: Path,
    error: Error,
    label: str,
    *,
    declared: str | None = None,
    inflate: bool = True,
) -> None:
    """Raise error unless every value of ds is stored in the file itself and each chunk of
    it can be read within MAX_CHUNK_BYTES.

    Refused: a virtual dataset; values in external files; values declared but not all
    written (none written: only the fill value); chunks larger than MAX_CHUNK_BYTES;
    compression other than gzip (with shuffle and fletcher32), whose output cannot be
    bounded before reading; and, with inflate, a gzip chunk that inflates to more than
    its size, found by inflating each chunk once, never holding more than a chunk.
    declared says what ds declares, for the message ("209 images"; its size in values
    when None).
    """
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5d.VIRTUAL:
        sources = sorted(
            {_decoded(plist.get_virtual_filename(i)) for i in range(plist.get_virtual_count())}
        )
        raise error(
            f"{path}: {label} is a virtual dataset, mapped onto datasets in "
            f"{', '.join(sources) or 'no file'}; {ITSELF}"
        )
    if plist.get_external_count():
        raise error(
            f"{path}: {label} keeps its values in another file, "
            f"{_decoded(plist.get_external(0)[0])}; {ITSELF}"
        )
    size = 0 if ds.shape is None else math.prod(ds.shape)
    element = _element_bytes(ds)
    if ds.dtype.kind in "SU" and ds.dtype.itemsize > MAX_TEXT_BYTES:
        raise error(
            f"{path}: {label} holds strings of {format_size(ds.dtype.itemsize)} each, more than "
            f"the {format_size(MAX_TEXT_BYTES)} catclf reads as one text"
        )
    chunk_bytes = math.prod(ds.chunks) * element if ds.chunks else 0
    if chunk_bytes > MAX_CHUNK_BYTES:
        raise error(
            f"{path}: {label} is stored in chunks of {format_size(chunk_bytes)}, more than the "
            f"{format_size(MAX_CHUNK_BYTES)} catclf reads at once"
        )
    if size == 0:
        return
    if ds.chunks is None:
        written = ds.id.get_storage_size()
        stored = written >= size * ds.dtype.itemsize
    else:
        written = ds.id.get_num_chunks()
        stored = written >= math.prod(_grid(ds.shape, ds.chunks))
    if not stored:
        never = " (it was never written: it holds only its fill value)" if written == 0 else ""
        raise error(
            f"{path}: {label} declares {declared or f'{size} values'} but does not store "
            f"them all{never}"
        )
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    names = [_decoded(plist.get_filter(i)[3]) or str(f) for i, f in enumerate(filters)]
    unchecked = next(
        (n for f, n in zip(filters, names, strict=True) if f not in FILTERS_CHECKED), None
    )
    if unchecked is not None:
        raise error(
            f"{path}: {label} is compressed with {unchecked}, whose output catclf cannot "
            "bound before reading it; write it with gzip or uncompressed"
        )
    if GZIP not in filters:
        return
    # Inflated once as stored: gzip must be the last filter written but for a checksum.
    last = filters.index(GZIP)
    if any(f != FLETCHER32 for f in filters[last + 1 :]):
        raise error(
            f"{path}: {label} is compressed with filters in the order "
            f"{', '.join(names)}, which catclf cannot check before reading"
        )
    if inflate:
        _check_inflation(ds, 0, None, path, error, label)


def check_inflation(
    path: Path, name: str, identity: tuple[int, ...], error: Error, label: str
) -> None:
    """The inflation check of `check_dataset` for dataset name of the file at path (one
    that check_dataset passed with inflate=False), a few chunks per held region, the file
    opened again for each (see `reopen`)."""
    start: int | None = 0
    while start is not None:
        start = interrupts.call_held(_inflate_from, path, name, identity, error, label, start)


def _inflate_from(
    path: Path, name: str, identity: tuple[int, ...], error: Error, label: str, start: int
) -> int | None:
    with reopen(path, identity, error) as f:
        ds = node(f, name, path, error, label)
        return _check_inflation(ds, start, REGION_BYTES, path, error, label)


def _check_inflation(
    ds: Any, start: int, budget: int | None, path: Path, error: Error, label: str
) -> int | None:
    """Raise error if a gzip chunk of ds, from its start-th on, inflates to more than the
    chunk's size (and a checksum). With a budget, stop once that many bytes of chunks are
    checked and return the number of the next chunk; None once every chunk is."""
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if GZIP not in filters or ds.chunks is None:
        return None
    skipped = 1 << filters.index(GZIP)
    chunk_bytes = math.prod(ds.chunks) * _element_bytes(ds)
    limit = chunk_bytes + CHECKSUM_BYTES
    done = 0
    offsets = itertools.islice(_chunk_offsets(ds.shape, ds.chunks), start, None)
    for number, offset in enumerate(offsets, start):
        if budget is not None and done >= budget:
            return number
        done += chunk_bytes
        mask, raw = ds.id.read_direct_chunk(offset)
        if mask & skipped:  # stored as it is, for gzip made it larger
            continue
        try:
            grown = len(zlib.decompressobj().decompress(raw, limit + 1)) > limit
        except zlib.error as e:
            raise error(f"{path}: {label} holds a damaged compressed chunk ({e})") from e
        if grown:
            raise error(
                f"{path}: {label} holds a compressed chunk that inflates to more than its "
                f"{format_size(chunk_bytes)}"
            )
    return None


def _element_bytes(ds: Any) -> int:
    """What one value of ds takes as stored in a chunk."""
    return STORED_OBJECT_BYTES if ds.dtype.kind == "O" else int(ds.dtype.itemsize)


def read_texts(ds: Any, path: Path, error: Error, label: str) -> list[Any]:
    """The strings of the 1-d string dataset ds (checked by `check_dataset`), as h5py gives
    them (bytes, or str), read a slice at a time.

    Each read takes at most TEXT_READ_BYTES: a variable-length string may be as long as
    the file, so that many fewer are read at once. Raises error for a text longer than
    MAX_TEXT_BYTES, or for texts that add up to more than the file's size: a file holds
    each variable-length string it stores, so more means the same text read over and over.
    """
    file_size = max(ds.file.id.get_filesize(), 1)
    each = file_size if ds.dtype.kind == "O" else max(ds.dtype.itemsize, 1)
    rows = max(1, min(TEXT_READ_BYTES // each, 1 << 16))
    texts: list[Any] = []
    total = 0
    for start in range(0, ds.shape[0], rows):
        for text in ds[start : start + rows]:
            length = len(text)
            if length > MAX_TEXT_BYTES:
                raise error(
                    f"{path}: {label} holds a text of {format_size(length)}, more than the "
                    f"{format_size(MAX_TEXT_BYTES)} catclf reads as one text"
                )
            total += length
            texts.append(text)
        if total > file_size:
            raise error(
                f"{path}: {label} holds more text ({format_size(total)}) than the whole file "
                f"({format_size(file_size)}): the same text is stored once and read many times"
            )
    return texts


def attribute(obj: Any, name: str, path: Path, error: Error, label: str, values: int = 1) -> Any:
    """The value of attribute name of obj (an h5py File, Group or Dataset) as h5py reads it,
    or None when there is none or it is empty.

    Raises error, before reading, for an attribute of more than `values` values or of more
    than MAX_TEXT_BYTES; and, after reading (a variable-length string is stored apart and
    is as long as the file at most), for a text longer than MAX_TEXT_BYTES.
    """
    key = name.encode()
    if not h5a.exists(obj.id, key):
        return None
    found = h5a.open(obj.id, key)
    if found.shape is None:  # an empty dataspace: no value at all
        return None
    count = math.prod(found.shape)
    if count > values:
        raise error(f"{path}: {label} holds {count} values, expected {values} at most")
    if count * found.dtype.itemsize > MAX_TEXT_BYTES:
        raise error(
            f"{path}: {label} takes {format_size(count * found.dtype.itemsize)}, more than the "
            f"{format_size(MAX_TEXT_BYTES)} catclf reads as one attribute"
        )
    value = obj.attrs[name]
    for text in _texts(value):
        if len(text) > MAX_TEXT_BYTES:
            raise error(
                f"{path}: {label} holds a text of {format_size(len(text))}, more than the "
                f"{format_size(MAX_TEXT_BYTES)} catclf reads as one text"
            )
    return value


def check_heaps(source: Path | BinaryIO, path: Path, error: Error) -> tuple[int, ...] | None:
    """Raise error unless every global heap in the HDF5 file at source (a path, or a file
    open for reading) is one HDF5 can read without looping for ever: before HDF5 reads
    anything from the file, and outside any held region, since it reads the whole file.

    HDF5 keeps variable-length strings in heaps, reads a heap whole where a stored string
    points, and walks the objects in it by their sizes: one that says it is free space of
    size 0 leaves the walk where it is, for ever, and one whose size wraps HDF5's unsigned
    sums sends it back (a single byte changed in a catclf model did the first). Any heap
    HDF5 could be sent to starts with the signature "GCOL", so every one in the file is
    walked here first, as HDF5 walks it, each step bounded and moving forward. The file is
    read once, 1 MiB at a time (0.13 s for 250 MB from the system's cache); heaps that
    overlap, or one of more than MAX_HEAP_BYTES, are refused.

    Returns the `identity` of the file walked, for its reader to check that it opens that
    same file; None where h5py cannot open it at all (its reader then says why).
    """
    try:
        # The size of lengths the file declares, as HDF5 reads it: opening reads no heap.
        with interrupts.held(), h5py.File(source, "r") as f:
            lengths = f.id.get_create_plist().get_sizes()[1]
            walked = identity(f) if isinstance(source, Path) else None
    except (OSError, RuntimeError, ValueError, KeyError, TypeError):
        return None
    if isinstance(source, Path):
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if _identity_of(fd) != walked:
                raise error(f"{path}: changed while it was being read")
            _walk_heaps(fd, lengths, path, error)
        finally:
            os.close(fd)
        return walked
    _walk_heaps(source.fileno(), lengths, path, error)
    return _identity_of(source.fileno())


def _walk_heaps(fd: int, lengths: int, path: Path, error: Error) -> None:
    size = os.fstat(fd).st_size
    budget = size  # heaps of a sound file do not overlap: together they fit in it
    start = 0
    while start < size:
        block = os.pread(fd, SCAN_BYTES + len(HEAP) - 1, start)
        if not block:
            break
        at = block.find(HEAP)
        while at != -1:
            walked, why = _heap_fault(fd, start + at, lengths, size)
            budget -= walked
            if not why and budget < 0:
                why = "overlaps another"
            if why:
                raise error(
                    f"{path}: damaged HDF5 file: the heap of strings at byte {start + at:,} {why}"
                )
            at = block.find(HEAP, at + 1)
        start += SCAN_BYTES


def _heap_fault(fd: int, at: int, lengths: int, size: int) -> tuple[int, str]:
    """(bytes walked, why the heap at byte at of the file cannot be read safely, or ""
    when it can or is no heap HDF5 would read: another version, or past the end of the
    file, which HDF5 refuses itself). Each object is walked as HDF5 walks it: a header of
    index (2 bytes), references (2), 4 reserved and the size (lengths), padded to 8 bytes,
    then, but for the free space (index 0, whose size counts its header), the data padded to
    8 bytes. The heap's own header ("GCOL", version, 3 bytes, its size) is padded alike."""
    head = os.pread(fd, 8 + lengths, at)
    if len(head) < 8 + lengths or head[4] != 1:
        return 0, ""
    total = int.from_bytes(head[8:], "little")
    if total > size - at:
        return 0, ""
    if total > MAX_HEAP_BYTES:
        return (
            0,
            f"takes {format_size(total)}, more than the {format_size(MAX_HEAP_BYTES)} catclf reads",
        )
    heap = os.pread(fd, total, at)
    step = -(-(8 + lengths) // 8) * 8  # a header, the heap's or an object's, padded to 8
    p = step
    while p + step <= total:
        index = int.from_bytes(heap[p : p + 2], "little")
        length = int.from_bytes(heap[p + 8 : p + 8 + lengths], "little")
        need = length if index == 0 else step + -(-length // 8) * 8
        # 0 leaves HDF5 where it is; more than is left, past the end or (in its unsigned
        # sums) back to the start.
        if need <= 0 or need > total - p:
            return total, f"holds an object of {length:,} bytes at byte {p:,} of {total:,}"
        p += need
    return total, ""


def _identity_of(fd: int) -> tuple[int, ...]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def identity(f: Any) -> tuple[int, ...]:
    """What tells the file open as f from any other, or from itself once changed."""
    return _identity_of(f.id.get_vfd_handle())


def reopen(
    path: Path, identity_then: tuple[int, ...], error: Error, *, chunk_cache: bool = True
) -> Any:
    """The file at path opened again read-only, as an h5py File, if it is still the file
    whose `identity` was identity_then; raises error otherwise (another file put there, or
    this one changed). Without chunk_cache, HDF5 keeps no chunk it has read: for reads of
    whole chunks, each read once, which then go straight into the reader's array instead of
    through the cache: a copy fewer, which made reading a large uncompressed file 1.8 times
    as fast."""
    try:
        f = h5py.File(path, "r", **({} if chunk_cache else {"rdcc_nbytes": 0}))
    except OSError as e:
        raise error(f"{path}: cannot read ({reason(e)})") from e
    return same_file(f, identity_then, path, error)


def same_file(f: Any, identity_then: tuple[int, ...] | None, path: Path, error: Error) -> Any:
    """f, the h5py File just opened at path, if it is the file whose `identity` was
    identity_then (as `check_heaps` returns it); else f is closed and error raised."""
    if identity(f) != identity_then:
        f.close()
        raise error(f"{path}: changed while it was being read")
    return f


class Writing:
    """An HDF5 file being written at path (created, or emptied), a held region at a
    time: `run` opens it, calls work(file), and closes it again.

    HDF5 cannot close a file whose writes failed (a full disk): it keeps it open, tries
    again as the program exits, and crashes there (h5py issue 914). So HDF5 writes
    through a Python file object (h5py's fileobj driver) that, once a write fails, keeps
    the failure and takes every later write without writing it: HDF5 sees success, closes
    the file cleanly, and `run` raises the failure as an OSError. The file is then only
    good for removing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._out = _Output(os.open(path, flags, 0o666))
        self._made = False

    def __enter__(self) -> Writing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()

    def run(self, work: Callable[..., T], *args: object) -> T:
        """work(f, *args) with the file open as f (created by the first call, then opened
        for writing), in a held region; raises the OSError of a write that failed."""
        mode = "r+" if self._made else "w"
        try:
            result = interrupts.call_held(_run, self._out, mode, work, args)
        except (OSError, RuntimeError, ValueError, KeyError, TypeError):
            self._out.check()  # what HDF5 tripped over after the disk filled up
            raise
        self._made = True
        self._out.check()
        return result


def write(path: Path, work: Callable[[Any], object]) -> None:
    """work(f) on a new HDF5 file at path (created, or emptied), in one held region (see
    `Writing`)."""
    with Writing(path) as out:
        out.run(work)


def _run(out: _Output, mode: str, work: Callable[..., T], args: tuple[object, ...]) -> T:
    with h5py.File(out, mode) as f:
        return work(f, *args)


class _Output(io.RawIOBase):
    """The file descriptor fd as a binary file for HDF5: reads and writes at the position
    seek sets; after the first write or truncation that fails, the rest are taken and
    dropped (see `Writing`), and `check` raises that failure."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd, self.position, self.end = fd, 0, 0
        self.failed: OSError | None = None

    def check(self) -> None:
        if self.failed is not None:
            raise OSError(self.failed.errno, self.failed.strerror)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.position
        elif whence == io.SEEK_END:
            offset += max(os.fstat(self.fd).st_size, self.end)
        self.position = offset
        return offset

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self.fd, len(buffer), self.position)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.failed is None:
            try:
                done = 0
                while done < len(view):
                    wrote = os.pwrite(self.fd, view[done:], self.position + done)
                    if wrote == 0:  # a file that takes no more, without saying why
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    done += wrote
            except OSError as e:
                self.failed = OSError(e.errno, e.strerror)
        self.position += len(view)
        self.end = max(self.end, self.position)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self.position if size is None else size
        if self.failed is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as e:
                self.failed = OSError(e.errno, e.strerror)
        self.end = size
        return size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def _texts(value: Any) -> Iterator[str | bytes]:
    if isinstance(value, (str, bytes)):
        yield value
    elif isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        yield from (v for v in value.reshape(-1) if isinstance(v, (str, bytes)))


def _grid(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[int]:
    """How many chunks cover each dimension."""
    return [-(-size // chunk) for size, chunk in zip(shape, chunks, strict=True)]


def _chunk_offsets(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    steps = [
        range(0, n * chunk, chunk) for n, chunk in zip(_grid(shape, chunks), chunks, strict=True)
    ]
    return itertools.product(*steps)


def _parts(name: bytes) -> list[bytes]:
    return [part for part in name.split(b"/") if part not in (b"", b".")]


def _decoded(name: bytes | str) -> str:
    return os.fsdecode(name) if isinstance(name, bytes) else name
