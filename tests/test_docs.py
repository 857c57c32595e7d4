"""The README keeps up with the command line: every command and option is documented."""

import re
from pathlib import Path

import pytest
import typer

from catclf.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_there_are_commands_to_check():
    assert {"train", "predict", "prepare"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_readme_section_with_an_example(name):
    section = re.search(rf"^### `catclf {name}\b.*?(?=^### |^## )", README, re.M | re.S)
    assert section, f"no README section for catclf {name}"
    assert f"$ catclf {name}" in section.group(0), f"no example of catclf {name}"


@pytest.mark.parametrize(
    "name, option",
    [
        (name, opt)
        for name, command in sorted(COMMANDS.items())
        for param in command.params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_every_option_is_in_the_readme(name, option):
    section = re.search(rf"^### `catclf {name}\b.*?(?=^### |^## )", README, re.M | re.S)
    assert section
    assert re.search(rf"[`\s]{re.escape(option)}\b", section.group(0)), option


def test_quick_start_is_two_commands():
    quick = re.search(r"^## Quick start$(.*?)^## ", README, re.M | re.S)
    assert quick
    blocks = re.findall(r"```sh\n(.*?)```", quick.group(1), re.S)
    assert len(blocks) == 2 and all(block.count("\n") == 1 for block in blocks)
    assert "catclf train" in blocks[0] and "catclf predict" in blocks[0]
    assert "pytest" in blocks[1]
