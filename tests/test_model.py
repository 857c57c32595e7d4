"""The model file: a save / load round trip, atomic writes, and loading that refuses bad files.

Files to refuse are written with h5py directly, following the layout the README documents,
so that the checks do not depend on catclf's own writer.
"""

import io
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from hand_made import write_model_file
from PIL import Image

from catclf import model
from catclf.errors import ModelError
from catclf.model import Model, Settings

N_X = 64 * 64 * 3


def make_model(*, b=-0.25, test_accuracy=0.6, seed=0, solver="gram"):
    rng = np.random.default_rng(seed)
    return Model(
        w=rng.normal(scale=0.01, size=(N_X, 1)),
        b=b,
        settings=Settings(learning_rate=0.01, num_iterations=300),
        costs=(math.log(2), 0.51, 0.42),
        final_cost=0.4,
        classes=("dog", "cat"),
        train_examples=10,
        train_accuracy=0.9,
        test_examples=0 if test_accuracy is None else 5,
        test_accuracy=test_accuracy,
        train_data="somewhere/train",
        created="2024-01-02T03:04:05+00:00",
        solver=solver,
    )


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


# Round trip


@pytest.mark.parametrize("test_accuracy", [0.6, None])
def test_save_then_load_keeps_everything(tmp_path, test_accuracy):
    original = make_model(test_accuracy=test_accuracy)
    path = tmp_path / "model.h5"
    model.save(original, path)
    loaded = model.load(path)

    np.testing.assert_array_equal(loaded.w, original.w)
    assert loaded.w.shape == (N_X, 1)
    assert loaded.b == original.b
    assert loaded.costs == original.costs
    assert loaded.settings == Settings(learning_rate=0.01, num_iterations=300)
    assert loaded.classes == ("dog", "cat")
    assert loaded.final_cost == original.final_cost
    assert (loaded.train_examples, loaded.train_accuracy) == (10, 0.9)
    assert loaded.test_accuracy == test_accuracy
    assert loaded.test_examples == original.test_examples
    assert loaded.train_data == "somewhere/train"
    assert loaded.created == original.created
    assert loaded.preprocessing == original.preprocessing
    assert loaded.solver == "gram"


def test_saved_file_has_the_documented_layout(tmp_path):
    path = tmp_path / "model.h5"
    model.save(make_model(test_accuracy=None), path)
    with h5py.File(path, "r") as f:
        assert f["w"].shape == (N_X, 1) and f["w"].dtype == np.float64
        assert f["b"].shape == ()
        assert f["costs"].shape == (3,)
        assert f.attrs["format"] == "catclf-logistic-regression"
        assert f.attrs["format_version"] == 1
        assert (f.attrs["image_size"], f.attrs["channels"]) == (64, 3)
        assert list(f.attrs["classes"]) == ["dog", "cat"]
        assert math.isnan(f.attrs["test_accuracy"])  # no test set


def test_loads_a_file_written_by_hand_in_the_documented_layout(tmp_path):
    path = write_model_file(tmp_path / "hand.h5", b=np.float64(1.5), attrs={"test_accuracy": 0.7})
    loaded = model.load(path)
    assert loaded.b == 1.5
    assert loaded.test_accuracy == 0.7
    assert loaded.settings == Settings(learning_rate=0.005, num_iterations=2000)
    assert loaded.classes == ("non-cat", "cat")
    assert loaded.solver == ""  # files written before the attribute existed lack it


