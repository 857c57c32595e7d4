"""The model file: a save / load round trip, atomic writes, and loading that refuses bad files.

Files to refuse are written with h5py directly, following the layout the README documents,
so that the checks do not depend on catclf's own writer.
"""

import io
import math
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from course import LEARNING_RATE, NUM_ITERATIONS
from helpers import N_X, invoke, without_root_powers, write_model_file
from occupants import FOREIGN, SPECIAL, is_special, make_foreign, make_special
from PIL import Image

from catclf import model, modelfile
from catclf.errors import ModelError
from catclf.model import Model, Settings


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
    model.save_model(original, path)
    loaded = model.load_model(path)

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
    model.save_model(make_model(test_accuracy=None), path)
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
    loaded = model.load_model(path)
    assert loaded.b == 1.5
    assert loaded.test_accuracy == 0.7
    assert loaded.settings == Settings(learning_rate=LEARNING_RATE, num_iterations=NUM_ITERATIONS)
    assert loaded.classes == ("non-cat", "cat")
    assert loaded.solver == ""  # files written before the attribute existed lack it


def test_the_solver_attribute_is_written_only_when_known(tmp_path):
    model.save_model(make_model(solver="primal"), tmp_path / "a.h5")
    model.save_model(make_model(solver=""), tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5", "r") as f, h5py.File(tmp_path / "b.h5", "r") as g:
        assert f.attrs["solver"] == "primal"
        assert "solver" not in g.attrs


def test_probabilities_are_the_sigmoid_of_w_x_plus_b():
    m = make_model(b=0.3)
    X = np.random.default_rng(1).random((N_X, 4))
    expected = 1 / (1 + np.exp(-(m.w[:, 0] @ X + 0.3)))
    np.testing.assert_allclose(m.predict_proba_X(X), expected, rtol=1e-12)


# Atomic writes


def test_save_leaves_only_the_model_file(tmp_path):
    model.save_model(make_model(), tmp_path / "model.h5")
    model.save_model(make_model(b=2.0), tmp_path / "model.h5")
    assert files_in(tmp_path) == ["model.h5"]
    assert model.load_model(tmp_path / "model.h5").b == 2.0


@pytest.mark.parametrize(
    "target",
    ["missing/model.h5", "a-file/model.h5"],
    ids=["missing folder", "parent is a file"],
)
def test_save_into_a_folder_that_cannot_hold_it_is_a_model_error(tmp_path, target):
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / target
    with pytest.raises(ModelError, match="model.h5"):
        model.save_model(make_model(), path)
    assert files_in(tmp_path) == ["a-file"]


def test_save_onto_a_folder_is_a_model_error_and_leaves_it(tmp_path):
    (tmp_path / "model.h5").mkdir()
    with pytest.raises(ModelError, match="model.h5"):
        model.save_model(make_model(), tmp_path / "model.h5")
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
    model.save_model(make_model(), path)
    before = path.read_bytes()
    real_write = modelfile._write

    def half_write(m, tmp):
        real_write(m, tmp)
        with open(tmp, "r+b") as f:  # the write got half way
            f.truncate(os.path.getsize(tmp) // 2)
        raise failure

    monkeypatch.setattr(modelfile, "_write", half_write)
    with pytest.raises(expected):
        model.save_model(make_model(b=9.0), path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["model.h5"]


def test_a_new_model_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        model.save_model(make_model(), tmp_path / "model.h5")
    finally:
        os.umask(umask)
    # not the 0600 of a temporary file: others may read a model, as any file the user writes
    assert (tmp_path / "model.h5").stat().st_mode & 0o777 == 0o644


def test_replacing_a_model_keeps_its_permissions(tmp_path):
    path = tmp_path / "model.h5"
    model.save_model(make_model(), path)
    path.chmod(0o640)
    model.save_model(make_model(b=3.0), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert model.load_model(path).b == 3.0


RESAVE = """
import sys
from pathlib import Path
from dataclasses import replace
from catclf import model
path = Path(sys.argv[1])
model.save_model(replace(model.load_model(path), b=7.0), path)
"""


def test_a_read_only_model_can_be_replaced_like_any_file_in_a_writable_folder(tmp_path):
    # The folder decides, as for mv: the new file is renamed over the old one.
    path = tmp_path / "model.h5"
    model.save_model(make_model(), path)
    path.chmod(0o444)
    # root may write any file; without that power the test means what it says
    command = [*without_root_powers(), sys.executable, "-c", RESAVE, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert model.load_model(path).b == 7.0
    assert path.stat().st_mode & 0o777 == 0o444
    assert files_in(tmp_path) == ["model.h5"]


# Loading refuses what is not a good model, and says which file and why


def png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


def real_model_bytes(tmp_path):
    path = tmp_path / "good.h5"
    model.save_model(make_model(), path)
    return path.read_bytes()


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.h5.*no such"):
        model.load_model(tmp_path / "nope.h5")


def test_a_folder(tmp_path):
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(ModelError, match=r"dir\.h5.*not a file"):
        model.load_model(tmp_path / "dir.h5")


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
        model.load_model(path)
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
        model.load_model(path)
    assert "\n" not in str(caught.value)


def test_the_bundled_model_describes_the_preprocessing_of_this_catclf() -> None:
    from catclf.images import PREPROCESSING

    bundled = model.load_model(modelfile.BUNDLED_PATH)
    assert bundled.preprocessing == PREPROCESSING
    assert "JPEG decoded at reduced scale" in bundled.preprocessing


@pytest.mark.parametrize("memory_limit", [1, None])
def test_probabilities_of_a_data_set_in_blocks_are_those_of_its_whole_x(tmp_path, memory_limit):
    from catclf.coursefiles import read_hdf5

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
    model.save_model(original, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["l2"] == 0.7
        assert f.attrs["validation_examples"] == 41
        assert (f.attrs["validation_accuracy"], f.attrs["validation_cost"]) == (24 / 41, 0.96)
    loaded = model.load_model(tmp_path / "m.h5")
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
    model.save_model(make_model(), tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["l2"] == 0.0 and f.attrs["validation_examples"] == 0
        assert math.isnan(f.attrs["validation_accuracy"]) and math.isnan(f.attrs["validation_cost"])
    loaded = model.load_model(tmp_path / "m.h5")
    assert (loaded.validation_examples, loaded.validation_accuracy) == (0, None)
    assert loaded.validation_cost is None
    d = loaded.as_dict()
    assert (d["l2"], d["validation_accuracy"], d["validation_cost"]) == (0.0, None, None)


def test_a_file_older_than_l2_and_validation_loads_with_their_defaults(tmp_path):
    path = write_model_file(tmp_path / "old.h5")  # the layout before these attributes
    with h5py.File(path, "r") as f:
        assert not {"l2", "validation_examples", "validation_accuracy"} & set(f.attrs)
    loaded = model.load_model(path)
    assert loaded.settings.l2 == 0.0
    assert (loaded.validation_examples, loaded.validation_accuracy) == (0, None)
    assert loaded.validation_cost is None


def test_the_bundled_model_was_trained_without_a_penalty():
    assert model.load_model(modelfile.BUNDLED_PATH).settings.l2 == 0.0


# What a model may replace


@pytest.mark.parametrize("kind", FOREIGN)
def test_only_a_catclf_model_is_taken_for_one(tmp_path, kind):
    with open(make_foreign(tmp_path / "file.h5", kind), "rb") as f:
        assert not modelfile.is_model(f)
    model.save_model(make_model(), tmp_path / "saved.h5")
    for path in (tmp_path / "saved.h5", write_model_file(tmp_path / "hand.h5")):
        with open(path, "rb") as f:
            assert modelfile.is_model(f)


def test_a_format_attribute_too_large_to_be_a_name_is_not_read(tmp_path):
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f.attrs["format"] = np.bytes_(b"catclf-logistic-regression".ljust(4096))
    with open(tmp_path / "big.h5", "rb") as f:
        assert not modelfile.is_model(f)


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_save_never_replaces_a_device_fifo_socket_or_folder(tmp_path, kind, force):
    path = make_special(tmp_path / "model.h5", kind)
    with pytest.raises(ModelError, match=f"model.h5: is a {re.escape(SPECIAL[kind])}, not a"):
        model.save_model(make_model(), path, force=force)
    assert is_special(path, kind)
    assert files_in(tmp_path) == ["model.h5"]


@pytest.mark.parametrize("kind", FOREIGN)
def test_save_replaces_another_file_only_with_force(tmp_path, kind):
    path = make_foreign(tmp_path / "model.h5", kind)
    before = path.read_bytes()
    with pytest.raises(ModelError, match="model.h5: is not a catclf model; force=True"):
        model.save_model(make_model(), path)
    assert path.read_bytes() == before
    model.save_model(make_model(b=3.0), path, force=True)
    assert model.load_model(path).b == 3.0


def test_save_through_a_link_replaces_the_model_it_leads_to_and_keeps_the_link(tmp_path):
    (tmp_path / "models").mkdir()
    model.save_model(make_model(b=1.0), tmp_path / "models" / "v3.h5")
    (tmp_path / "model.h5").symlink_to("models/v3.h5")
    assert (
        model.save_model(make_model(b=2.0), tmp_path / "model.h5") == tmp_path / "models" / "v3.h5"
    )
    assert os.readlink(tmp_path / "model.h5") == "models/v3.h5"
    assert model.load_model(tmp_path / "models" / "v3.h5").b == 2.0
    assert files_in(tmp_path) == ["model.h5", "models"]
    assert files_in(tmp_path / "models") == ["v3.h5"]


def test_save_never_writes_through_a_link_to_another_file(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "model.h5").symlink_to("notes.txt")
    with pytest.raises(ModelError, match="is a link to notes.txt, which is not a catclf model"):
        model.save_model(make_model(), tmp_path / "model.h5", force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert os.readlink(tmp_path / "model.h5") == "notes.txt"


def test_a_fifo_put_at_the_path_during_the_write_is_not_replaced(tmp_path, monkeypatch):
    path = tmp_path / "model.h5"
    model.save_model(make_model(), path)
    real_write = modelfile._write

    def meanwhile(m, tmp):
        real_write(m, tmp)
        path.unlink()  # another program puts a FIFO there while the model is written
        os.mkfifo(path)

    monkeypatch.setattr(modelfile, "_write", meanwhile)
    with pytest.raises(ModelError, match="model.h5: is a FIFO"):
        model.save_model(make_model(b=5.0), path)
    assert is_special(path, "fifo")
    assert files_in(tmp_path) == ["model.h5"]


# train -m PATH, run as a user runs it


def course_file(path, m=4):
    """A small training set in the course layout: random pixels, labels 0, 1, 0, 1..."""
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.random.default_rng(3).integers(0, 256, (m, 64, 64, 3), np.uint8)
        f["train_set_y"] = np.arange(m) % 2
    return path


@pytest.mark.parametrize("kind", ["device", "fifo"])  # every kind: in the tests of save
def test_train_refuses_a_special_model_path_before_training(tmp_path, kind):
    course_file(tmp_path / "train.h5")
    make_special(tmp_path / "out", kind)
    result = invoke("train", "train.h5", "-n", "20", "-m", "out", "--force", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    # One line and nothing else: no data was read, no training began.
    assert result.stderr == (
        f"catclf: error: out: is a {SPECIAL[kind]}, not a file; catclf replaces only regular "
        "files\n"
    )
    assert is_special(tmp_path / "out", kind)


@pytest.mark.parametrize(
    ("args", "target"),
    [
        (["train.h5", "-m", "train.h5"], "train.h5"),
        (["train.h5", "--test", "test.h5", "-m", "test.h5"], "test.h5"),
        (["train.h5", "-m", "hard.h5"], "hard.h5"),
        (["course", "-m", "course/test_x.h5"], "course/test_x.h5"),
    ],
    ids=["DATA", "--test", "a hard link to DATA", "a file of a course folder"],
)
def test_train_never_replaces_its_own_input(tmp_path, args, target):
    course_file(tmp_path / "train.h5")
    course_file(tmp_path / "test.h5")
    os.link(tmp_path / "train.h5", tmp_path / "hard.h5")
    (tmp_path / "course").mkdir()
    course_file(tmp_path / "course" / "train_x.h5")
    shutil.copy(tmp_path / "test.h5", tmp_path / "course" / "test_x.h5")
    before = (tmp_path / target).read_bytes()
    result = invoke("train", *args, "-n", "20", "--force", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {target}: is ")
    assert line.endswith(
        "an input of this command; catclf never replaces its input, even when forced"
    )
    assert (tmp_path / target).read_bytes() == before


def test_train_replaces_another_file_only_with_force(tmp_path):
    course_file(tmp_path / "train.h5")
    make_foreign(tmp_path / "model.h5", "other program's HDF5")
    before = (tmp_path / "model.h5").read_bytes()
    result = invoke("train", "train.h5", "-n", "20", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "catclf: error: model.h5: is not a catclf model; use --force to replace it\n"
    )
    assert (tmp_path / "model.h5").read_bytes() == before
    forced = invoke("train", "train.h5", "-n", "20", "--force", "-q", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert model.load_model(tmp_path / "model.h5").train_examples == 4
    again = invoke("train", "train.h5", "-n", "20", "-q", cwd=tmp_path)  # now a model
    assert again.returncode == 0, again.stderr


def test_train_into_its_own_course_folder_replaces_its_model(tmp_path):
    (tmp_path / "course").mkdir()
    course_file(tmp_path / "course" / "train_x.h5")
    for _ in range(2):
        result = invoke("train", ".", "-n", "20", "-q", cwd=tmp_path / "course")
        assert result.returncode == 0, result.stderr
    assert files_in(tmp_path / "course") == ["model.h5", "train_x.h5"]
