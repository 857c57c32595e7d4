"""Model and data files that take their values from elsewhere, declare more than they hold,
or hold values no model or data set can have, made with h5py in a folder.

Everything they point at (another HDF5 file, a file of secrets, a FIFO, a sparse file of
122 GB of zeros that takes no disk) is made in the same folder. A Case records the
one-line error catclf must give, as a pattern for what follows "PATH: ".
"""

from __future__ import annotations

import functools
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from helpers import N_X, write_model_file

OUTSIDE = "catclf reads only what the file itself holds"


@dataclass(frozen=True)
class Case:
    """One hostile file."""

    kind: str
    path: Path
    is_model: bool  # a model file; otherwise a data file
    reason: str  # a regular expression for the error after "PATH: "
    blocks: bool = False  # reading what it points at would block: test it only in a subprocess


# Built once per process: the corpus is built to name its kinds, then again to test them.
@functools.cache
def zeros_stream(size: int) -> bytes:
    """A zlib stream (as HDF5's gzip filter stores a chunk) of size zero bytes, made 1 MiB
    at a time."""
    packer = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    parts.append(packer.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(packer.flush())
    return b"".join(parts)


def images(m: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (m, 64, 64, 3), dtype=np.uint8)


def labels(m: int) -> np.ndarray:
    return np.arange(m) % 2


def damage_heap(
    path: Path, *, free_space: int | None = None, first: int | None = None, lengths: int = 8
) -> None:
    """Change the size of an object in the first global heap of the file at path (the HDF5
    format: "GCOL", version, 3 bytes, the heap's size in `lengths` bytes; then objects of
    index (2 bytes), references (2), 4 bytes and size (lengths), each but the free space
    (index 0) followed by its data, padded to 8 bytes; every header padded to 16 bytes):
    the free space's size to free_space, or the first object's to first."""
    data = bytearray(path.read_bytes())
    at = data.index(b"GCOL")
    size = int.from_bytes(data[at + 8 : at + 8 + lengths], "little")
    head = 16  # each header, the heap's and its objects', padded to 8 bytes
    p = at + head
    while p + head <= at + size:
        index = int.from_bytes(data[p : p + 2], "little")
        length = int.from_bytes(data[p + 8 : p + 8 + lengths], "little")
        if first is not None or index == 0:
            new = first if first is not None else free_space
            assert new is not None
            data[p + 8 : p + 8 + lengths] = new.to_bytes(lengths, "little")
            path.write_bytes(bytes(data))
            return
        p += head + -(-length // 8) * 8
    raise AssertionError(f"{path}: no such object in its heap")


def with_user_block(source: Path, path: Path) -> Path:
    """The model at source written again at path behind a user block of 16 KiB, with
    lengths of 4 bytes: HDF5 finds the superblock at 16 KiB, and sizes are 4 bytes wide."""
    plist = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    plist.set_userblock(16384)
    plist.set_sizes(8, 4)
    made = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=plist)
    with h5py.File(source, "r") as plain, h5py.File(made) as f:
        for name in plain:
            f[name] = plain[name][()]
        for name, value in plain.attrs.items():
            f.attrs[name] = value
    return path


def build(folder: Path) -> list[Case]:
    """Make every kind in folder (which must exist) and return the cases, in a fixed order."""
    cases: list[Case] = []
    secret = folder / "secret.bin"
    secret.write_bytes(np.arange(N_X, dtype=np.float64).tobytes())
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    other = folder / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.full((N_X, 1), 0.001)
        f["train_set_x"] = images(4, seed=1)
        f["train_set_y"] = labels(4)
    zeros = folder / "zeros"
    with open(zeros, "wb") as z:
        z.truncate(10_000_000 * N_X)  # sparse: no block of it is ever written

    def model(
        kind: str, name: str, reason: str, build: Callable | None = None, *, blocks=False, **kw
    ):
        path = write_model_file(folder / name, **kw)
        if build is not None:
            with h5py.File(path, "a") as f:
                build(f)
        cases.append(Case(kind, path, True, reason, blocks))

    def data(kind: str, name: str, reason: str, build: Callable, *, blocks=False, m=4):
        path = folder / name
        with h5py.File(path, "w") as f:
            build(f)
            if "train_set_x" not in f:
                f["train_set_x"] = images(m)
            if "train_set_y" not in f:
                f["train_set_y"] = labels(m)
        cases.append(Case(kind, path, False, reason, blocks))

    def stored_in(target: Path, nbytes: int) -> Callable:
        def build(f):
            f.create_dataset("w", (N_X, 1), "f8", external=[(str(target), 0, nbytes)])

        return build

    # Model files: values from elsewhere.
    model(
        "w in another file",
        "m-external.h5",
        r"dataset 'w' keeps its values in another file, .*secret\.bin; " + OUTSIDE,
        stored_in(secret, N_X * 8),
        drop=("w",),
    )
    model(
        "costs in another file",
        "m-external-costs.h5",
        r"dataset 'costs' keeps its values in another file, .*secret\.bin",
        lambda f: f.create_dataset("costs", (100,), "f8", external=[(str(secret), 0, 800)]),
        drop=("costs",),
    )
    model(
        "w in a FIFO",
        "m-external-fifo.h5",
        r"dataset 'w' keeps its values in another file, .*fifo",
        stored_in(fifo, N_X * 8),
        drop=("w",),
        blocks=True,
    )
    model(
        "w an external link",
        "m-link.h5",
        r"dataset 'w' is an external link to /w in .*other\.h5; " + OUTSIDE,
        lambda f: f.__setitem__("w", h5py.ExternalLink(str(other), "/w")),
        drop=("w",),
    )
    model(
        "w an external link to a FIFO",
        "m-link-fifo.h5",
        r"dataset 'w' is an external link to /w in .*fifo",
        lambda f: f.__setitem__("w", h5py.ExternalLink(str(fifo), "/w")),
        drop=("w",),
        blocks=True,
    )

    def through_a_group(f):
        f.create_group("g")["w"] = h5py.ExternalLink(str(other), "/w")
        f["w"] = h5py.SoftLink("/g/w")

    model(
        "w a soft link to an external link",
        "m-soft-to-link.h5",
        r"dataset 'w' is an external link to /w in .*other\.h5",
        through_a_group,
        drop=("w",),
    )

    def loop(f):
        f["w"] = h5py.SoftLink("/v")
        f["v"] = h5py.SoftLink("w")

    model(
        "w a loop of soft links",
        "m-loop.h5",
        r"dataset 'w' is reached through more",
        loop,
        drop=("w",),
    )

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(N_X, 1), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "w", shape=(N_X, 1))
        f.create_virtual_dataset("w", layout)

    model(
        "w a virtual dataset",
        "m-virtual.h5",
        r"dataset 'w' is a virtual dataset, mapped onto datasets in .*other\.h5; " + OUTSIDE,
        virtual,
        drop=("w",),
    )

    # Model files: more declared than stored, or than catclf reads at once.
    model(
        "w never written",
        "m-unwritten.h5",
        r"dataset 'w' declares 12288 values but does not store them all \(it was never written",
        lambda f: f.create_dataset("w", (N_X, 1), "f8"),
        drop=("w",),
    )

    def huge_chunk(f):
        # One chunk of 80 MB, compressed to a few kilobytes; the dataset may grow into it.
        costs = f.create_dataset(
            "costs", (1,), "f8", maxshape=(None,), chunks=(10**7,), compression="gzip"
        )
        costs.id.write_direct_chunk((0,), zeros_stream(8 * 10**7))

    model(
        "costs in a chunk of 80 MB",
        "m-huge-chunk.h5",
        r"dataset 'costs' is stored in chunks of 80 MB, more than the 64 MB catclf reads",
        huge_chunk,
        drop=("costs",),
    )

    def inflating(f):
        # A chunk of 98 KB whose stream inflates to 10 MB: HDF5 would grow its buffer to it.
        w = f.create_dataset("w", (N_X, 1), "f8", chunks=(N_X, 1), compression="gzip")
        w.id.write_direct_chunk((0, 0), zeros_stream(10**7))

    model(
        "w in a chunk that inflates beyond its size",
        "m-inflating.h5",
        r"dataset 'w' holds a compressed chunk that inflates to more than its 98.3 KB",
        inflating,
        drop=("w",),
    )
    model(
        "w compressed with lzf",
        "m-lzf.h5",
        r"dataset 'w' is compressed with lzf, whose output catclf cannot bound",
        lambda f: f.create_dataset("w", data=np.zeros((N_X, 1)), compression="lzf"),
        drop=("w",),
    )
    source = write_model_file(folder / "m-plain.h5")
    latest = folder / "m-long-attribute.h5"
    # A file in the latest format keeps large attributes apart; 100 KB of text is then stored.
    with h5py.File(source, "r") as plain, h5py.File(latest, "w", libver="latest") as f:
        for name in plain:
            f[name] = plain[name][()]
        for name, value in plain.attrs.items():
            f.attrs[name] = value
        f.attrs["train_data"] = np.bytes_(b"x" * 100_000)
    cases.append(
        Case(
            "fixed-length string attribute of 100 KB",
            latest,
            True,
            r"attribute 'train_data' takes 100 KB, more than the 64 KB catclf reads",
        )
    )
    model(
        "variable-length string attribute of 100 KB",
        "m-long-text.h5",
        r"attribute 'train_data' holds a text of 100 KB, more than the 64 KB",
        attrs={"train_data": "x" * 100_000},
    )
    model(
        "attribute of 1000 values",
        "m-many-values.h5",
        r"attribute 'created' holds 1000 values, expected 1 at most",
        attrs={"created": np.zeros(1000, dtype=np.int8)},
    )

    # Model files: values no model has.
    model(
        "complex learning rate",
        "m-complex-rate.h5",
        r"attribute 'learning_rate' is \(0\.005\+1j\), expected a positive number",
        attrs={"learning_rate": np.complex128(0.005 + 1j)},
    )
    model(
        "infinite final cost",
        "m-inf-cost.h5",
        r"attribute 'final_cost' is inf, expected a cost of 0 or more",
        attrs={"final_cost": math.inf},
    )
    model(
        "complex train accuracy",
        "m-complex-accuracy.h5",
        r"attribute 'train_accuracy' is \(0\.9\+2j\), expected a fraction from 0 to 1, or NaN",
        attrs={"train_accuracy": np.complex128(0.9 + 2j)},
    )
    model(
        "infinite test accuracy",
        "m-inf-accuracy.h5",
        r"attribute 'test_accuracy' is inf, expected a fraction from 0 to 1, or NaN",
        attrs={"test_accuracy": math.inf, "test_examples": 50},
    )
    model(
        "negative test accuracy",
        "m-negative-accuracy.h5",
        r"attribute 'test_accuracy' is -0\.5, expected a fraction from 0 to 1, or NaN",
        attrs={"test_accuracy": -0.5},
    )
    model(
        "NaN iterations",
        "m-nan-iterations.h5",
        r"attribute 'num_iterations' is nan, expected a whole number",
        attrs={"num_iterations": math.nan},
    )
    model(
        "weights of 1e308",
        "m-overflow.h5",
        r"weights too large: sum\(\|w\|\) \+ \|b\| is inf, more than 1e\+300",
        w=np.full((N_X, 1), 1e308),
    )
    alternating = np.full((N_X, 1), 1e308)
    alternating[::2] = -1e308  # inf - inf: z would be NaN for a white picture
    model(
        "weights of +-1e308",
        "m-overflow-nan.h5",
        r"weights too large: sum\(\|w\|\) \+ \|b\| is inf",
        w=alternating,
    )

    # Data files: values from elsewhere.
    def x_stored_in(target: Path, m: int) -> Callable:
        def build(f):
            f.create_dataset(
                "train_set_x", (m, 64, 64, 3), "u1", external=[(str(target), 0, m * N_X)]
            )

        return build

    secret.write_bytes(secret.read_bytes() * 8)  # 8 images' worth
    data(
        "images in another file",
        "d-external.h5",
        r"train_set_x keeps its values in another file, .*secret\.bin; " + OUTSIDE,
        x_stored_in(secret, 8),
        m=8,
    )
    data(
        "images in a FIFO",
        "d-external-fifo.h5",
        r"train_set_x keeps its values in another file, .*fifo",
        x_stored_in(fifo, 4),
        blocks=True,
    )

    def ten_million(f):
        m = 10_000_000
        f.create_dataset("train_set_x", (m, 64, 64, 3), "u1", external=[(str(zeros), 0, m * N_X)])
        f.create_dataset("train_set_y", (m,), "i1", external=[(str(zeros), 0, m)])

    data(
        "10,000,000 images in a sparse file of zeros",
        "d-ten-million.h5",
        r"train_set_x keeps its values in another file, .*zeros",
        ten_million,
    )
    data(
        "labels in another file",
        "d-external-labels.h5",
        r"train_set_y keeps its values in another file, .*secret\.bin",
        lambda f: f.create_dataset("train_set_y", (4,), "i8", external=[(str(secret), 0, 32)]),
    )
    data(
        "images an external link",
        "d-link.h5",
        r"train_set_x is an external link to /train_set_x in .*other\.h5; " + OUTSIDE,
        lambda f: f.__setitem__("train_set_x", h5py.ExternalLink(str(other), "/train_set_x")),
    )
    data(
        "images an external link to a FIFO",
        "d-link-fifo.h5",
        r"train_set_x is an external link to /train_set_x in .*fifo",
        lambda f: f.__setitem__("train_set_x", h5py.ExternalLink(str(fifo), "/train_set_x")),
        blocks=True,
    )
    data(
        "labels an external link",
        "d-link-labels.h5",
        r"train_set_y is an external link to /train_set_y in .*other\.h5",
        lambda f: f.__setitem__("train_set_y", h5py.ExternalLink(str(other), "/train_set_y")),
    )

    def virtual_images(f):
        layout = h5py.VirtualLayout(shape=(4, 64, 64, 3), dtype="u1")
        layout[:] = h5py.VirtualSource(str(other), "train_set_x", shape=(4, 64, 64, 3))
        f.create_virtual_dataset("train_set_x", layout)

    data(
        "images a virtual dataset",
        "d-virtual.h5",
        r"train_set_x is a virtual dataset, mapped onto datasets in .*other\.h5",
        virtual_images,
    )

    # Data files: more declared than stored, or than catclf reads at once.
    data(
        "labels never written",
        "d-unwritten-labels.h5",
        r"train_set_y declares 4 labels but does not store them all \(it was never written",
        lambda f: f.create_dataset("train_set_y", (4,), "i8", fillvalue=1),
    )
    data(
        "class names never written",
        "d-unwritten-classes.h5",
        r"list_classes declares 2 values but does not store them all \(it was never written",
        lambda f: f.create_dataset("list_classes", (2,), "S8"),
    )

    def huge_chunk_images(f):
        x = f.create_dataset(
            "train_set_x",
            (4, 64, 64, 3),
            "u1",
            maxshape=(None, 64, 64, 3),
            chunks=(6000, 64, 64, 3),
            compression="gzip",
        )
        x.id.write_direct_chunk((0, 0, 0, 0), zeros_stream(6000 * N_X))

    data(
        "images in a chunk of 73.7 MB",
        "d-huge-chunk.h5",
        r"train_set_x is stored in chunks of 73.7 MB, more than the 64 MB",
        huge_chunk_images,
    )

    def inflating_images(f):
        x = f.create_dataset(
            "train_set_x", (64, 64, 64, 3), "u1", chunks=(64, 64, 64, 3), compression="gzip"
        )
        x.id.write_direct_chunk((0, 0, 0, 0), zeros_stream(10**8))

    data(
        "images in a chunk that inflates beyond its size",
        "d-inflating.h5",
        r"train_set_x holds a compressed chunk that inflates to more than its 786 KB",
        inflating_images,
        m=64,
    )
    data(
        "images compressed with lzf",
        "d-lzf.h5",
        r"train_set_x is compressed with lzf",
        lambda f: f.create_dataset("train_set_x", data=images(4), compression="lzf"),
    )
    data(
        "class names of 100 KB each",
        "d-long-classes.h5",
        r"list_classes holds strings of 100 KB each, more than the 64 KB",
        lambda f: f.create_dataset("list_classes", data=np.array([b"no", b"cat"], dtype="S100000")),
    )

    def repeated_paths(f, m=64):
        # Every path points at one text of 60 KB, stored once: 3.8 MB read from 80 KB.
        x = f.create_dataset(
            "train_set_x", (m, 64, 64, 3), "u1", chunks=(m, 64, 64, 3), compression="gzip"
        )
        x[...] = 0
        paths = f.create_dataset("train_set_paths", (m,), h5py.string_dtype(), chunks=(m,))
        paths[0] = "p" * 60_000
        _, stored = paths.id.read_direct_chunk((0,))
        paths.id.write_direct_chunk((0,), stored[:16] * m)

    data(
        "paths that all point at one long text",
        "d-repeated-paths.h5",
        r"train_set_paths holds more text \(3\.84 MB\) than the whole file",
        repeated_paths,
        m=64,
    )
    data(
        "a path of 100 KB",
        "d-long-path.h5",
        r"train_set_paths holds a text of 100 KB, more than the 64 KB",
        lambda f: f.create_dataset(
            "train_set_paths", data=["p" * 100_000, "a", "b", "c"], dtype=h5py.string_dtype()
        ),
    )

    # Heaps of strings that HDF5 itself would walk for ever.
    heap = r"damaged HDF5 file: the heap of strings at byte [\d,]+ holds an object of "
    model(
        "a heap of strings whose free space has no size",
        "m-heap-free-space.h5",
        heap + r"0 bytes",
        blocks=True,
    )
    damage_heap(cases[-1].path, free_space=0)
    model(
        "a heap of strings with an object so large that HDF5's sums wrap",
        "m-heap-wraps.h5",
        heap + r"18,446,744,073,709,551,600 bytes",
        blocks=True,
    )
    damage_heap(cases[-1].path, first=2**64 - 16)
    data(
        "class names in a heap whose free space has no size",
        "d-heap-free-space.h5",
        heap + r"0 bytes",
        lambda f: f.create_dataset(
            "list_classes", data=["non-cat", "cat"], dtype=h5py.string_dtype()
        ),
        blocks=True,
    )
    damage_heap(cases[-1].path, free_space=0)
    behind = with_user_block(write_model_file(folder / "m-plain-2.h5"), folder / "m-heap-ub.h5")
    damage_heap(behind, free_space=0, lengths=4)
    cases.append(
        Case(
            "a heap whose free space has no size, behind a user block, its sizes 4 bytes wide",
            behind,
            True,
            heap + r"0 bytes",
            blocks=True,
        )
    )
    note = np.dtype([("note", h5py.string_dtype())])
    data(
        "a note of a compound type whose string is in a heap whose free space has no size",
        "d-heap-compound.h5",
        heap + r"0 bytes",
        lambda f: f.attrs.create("note", np.array(("made by hand",), dtype=note)),
        blocks=True,
    )
    damage_heap(cases[-1].path, free_space=0)

    # Data files: values no data set has.
    data(
        "NaN label",
        "d-nan-label.h5",
        r"train_set_y holds labels other than 0 and 1: nan",
        lambda f: f.__setitem__("train_set_y", np.array([0.0, 1.0, math.nan, 1.0])),
    )
    return cases