def test_the_solver_attribute_is_written_only_when_known(tmp_path):
    model.save(make_model(solver="primal"), tmp_path / "a.h5")
    model.save(make_model(solver=""), tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5", "r") as f, h5py.File(tmp_path / "b.h5", "r") as g:
        assert f.attrs["solver"] == "primal"
        assert "solver" not in g.attrs


def test_probabilities_are_the_sigmoid_of_w_x_plus_b():
    m = make_model(b=0.3)
    X = np.random.default_rng(1).random((N_X, 4))
    expected = 1 / (1 + np.exp(-(m.w[:, 0] @ X + 0.3)))
    np.testing.assert_allclose(m.probabilities(X), expected, rtol=1e-12)


# Atomic writes


def test_save_leaves_only_the_model_file(tmp_path):
    model.save(make_model(), tmp_path / "model.h5")
    model.save(make_model(b=2.0), tmp_path / "model.h5")
    assert files_in(tmp_path) == ["model.h5"]
    assert model.load(tmp_path / "model.h5").b == 2.0


@pytest.mark.parametrize(
    "target",
    ["missing/model.h5", "a-file/model.h5"],
    ids=["missing folder", "parent is a file"],
)
def test_save_into_a_folder_that_cannot_hold_it_is_a_model_error(tmp_path, target):
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / target
    with pytest.raises(ModelError, match="model.h5"):
        model.save(make_model(), path)
    assert files_in(tmp_path) == ["a-file"]


def test_save_onto_a_folder_is_a_model_error_and_leaves_it(tmp_path):
    (tmp_path / "model.h5").mkdir()
    with pytest.raises(ModelError, match="model.h5"):
        model.save(make_model(), tmp_path / "model.h5")
    assert (tmp_path / "model.h5").is_dir()
    assert files_in(tmp_path) == ["model.h5"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(28, "No space left on device"), ModelError),
        (RuntimeError("Can't write data"), ModelError),
        (KeyboardInterrupt(), KeyboardInterrupt),
        (ZeroDivisionError("a bug"), ZeroDivisionError),
    ],
    ids=["disk full", "h5py write error", "Ctrl-C", "unexpected"],
)
def test_a_failed_write_leaves_the_old_model_and_no_temporary_file(
    tmp_path, monkeypatch, failure, expected
):
    path = tmp_path / "model.h5"
    model.save(make_model(), path)
    before = path.read_bytes()
    real_write = model._write

    def half_write(m, tmp):
        real_write(m, tmp)
        with open(tmp, "r+b") as f:  # the write got half way
            f.truncate(os.path.getsize(tmp) // 2)
        raise failure

    monkeypatch.setattr(model, "_write", half_write)
    with pytest.raises(expected):
        model.save(make_model(b=9.0), path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["model.h5"]


def test_a_new_model_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        model.save(make_model(), tmp_path / "model.h5")
    finally:
        os.umask(umask)
    # not the 0600 of a temporary file: others may read a model, as any file the user writes
    assert (tmp_path / "model.h5").stat().st_mode & 0o777 == 0o644


def test_replacing_a_model_keeps_its_permissions(tmp_path):
    path = tmp_path / "model.h5"
    model.save(make_model(), path)
    path.chmod(0o640)
    model.save(make_model(b=3.0), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert model.load(path).b == 3.0


RESAVE = """
import sys
from pathlib import Path
from dataclasses import replace
from catclf import model
path = Path(sys.argv[1])
model.save(replace(model.load(path), b=7.0), path)
"""


def test_a_read_only_model_can_be_replaced_like_any_file_in_a_writable_folder(tmp_path):
    # The folder decides, as for mv: the new file is renamed over the old one.
    path = tmp_path / "model.h5"
    model.save(make_model(), path)
    path.chmod(0o444)
    command = [sys.executable, "-c", RESAVE, str(path)]
    if os.geteuid() == 0:
        # root may write any file; drop that power so the test means what it says
        setpriv = shutil.which("setpriv")
        drop = [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else []
        if not drop or subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
            pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE")
        command = [*drop, *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert model.load(path).b == 7.0
    assert path.stat().st_mode & 0o777 == 0o444
    assert files_in(tmp_path) == ["model.h5"]


# Loading refuses what is not a good model, and says which file and why


def png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


def real_model_bytes(tmp_path):
    path = tmp_path / "good.h5"
    model.save(make_model(), path)
    return path.read_bytes()


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.h5.*no such"):
        model.load(tmp_path / "nope.h5")


def test_a_folder(tmp_path):
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(ModelError, match=r"dir\.h5.*not a file"):
        model.load(tmp_path / "dir.h5")


@pytest.mark.parametrize(
    "content",
    [
        lambda tmp: b"",
        lambda tmp: real_model_bytes(tmp)[: len(real_model_bytes(tmp)) // 2],
        lambda tmp: real_model_bytes(tmp)[:-1],
        lambda tmp: b"w = [0.1, 0.2]\nb = 0.5\n",
        lambda tmp: png_bytes(),
    ],
    ids=["empty", "cut in half", "last byte missing", "text", "png"],
)
def test_not_an_hdf5_file(tmp_path, content):
    path = tmp_path / "bad.h5"
    path.write_bytes(content(tmp_path))
    with pytest.raises(ModelError, match=r"bad\.h5.*HDF5") as caught:
        model.load(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ({"drop": ("format",)}, "not a catclf model"),
        ({"attrs": {"format": "keras"}}, "not a catclf model"),
        ({"attrs": {"format_version": 2}}, r"version 2.*upgrade"),
        ({"drop": ("format_version",)}, "format_version"),
        ({"attrs": {"image_size": 128}}, "128x128"),
        ({"attrs": {"channels": 1}}, "64x64x1"),
        ({"w": np.zeros((N_X,))}, r"'w'.*shape"),
        ({"w": np.zeros((64 * 64, 1))}, r"'w'.*shape"),
        ({"w": np.zeros((N_X, 2))}, r"'w'.*shape"),
        ({"w": np.full((N_X, 1), np.nan)}, r"'w'.*NaN"),
        ({"w": np.full((N_X, 1), np.inf)}, r"'w'.*infinite"),
        ({"w": np.zeros((N_X, 1), dtype=np.int64)}, r"'w'.*dtype"),
        ({"drop": ("w",)}, r"no dataset 'w'"),
        ({"drop": ("b",)}, r"no dataset 'b'"),
        ({"b": np.float64(np.nan)}, r"'b'.*NaN"),
        ({"attrs": {"classes": ["cat"]}}, "classes"),
        ({"drop": ("learning_rate",)}, "learning_rate"),
        ({"attrs": {"l2": -0.5}}, r"'l2' is -0.5, expected a number >= 0"),
        ({"attrs": {"l2": math.nan}}, r"'l2' is nan"),
        ({"attrs": {"l2": math.inf}}, r"'l2' is inf"),
        ({"attrs": {"l2": "strong"}}, r"'l2' is .*strong.*expected a number"),
        ({"attrs": {"validation_examples": -3}}, r"'validation_examples' is -3"),
        ({"attrs": {"validation_examples": 2.5}}, r"'validation_examples' is 2.5"),
        ({"attrs": {"validation_examples": math.inf}}, r"'validation_examples' is inf"),
        ({"attrs": {"validation_accuracy": "high"}}, r"'validation_accuracy' is .*high"),
    ],
)
def test_refuses_a_damaged_model(tmp_path, damage, reason):
    path = write_model_file(tmp_path / "damaged.h5", **damage)
    with pytest.raises(ModelError, match=rf"damaged\.h5: .*{reason}") as caught:
        model.load(path)
    assert "\n" not in str(caught.value)


def test_the_bundled_model_describes_the_preprocessing_of_this_catclf() -> None:
    from catclf.images import PREPROCESSING

    bundled = model.load(model.BUNDLED_PATH)
    assert bundled.preprocessing == PREPROCESSING
    assert "JPEG decoded at reduced scale" in bundled.preprocessing


@pytest.mark.parametrize("memory_limit", [1, None])
def test_probabilities_of_a_data_set_in_blocks_are_those_of_its_whole_x(tmp_path, memory_limit):
    from catclf.datasets import read_hdf5

    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "set.h5", "w") as f:
        f.create_dataset("train_set_x", data=x, chunks=(2, 64, 64, 3))
        f.create_dataset("train_set_y", data=np.array([1, 0, 1, 0, 0]))
    data = read_hdf5(tmp_path / "set.h5", memory_limit=memory_limit)
    m = make_model(b=-0.3)
    w = m.w
    # The course's sigmoid(w^T X + b), X the (12288, m) columns of the images over 255.
    X = x.reshape(5, -1).T / 255
    expected = 1 / (1 + np.exp(-(w.T @ X - 0.3)))
    np.testing.assert_allclose(m.probabilities_of(data, columns=2), expected[0], rtol=1e-12)


# L2 penalty and validation figures: written always, optional on reading.


def test_l2_and_validation_figures_survive_a_round_trip(tmp_path):
    from dataclasses import replace

    original = replace(
        make_model(),
        settings=Settings(learning_rate=0.01, num_iterations=300, l2=0.7),
        validation_examples=41,
        validation_accuracy=24 / 41,
        validation_cost=0.96,
    )
    model.save(original, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["l2"] == 0.7
        assert f.attrs["validation_examples"] == 41
        assert (f.attrs["validation_accuracy"], f.attrs["validation_cost"]) == (24 / 41, 0.96)
    loaded = model.load(tmp_path / "m.h5")
    assert loaded.settings == Settings(learning_rate=0.01, num_iterations=300, l2=0.7)
    assert (loaded.validation_examples, loaded.validation_accuracy, loaded.validation_cost) == (
        41,
        24 / 41,
        0.96,
    )
    d = loaded.as_dict()
    assert (d["l2"], d["validation_examples"], d["validation_accuracy"]) == (0.7, 41, 24 / 41)
    assert d["validation_cost"] == 0.96


def test_without_a_validation_part_the_file_says_nan_and_the_model_none(tmp_path):
    model.save(make_model(), tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["l2"] == 0.0 and f.attrs["validation_examples"] == 0
        assert math.isnan(f.attrs["validation_accuracy"]) and math.isnan(f.attrs["validation_cost"])
    loaded = model.load(tmp_path / "m.h5")
    assert (loaded.validation_examples, loaded.validation_accuracy) == (0, None)
    assert loaded.validation_cost is None
    d = loaded.as_dict()
    assert (d["l2"], d["validation_accuracy"], d["validation_cost"]) == (0.0, None, None)


def test_a_file_older_than_l2_and_validation_loads_with_their_defaults(tmp_path):
    path = write_model_file(tmp_path / "old.h5")  # the layout before these attributes
    with h5py.File(path, "r") as f:
        assert not {"l2", "validation_examples", "validation_accuracy"} & set(f.attrs)
    loaded = model.load(path)
    assert loaded.settings.l2 == 0.0
    assert (loaded.validation_examples, loaded.validation_accuracy) == (0, None)
    assert loaded.validation_cost is None


def test_the_bundled_model_was_trained_without_a_penalty():
    assert model.load(model.BUNDLED_PATH).settings.l2 == 0.0
