"""`catclf explain` and `Model.explain`: the logit of a linear model split exactly into each
pixel value's share, against a black image or the average training image; checked against
sums worked out by hand, and against what `predict` says of the same image."""

from __future__ import annotations

import json
import math
import os

import h5py
import numpy as np
import pytest
from helpers import (
    N_X,
    PACKAGE_DATA,
    SAMPLES,
    catclf_run,
    invoke,
    save_png,
    write_model_file,
)
from PIL import Image

import catclf
from catclf import modelfile, plots
from catclf.cli import tables
from catclf.errors import ModelError, ParameterError
from catclf.model import Model, Settings

CHELSEA = SAMPLES / "cat_chelsea.png"


def gradient_image() -> np.ndarray:
    """Pixel (r, c), colour k has value (r * 4 + c * 2 + k * 50) % 256."""
    r, c, k = np.meshgrid(np.arange(64), np.arange(64), np.arange(3), indexing="ij")
    return ((r * 4 + c * 2 + k * 50) % 256).astype(np.uint8)


def hand_model(b=-0.25, mean=None, classes=("dog", "cat")) -> Model:
    """w_i = (i % 7 - 3) / 1000: a pattern whose every share is known."""
    w = ((np.arange(N_X) % 7 - 3) / 1000.0).reshape(N_X, 1)
    return Model(w, b, Settings(), (0.69,), 0.5, classes, 10, 1.0, 0, None, "hand", "", mean=mean)


def by_hand(pixels, b, mean=None):
    """(shares as a flat list, base, logit), in plain Python floats, one term at a time."""
    x = [int(v) / 255.0 for v in pixels.reshape(-1)]
    w = [(i % 7 - 3) / 1000.0 for i in range(N_X)]
    m = [0.0] * N_X if mean is None else [float(v) for v in mean.reshape(-1)]
    shares = [w[i] * (x[i] - m[i]) for i in range(N_X)]
    base = b + math.fsum(w[i] * m[i] for i in range(N_X))
    logit = b + math.fsum(w[i] * x[i] for i in range(N_X))
    return shares, base, logit


# The library


def test_the_shares_are_w_times_x_and_add_up_to_the_logit():
    pixels = gradient_image()
    e = hand_model().explain(pixels)
    shares, base, logit = by_hand(pixels, -0.25)
    np.testing.assert_allclose(e.contributions.reshape(-1), shares, rtol=0, atol=1e-15)
    assert e.contributions.shape == (64, 64, 3)
    assert e.base == e.bias == -0.25
    assert e.logit == pytest.approx(logit, abs=1e-12)
    assert e.toward == pytest.approx(math.fsum(s for s in shares if s > 0), abs=1e-12)
    assert e.away == pytest.approx(math.fsum(s for s in shares if s < 0), abs=1e-12)
    assert e.toward > 0 > e.away
    assert abs(e.base + e.toward + e.away - e.logit) < 1e-9
    assert e.probability == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-12)
    assert e.label == ("cat" if logit > 0 else "dog")
    # The map sums each pixel's three colours.
    assert e.map[5, 9] == pytest.approx(math.fsum(shares[(5 * 64 + 9) * 3 + k] for k in range(3)))
    assert e.limit == pytest.approx(float(np.max(np.abs(e.map))))


def test_against_the_average_image_the_shares_are_w_times_the_difference():
    pixels = gradient_image()
    mean = np.linspace(0.1, 0.9, N_X).reshape(N_X, 1)
    e = hand_model(mean=mean).explain(pixels, baseline="mean")
    shares, base, logit = by_hand(pixels, -0.25, mean)
    np.testing.assert_allclose(e.contributions.reshape(-1), shares, rtol=0, atol=1e-15)
    assert e.base == pytest.approx(base, abs=1e-12)
    assert e.logit == pytest.approx(logit, abs=1e-12)
    assert abs(e.base + e.toward + e.away - e.logit) < 1e-9
    # The same logit and probability whichever the baseline.
    black = hand_model(mean=mean).explain(pixels)
    assert (black.logit, black.probability) == (e.logit, e.probability)


