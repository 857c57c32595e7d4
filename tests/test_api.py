"""The public API, `import catclf`, as a learner's notebook and a Python program use it, on
its own terms: the course's published figures, probabilities worked out by hand from w and
b, every form of image predict_proba takes, values that behave as values, and a clear
CatclfError, in the library's own words, for every misuse."""

import ast
import itertools
import logging
import math
import pathlib
import re
import signal
import subprocess
import sys
import warnings

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
from helpers import SAMPLES, Watched
from PIL import Image

import catclf
from catclf import evaluation, fused, modelfile, report, selection, training
from catclf import model as model_module
from catclf.images import load_image

PHOTOS = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
BUNDLED_MODEL = pathlib.Path(catclf.__file__).parent / "data" / "model.h5"


@pytest.fixture(scope="module")
def course():
    """(train_set, test_set, model) of the course's run, through the public API."""
    train_set, test_set = catclf.load_data()
    return train_set, test_set, catclf.train(train_set, test_set)


def by_hand(model, pixels):
    """P(cat) of (64, 64, 3) uint8 pixels: sigmoid(w^T x / 255 + b), with math's exp."""
    z = float(pixels.reshape(-1).astype(np.float64) @ model.w[:, 0]) / 255.0 + model.b
    return 1.0 / (1.0 + math.exp(-z))


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
    assert loaded == model and hash(loaded) == hash(model)
    assert catclf.load_model(tmp_path / "m.h5").costs == model.costs


# predict_proba: every form of image, against sigmoid(w^T x / 255 + b) worked by hand.


def test_one_path_as_str_or_pathlike_gives_one_probability(course):
    _, _, model = course
    expected = by_hand(model, load_image(pathlib.Path(PHOTOS[0])))
    for given in (PHOTOS[0], pathlib.Path(PHOTOS[0])):
        p = model.predict_proba(given)
        assert isinstance(p, float)
        assert p == pytest.approx(expected, rel=1e-12)


def test_many_paths_in_any_iterable_give_one_probability_each_in_order(course):
    _, _, model = course
    expected = [by_hand(model, load_image(pathlib.Path(p))) for p in PHOTOS]
    for given in (PHOTOS, tuple(PHOTOS), map(pathlib.Path, PHOTOS), (p for p in PHOTOS)):
        p = model.predict_proba(given)
        assert p.shape == (len(PHOTOS),)
        np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict_proba(PHOTOS, jobs=2), model.predict_proba(PHOTOS))


def test_pixels_of_one_image_or_many_are_scored_as_they_are(course):
    _, _, model = course
    rng = np.random.default_rng(7)
    many = rng.integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        model.predict_proba(many), [by_hand(model, x) for x in many], rtol=1e-12
    )
    assert model.predict_proba(many[2]) == pytest.approx(by_hand(model, many[2]), rel=1e-12)


def test_a_pil_image_of_one_colour_is_that_colour_at_64x64(course):
    # A uniform image stays uniform through the resize: its pixels are known without catclf.
    _, _, model = course
    colour = (200, 120, 40)
    expected = by_hand(model, np.broadcast_to(np.array(colour, np.uint8), (64, 64, 3)))
    image = Image.new("RGB", (300, 200), colour)
    assert model.predict_proba(image) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba([image, image]), [expected] * 2, rtol=1e-12)


def test_the_course_matrix_has_its_own_entry(course):
    _, test_set, model = course
    p = model.predict_proba_X(test_set.X)
    assert p.shape == (TEST_EXAMPLES,)
    assert int(np.sum((p > 0.5) == test_set.labels)) == TEST_CORRECT


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (np.zeros((64, 64)), "images is an array of float64 (64, 64)"),
        (np.zeros((12288, 3)), "for the course's (12288, m) X, predict_proba_X"),
        (np.zeros((64, 64, 3)), "images is an array of float64 (64, 64, 3)"),
        (3, "images is an int"),
        ([1, 2], "images is a list holding an int"),
        (b"photo.png", "images is a bytes"),
    ],
)
def test_what_is_not_an_image_is_a_clear_parameter_error(course, given, said):
    _, _, model = course
    with pytest.raises(catclf.ParameterError, match=re.escape(said)):
        model.predict_proba(given)


