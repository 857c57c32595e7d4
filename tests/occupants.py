"""What may already be at a path catclf is told to write, made in a test's own folder.

Special files are made where the test says (a device node with /dev/null's numbers, a FIFO,
a socket, a folder); no test ever points catclf at the real /dev entries. Foreign files are
regular files of the user's or of other programs that catclf must not take for its own.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

# What each special kind is called in catclf's messages.
SPECIAL = {
    "device": "character device",
    "fifo": "FIFO (named pipe)",
    "socket": "socket",
    "folder": "folder",
}
FOREIGN = ("text", "photo", "empty", "other program's HDF5", "course-layout HDF5", "not quite")


def make_special(path: Path, kind: str) -> Path:
    """A special file of kind (a key of SPECIAL) at path; a skip where the system refuses."""
    if kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        # A socket's path may be at most about 100 bytes: bound by its name in its folder.
        here = os.getcwd()
        os.chdir(path.parent)
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(path.name)
        finally:
            os.chdir(here)
    elif kind == "folder":
        path.mkdir()
    else:
        raise ValueError(kind)
    return path


def is_special(path: Path, kind: str) -> bool:
    """Whether path is still the special file make_special made."""
    mode = os.lstat(path).st_mode
    return {
        "device": stat.S_ISCHR,
        "fifo": stat.S_ISFIFO,
        "socket": stat.S_ISSOCK,
        "folder": stat.S_ISDIR,
    }[kind](mode)


def make_foreign(path: Path, kind: str) -> Path:
    """A regular file of kind (one of FOREIGN) at path that is not catclf's."""
    if kind == "text":
        path.write_text("my notes\n")
    elif kind == "photo":
        Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format="PNG")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other program's HDF5":
        with h5py.File(path, "w") as f:
            f["model_weights/dense/kernel"] = np.ones((3, 2))
            f.attrs["keras_version"] = "2.15.0"
    elif kind == "course-layout HDF5":
        with h5py.File(path, "w") as f:
            f["train_set_x"] = np.zeros((2, 64, 64, 3), np.uint8)
            f["train_set_y"] = np.array([0, 1])
            f["list_classes"] = np.array([b"non-cat", b"cat"])
    elif kind == "not quite":  # says catclf, but not where a model says it
        with h5py.File(path, "w") as f:
            f.attrs["format"] = ["catclf-logistic-regression"] * 2
            f.attrs["model_format"] = "catclf-logistic-regression"
    else:
        raise ValueError(kind)
    return path
