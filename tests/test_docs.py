"""The README and docs/ keep up with the code: every command, option and public name is
documented, the commands reference is the commands' own --help, and the examples run."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from corpus import build

import catclf
from catclf.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
REFERENCE = (DOCS / "commands.md").read_text(encoding="utf-8")
COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def section(name):
    found = re.search(rf"^## `catclf {name}\b.*?(?=^## |\Z)", REFERENCE, re.M | re.S)
    assert found, f"no section for catclf {name} in docs/commands.md"
    return found.group(0)


def test_there_are_commands_to_check():
    assert {"train", "predict", "prepare"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme_and_has_a_reference_section_with_an_example(name):
    assert re.search(rf"^\| `{name}\b.*`catclf {name}\b", README, re.M), name
    assert f"$ catclf {name}" in section(name), f"no example of catclf {name}"


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
def test_every_option_is_explained_in_its_reference_section(name, option):
    # Outside the generated --help: in the section's own words or its option table.
    words = re.sub(r"<!-- catclf \w+ --help -->.*?<!-- end -->", "", section(name), flags=re.S)
    assert re.search(rf"[`\s]{re.escape(option)}\b", words), option


def generator():
    spec = importlib.util.spec_from_file_location("generate", DOCS / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate


def test_the_commands_reference_holds_each_commands_current_help():
    assert generator().render(REFERENCE) == REFERENCE, "run: python docs/generate.py"
    for name in COMMANDS:
        assert f"<!-- catclf {name} --help -->" in REFERENCE


def test_every_sample_in_the_reference_is_what_the_commands_print_now():
    # Each session run again, in a scratch folder, as a reader would run it.
    assert REFERENCE.count("<!-- catclf sample -->") == REFERENCE.count("```console")
    assert generator().fresh() == REFERENCE, "run: python docs/generate.py"


def test_quick_start_is_two_commands():
    quick = re.search(r"^## Quick start$(.*?)^## ", README, re.M | re.S)
    assert quick
    blocks = re.findall(r"```sh\n(.*?)```", quick.group(1), re.S)
    assert len(blocks) == 2 and all(block.count("\n") == 1 for block in blocks)
    assert "catclf train" in blocks[0] and "catclf predict" in blocks[0]
    assert "pytest" in blocks[1]


def test_the_readme_is_a_front_door_that_links_every_doc():
    assert len(README.splitlines()) <= 200
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", README))
    assert linked == {p.name for p in DOCS.glob("*.md")}


def test_links_between_the_docs_lead_to_files_that_exist():
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", doc.read_text()):
            assert (doc.parent / target).is_file(), f"{doc.name} links to {target}"


def test_every_public_name_is_in_the_python_docs():
    python = (DOCS / "python.md").read_text(encoding="utf-8")
    for name in catclf.__all__:
        if name != "__version__":
            assert f"catclf.{name}" in python, name


def test_the_docs_count_the_generated_kinds_of_hostile_image(tmp_path):
    kinds = len(build(tmp_path))
    text = " ".join((DOCS / "reliability.md").read_text().split())
    assert f"`tests/corpus.py` generates {kinds} kinds" in text


def test_the_readmes_python_example_gives_what_its_comments_say(tmp_path, monkeypatch):
    block = re.search(r"## Use it from Python\n\n```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_images").symlink_to(ROOT / "sample_images")
    scope: dict = {}
    exec(block, scope)  # the README's own code, as a reader would paste it
    model, test_set = scope["model"], scope["test_set"]
    photo = ["sample_images/cat_chelsea.png"]
    assert np.round(model.predict_proba(photo), 8).tolist() == [0.78832334]
    assert round(model.predict_proba(photo[0]), 7) == 0.7883233
    assert np.round(model.predict_proba(scope["photos"]), 8).tolist() == [0.78832334, 0.99997054]
    assert model.predict(photo) == ["cat"]
    assert catclf.evaluate(model, test_set).accuracy == 0.7
    why = model.explain(photo[0])
    assert [round(why.logit, 5), round(why.bias, 4), round(why.toward, 4), round(why.away, 4)] == [
        1.31485,
        -0.0159,
        38.9483,
        -37.6176,
    ]
    assert [r.learning_rate for r in scope["runs"]] == [0.01, 0.001, 0.0001]
    assert (tmp_path / "model.h5").is_file()


def test_the_readmes_honest_figures_are_what_catclf_measures():
    from catclf import load_data
    from catclf.selection import cross_validate

    train_set, _ = load_data()
    cv = cross_validate(train_set, 5)
    mean, std = 100 * cv.mean_validation_accuracy, 100 * cv.std_validation_accuracy
    text = " ".join(README.split())
    row = "| 5-fold cross-validation on the training set (`catclf cv`) |"
    assert f"{row} {mean:.1f} % ± {std:.1f} % |" in text
    assert (
        f'always answering "non-cat" on the training set | {100 * cv.baseline_accuracy:.1f} %'
        in text
    )
    assert (
        "| test accuracy (`catclf evaluate`) | 70.0 % (35 of 50), 95 % interval 56.2 % to 80.9 % |"
        in text
    )
