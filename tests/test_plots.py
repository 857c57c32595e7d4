"""Text from files and folders is drawn as written: a class name or caption with "$" signs is
never parsed as mathtext (nor handed to LaTeX), where a formula may fail to parse or be
drawn as something else."""

from __future__ import annotations

import numpy as np
import pytest

from catclf import plots

NAMES = [r"$\frac{a}{b}$", "$x", r"$\frac{a}$", "$$", r"a $\alpha$ b"]


@pytest.fixture
def drawn(monkeypatch):
    """The figures plots renders, kept for inspection."""
    figures = []
    render = plots._png

    def keep(fig):
        figures.append(fig)
        return render(fig)

    monkeypatch.setattr(plots, "_png", keep)
    return figures


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
    captions = [f"true: {name}\np = 0.62" for name in NAMES]
    png = plots.misclassified(images, captions, 0)
    assert png.startswith(b"\x89PNG")
    titles = [ax.title for ax in drawn[0].axes if ax.title.get_text()]
    assert [t.get_text() for t in titles] == captions
    assert all(literal(t) for t in titles)