def test_an_explanation_gives_the_probability_predict_gives():
    model = catclf.load_model()
    e = model.explain(CHELSEA)
    assert e.probability == model.predict_proba(CHELSEA)  # the same number, to the bit
    assert e.probability == pytest.approx(0.788323, abs=5e-7)  # the README's figure
    assert abs(e.base + e.toward + e.away - e.logit) < 1e-9
    assert e.logit == pytest.approx(math.log(e.probability / (1 - e.probability)), abs=1e-9)
    photo = Image.open(CHELSEA)
    assert model.explain(photo).probability == model.predict_proba(photo)
    assert e.source == str(CHELSEA) and model.explain(photo).source == "in memory"


def test_the_bundled_model_keeps_the_average_training_image():
    with h5py.File(PACKAGE_DATA / "train_catvnoncat.h5", "r") as f:
        images = f["train_set_x"][()]
    by_hand_mean = images.reshape(209, N_X).astype(np.float64).mean(axis=0) / 255.0
    model = catclf.load_model(modelfile.BUNDLED_PATH)
    np.testing.assert_allclose(model.mean.reshape(-1), by_hand_mean, rtol=1e-12, atol=0)
    e = model.explain(CHELSEA, baseline="mean")
    assert e.base == pytest.approx(float(model.w[:, 0] @ by_hand_mean) + model.b, abs=1e-9)
    assert abs(e.base + e.toward + e.away - e.logit) < 1e-9


def test_training_keeps_the_mean_of_the_examples_it_trained_on(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    labels = np.array([0, 1] * 10)
    data = catclf.Dataset(images, labels)
    model = catclf.train(data, num_iterations=10)
    by_hand_mean = images.reshape(20, N_X).astype(np.float64).sum(axis=0) / (20 * 255)
    np.testing.assert_allclose(model.mean.reshape(-1), by_hand_mean, rtol=1e-13, atol=0)
    # Held out examples are not in it.
    held = catclf.training.fit(data, num_iterations=10, validation_fraction=0.5)
    assert held.model.train_examples < 20
    assert not np.allclose(held.model.mean, model.mean)
    # And the file keeps it.
    assert catclf.load_model(model.save(tmp_path / "m.h5")) == model


def test_an_older_model_says_in_one_line_that_it_has_no_average_image(tmp_path):
    old = catclf.load_model(write_model_file(tmp_path / "old.h5"))
    assert old.mean is None and old.as_dict()["mean_image"] is False
    with pytest.raises(ModelError, match="keeps no average training image") as caught:
        old.explain(CHELSEA, baseline="mean")
    assert "\n" not in str(caught.value) and "--" not in str(caught.value)
    assert old.explain(CHELSEA).baseline == "black"


def test_a_mean_outside_0_to_1_is_refused_when_the_file_is_read(tmp_path):
    path = write_model_file(tmp_path / "m.h5", mean=np.full((N_X, 1), 1.5))
    with pytest.raises(ModelError, match="'mean' holds values outside 0 to 1"):
        catclf.load_model(path)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.explain(CHELSEA, baseline="grey"),
        lambda m: m.explain([CHELSEA, CHELSEA]),
        lambda m: m.explain(np.zeros((2, 64, 64, 3), np.uint8)),
        lambda m: m.explain(np.zeros((64, 64), np.uint8)),
    ],
)
def test_what_explain_does_not_take_is_a_parameter_error(call):
    with pytest.raises(ParameterError):
        call(hand_model())


def test_as_dict_is_json_with_every_share():
    e = hand_model().explain(gradient_image())
    found = json.loads(json.dumps(e.as_dict()))
    shares = np.array(found["contributions"])
    assert shares.shape == (64, 64, 3)
    assert abs(found["base"] + shares.sum() - found["logit"]) < 1e-9
    assert found["classes"] == ["dog", "cat"] and found["baseline"] == "black"
    assert "Explanation(" in repr(e) and len(repr(e)) < 300


# The command


