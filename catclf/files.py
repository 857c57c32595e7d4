"""Writing files so that each path always holds a complete file: the old one or the new one,
and never in place of a file that is not catclf's.

Each file is written to a temporary file beside its target (same folder, so the same file
system), flushed to disk, and renamed over the target. On any failure or interrupt the
temporary files are removed and the targets are left as they were.

Before anything is written, `check_file` (one file: the model) and `check_names` (named
files in a folder: a report, a prepared data set) decide whether catclf may replace what is
at each path: only a regular file, never a file the command reads, and, unless the user
says --force, only a file that is catclf's own. A model file says what it is; in a folder,
FILE_LIST records the size and SHA-256 of each file catclf wrote, so that a file written
by someone else, or changed by the user since, counts as theirs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from catclf import interrupts
from catclf.errors import CatclfError, reason

Writer = Callable[[Path], None]
Failure = Callable[[Path, str], CatclfError]
# What write_atomically's check finds more to do: (target, write) to write, paths to delete.
Late = tuple[Sequence[tuple[Path, Writer]], Sequence[Path]]


def write_atomically(
    writers: Sequence[tuple[Path, Writer]],
    fail: Failure,
    *,
    remove: Sequence[Path] = (),
    check: Callable[[], Late | None] | None = None,
    on_saved: Callable[[], None] | None = None,
) -> None:
    """Call write(tmp) for each (target, write), then rename every tmp over its target and
    delete the files in remove, all together once every file is complete.

    fail(target, reason) makes the error raised when the system or h5py refuses a write
    (a full disk, a missing folder, permissions). Once every file is complete, the folders
    of the targets are locked against other catclf runs (see `locked`) until the renames
    are done; check() is then called, and raises to stop them (what is at the targets may
    have changed while the files were written), or returns (more (target, write) to write
    before them, more paths to delete): what depends on what is there now. The renames are
    made with interrupts held (`catclf.interrupts`), so that files that belong together are
    all replaced or none is, and on_saved() is called as soon as they are done, before an
    interrupt that came meanwhile is raised: whoever is told of the interrupt can be told
    that the files were saved.
    """
    temps: list[Path] = []
    targets = [target for target, _ in writers]
    try:
        for target, write in writers:
            temps.append(_write_temporary(target, write, fail))
        with contextlib.ExitStack() as locks:
            for folder in sorted({target.parent for target in targets}):
                locks.enter_context(locked(folder))
            late, gone = (check() if check is not None else None) or ((), ())
            for target, write in late:
                targets.append(target)
                temps.append(_write_temporary(target, write, fail))
            with interrupts.held():
                for target, tmp in zip(targets, temps, strict=True):
                    try:
                        os.replace(tmp, target)
                    except OSError as e:
                        raise fail(target, reason(e)) from e
                for path in [*remove, *gone]:
                    try:
                        path.unlink(missing_ok=True)
                    except OSError as e:
                        raise fail(path, reason(e)) from e
                if on_saved is not None:
                    on_saved()
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {target.parent for target in targets}:
        _fsync_folder(folder)


def write_file(
    path: Path,
    data: bytes,
    check: Callable[[Path], Path],
    fail: Failure,
    error: Error,
    what: str,
    *,
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write data as one file, atomically, to check(path): the file for path that check
    allows (it raises error otherwise; see `check_file`), asked again just before the rename,
    which it stops when what is there changed meanwhile. what names the file in that message
    ("the page"); fail makes the error of a write the system refuses. The file written."""
    target = check(path)

    def unchanged() -> None:
        if check(path) != target:
            raise error(f"{path}: changed while {what} was written; it was not saved")

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    write_atomically([(target, write)], fail, check=unchanged, on_saved=on_saved)
    return target