def test_a_path_that_is_not_an_image_names_it(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    model = catclf.load_model(BUNDLED_MODEL)
    with pytest.raises(catclf.ImageError, match="text.jpg"):
        model.predict_proba(tmp_path / "text.jpg")


def test_predict_labels_by_the_threshold(course):
    _, _, model = course
    p = model.predict_proba(PHOTOS)
    assert model.predict(PHOTOS) == ["cat" if q > 0.5 else "non-cat" for q in p]
    assert model.predict(PHOTOS, threshold=1.0) == ["non-cat"] * len(PHOTOS)
    with pytest.raises(catclf.ParameterError, match="threshold is 2, expected a number from 0"):
        model.predict(PHOTOS, threshold=2)


# Values that behave as values: equality, hashing, a short repr, and save's force.


def test_a_model_equals_its_saved_copy_and_not_another(course, tmp_path):
    train_set, _, model = course
    model.save(tmp_path / "m.h5")
    copy = catclf.load_model(tmp_path / "m.h5")
    other = catclf.train(train_set, num_iterations=10)
    assert copy == model and hash(copy) == hash(model)
    assert other != model
    assert len({model, copy, other}) == 2


def test_data_sets_are_equal_only_to_themselves():
    train_set, test_set = catclf.load_data()
    again, _ = catclf.load_data()
    assert train_set == train_set and train_set != again and train_set != test_set
    assert len({train_set, again}) == 2


def test_every_public_object_prints_in_a_line_without_its_arrays(course, tmp_path):
    train_set, test_set, model = course
    small = catclf.train(train_set, num_iterations=10)
    shown = [
        train_set,
        model,
        catclf.evaluate(model, test_set),
        catclf.cross_validate(train_set, 3, num_iterations=10),
        *catclf.sweep(train_set, test_set, [0.01], num_iterations=10),
        training.fit(train_set, num_iterations=10),
        selection.run_sweep(learning_rates=[0.01], num_iterations=10, jobs=1),
        small.settings,
    ]
    for obj in shown:
        text = repr(obj)
        assert "\n" not in text and len(text) <= 200, text
        assert "array(" not in text and "..." not in text, text
    assert (
        repr(train_set) == "Dataset('bundled cat / non-cat set', 209 images: 72 cat, 137 non-cat)"
    )


def test_save_replaces_a_file_of_another_program_only_with_force(course, tmp_path):
    _, _, model = course
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(catclf.ModelError) as refused:
        model.save(tmp_path / "notes.txt")
    assert str(refused.value).endswith("is not a catclf model; force=True replaces it")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    model.save(tmp_path / "notes.txt", force=True)
    assert catclf.load_model(tmp_path / "notes.txt") == model


# Misuse: each setting checked by the library, in its own words.


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"learning_rate": -1}, "learning_rate is -1, expected a number above 0"),
        ({"learning_rate": 0}, "learning_rate is 0, expected a number above 0"),
        ({"learning_rate": math.nan}, "learning_rate is nan, expected a number above 0"),
        ({"learning_rate": "0.1"}, "learning_rate is '0.1', expected a number"),
        ({"num_iterations": 0}, "num_iterations is 0, expected a whole number >= 1"),
        ({"num_iterations": 2.5}, "num_iterations is 2.5, expected a whole number >= 1"),
        ({"l2": -0.5}, "l2 is -0.5, expected a number >= 0"),
        ({"solver": "fast"}, "solver is 'fast', expected auto, gram, primal"),
        ({"memory_limit": "lots"}, "memory_limit is 'lots', expected a number and a unit"),
        ({"memory_limit": 0}, "memory_limit is 0, expected a whole number >= 1"),
        ({"validation_fraction": 1}, "validation_fraction is 1, expected a number between 0"),
    ],
)
def test_a_bad_setting_is_refused_before_any_training(settings, said):
    train_set, _ = catclf.load_data()
    watched = Watched()
    with pytest.raises(catclf.ParameterError, match=f"^{re.escape(said)}") as refused:
        catclf.train(train_set, **settings, progress=watched)
    assert isinstance(refused.value, ValueError)
    assert watched.steps == []


def test_settings_that_exclude_each_other_are_refused():
    train_set, _ = catclf.load_data()
    with pytest.raises(ValueError, match="^give validation_fraction or folds, not both$"):
        catclf.sweep(train_set, None, [0.01], validation_fraction=0.2, folds=3)
    with pytest.raises(catclf.CatclfError, match="give validation_fraction or validation_set"):
        catclf.train(train_set, validation_fraction=0.2, validation_set=train_set)


@pytest.mark.parametrize(
    ("images", "labels", "said"),
    [
        (np.zeros((3, 8, 8, 3), np.uint8), [0, 1, 0], "images are uint8 (3, 8, 8, 3), expected"),
        (np.zeros((2, 64, 64, 3), np.float64), [0, 1], "images are float64 (2, 64, 64, 3)"),
        (np.zeros((2, 64, 64, 3), np.uint8), [5, 7], "labels must be 0 (the first class) or 1"),
        (np.zeros((2, 64, 64, 3), np.uint8), [0], "labels"),
        (np.zeros((0, 64, 64, 3), np.uint8), [], "holds no images"),
        ([[1, 2]], [0], "images are a list, expected a numpy array"),
    ],
)
def test_a_data_set_refuses_what_is_not_64x64x3_of_two_classes(images, labels, said):
    with pytest.raises(catclf.DataError, match=re.escape(said)):
        catclf.Dataset(images, np.array(labels))


