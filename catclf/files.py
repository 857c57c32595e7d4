"""Writing files atomically: a path holds the old file or the complete new one, never half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside path, to be written in the block; renamed over path when
    the block ends, removed if it raises (Ctrl-C included).

    Raises OSError when the temporary file cannot be made or the rename fails; callers
    turn it into their own error, naming path.
    """
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # After the write: a read-only mode copied from the old file would block it.
        os.chmod(tmp, _file_mode(path))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def write_bytes(path: Path, data: bytes) -> None:
    """path now holds data, written atomically. Raises OSError as `replacing` does."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def _file_mode(path: Path) -> int:
    """The permissions the file should have: those of the file it replaces, or the usual
    ones for a new file (mkstemp makes its file private to the user)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
