"""Model files read from their bytes (`catclf.hdf5lite`) give what h5py gives, or are left to
h5py: for every file catclf writes, for valid files laid out otherwise, for damaged and
hostile ones. The reference is always the h5py path of `catclf.modelfile`."""

import math
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np
import pytest
from helpers import (
    BUNDLED_MODEL,
    SAMPLES,
    class_folders,
    environment,
    probability_by_hand,
    write_model_file,
)
from hostile_hdf5 import build

from catclf import datasets, hdf5, hdf5lite, modelfile, training
from catclf.errors import ModelError
from catclf.model import save_model

CAT = SAMPLES / "cat_chelsea.png"


def h5py_fields(path):
    """The fields of the model at path as the h5py path reads them, its heaps walked first."""
    return modelfile._load_h5py(path, hdf5.check_heaps(path, path, ModelError))


def via_h5py(path):
    """("fields", fields) or ("error", message) of the h5py path."""
    try:
        return "fields", h5py_fields(path)
    except ModelError as e:
        return "error", str(e)


def via_bytes(path):
    """None when the fast reader leaves the file to h5py; else ("fields", fields) or
    ("refused", message) as the checks take what it read."""
    contents = hdf5lite.read(path)
    if contents is None:
        return None
    try:
        return "fields", modelfile._read(modelfile._Read(contents), path)
    except (ModelError, hdf5lite.NotMine) as e:
        return "refused", str(e)


def same(a, b):
    """Equal, type for type and bit for bit (NaN included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def check_agrees(path):
    """The fast reader gives h5py's fields, or leaves the file to h5py (the h5py path is
    only asked then: HDF5 itself can crash on some damaged files)."""
    fast = via_bytes(path)
    if fast is not None and fast[0] == "fields":
        reference = via_h5py(path)
        assert reference[0] == "fields", (path, reference)
        assert same(fast[1], reference[1])
        assert same(modelfile.load(path), reference[1])
    return fast


def old_format(source, target):
    """source written again as files were before mean, solver, l2 and validation existed."""
    newer = {"solver", "l2", "validation_examples", "validation_accuracy", "validation_cost"}
    with h5py.File(source, "r") as s, h5py.File(target, "w") as t:
        for name in ("w", "b", "costs"):
            t.create_dataset(name, data=s[name][()])
        for name, value in s.attrs.items():
            if name not in newer:
                t.attrs[name] = value
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Model files catclf wrote, with each option, and older ones."""
    root = tmp_path_factory.mktemp("corpus")
    plain, _ = datasets.load(class_folders(root / "plain", per_class=6))
    held, _ = datasets.load(class_folders(root / "held", per_class=4, seed=1))
    odd = os.fsdecode(b"chien-\xe9t\xe9")  # a folder name that is not UTF-8
    strange, _ = datasets.load(class_folders(root / "odd", per_class=4, seed=2, names=(odd, "cat")))
    runs = {
        "plain": (plain, None, {}),
        "with a test set": (plain, held, {}),
        "validation": (plain, held, {"validation_fraction": 0.5}),
        "l2": (plain, None, {"l2": 0.7}),
        "primal l2 validation": (
            plain,
            held,
            {"l2": 0.1, "validation_fraction": 0.5, "solver": "primal"},
        ),
        "class names not UTF-8": (strange, None, {}),
    }
    paths = {"bundled": BUNDLED_MODEL}
    for name, (train_set, test_set, options) in runs.items():
        model = training.train(train_set, test_set, num_iterations=120, **options)
        paths[name] = save_model(model, root / f"{name}.h5")
    paths["old"] = old_format(paths["with a test set"], root / "old.h5")
    paths["old, bytes class names"] = old_format(paths["class names not UTF-8"], root / "oldb.h5")
    paths["hand-made"] = write_model_file(root / "hand.h5")
    paths["old trained 2000 iterations"] = old_format(BUNDLED_MODEL, root / "old-bundled.h5")
    return paths