def _write_temporary(target: Path, write: Writer, fail: Failure) -> Path:
    """A temporary file beside target, made by write(tmp), with target's permissions and
    flushed to disk. Removed if anything fails."""
    tmp = _temporary(target, fail)
    try:
        write(tmp)
        # After the write: a read-only mode copied from the old file would block it.
        os.chmod(tmp, _file_mode(target))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    # h5py reports a failed write (a full disk, say) as OSError or RuntimeError.
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        raise fail(target, reason(e)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _temporary(target: Path, fail: Failure) -> Path:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise fail(target, reason(e)) from e
    os.close(fd)
    return Path(name)


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """folder locked against every other catclf run that locks it (an advisory lock, flock,
    on the folder itself) while the block runs: a run that finds it locked waits its turn.

    catclf holds it only from the last check of what is in a folder to the last rename into
    it, a moment at the end of a run, so that two runs writing into one folder leave all of
    one run's files and a file list that records them. Where the folder cannot be opened
    or locked (no read permission, a file system without such locks), the block runs
    unlocked, as it would without this.
    """
    try:
        import fcntl  # here: a system without it (Windows) still writes its files
    except ImportError:  # Windows, which has no flock
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which releases the lock


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


FILE_LIST = ".catclf-files.json"
FILE_LIST_FORMAT = "catclf-files"
MAX_FILE_LIST = 1 << 20  # bytes: the list of a handful of files takes a few hundred
READ_BLOCK = 1 << 20
NOT_WRITTEN = "was not written by catclf, or was changed since"

Ours = Callable[[BinaryIO], bool]
Error = type[CatclfError]


def kind(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


@contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """path opened for reading, if it is a regular file; raises OSError otherwise.

    Anything else is not opened (opening some devices does something), and the check is
    made again on the open file, with no link followed, so that a FIFO or a device put at
    path meanwhile is neither read nor waited on.
    """
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"is a {kind(mode)}, not a file")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is a {kind(mode)}, not a file")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def is_ours(path: Path, ours: Ours) -> bool:
    """Whether path is a regular file in which ours(file) recognises catclf's own; a file
    that cannot be read is not."""
    try:
        with open_regular(path) as f:
            return ours(f)
    except OSError:
        return False


def check_file(
    path: Path,
    *,
    ours: Ours,
    not_ours: str,
    error: Error,
    force: bool = False,
    inputs: Sequence[Path] = (),
    follow: bool = True,
    what: str = "the file",
) -> Path:
    """The path to rename a new file over, for path: path itself or, when path is a symbolic
    link and follow is true, the file it leads to. Raises error unless catclf may replace
    what is there:

    - nothing, in a folder that can be written: yes;
    - anything but a regular file (a folder, device, FIFO, socket): never;
    - a file the command reads (one of inputs, or, if not catclf's own, a file in a folder
      among inputs): never, even with force;
    - a file that ours(file) recognises as catclf's own: yes; another file: with force only;
    - with follow, a link is judged by what it leads to, except that a file that is not
      catclf's own is refused even with force: the user named the link, not that file.
      Without follow, the link itself is replaced, with force, and what it leads to is
      left alone.

    not_ours says in words what such a file is not ("is not a catclf model"); what names
    the file in a message about its folder ("the model").
    """
    return _judge(path, ours, not_ours, error, force, inputs, follow, what, "replace")[0]


def _judge(
    path: Path,
    ours: Ours,
    not_ours: str,
    error: Error,
    force: bool,
    inputs: Sequence[Path],
    follow: bool,
    what: str,
    verb: str,
) -> tuple[Path, bool]:
    """check_file, and whether what is there is catclf's own."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise error(f"{path}: cannot tell what is there ({reason(e)})") from e
        _check_parent(path, error, what)
        return path, False
    target, shown, link = path, str(path), None
    if stat.S_ISLNK(st.st_mode):
        try:
            link = os.readlink(path)
        except OSError as e:
            raise error(f"{path}: cannot tell what is there ({reason(e)})") from e
        shown = f"{path} (a link to {link})"
    if link is not None and follow:
        try:
            target = Path(os.path.realpath(path, strict=True))
            st = os.stat(target)
        except FileNotFoundError as e:
            raise error(f"{path}: is a link to {link}, which does not exist") from e
        except OSError as e:
            raise error(f"{path}: is a link that cannot be followed ({reason(e)})") from e
    if stat.S_ISLNK(st.st_mode):
        mine = False  # catclf writes no links
    elif stat.S_ISREG(st.st_mode):
        mine = is_ours(target, ours)
    else:
        raise error(
            f"{shown}: is a {kind(st.st_mode)}, not a file; catclf {verb}s only regular files"
        )
    _check_parent(target, error, what)
    read = _read_by(target, st, inputs, mine)
    if read is not None:
        source, inside = read
        same = os.path.abspath(source) == os.path.abspath(target)
        where = f"is in {source}," if inside else "is" if same else f"is the same file as {source},"
        raise error(
            f"{path}: {where} an input of this command; catclf never {verb}s its input, "
            "even when forced"
        )
    if mine:
        return target, True
    if link is not None and follow:
        raise error(
            f"{path}: is a link to {link}, which {not_ours}; catclf {verb}s what a link leads "
            "to only if it is catclf's own, even when forced"
        )
    if not force:
        if link is not None:
            raise error(f"{path}: is a link to {link}", advice="force_link", verb=verb)
        raise error(f"{path}: {not_ours}", advice="force", verb=verb)
    return target, False


def _check_parent(path: Path, error: Error, what: str) -> None:
    # Known before any long work, not after it; the write still reports any failure.
    why = _unwritable(path.parent)
    if why:
        raise error(f"{path}: cannot write {what}: {path.parent} {why}")


def _unwritable(folder: Path) -> str:
    """Why folder cannot take new files, in words ("does not exist"), or "" if it can."""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return "does not exist"
    except NotADirectoryError:
        return "is not a folder"  # a file on the way
    except OSError as e:
        return f"cannot be looked at ({reason(e)})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    return ""


def _read_by(
    path: Path, st: os.stat_result, inputs: Sequence[Path], mine: bool
) -> tuple[Path, bool] | None:
    """(the input that the file at path, of stat st, is or is in, whether it is a folder),
    or None: a file that is the same file, or a folder it lies in or that holds it under
    another name. A file of catclf's own is not data, wherever it lies."""
    for source in inputs:
        try:
            s = os.stat(source)
        except OSError:
            continue
        if not stat.S_ISDIR(s.st_mode):
            if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                return source, False
        elif not mine and (_below(path, source) or _holds(source, st)):
            return source, True
    return None


def _below(path: Path, folder: Path) -> bool:
    real = Path(os.path.realpath(path.parent), path.name)
    return real.is_relative_to(os.path.realpath(folder))


def _holds(folder: Path, st: os.stat_result) -> bool:
    """Whether an entry of folder is the file of stat st (a link to it, or a hard link)."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    s = entry.stat()
                except OSError:
                    continue
                if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                    return True
    except OSError:
        pass
    return False


def check_folder(folder: Path, error: Error) -> None:
    """Raise error unless folder is a folder that can be written, or a missing one that
    can be created: its parent is a folder that can be written."""
    try:
        st = os.stat(folder)
    except OSError as e:
        if os.path.lexists(folder):
            raise error(f"{folder}: is a link that cannot be followed ({reason(e)})") from e
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise error(f"{folder}: cannot tell what is there ({reason(e)})") from e
        why = _unwritable(folder.parent)
        if why:
            raise error(f"{folder}: cannot create this folder: {folder.parent} {why}") from e
        return
    if not stat.S_ISDIR(st.st_mode):
        raise error(f"{folder}: is a {kind(st.st_mode)}, expected a folder to write into")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{folder}: cannot write into this folder: it is not writable")


@dataclass(frozen=True)
class Listed:
    """A file as FILE_LIST records it: its size in bytes and the SHA-256 of its content."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Found:
    """What check_names found in a folder: FILE_LIST's records, and the files to remove."""

    listed: dict[str, Listed]
    gone: tuple[str, ...]


def check_names(
    folder: Path,
    names: Sequence[str],
    *,
    error: Error,
    force: bool = False,
    inputs: Sequence[Path] = (),
    remove: Sequence[str] = (),
    tidy: Sequence[str] = (),
) -> Found:
    """Raise error unless catclf may write a file of each of names into folder (see
    check_folder and check_file), and remove the file of each of remove that is there.

    A file is catclf's own when FILE_LIST records it with its present size and SHA-256. A
    link in the folder is never followed: with force, it is replaced or removed itself.
    Something of another kind (a folder, device, FIFO, socket) at a name of remove is left
    alone: it cannot pass for a file. A name of tidy is removed if catclf's own, else left
    alone, never refused.
    """
    check_folder(folder, error)
    if not folder.is_dir():
        return Found({}, ())
    listed = _read_list(folder / FILE_LIST)
    _judge(
        folder / FILE_LIST,
        lambda f: _parse_list(f) is not None,
        "is not a list of the files catclf wrote",
        error,
        force,
        inputs,
        False,
        "the file list",
        "replace",
    )
    records = listed or {}
    gone: list[str] = []
    for name in (*names, *remove, *tidy):
        path = folder / name

        def written(f: BinaryIO, name: str = name) -> bool:
            return _matches(f, records.get(name))

        if name in names:
            _judge(path, written, NOT_WRITTEN, error, force, inputs, False, "the file", "replace")
            continue
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if name in remove and (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            _judge(path, written, NOT_WRITTEN, error, force, inputs, False, "the file", "remove")
            gone.append(name)
        elif name in tidy and is_ours(path, written):
            gone.append(name)
    return Found(records, tuple(gone))


def write_files(
    folder: Path,
    files: Sequence[tuple[str, Writer]],
    fail: Failure,
    *,
    error: Error,
    force: bool = False,
    inputs: Sequence[Path] = (),
    remove: Sequence[str] = (),
    tidy: Sequence[str] = (),
    check: Callable[[], object] | None = None,
    on_saved: Callable[[], None] | None = None,
) -> list[Path]:
    """Write each (name, write) into folder, created if missing (its parent must exist),
    all together with write_atomically, where check_names allows it; remove what
    check_names finds to remove; record in FILE_LIST what was written. The paths written.

    What is in the folder is checked again once the new files are complete, with the folder
    locked against other catclf runs until they are renamed into place (see `locked`); the
    list is written then, from what is there then, so that two runs into one folder leave
    one run's files and their list. check(), if given, is called then too, and raises to
    stop the renames. on_saved: see write_atomically.
    """
    names = [name for name, _ in files]

    def look() -> Found:
        return check_names(
            folder, names, error=error, force=force, inputs=inputs, remove=remove, tidy=tidy
        )

    look()
    try:
        folder.mkdir()
        created = True
    except FileExistsError:
        created = False
    except OSError as e:
        raise error(f"{folder}: cannot create this folder ({reason(e)})") from e
    written: dict[str, Listed] = {}

    def recorded(name: str, write: Writer) -> Writer:
        def write_and_record(tmp: Path) -> None:
            write(tmp)
            written[name] = _listing(tmp)

        return write_and_record

    def last_look() -> Late:
        found = look()
        if check is not None:
            check()

        def write_list(tmp: Path) -> None:
            import json  # here: predict, which imports this module, writes no list

            kept = {
                name: entry
                for name, entry in found.listed.items()
                if name not in found.gone and os.path.lexists(folder / name)
            }
            kept.update(written)
            files = {k: {"bytes": v.size, "sha256": v.sha256} for k, v in sorted(kept.items())}
            text = json.dumps({"format": FILE_LIST_FORMAT, "files": files}, indent=1)
            tmp.write_text(text + "\n", encoding="utf-8")

        # Last: should the system stop between the renames, the new files are not yet
        # listed, so they count as not catclf's: refused, never lost.
        return [(folder / FILE_LIST, write_list)], [folder / name for name in found.gone]

    try:
        write_atomically(
            [(folder / name, recorded(name, write)) for name, write in files],
            fail,
            check=last_look,
            on_saved=on_saved,
        )
    except BaseException:
        if created:
            # Not empty, or already gone: either way nothing of this run is left in it.
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return [folder / name for name in names]


def _listing(path: Path) -> Listed:
    with open(path, "rb") as f:
        return Listed(os.fstat(f.fileno()).st_size, _sha256(f))


def _sha256(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := f.read(READ_BLOCK):
        digest.update(block)
    return digest.hexdigest()


def _matches(f: BinaryIO, entry: Listed | None) -> bool:
    return (
        entry is not None
        and os.fstat(f.fileno()).st_size == entry.size
        and _sha256(f) == entry.sha256
    )


def _read_list(path: Path) -> dict[str, Listed] | None:
    """FILE_LIST's records: none when it is missing, None when what is there is not one."""
    if not os.path.lexists(path):
        return {}
    try:
        with open_regular(path) as f:
            return _parse_list(f)
    except OSError:
        return None


def _parse_list(f: BinaryIO) -> dict[str, Listed] | None:
    # here: predict, which imports this module, writes no list
    import json

    text = f.read(MAX_FILE_LIST + 1)
    if len(text) > MAX_FILE_LIST:
        return None
    try:
        content = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError too; arrays nested deep
        return None
    if not isinstance(content, dict) or content.get("format") != FILE_LIST_FORMAT:
        return None
    files = content.get("files")
    if not isinstance(files, dict):
        return None
    records = {}
    for name, entry in files.items():
        size = entry.get("bytes") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(size, int) or not isinstance(sha256, str):
            return None
        records[name] = Listed(size, sha256)
    return records
