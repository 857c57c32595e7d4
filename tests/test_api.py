"""The public API, `import catclf`, as a Python program uses it: paths as str or PathLike,
the course's published figures, and the same numbers and messages as the command line."""

import json
import pathlib

import numpy as np
import pytest
from course import (
    LEARNING_RATE,
    NUM_ITERATIONS,
    TEST_CORRECT,
    TEST_EXAMPLES,
    TRAIN_CORRECT,
    TRAIN_EXAMPLES,
)
from helpers import SAMPLES
from PIL import Image
from typer.testing import CliRunner

import catclf
from catclf.cli import app

PHOTOS = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))


@pytest.fixture(scope="module")
def course():
    """(train_set, test_set, model) of the course's run, through the public API."""
    train_set, test_set = catclf.load_data()
    return train_set, test_set, catclf.train(train_set, test_set)


def cli_json(*args):
    result = CliRunner().invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_public_name_is_documented_and_importable():
    for name in catclf.__all__:
        obj = getattr(catclf, name)
        assert name == "__version__" or obj.__doc__, name
    assert set(catclf.__all__) <= set(dir(catclf))
    with pytest.raises(AttributeError):
        catclf.no_such_thing  # noqa: B018


def test_load_data_gives_the_bundled_course_set():
    train_set, test_set = catclf.load_data()
    assert (train_set.m, test_set.m) == (TRAIN_EXAMPLES, TEST_EXAMPLES)
    assert train_set.X.shape == (12288, TRAIN_EXAMPLES) and train_set.Y.shape == (1, TRAIN_EXAMPLES)


def test_load_data_takes_str_and_pathlike(tmp_path):
    data = pathlib.Path(catclf.__file__).parent / "data"
    train_set, test_set = catclf.load_data(
        str(data / "train_catvnoncat.h5"), test=data / "test_catvnoncat.h5"
    )
    assert (train_set.m, test_set.m) == (TRAIN_EXAMPLES, TEST_EXAMPLES)
    # A folder of photos in class folders, named as str.
    for folder, colour in (("cat", (200, 120, 40)), ("other", (20, 40, 200))):
        (tmp_path / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (80, 60), colour).save(tmp_path / folder / f"{i}.png")
    photos, implied = catclf.load_data(str(tmp_path))
    assert photos.m == 4 and photos.positives == 2 and implied is None


def test_train_reproduces_the_course(course):
    _, _, model = course
    assert round(model.train_accuracy * TRAIN_EXAMPLES) == TRAIN_CORRECT
    assert round(model.test_accuracy * TEST_EXAMPLES) == TEST_CORRECT
    assert (model.settings.learning_rate, model.settings.num_iterations) == (
        LEARNING_RATE,
        NUM_ITERATIONS,
    )


def test_save_and_load_model_with_str_paths(course, tmp_path):
    _, _, model = course
    model.save(str(tmp_path / "m.h5"))
    loaded = catclf.load_model(str(tmp_path / "m.h5"))
    np.testing.assert_array_equal(loaded.w, model.w)
    assert loaded.b == model.b
    assert catclf.load_model(tmp_path / "m.h5").costs == model.costs


def test_predict_proba_gives_the_numbers_the_command_line_prints(course, tmp_path):
    _, _, model = course
    model.save(tmp_path / "m.h5")
    p = model.predict_proba(PHOTOS)
    assert p.shape == (len(PHOTOS),)
    printed = cli_json("predict", "-m", tmp_path / "m.h5", *PHOTOS)
    assert [r["path"] for r in printed] == PHOTOS
    np.testing.assert_allclose(p, [r["probability"] for r in printed], rtol=0, atol=1e-15)
    assert model.predict(PHOTOS) == [r["label"] for r in printed]
    assert model.predict(PHOTOS, threshold=1.0) == ["non-cat"] * len(PHOTOS)
    assert model.predict_proba(map(pathlib.Path, PHOTOS), jobs=2).tolist() == p.tolist()


def test_evaluate_gives_the_numbers_the_command_line_prints(course, tmp_path):
    _, test_set, model = course
    result = catclf.evaluate(model, test_set)
    assert result.accuracy == TEST_CORRECT / TEST_EXAMPLES
    c = result.confusion
    assert c.tp + c.tn == TEST_CORRECT and len(result.misclassified) == c.fp + c.fn
    model.save(tmp_path / "m.h5")
    (printed,) = cli_json("evaluate", "-m", tmp_path / "m.h5")
    for name in ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"):
        assert getattr(result, name) == printed[name], name
    assert [w.index for w in result.misclassified] == [w["index"] for w in printed["misclassified"]]
    assert all(w.true != w.predicted for w in result.misclassified)


def test_sweep_gives_the_runs_the_command_line_prints(course):
    train_set, test_set, _ = course
    runs = catclf.sweep(train_set, test_set, [0.01, 0.001, 0.0001], num_iterations=1500)
    assert [r.learning_rate for r in runs] == [0.01, 0.001, 0.0001]
    printed = cli_json("sweep", "-n", 1500)[0]
    for run, line in zip(runs, printed, strict=True):
        assert (run.train_accuracy, run.test_accuracy) == (
            line["train_accuracy"],
            line["test_accuracy"],
        )
        assert list(run.costs) == pytest.approx(line["costs"], abs=1e-12)
        assert run.best == line["best"]
    # The course's observation: 0.01 fits the training set hardest, 0.0001 learns slowest.
    assert runs[0].train_accuracy > runs[1].train_accuracy > runs[2].train_accuracy


def test_every_failure_is_a_catclf_error_with_the_command_lines_message(tmp_path):
    missing = str(tmp_path / "missing.h5")
    with pytest.raises(catclf.CatclfError) as raised:
        catclf.load_model(missing)
    result = CliRunner().invoke(app, ["info", "-m", missing])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"catclf: error: {raised.value}"
    with pytest.raises(catclf.CatclfError, match="no such file"):
        catclf.load_data(tmp_path / "nothing")
    (tmp_path / "text.jpg").write_text("not an image")
    model = catclf.load_model(pathlib.Path(catclf.__file__).parent / "data" / "model.h5")
    with pytest.raises(catclf.ImageError, match="text.jpg"):
        model.predict_proba([tmp_path / "text.jpg"])


def test_score_images_keeps_the_input_order_across_batches_and_errors():
    # 600 images, every seventh an error: more than two batches, errors in between.
    model = catclf.load_model(pathlib.Path(catclf.__file__).parent / "data" / "model.h5")
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(600, 64, 64, 3), dtype=np.uint8)
    decoded = [
        catclf.ImageError(f"{i}.png: broken") if i % 7 == 0 else pixels[i] for i in range(600)
    ]
    batches = []
    scored = list(model.score_images(decoded, on_batch=lambda: batches.append(1)))
    # Worked out directly: sigmoid(w^T x / 255 + b) for each image on its own.
    for i, result in enumerate(scored):
        if i % 7 == 0:
            assert isinstance(result, catclf.ImageError) and str(result) == f"{i}.png: broken"
        else:
            z = float(pixels[i].reshape(-1) @ model.w[:, 0]) / 255.0 + model.b
            assert result == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-12)
    assert len(batches) == 10  # 1, 2, 4, ..., 128 (8 batches, 255 images), then 256 and 89


def test_score_images_of_errors_alone_needs_no_pixels():
    model = catclf.load_model(pathlib.Path(catclf.__file__).parent / "data" / "model.h5")
    errors = [catclf.ImageError(f"{i}") for i in range(300)]
    assert list(model.score_images(errors)) == errors
