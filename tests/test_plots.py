"""Text from files and folders is drawn as written: a class name or caption with "$" signs is
never parsed as mathtext (nor handed to LaTeX), where a formula may fail to parse or be
drawn as something else."""

from __future__ import annotations

import io

import numpy as np
import pytest

from catclf import plots
from catclf.model import Model, Settings

NAMES = [r"$\frac{a}{b}$", "$x", r"$\frac{a}$", "$$", r"a $\alpha$ b"]


@pytest.fixture
def drawn(monkeypatch):
    """The figures plots renders, kept for inspection."""
    figures = []
    render = plots._png

    def keep(fig, text=None):
        figures.append(fig)
        return render(fig, text)

    monkeypatch.setattr(plots, "_png", keep)
    return figures


def hand_model(classes=("non-cat", "cat")) -> Model:
    w = np.linspace(-1, 1, 12288).reshape(12288, 1) / 1000
    return Model(w, 0.5, Settings(), (0.69,), 0.5, classes, 1, 1.0, 0, None, "x", "")


def literal(text) -> bool:
    return text.get_parse_math() is False and text.get_usetex() is False


@pytest.mark.parametrize("name", NAMES)
def test_class_names_in_the_confusion_matrix_are_drawn_as_written(drawn, name):
    png = plots.confusion(1, 2, 3, 4, ("non-cat", name))
    assert png.startswith(b"\x89PNG")
    [ax] = drawn[0].axes
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert [t.get_text() for t in labels] == [name, "non-cat"]
        assert all(literal(t) for t in labels)


def test_captions_of_misclassified_images_are_drawn_as_written(drawn):
    images = np.zeros((len(NAMES), 64, 64, 3), dtype=np.uint8)
    model = hand_model()
    captions = [f"true: {name}\np = 0.62" for name in NAMES]
    png = plots.misclassified([model.explain(image) for image in images], captions, 0)
    assert png.startswith(b"\x89PNG")
    titles = [ax.title for ax in drawn[0].axes if ax.title.get_text() not in ("", "why")]
    assert [t.get_text() for t in titles] == captions
    assert all(literal(t) for t in titles)


def test_class_names_in_an_explanation_are_drawn_as_written(drawn):
    model = hand_model(("$x", r"$\frac{a}$"))
    png = plots.explanation(model.explain(np.zeros((64, 64, 3), np.uint8)), "$photo.png")
    assert png.startswith(b"\x89PNG") and plots.is_ours(io.BytesIO(png))
    fig = drawn[0]
    texts = [fig._suptitle] + [t for ax in fig.axes for t in (ax.title, ax.xaxis.label)]
    assert "$photo.png" in fig._suptitle.get_text()
    assert all(literal(t) for t in texts if "$" in t.get_text())