def test_the_corpus_is_what_it_says(corpus):
    fields = {name: h5py_fields(path) for name, path in corpus.items()}
    assert fields["class names not UTF-8"]["classes"] == (os.fsdecode(b"chien-\xe9t\xe9"), "cat")
    with h5py.File(corpus["class names not UTF-8"], "r") as f:
        assert f.attrs["classes"].dtype.kind == "S"  # stored as bytes
        assert isinstance(f.attrs["train_data"], str)
    assert fields["validation"]["validation_examples"] == 6
    assert fields["l2"]["l2"] == 0.7
    assert fields["primal l2 validation"]["solver"] == "primal"
    assert fields["with a test set"]["test_data"] != ""
    assert fields["plain"]["test_data"] == ""
    assert fields["old"]["mean"] is None and fields["old"]["solver"] == ""
    with h5py.File(corpus["old"], "r") as f:
        assert "l2" not in f.attrs and "mean" not in f


@pytest.mark.parametrize(
    "name",
    [
        "bundled",
        "plain",
        "with a test set",
        "validation",
        "l2",
        "primal l2 validation",
        "class names not UTF-8",
        "old",
        "old, bytes class names",
        "hand-made",
        "old trained 2000 iterations",
    ],
)
def test_catclf_files_are_read_from_their_bytes_exactly_as_h5py_reads_them(corpus, name):
    path = corpus[name]
    fast = via_bytes(path)
    assert fast is not None and fast[0] == "fields"  # read fast, not left to h5py
    reference = h5py_fields(path)
    assert same(fast[1], reference)
    assert same(modelfile.load(path), reference)
    # Arrays by hand: w as stored, little-endian float64, at the offset h5py reports.
    with h5py.File(path, "r") as f:
        offset = f["w"].id.get_offset()
    stored = np.frombuffer(path.read_bytes()[offset : offset + 8 * 12288], "<f8")
    assert fast[1]["w"].reshape(-1).tobytes() == stored.tobytes()


# Valid model files that h5py reads, laid out otherwise: h5py reads them.


def rewritten(source, target, *, libver=None, w_options=None, extra=None):
    with h5py.File(source, "r") as s, h5py.File(target, "w", libver=libver) as t:
        for name in s:
            options = w_options if name == "w" and w_options else {}
            t.create_dataset(name, data=s[name][()], **options)
        for name, value in s.attrs.items():
            t.attrs[name] = value
        if extra:
            extra(t)
    return target


@pytest.mark.parametrize(
    "how",
    [
        {"libver": "latest"},
        {"w_options": {"chunks": (1024, 1)}},
        {"w_options": {"compression": "gzip"}},
        {"w_options": {"dtype": "<f4"}},
        {"w_options": {"dtype": ">f8"}},
        {"extra": lambda t: t.__setitem__("z", h5py.SoftLink("/w"))},
        {"extra": lambda t: t.create_group("notes")},
        {"extra": lambda t: t["w"].attrs.__setitem__("unit", "logit")},
    ],
    ids=["latest", "chunked", "gzip", "float32", "big-endian", "soft link", "group", "w attr"],
)
def test_other_layouts_are_left_to_h5py_and_load_as_before(corpus, tmp_path, how):
    path = rewritten(corpus["with a test set"], tmp_path / "other.h5", **how)
    assert hdf5lite.read(path) is None
    reference = h5py_fields(corpus["with a test set"])
    loaded = modelfile.load(path)
    # float32 keeps what float32 can; everything else is the same model.
    if how.get("w_options", {}).get("dtype") == "<f4":
        reference["w"] = reference["w"].astype("<f4").astype(np.float64)
    assert same(loaded, reference)


def test_a_file_larger_than_the_limit_or_not_regular_is_left_to_h5py(corpus, tmp_path):
    big = tmp_path / "big.h5"
    shutil.copy(corpus["bundled"], big)
    with open(big, "ab") as f:
        f.truncate(hdf5lite.MAX_FILE_BYTES + 1)  # past the end HDF5 records: still readable
    assert hdf5lite.read(big) is None
    assert same(modelfile.load(big), h5py_fields(corpus["bundled"]))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert hdf5lite.read(fifo) is None  # opened without blocking, and refused
    folder = tmp_path / "folder"
    folder.mkdir()
    assert hdf5lite.read(folder) is None
    assert hdf5lite.read(tmp_path / "absent.h5") is None


# Damaged files: the fast reader gives h5py's fields, or leaves the file to h5py.


