"""Write each command's --help into docs/commands.md, so that the reference cannot drift.

In docs/commands.md, the text between a line `<!-- catclf NAME --help -->` and the next
`<!-- end -->` is the output of `catclf NAME --help`, at 100 columns. Run after changing a
command:

    python docs/generate.py            # rewrite docs/commands.md
    python docs/generate.py --check    # exit 1, and say which, when it is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "commands.md"
BLOCK = re.compile(r"(<!-- catclf (\w+) --help -->\n)(.*?)(<!-- end -->)", re.S)
WIDTH = 100


def help_text(name: str) -> str:
    """`catclf NAME --help` as the command prints it at WIDTH columns."""
    from typer.testing import CliRunner

    from catclf.cli import app

    result = CliRunner().invoke(
        app, [name, "--help"], prog_name="catclf", terminal_width=WIDTH, max_content_width=WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"catclf {name} --help failed: {result.output}")
    return result.stdout


def render(text: str) -> str:
    """text with every help block replaced by the command's current --help."""

    def block(found: re.Match[str]) -> str:
        start, name, _, end = found.groups()
        return f"{start}```text\n{help_text(name).rstrip()}\n```\n{end}"

    return BLOCK.sub(block, text)


def main() -> int:
    text = REFERENCE.read_text(encoding="utf-8")
    fresh = render(text)
    if "--check" in sys.argv[1:]:
        if fresh != text:
            print(f"{REFERENCE} is out of date: run python docs/generate.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