def test_a_data_set_made_of_images_and_labels_alone_trains():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 64, 64, 3), dtype=np.uint8)
    data = catclf.Dataset(images, np.array([0, 1, 0, 1, 1, 0]))
    assert (data.classes, data.origin, data.sources[0]) == (
        ("non-cat", "cat"),
        "in memory",
        "in memory[0]",
    )
    model = catclf.train(data, num_iterations=20)
    assert model.train_examples == 6 and model.classes == ("non-cat", "cat")


def test_whole_runs_check_their_settings_before_reading_anything(tmp_path):
    for run in (
        lambda: training.run(tmp_path / "nothing", jobs=0),
        lambda: selection.run_cv(tmp_path / "nothing", folds=1),
        lambda: selection.run_sweep(tmp_path / "nothing", learning_rates=[]),
        lambda: evaluation.run(tmp_path / "nothing", threshold=-1),
        lambda: evaluation.run(tmp_path / "nothing", min_accuracy=2),
        lambda: report.run(tmp_path / "out", tmp_path / "nothing", memory_limit="1 parsec"),
    ):
        with pytest.raises(catclf.ParameterError):
            run()
    assert list(tmp_path.iterdir()) == []


def test_library_messages_name_no_command_line_flag():
    # What the library raises or notes is in its own words (parameters, force=True); the
    # command line says the same with its flags. Docstrings may name the commands.
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    found = []
    for path in sorted(pathlib.Path(catclf.__file__).parent.glob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and flag.search(node.value)
            ):
                found.append(f"{path.name}:{node.lineno}: {node.value}")
    assert found == []


# What the library says on the way: progress and notes, to the caller that asks.


def test_a_whole_run_reports_the_plan_it_followed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="catclf")
    done = training.run(
        validation_fraction=0.2, memory_limit="20MB", save_to=tmp_path / "m.h5", jobs=1
    )
    # 168 trained on: X and the images take 9 bytes a value, 18.6 MB, within 20 MB.
    assert (done.model.train_examples, done.model.validation_examples) == (168, 41)
    summary = done.as_dict()
    assert (summary["streamed"], summary["solver"]) == (False, "gram")
    assert summary["model"] == str(tmp_path / "m.h5")
    assert not any("each iteration reads" in r.getMessage() for r in caplog.records)
    caplog.clear()
    train_file = pathlib.Path(catclf.__file__).parent / "data" / "train_catvnoncat.h5"
    streamed = training.run(train_file, memory_limit="3MB", num_iterations=5, jobs=1)
    # All 209: their pixels take 2.6 MB, more than 3/4 of 3 MB: they stay in the file.
    assert streamed.plan.streamed and streamed.as_dict()["streamed"] is True
    said = [r.getMessage() for r in caplog.records]
    assert any("each iteration reads them" in line for line in said)
    assert streamed.saved is None


def test_a_primal_run_without_numba_says_what_numba_would_bring(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="catclf")
    train_file = pathlib.Path(catclf.__file__).parent / "data" / "train_catvnoncat.h5"
    hint = "with Numba installed (pip install 'catclf[fast]')"
    training.run(train_file, solver="primal", num_iterations=2, jobs=1)
    assert not any(hint in r.getMessage() for r in caplog.records)  # the tests have Numba
    monkeypatch.setattr(fused, "pixel_kernel", lambda: None)
    training.run(train_file, solver="primal", num_iterations=2, jobs=1)
    assert not any(hint in r.getMessage() for r in caplog.records)  # installed, not compiling
    monkeypatch.setattr(fused, "numba_installed", lambda: False)
    for solver in ("gram", "primal"):
        caplog.clear()
        training.run(train_file, solver=solver, num_iterations=2, jobs=1)
        said = [r.getMessage() for r in caplog.records if hint in r.getMessage()]
        # The Gram solver's iterations touch no pixels: only the primal loop would gain.
        assert said == (
            []
            if solver == "gram"
            else [
                "numpy works each iteration's 209 examples; with Numba installed (pip install "
                "'catclf[fast]') an iteration takes about a quarter of the time"
            ]
        )


def test_one_progress_watches_decoding_and_training(tmp_path):
    for folder, colour in (("cat", (200, 120, 40)), ("other", (20, 40, 200))):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.new("RGB", (80, 60), colour).save(tmp_path / folder / f"{i}.png")
    watched = Watched()
    training.run(tmp_path, num_iterations=30, jobs=1, progress=watched)
    assert watched.tasks == [["decoding", 6, "images"], ["training", 30, ""]]
    assert watched.done("decoding") == 6 and len(watched.costs("training")) == 30
    assert watched.costs()[0] == pytest.approx(math.log(2), abs=1e-12)  # w = 0, b = 0