def metadata_offsets(path):
    """Every offset of the file that is not a dataset's values."""
    data_regions = []
    with h5py.File(path, "r") as f:
        for name in f:
            start = f[name].id.get_offset()
            data_regions.append(range(start, start + f[name].id.get_storage_size()))
    size = path.stat().st_size
    return [i for i in range(size) if not any(i in region for region in data_regions)]


@pytest.mark.parametrize("name", ["bundled", "class names not UTF-8", "old"])
def test_single_byte_changes_give_h5pys_result_or_none(corpus, tmp_path, name):
    original = corpus[name].read_bytes()
    offsets = metadata_offsets(corpus[name])
    rng = np.random.default_rng(20240611)
    path = tmp_path / "damaged.h5"
    read_fast = 0
    for _ in range(1500):
        data = bytearray(original)
        # Mostly the structure, where a change matters most; sometimes anywhere.
        at = int(rng.choice(offsets)) if rng.random() < 0.9 else int(rng.integers(len(data)))
        data[at] = (data[at] + int(rng.integers(1, 256))) % 256
        path.write_bytes(data)
        fast = check_agrees(path)
        read_fast += fast is not None and fast[0] == "fields"
    assert read_fast > 100  # changes the checks take in stride (values, names) are read fast


@pytest.mark.parametrize("name", ["bundled", "validation"])
def test_truncated_and_extended_files_give_h5pys_result_or_none(corpus, tmp_path, name):
    original = corpus[name].read_bytes()
    rng = np.random.default_rng(7)
    path = tmp_path / "cut.h5"
    lengths = [0, 1, 8, 95, 96, 97, 511, len(original) - 1]
    lengths += [int(n) for n in rng.integers(0, len(original), 150)]
    for n in lengths:
        path.write_bytes(original[:n])
        assert check_agrees(path) is None
    for extra in (b"\0", b"\0" * 4096, bytes(rng.integers(0, 256, 100, dtype=np.uint8))):
        path.write_bytes(original + extra)
        assert check_agrees(path) is None  # the end HDF5 records is no longer the file's


def test_hostile_files_load_with_the_same_errors(tmp_path):
    for case in build(tmp_path):
        if not case.is_model:
            continue
        fast = via_bytes(case.path)
        assert fast is None or fast[0] == "refused", case.kind
        if not case.blocks:  # following those would block: test_hdf5 runs them apart
            with pytest.raises(ModelError, match=rf"^{case.path}: {case.reason}"):
                modelfile.load(case.path)


def test_every_value_h5py_refuses_is_refused_when_read_fast(tmp_path):
    cases = {
        "nan.h5": {"num_iterations": math.nan},
        "negative.h5": {"test_accuracy": -0.5},
        "version.h5": {"format_version": 2},
        "classes.h5": {"classes": ["cat"]},
        "size.h5": {"image_size": 32},
        "format.h5": {"format": "something else"},
    }
    for name, attrs in cases.items():
        path = write_model_file(tmp_path / name, attrs=attrs)
        fast = via_bytes(path)
        reference = via_h5py(path)
        assert reference[0] == "error"
        assert fast == ("refused", reference[1])  # the same checks, the same words
        with pytest.raises(ModelError) as e:
            modelfile.load(path)
        assert str(e.value) == reference[1]


# The command: predict with a catclf model never imports h5py.

AT_EXIT = """
import atexit, os, sys

def report():
    with open(os.environ["MODULES_OUT"], "w") as f:
        f.write(" ".join(sorted(sys.modules)))

atexit.register(report)
"""


@pytest.mark.parametrize("which", ["bundled", "trained"])
def test_predict_reads_the_model_without_h5py_and_gives_the_same_probability(
    corpus, tmp_path, which
):
    model = corpus["bundled" if which == "bundled" else "with a test set"]
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AT_EXIT)
    out = tmp_path / "modules.txt"
    args = ["predict", "-m", model, CAT] if which == "trained" else ["predict", CAT]
    env = environment({"PYTHONPATH": str(hook), "MODULES_OUT": str(out)})
    done = subprocess.run(
        [sys.executable, "-m", "catclf", *map(str, args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    modules = set(out.read_text().split())
    assert "catclf.hdf5lite" in modules  # the hook sees catclf's imports
    assert "h5py" not in modules and "catclf.hdf5" not in modules
    probability = float(done.stdout)  # one image: its probability alone, to 6 places
    assert probability == pytest.approx(probability_by_hand(model, CAT), abs=5e-7)
