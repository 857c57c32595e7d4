"""catclf.sklearn: scikit-learn's own estimator checks, the course's numbers through the
scikit-learn face, images read as catclf reads them, and pipelines of photo paths in
cross_val_score and GridSearchCV."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip(
    "sklearn",
    minversion="1.6",
    reason="scikit-learn 1.6 or later is not installed: pip install 'catclf[sklearn]'",
)

from course import COSTS, TEST_CORRECT, TEST_EXAMPLES, TRAIN_CORRECT, TRAIN_EXAMPLES  # noqa: E402
from helpers import N_X, SAMPLES, class_folders, save_png, sigmoid  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import FitFailedWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import catclf  # noqa: E402
from catclf.logistic import optimize  # noqa: E402
from catclf.sklearn import ImagePixels, LogisticRegressionGD  # noqa: E402

GRID = {
    "logisticregressiongd__learning_rate": [0.001, 0.005],
    "logisticregressiongd__l2": [0.0, 1.0],
}


@pytest.fixture(scope="module")
def course():
    return catclf.load_data()


# scikit-learn's own checks


@parametrize_with_checks([LogisticRegressionGD(), LogisticRegressionGD(l2=0.5)])
def test_the_classifier_passes_scikit_learns_checks(estimator, check):
    check(estimator)


# ImagePixels reads a list of images, not a matrix of numbers, and says so in its tags as
# scikit-learn's text vectorizers do (two_d_array False, string True): scikit-learn then
# yields none of its checks but the clone, since the others feed the estimator matrices of
# numbers. These are the ones that feed it nothing: the API's rules for parameters, tags,
# repr and inheritance. What the others check with numbers (fit returns self, the same
# output twice, pickling, input left unchanged) is tested below with image paths.
IMAGE_PIXELS_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_no_attributes_set_in_init",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
]


@pytest.mark.parametrize("check", IMAGE_PIXELS_CHECKS)
def test_the_transformer_passes_scikit_learns_checks_that_do_not_feed_it_numbers(check):
    getattr(estimator_checks, check)("ImagePixels", ImagePixels())


def test_the_transformer_declares_a_list_of_things_to_read_as_its_input():
    tags = ImagePixels().__sklearn_tags__()
    assert not tags.input_tags.two_d_array
    assert tags.input_tags.string
    assert not tags.requires_fit
    assert not LogisticRegressionGD().__sklearn_tags__().classifier_tags.multi_class


# The course's numbers


def test_the_classifier_takes_the_steps_catclf_train_takes(course):
    train_set, test_set = course
    model = catclf.train(train_set)
    clf = LogisticRegressionGD().fit(train_set.X.T, train_set.labels)
    assert clf.costs_.shape == (20,)
    np.testing.assert_allclose(clf.costs_, model.costs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clf.coef_, model.w.T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clf.intercept_, [model.b], rtol=0, atol=1e-9)
    # and so the course's published figures
    np.testing.assert_allclose(clf.costs_, COSTS, atol=5e-7)
    assert clf.score(train_set.X.T, train_set.labels) == TRAIN_CORRECT / TRAIN_EXAMPLES
    assert clf.score(test_set.X.T, test_set.labels) == TEST_CORRECT / TEST_EXAMPLES
    assert list(clf.classes_) == [0, 1]
    assert clf.n_features_in_ == N_X and clf.n_iter_ == 2000


def test_predictions_are_sigmoid_of_x_w_plus_b_worked_out_with_numpy(course):
    train_set, test_set = course
    clf = LogisticRegressionGD(num_iterations=300).fit(train_set.X.T, train_set.labels)
    X = test_set.images.reshape(test_set.m, -1) / 255.0
    w, b = clf.coef_.reshape(-1), float(clf.intercept_[0])
    p = sigmoid(X @ w + b)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], p, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(clf.decision_function(X), X @ w + b, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), (p > 0.5).astype(int))


@pytest.mark.parametrize(
    ("m", "n_features", "l2"),
    [(300, 5, 0.0), (300, 5, 0.7), (20, 100, 0.0), (20, 100, 0.7)],
    ids=["primal", "primal-l2", "gram", "gram-l2"],
)
def test_each_solver_gives_what_the_courses_own_loop_gives(m, n_features, l2):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(m, n_features))
    y = (X[:, 0] + 0.5 * rng.normal(size=m) > 0).astype(int)
    params, _, costs = optimize(
        np.zeros((n_features, 1)), 0.0, X.T, y.reshape(1, -1), 250, 0.1, lambd=l2
    )
    clf = LogisticRegressionGD(learning_rate=0.1, num_iterations=250, l2=l2).fit(X, y)
    np.testing.assert_allclose(clf.costs_, costs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clf.coef_, params["w"].T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clf.intercept_, [params["b"]], rtol=0, atol=1e-9)
    assert len(clf.costs_) == 3  # iterations 0, 100 and 200


def test_any_two_labels_the_second_in_sorted_order_being_the_positive_one():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    cat = X[:, 1] > 0
    params, _, _ = optimize(np.zeros((3, 1)), 0.0, X.T, (~cat).reshape(1, -1), 100, 0.5)
    clf = LogisticRegressionGD(learning_rate=0.5, num_iterations=100)
    clf.fit(X, np.where(cat, "cat", "non-cat"))
    assert list(clf.classes_) == ["cat", "non-cat"]
    np.testing.assert_allclose(clf.coef_, params["w"].T, rtol=0, atol=1e-9)
    assert list(clf.predict(X[:4])) == ["cat" if c else "non-cat" for c in cat[:4]]


def test_the_repr_is_one_line_of_the_parameters_changed():
    assert repr(LogisticRegressionGD()) == "LogisticRegressionGD()"
    assert repr(LogisticRegressionGD(learning_rate=0.01, l2=2.0)) == (
        "LogisticRegressionGD(l2=2.0, learning_rate=0.01)"
    )
    assert repr(ImagePixels(jobs=2)) == "ImagePixels(jobs=2)"


# Images as catclf reads them


def test_a_64x64_png_gives_its_own_pixels_divided_by_255(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = save_png(tmp_path / "a.png", pixels)
    rows = ImagePixels().fit_transform([path, str(path)])
    assert rows.shape == (2, N_X) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows[0], pixels.reshape(-1) / 255)
    np.testing.assert_array_equal(rows[1], rows[0])


def test_photos_give_the_rows_of_the_data_set_catclf_reads_from_them(tmp_path):
    data = photo_folders(tmp_path)
    (train_set, _) = catclf.load_data(data)
    rows = ImagePixels().transform(train_set.sources)
    np.testing.assert_array_equal(rows, train_set.X.T)


def photo_folders(root):
    """root/cat and root/other: copies of the sample photos, 2 cats and 5 others."""
    for photo in sorted(SAMPLES.glob("*.*")):
        if photo.suffix in (".png", ".jpg"):
            folder = root / ("cat" if photo.name.startswith("cat") else "other")
            folder.mkdir(exist_ok=True)
            shutil.copy(photo, folder / photo.name)
    return root


def saved(im, path, **options):
    im.save(path, **options)
    return path


def pictures(tmp_path):
    """(path, PIL image opened from it): images of the modes photos decode to."""
    rng = np.random.default_rng(6)
    rgb = Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (70, 50, 4), dtype=np.uint8))
    keyed = rgb.convert("P")
    keyed.info["transparency"] = int(np.bincount(np.asarray(keyed).ravel()).argmax())
    wide = Image.fromarray(rng.integers(0, 65536, (40, 90), dtype=np.uint16))
    floats = Image.fromarray(rng.uniform(-3, 9, (66, 30)).astype(np.float32))
    turned = rgb.copy()
    turned.getexif()[0x0112] = 6  # EXIF orientation: turn a quarter clockwise
    paths = [
        saved(rgb, tmp_path / "rgb.png"),
        saved(rgba, tmp_path / "rgba.png"),
        saved(rgba.convert("LA"), tmp_path / "la.png"),
        saved(keyed, tmp_path / "keyed.png"),
        saved(rgb.convert("L"), tmp_path / "gray.png"),
        saved(rgb.convert("1"), tmp_path / "bilevel.png"),
        saved(wide, tmp_path / "16bit.png"),
        saved(floats, tmp_path / "float.tif"),
        saved(rgb.convert("CMYK"), tmp_path / "cmyk.tif"),
        saved(rgb, tmp_path / "photo.jpg", quality=90),
        saved(turned, tmp_path / "turned.jpg", exif=turned.getexif()),
    ]
    return paths


def test_a_pil_image_gives_what_the_file_it_was_opened_from_gives(tmp_path):
    paths = pictures(tmp_path)
    opened = [Image.open(p) for p in paths]
    assert {im.mode for im in opened} >= {"RGB", "RGBA", "LA", "P", "L", "1", "F", "CMYK"}
    from_files = ImagePixels().transform(paths)
    from_images = ImagePixels().transform(opened)
    for path, a, b in zip(paths, from_files, from_images, strict=True):
        np.testing.assert_array_equal(b, a, err_msg=path.name)


def test_a_pil_image_is_turned_upright_and_its_transparency_is_white():
    top_red = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    top_red.paste((255, 0, 0, 255), (0, 0, 64, 1))
    top_red.getexif()[0x0112] = 3  # upside down: the red row belongs at the bottom
    clear = Image.new("RGBA", (64, 64), (10, 20, 30, 0))
    turned, white = ImagePixels().transform([top_red, clear]).reshape(2, 64, 64, 3)
    assert (turned[63] == [1.0, 0.0, 0.0]).all() and (turned[:63] == 0.0).all()
    assert (white == 1.0).all()


def test_decoding_in_two_processes_gives_what_one_gives(tmp_path):
    class_folders(tmp_path, per_class=8)  # 16 images: two processes' worth
    paths = sorted(tmp_path.glob("*/*.png"))
    np.testing.assert_array_equal(
        ImagePixels(jobs=2).transform(paths), ImagePixels().transform(paths)
    )


def test_the_transformer_is_stateless_and_leaves_its_input_alone(tmp_path):
    paths = [str(p) for p in sorted(photo_folders(tmp_path).glob("*/*"))]
    given = list(paths)
    transformer = ImagePixels()
    assert transformer.fit(paths) is transformer
    assert vars(transformer) == {"jobs": 1}  # fit learned nothing
    first = transformer.transform(paths)
    np.testing.assert_array_equal(clone(transformer).transform(paths[::-1]), first[::-1])
    np.testing.assert_array_equal(transformer.transform(paths[2:4]), first[2:4])
    assert paths == given


# Pipelines of photo paths


def test_a_pipeline_of_sample_photos_scores_each_fold_as_catclf_train_does(tmp_path):
    train_set, _ = catclf.load_data(photo_folders(tmp_path))
    paths, labels = train_set.sources, train_set.labels
    assert list(labels).count(1) == 2 and len(labels) == 7
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    pipe = make_pipeline(ImagePixels(), LogisticRegressionGD())
    scores = cross_val_score(pipe, paths, labels, cv=folds, error_score="raise")
    expected = []
    for fit_on, judge_on in folds.split(paths, labels):
        model = catclf.train(train_set.subset(fit_on, "fold"))
        judged = train_set.subset(judge_on, "held out")
        predicted = model.predict_proba_X(judged.X) > 0.5
        expected.append(np.mean(predicted == judged.labels))
    np.testing.assert_array_equal(scores, expected)


def test_a_grid_search_over_sample_photos_picks_from_the_grid_and_predicts_paths(tmp_path):
    train_set, _ = catclf.load_data(photo_folders(tmp_path))
    paths, labels = train_set.sources, train_set.labels
    pipe = make_pipeline(ImagePixels(), LogisticRegressionGD())
    search = GridSearchCV(pipe, GRID, cv=2, error_score="raise").fit(paths, labels)
    assert len(search.cv_results_["params"]) == 4
    assert all(0 <= s <= 1 for s in search.cv_results_["mean_test_score"])
    assert search.best_params_ in search.cv_results_["params"]
    assert search.best_estimator_.predict(paths).shape == (7,)


def test_generated_cats_are_told_from_others_in_every_fold_and_by_the_best_of_a_grid(tmp_path):
    class_folders(tmp_path / "train", per_class=9, seed=1)
    class_folders(tmp_path / "new", per_class=3, seed=2)
    paths = sorted(tmp_path.glob("train/*/*.png"))
    labels = ["cat" if p.parent.name == "cat" else "other" for p in paths]
    pipe = make_pipeline(ImagePixels(), LogisticRegressionGD())
    scores = cross_val_score(pipe, paths, labels, cv=3, error_score="raise")
    np.testing.assert_array_equal(scores, [1.0, 1.0, 1.0])
    search = GridSearchCV(pipe, GRID, cv=3, error_score="raise").fit(paths, labels)
    assert search.best_score_ == 1.0
    new = sorted(tmp_path.glob("new/*/*.png"))
    images = [Image.open(p) for p in new]
    expected = ["cat" if p.parent.name == "cat" else "other" for p in new]
    assert list(search.predict(new)) == expected
    assert list(search.predict(images)) == expected


# Misuse


@pytest.fixture
def small():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 4))
    return X, (X[:, 0] > 0).astype(int)


def test_three_classes_are_refused(small):
    X, y = small
    with pytest.raises(ValueError, match="Only binary classification is supported.*3 classes"):
        LogisticRegressionGD().fit(X, y + (X[:, 1] > 0))


def test_one_class_is_refused(small):
    X, _ = small
    with pytest.raises(ValueError, match=r"y holds one class \('cat'\), expected two"):
        LogisticRegressionGD().fit(X, ["cat"] * len(X))


@pytest.mark.parametrize(("bad", "says"), [(math.nan, "NaN"), (math.inf, "infinity")])
def test_nan_and_infinity_are_refused(small, bad, says):
    X, y = small
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match=says):
        LogisticRegressionGD().fit(X, y)
    fitted = LogisticRegressionGD(num_iterations=10).fit(small[0], y)
    with pytest.raises(ValueError, match=says):
        fitted.predict(X)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("learning_rate", -1), ("learning_rate", math.nan), ("num_iterations", 0), ("l2", -0.5)],
)
def test_a_bad_parameter_is_a_catclf_parameter_error_and_a_value_error(small, parameter, value):
    X, y = small
    clf = LogisticRegressionGD(**{parameter: value})  # accepted here, refused by fit
    with pytest.raises(catclf.ParameterError) as caught:
        clf.fit(X, y)
    assert isinstance(caught.value, ValueError)
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value) and str(value) in str(caught.value)


def test_a_learning_rate_that_diverges_says_so_without_a_warning(small):
    X, y = small
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(catclf.TrainingDiverged, match="learning_rate 1e\\+300.*smaller"):
            LogisticRegressionGD(learning_rate=1e300).fit(X * 1e10, y)


def test_predicting_before_fitting_or_with_other_features_is_refused(small):
    X, y = small
    with pytest.raises(NotFittedError):
        LogisticRegressionGD().predict(X)
    fitted = LogisticRegressionGD(num_iterations=10).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
        fitted.predict_proba(X[:, :3])


def test_an_unreadable_image_is_an_image_error_that_names_it(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a JPEG at all")
    good = save_png(tmp_path / "good.png", np.zeros((64, 64, 3)))
    with pytest.raises(catclf.ImageError, match=f"^{re.escape(str(broken))}: not an image"):
        ImagePixels().transform([good, broken])
    with pytest.raises(
        catclf.ImageError, match=f"^{re.escape(str(tmp_path / 'gone.png'))}: no such file"
    ):
        ImagePixels().transform([tmp_path / "gone.png"])


def test_an_unreadable_image_in_cross_validation_raises_or_scores_nan(tmp_path):
    class_folders(tmp_path, per_class=4)
    paths = sorted(tmp_path.glob("*/*.png"))
    labels = [p.parent.name for p in paths]
    broken = tmp_path / "cat" / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    paths[0] = broken
    pipe = make_pipeline(ImagePixels(), LogisticRegressionGD(num_iterations=50))
    with pytest.raises(catclf.ImageError, match=f"^{re.escape(str(broken))}: not an image"):
        cross_val_score(pipe, paths, labels, cv=2, error_score="raise")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(pipe, paths, labels, cv=2)
    # The fold that trains on the broken image fails, and the one that scores it: scikit-learn
    # warns of each, with catclf's message, and gives each fold the error_score, nan.
    assert np.isnan(scores).all()
    kinds = {type(w.message): str(w.message) for w in caught}
    assert f"{broken}: not an image" in kinds[FitFailedWarning]
    assert f"{broken}: not an image" in kinds[UserWarning]


@pytest.mark.parametrize(
    ("X", "says"),
    [
        ("photo.png", r"X is one image \(str\), expected a list of images"),
        (np.array([["a.png", "b.png"]]), r"X has shape \(1, 2\), expected a 1-d list"),
        (42, "X is of type int, expected a list of images"),
    ],
)
def test_what_is_not_a_list_of_images_is_refused(X, says):
    with pytest.raises(ValueError, match=says):
        ImagePixels().fit_transform(X)


def test_an_item_that_is_not_an_image_is_an_image_error_naming_its_place():
    with pytest.raises(catclf.ImageError, match=r"^X\[1\]: of type int, expected a path"):
        ImagePixels().transform([SAMPLES / "cat_chelsea.png", 7])
    with pytest.raises(catclf.ParameterError, match="jobs"):
        ImagePixels(jobs=0).transform([SAMPLES / "cat_chelsea.png"])


# Imports


def test_importing_catclf_does_not_import_scikit_learn():
    code = "import sys, catclf; catclf.train, catclf.Model; print('sklearn' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout == "False\n", run.stderr


def test_without_scikit_learn_the_import_error_says_what_to_install():
    code = "import sys; sys.modules['sklearn'] = None; import catclf.sklearn"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "ImportError: catclf.sklearn needs scikit-learn 1.6 or later" in run.stderr
    assert "pip install 'catclf[sklearn]'" in run.stderr