def test_importing_and_using_catclf_changes_no_global_state_of_the_program():
    # numpy and h5py add warning filters of their own as they are imported: imported first.
    code = """
import logging, signal, sys, warnings
import h5py, numpy, PIL.Image
before = (list(warnings.filters), [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)],
          sys.stdout, sys.stderr, logging.getLogger().handlers[:])
import catclf
train_set, test_set = catclf.load_data()
model = catclf.train(train_set, test_set, num_iterations=50)
catclf.evaluate(model, test_set)
after = (list(warnings.filters), [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)],
         sys.stdout, sys.stderr, logging.getLogger().handlers[:])
print(before == after, [type(h).__name__ for h in logging.getLogger("catclf").handlers])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("True ['NullHandler']\n", "")


def test_every_failure_is_a_catclf_error(tmp_path):
    with pytest.raises(catclf.ModelError, match="missing.h5"):
        catclf.load_model(tmp_path / "missing.h5")
    with pytest.raises(catclf.DataError, match="no such file"):
        catclf.load_data(tmp_path / "nothing")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of it is a Python warning either
        with pytest.raises(catclf.TrainingDiverged, match="smaller learning_rate"):
            train_set, _ = catclf.load_data()
            catclf.train(train_set, learning_rate=1e300, num_iterations=5)


def test_load_model_without_a_path_finds_the_one_here_or_the_bundled_one(
    course, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert modelfile.find() == modelfile.BUNDLED_PATH
    bundled = catclf.load_model()
    assert bundled == catclf.load_model(BUNDLED_MODEL)
    _, _, model = course
    model.save("model.h5")
    assert catclf.load_model() == model


def test_score_images_keeps_the_input_order_across_batches_and_errors():
    # 600 images, every seventh an error: more than two batches, errors in between.
    model = catclf.load_model(BUNDLED_MODEL)
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(600, 64, 64, 3), dtype=np.uint8)
    decoded = [
        catclf.ImageError(f"{i}.png: broken") if i % 7 == 0 else pixels[i] for i in range(600)
    ]
    batches = []
    scored = list(model.score_images(decoded, on_batch=lambda: batches.append(1)))
    for i, result in enumerate(scored):
        if i % 7 == 0:
            assert isinstance(result, catclf.ImageError) and str(result) == f"{i}.png: broken"
        else:
            assert result == pytest.approx(by_hand(model, pixels[i]), rel=1e-12)
    assert len(batches) == 10  # 1, 2, 4, ..., 128 (8 batches, 255 images), then 256 and 89


def test_a_stream_scored_in_parts_that_begin_where_its_batches_do_scores_as_one_piece():
    # Batches of 1, 2, 4, ..., 128 images, then 256: they begin at 0, 1, 3, 7, ..., 127, 255,
    # 511, 767, ...
    ends = [model_module.batch_end(p) for p in (0, 1, 2, 3, 6, 7, 126, 127, 254, 255, 300, 511)]
    assert ends == [1, 3, 3, 7, 7, 15, 127, 255, 255, 511, 511, 767]
    model = catclf.load_model(BUNDLED_MODEL)
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(900, 64, 64, 3), dtype=np.uint8)
    decoded = [catclf.ImageError(f"{i}") if i % 11 == 0 else pixels[i] for i in range(900)]
    whole = list(model.score_images(decoded))
    for bounds in ([0, 255, 900], [0, 3, 511, 767, 900], [0, 1, 7, 15, 127, 255, 511, 900]):
        parts = [
            result
            for start, end in itertools.pairwise(bounds)
            for result in model.score_images(decoded[start:end], start=start)
        ]
        assert parts == whole  # to the last bit


def test_score_images_of_errors_alone_needs_no_pixels():
    model = catclf.load_model(BUNDLED_MODEL)
    errors = [catclf.ImageError(f"{i}") for i in range(300)]
    assert list(model.score_images(errors)) == errors


def test_signal_module_is_untouched_by_the_library():
    # The command line's entry point sets handlers; the library never does.
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)


def test_a_parameter_error_crosses_processes_with_its_words():
    # Process pools and clusters send a task's exception back made again from its
    # __reduce__, as copy.deepcopy makes it.
    import copy

    error = catclf.ParameterError("learning_rate", -1.0, "a number > 0")
    again = copy.deepcopy(error)
    assert type(again) is catclf.ParameterError
    assert str(again) == str(error) == "learning_rate is -1.0, expected a number > 0"
    assert (again.parameter, again.expected, again.said) == (
        "learning_rate",
        "a number > 0",
        "-1.0",
    )
