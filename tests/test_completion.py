"""Tab completion in bash, zsh and fish: each shell named gets its own script, installed where
that shell looks for it, and the script really completes catclf's commands and options when
the shell runs it (each shell is run where it is installed; .ci/run installs zsh and fish)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import catclf_run, environment

SHELLS = ["bash", "zsh", "fish"]
# What each script starts with or holds, as its shell's documentation has it.
MARK = {
    "bash": "complete -o default -F",
    "zsh": "#compdef catclf",
    "fish": "complete --command catclf",
}


def with_catclf_on_path(home: Path) -> dict[str, str]:
    """The environment of a shell in which `catclf` is this catclf, and HOME is home."""
    bin_folder = str(Path(sys.executable).parent)
    return environment({"HOME": str(home), "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"})


@pytest.mark.parametrize("shell", SHELLS)
def test_each_shell_named_gets_its_own_script(tmp_path, shell):
    result = catclf_run("--show-completion", shell, cwd=tmp_path, env={"SHELL": "/bin/bash"})
    assert result.returncode == 0, result.stderr
    assert MARK[shell] in result.stdout
    assert all(MARK[other] not in result.stdout for other in SHELLS if other != shell)
    assert "\\n" not in result.stdout  # real lines, not escaped ones


def test_a_shell_catclf_does_not_complete_in_is_a_usage_error(tmp_path):
    result = catclf_run("--show-completion", "tcsh", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("catclf: error: Invalid value for '--show-completion'")


WHERE = {
    "bash": (".bash_completions/catclf.sh", ".bashrc"),
    "zsh": (".zfunc/_catclf", ".zshrc"),
    "fish": (".config/fish/completions/catclf.fish", None),
}


@pytest.mark.parametrize("shell", SHELLS)
def test_install_puts_the_named_shells_script_where_that_shell_loads_it(tmp_path, shell):
    home = tmp_path / "home"
    home.mkdir()
    script, startup = WHERE[shell]
    if startup:
        (home / startup).write_text("# the user's own settings\nalias ll='ls -l'\n")
    for _ in range(2):  # installed twice: the start-up file gains its line once
        result = catclf_run("--install-completion", shell, cwd=tmp_path, env={"HOME": str(home)})
        assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{shell} completion installed in {home / script}")
    assert MARK[shell] in (home / script).read_text()
    if startup:
        text = (home / startup).read_text()
        assert text.startswith("# the user's own settings\nalias ll='ls -l'\n")  # kept
        loading = [line for line in text.splitlines() if "catclf" in line and "#" not in line]
        assert len(loading) == 1 or shell == "zsh"
        assert text.count("# tab completion of catclf") == 1
    # Nothing for another shell.
    assert {p.name for p in home.iterdir()} <= {Path(script).parts[0], startup}


def test_install_refuses_a_home_that_is_a_file_and_a_script_that_is_not_catclfs(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = catclf_run(
        "--install-completion", "bash", cwd=tmp_path, env={"HOME": str(tmp_path / "file")}
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"catclf: error: {tmp_path / 'file'}: the home folder (HOME) is not a folder; nothing "
        "was installed\n"
    )
    home = tmp_path / "home"
    (home / ".zfunc").mkdir(parents=True)
    (home / ".zfunc" / "_catclf").write_text("my own completion")
    refused = catclf_run("--install-completion", "zsh", cwd=tmp_path, env={"HOME": str(home)})
    assert refused.returncode == 1
    assert "is not catclf's completion script; nothing was installed" in refused.stderr
    assert (home / ".zfunc" / "_catclf").read_text() == "my own completion"
    assert not (home / ".zshrc").exists()


# The scripts as each shell runs them. Each asks `catclf` what completes the words so far.
RUN = {
    "bash": 'source "$1"; COMP_WORDS=($2); COMP_CWORD=$3; _catclf_completion catclf; '
    'printf "%s\\n" "${COMPREPLY[@]}"',
    # zsh runs a completion function only inside its line editor: here it is called as
    # compsys would call it, with the words typed, and _arguments shows what it was given.
    "zsh": 'compdef() { :; }; _arguments() { print -r -- "$@"; }; source "$1"; '
    "words=(${=2}); CURRENT=$(( $3 + 1 )); _catclf_completion",
    "fish": "source $argv[1]; complete -C $argv[2]",
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("words", "offered"),
    [("catclf tr", "train"), ("catclf train --it", "--iterations"), ("catclf c", "cv")],
)
def test_the_script_completes_commands_and_options_in_its_shell(tmp_path, shell, words, offered):
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed here (.ci/run installs it)")
    script = tmp_path / f"catclf.{shell}"
    script.write_text(catclf_run("--show-completion", shell, cwd=tmp_path).stdout)
    cword = str(len(words.split()) - 1)
    if shell == "fish":
        command = [program, "--no-config", "-c", RUN[shell], str(script), words]
    else:
        command = [program, "-c", RUN[shell], shell, str(script), words, cword]
    done = subprocess.run(
        command, cwd=tmp_path, env=with_catclf_on_path(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert offered in done.stdout.replace('"', " ").replace(":", " ").split(), done.stdout