def test_explain_prints_the_sum_and_a_plain_map_when_piped(tmp_path):
    result = catclf_run("explain", CHELSEA, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    fields = dict(line.split(": ", 1) for line in lines[:8])
    assert fields["probability"] == "0.788323 (cat)"
    parts = [float(fields[k]) for k in ("bias b", "toward cat", "toward non-cat")]
    assert sum(parts) == pytest.approx(float(fields["logit"]), abs=2e-6)
    assert fields["their sum"] == f"{fields['logit']}, the logit"
    picture = lines[8:-1]
    assert len(picture) == 16 and all(len(row) == 32 for row in picture)
    assert set("".join(picture)) <= set("=-.+#") and "\x1b" not in result.stdout
    assert lines[-1].startswith("# + toward cat")


def test_explain_json_holds_the_shares_that_add_up(tmp_path):
    result = catclf_run("explain", CHELSEA, "--baseline", "mean", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    shares = np.array(found["contributions"])
    assert shares.shape == (64, 64, 3)
    assert abs(found["base"] + shares.sum() - found["logit"]) < 1e-9
    assert abs(found["base"] + found["toward"] + found["away"] - found["logit"]) < 1e-9
    assert found["baseline"] == "mean" and found["picture"] is None
    predicted = catclf_run("predict", CHELSEA, cwd=tmp_path)
    assert f"{found['probability']:.6f}" == predicted.stdout.strip()


def test_explain_draws_the_map_and_replaces_only_its_own_picture(tmp_path):
    first = invoke("explain", CHELSEA, "--out", "why.png", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    drawn = (tmp_path / "why.png").read_bytes()
    with Image.open(tmp_path / "why.png") as im:
        assert im.size == plots.EXPLANATION_SIZE
    again = invoke("explain", CHELSEA, "--out", "why.png", "--baseline", "mean", cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "why.png").read_bytes() != drawn
    save_png(tmp_path / "mine.png", np.zeros((8, 8, 3), np.uint8))
    mine = (tmp_path / "mine.png").read_bytes()
    refused = invoke("explain", CHELSEA, "--out", "mine.png", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert "mine.png" in line and "is not a picture catclf drew" in line and "--force" in line
    assert (tmp_path / "mine.png").read_bytes() == mine
    forced = invoke("explain", CHELSEA, "--out", "mine.png", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and (tmp_path / "mine.png").read_bytes() != mine


def test_an_older_model_and_mean_is_one_line_naming_the_file(tmp_path):
    write_model_file(tmp_path / "old.h5")
    result = invoke("explain", CHELSEA, "-m", "old.h5", "--baseline", "mean", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("catclf: error: old.h5: the model keeps no average training image")


def test_bad_input_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    result = invoke("explain", "notes.txt", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("catclf: error: notes.txt: ")
    usage = invoke("explain", CHELSEA, "--baseline", "grey", cwd=tmp_path)
    assert usage.returncode == 2 and "--baseline" in usage.stderr


def test_the_terminal_map_is_half_blocks_in_colour(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    e = hand_model().explain(gradient_image())
    tables.heat_map(e.map, e.limit, e.classes, colour=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.count("▀") for line in lines[:16]] == [32] * 16
    assert "\x1b[" in lines[0]
    assert lines[16].startswith("red: toward cat; blue: toward dog")


def test_the_page_of_pictures_explains_each_mistake(tmp_path):
    made = catclf.report.run(tmp_path / "out", PACKAGE_DATA)
    assert made.written and os.path.exists(tmp_path / "out" / "misclassified.png")
    page = (tmp_path / "out" / "index.html").read_text()
    assert "beside it why" in page


def test_explain_reads_an_image_on_stdin_as_predict_does(tmp_path):
    piped = catclf_run("explain", "-", "--json", cwd=tmp_path, stdin=CHELSEA.read_bytes())
    assert piped.returncode == 0, piped.stderr
    found = json.loads(piped.stdout)
    named = json.loads(catclf_run("explain", CHELSEA, "--json", cwd=tmp_path).stdout)
    assert found["path"] == "-"
    assert (found["probability"], found["logit"]) == (named["probability"], named["logit"])
    bad = catclf_run("explain", "-", cwd=tmp_path, stdin=b"not an image")
    assert bad.returncode == 1 and bad.stderr.startswith("catclf: error: -: not an image")
