"""Write into docs/commands.md what the commands themselves print, so that it cannot drift:
each command's --help, and the output of every sample session.

- The text between a line `<!-- catclf NAME --help -->` and the next `<!-- end -->` is the
  output of `catclf NAME --help`, at 100 columns.
- A block that follows a line `<!-- catclf sample -->` is a console session: each line
  starting with `$ ` is a shell command, and the lines after it are what it prints, stdout
  and stderr as they come, as in a file or a pipe (no terminal). The sessions run one after
  another in one scratch folder, as a reader following the page would run them: the
  bundled data is at catclf/data/, the sample photos at sample_images/, and photos/ holds
  the bundled set saved as 259 PNG files in cat/ and non-cat/. SOURCE_DATE_EPOCH fixes the
  times that files record, and the bundled data's folder is shown as `.../catclf/data`.

Run after changing a command or its output:

    python docs/generate.py            # rewrite docs/commands.md
    python docs/generate.py --check    # exit 1, and say so, when it is out of date
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "commands.md"
HELP = re.compile(r"(<!-- catclf (\w+) --help -->\n)(.*?)(<!-- end -->)", re.S)
SAMPLE = re.compile(r"(<!-- catclf sample -->\n```console\n)(.*?)(```)", re.S)
WIDTH = 100
EPOCH = "1767225600"  # 2026-01-01T00:00:00+00:00, the time sample files record


def help_text(name: str) -> str:
    """`catclf NAME --help` as the command prints it at WIDTH columns."""
    from typer.testing import CliRunner

    from catclf.cli import app

    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": str(WIDTH)})
    if result.exit_code != 0:
        raise RuntimeError(f"catclf {name} --help failed: {result.output}")
    return result.stdout


def scratch(folder: Path) -> None:
    """The files the sample sessions refer to, made in folder."""
    from PIL import Image

    import catclf
    from catclf.datasets import bundled

    data = Path(catclf.__file__).parent / "data"
    (folder / "catclf").mkdir()
    (folder / "catclf" / "data").symlink_to(data)
    (folder / "sample_images").symlink_to(ROOT / "sample_images")
    train, test = bundled()
    for side, data_set in (("train", train), ("test", test)):
        for i in range(data_set.m):
            label = data_set.classes[int(data_set.labels[i])]
            path = folder / "photos" / label / f"{side}_{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(data_set.images[i]).save(path)
    (folder / "notes.txt").write_text("my notes, not a model\n")
    (folder / "data.h5").write_bytes((data / "train_catvnoncat.h5").read_bytes())


def session(commands: list[str], folder: Path) -> str:
    """The session: each command, then what it printed."""
    import catclf

    data = str(Path(catclf.__file__).parent / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATCLF_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SOURCE_DATE_EPOCH=EPOCH,
        PYTHONUNBUFFERED="1",  # stdout and stderr in the order they were written
        COLUMNS=str(WIDTH),
    )
    lines = []
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        said = done.stdout.replace(data, ".../catclf/data").replace(str(folder) + "/", "")
        lines += [f"$ {command}", *said.splitlines()]
    return "\n".join(lines) + "\n"


def render(text: str, folder: Path | None = None) -> str:
    """text with every help block and sample session made anew."""

    def block(found: re.Match[str]) -> str:
        start, name, _, end = found.groups()
        return f"{start}```text\n{help_text(name).rstrip()}\n```\n{end}"

    text = HELP.sub(block, text)
    if folder is None:
        return text

    def sample(found: re.Match[str]) -> str:
        start, body, end = found.groups()
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        return f"{start}{session(commands, folder)}{end}"

    return SAMPLE.sub(sample, text)


def fresh() -> str:
    """docs/commands.md as the commands make it now."""
    with tempfile.TemporaryDirectory() as folder:
        scratch(Path(folder))
        return render(REFERENCE.read_text(encoding="utf-8"), Path(folder))


def main() -> int:
    text = REFERENCE.read_text(encoding="utf-8")
    made = fresh()
    if "--check" in sys.argv[1:]:
        if made != text:
            print(f"{REFERENCE} is out of date: run python docs/generate.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(made, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
