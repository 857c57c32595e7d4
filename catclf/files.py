"""Writing files so that each path always holds a complete file: the old one or the new one.

Each file is written to a temporary file beside its target (same folder, so the same file
system), flushed to disk, and renamed over the target. On any failure or interrupt the
temporary files are removed and the targets are left as they were.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from catclf.errors import CatclfError, reason

Writer = Callable[[Path], None]
Failure = Callable[[Path, str], CatclfError]


def write_atomically(
    writers: Sequence[tuple[Path, Writer]],
    fail: Failure,
    *,
    remove: Sequence[Path] = (),
) -> None:
    """Call write(tmp) for each (target, write), then rename every tmp over its target and
    delete the files in remove, all together once every file is complete.

    fail(target, reason) makes the error raised when the system or h5py refuses a write
    (a full disk, a missing folder, permissions).
    """
    temps: list[Path] = []
    try:
        for target, write in writers:
            temps.append(_temporary(target, fail))
            try:
                write(temps[-1])
                # After the write: a read-only mode copied from the old file would block it.
                os.chmod(temps[-1], _file_mode(target))
                with open(temps[-1], "rb") as f:
                    os.fsync(f.fileno())
            # h5py reports a failed write (a full disk, say) as OSError or RuntimeError.
            except (OSError, RuntimeError) as e:
                raise fail(target, reason(e)) from e
        with _signals_held():
            for (target, _), tmp in zip(writers, temps, strict=True):
                try:
                    os.replace(tmp, target)
                except OSError as e:
                    raise fail(target, reason(e)) from e
            for path in remove:
                try:
                    path.unlink(missing_ok=True)
                except OSError as e:
                    raise fail(path, reason(e)) from e
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {target.parent for target, _ in writers}:
        _fsync_folder(folder)


def _temporary(target: Path, fail: Failure) -> Path:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise fail(target, reason(e)) from e
    os.close(fd)
    return Path(name)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait while the files are renamed into place, so that files
    that belong together (a training and a test set) are all replaced or none is."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
