"""Tab completion of catclf's commands and options in bash, zsh and fish: the script each
shell runs, and where it goes.

The scripts are typer's: they ask `catclf` itself, through the _CATCLF_COMPLETE variable,
what completes a word. Installing one writes catclf's own script file atomically and, where
the shell needs it, appends one line to the shell's start-up file (~/.bashrc, ~/.zshrc),
never rewriting what is there.
"""

from __future__ import annotations

import os
import stat
from enum import Enum
from pathlib import Path

from catclf.errors import CatclfError, reason

PROG = "catclf"
COMPLETE_VAR = "_CATCLF_COMPLETE"


class Shell(str, Enum):
    """The shells catclf completes in."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def script(shell: Shell) -> str:
    """The completion script of shell, as that shell runs it."""
    # typer's own templates, which speak the protocol its commands answer.
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell.value)


def places(shell: Shell, home: Path) -> tuple[Path, Path | None, str]:
    """(where shell's script goes, the start-up file that must load it or None, the line
    that loads it) below home."""
    if shell is Shell.bash:
        path = home / ".bash_completions" / f"{PROG}.sh"
        return path, home / ".bashrc", f"source '{path}'"
    if shell is Shell.zsh:
        # zsh loads a function _catclf from a folder on its fpath, once compinit has run.
        return (
            home / ".zfunc" / f"_{PROG}",
            home / ".zshrc",
            "fpath+=~/.zfunc; autoload -Uz compinit; compinit",
        )
    return home / ".config" / "fish" / "completions" / f"{PROG}.fish", None, ""


def install(shell: Shell, home: Path | None = None) -> Path:
    """Install completion for shell below home (default: the user's home folder); the
    script's path. Raises CatclfError, naming the file, when home is not a folder, a file
    that is not catclf's completion script is in the way, or a file cannot be written."""
    home = Path.home() if home is None else home
    if not home.is_dir():
        raise CatclfError(f"{home}: the home folder (HOME) is not a folder; nothing was installed")
    path, startup, line = places(shell, home)
    text = script(shell) + "\n"
    if os.path.lexists(path) and not _is_ours(path):
        raise CatclfError(f"{path}: is not catclf's completion script; nothing was installed")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CatclfError(f"{path.parent}: cannot create this folder ({reason(e)})") from e

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    # here: every command imports this module for its shells, only installing writes
    from catclf.files import write_atomically

    write_atomically(
        [(path, write)],
        lambda target, why: CatclfError(f"{target}: cannot write ({why})"),
    )
    if startup is not None:
        _append_once(startup, line)
    return path


def _is_ours(path: Path) -> bool:
    try:
        return path.is_file() and COMPLETE_VAR in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _append_once(startup: Path, line: str) -> None:
    """line at the end of startup, unless it is there already: appended, so that nothing of
    the file is ever rewritten."""
    try:
        if os.path.lexists(startup):
            if not stat.S_ISREG(os.stat(startup).st_mode):
                raise CatclfError(f"{startup}: is not a file; add this line to it: {line}")
            if line in startup.read_text(encoding="utf-8", errors="replace").splitlines():
                return
        with open(startup, "a", encoding="utf-8") as f:
            f.write(f"\n# tab completion of catclf\n{line}\n")
    except OSError as e:
        raise CatclfError(f"{startup}: cannot add a line to it ({reason(e)})") from e
