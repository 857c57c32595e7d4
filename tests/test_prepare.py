"""catclf prepare, run as a user runs it: a photo folder decoded once into a course folder.

The promise checked here is that `train FOLDER` gives exactly what `train PHOTOS` gives. The
expected split is worked out in the tests themselves from the rule the README states: the
first 8 bytes of the SHA-256 of the POSIX path relative to DATA, as a fraction of 2**64.
"""

import hashlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import (
    FILE_LIST,
    catclf_run,
    error_lines,
    interrupted,
    invoke,
    listing,
    save_png,
    start_catclf,
    train_json,
    without_root_powers,
)
from occupants import make_foreign
from PIL import Image

import catclf
from catclf.coursefiles import read_hdf5
from catclf.images import PREPROCESSING

ITERATIONS = "300"


def photos(root, per_class=6, seed=0, start=0):
    """root/cat: reddish photos, root/non-cat: bluish ones, of different sizes, PNG and JPEG
    in turn; returns the paths made, relative to root, as POSIX text."""
    rng = np.random.default_rng(seed)
    made = []
    for folder, channel in (("cat", 0), ("non-cat", 2)):
        for i in range(start, start + per_class):
            width, height = (int(v) for v in rng.integers(16, 160, 2))
            pixels = rng.integers(0, 90, (height, width, 3))
            pixels[..., channel] += 150
            name = f"{folder}/{folder}{i}.{'png' if i % 2 else 'jpg'}"
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            made.append(name)
    return made


def tiny(root, names):
    """A 2x2 PNG at each relative name below root (decoding them is quick)."""
    for name in names:
        save_png(root / name, np.full((2, 2, 3), len(name) % 256))


def in_test_by_hash(relative, fraction):
    digest = hashlib.sha256(os.fsencode(relative)).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def recorded_paths(h5_file, prefix):
    with h5py.File(h5_file, "r") as f:
        return [os.fsdecode(p) for p in f[f"{prefix}_paths"][()]]


def prepare(*args, cwd):
    """`catclf prepare ARGS --json`, which must succeed: its summary."""
    result = invoke("prepare", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def same_training(a, b):
    for key in ("costs", "final_cost", "train_accuracy", "test_accuracy", "classes"):
        assert a[key] == b[key], key
    assert (a["train_examples"], a["test_examples"]) == (b["train_examples"], b["test_examples"])


# train FOLDER gives what train PHOTOS gives


def test_training_on_the_prepared_folder_equals_training_on_the_photos(tmp_path):
    photos(tmp_path / "photos")
    (tmp_path / "photos" / "cat" / "broken.jpg").write_bytes(b"not a JPEG")
    summary = prepare("photos", "--out", "datasets", cwd=tmp_path)
    assert listing(tmp_path / "datasets") == [FILE_LIST, "train_photos.h5"]
    from_photos, _ = train_json("photos", "-n", ITERATIONS, cwd=tmp_path)
    from_prepared, _ = train_json("datasets", "-n", ITERATIONS, cwd=tmp_path)
    same_training(from_photos, from_prepared)
    assert from_prepared["train_examples"] == 12
    assert from_prepared["test_data"] is None
    assert [s["path"] for s in summary["skipped"]] == ["photos/cat/broken.jpg"]


def test_a_test_fraction_trains_as_the_two_halves_of_the_photos_do(tmp_path):
    names = photos(tmp_path / "photos", per_class=8)
    fraction = 0.3
    prepare("photos", "--out", "datasets", "--test-fraction", fraction, cwd=tmp_path)
    assert listing(tmp_path / "datasets") == [FILE_LIST, "test_photos.h5", "train_photos.h5"]
    # The same photos, sorted into two photo folders by the README's rule.
    for name in names:
        side = "test-side" if in_test_by_hash(name, fraction) else "train-side"
        (tmp_path / side / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "photos" / name, tmp_path / side / name)
    for side in ("train-side", "test-side"):  # this seed splits both classes
        assert sorted(p.name for p in (tmp_path / side).iterdir()) == ["cat", "non-cat"]
    by_hand, _ = train_json("train-side", "--test", "test-side", "-n", ITERATIONS, cwd=tmp_path)
    from_prepared, _ = train_json("datasets", "-n", ITERATIONS, cwd=tmp_path)
    same_training(by_hand, from_prepared)
    assert from_prepared["test_data"].endswith("test_photos.h5")


# the file layout


def test_files_are_in_the_course_layout(tmp_path):
    pixels = {}
    rng = np.random.default_rng(3)
    for name in ("cat/a.png", "cat/b.png", "non-cat/c.png", "non-cat/d/e.png"):
        pixels[name] = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        save_png(tmp_path / "photos" / name, pixels[name])
    prepare("photos", "--out", "datasets", cwd=tmp_path)
    course = Path(catclf.__file__).parent / "data" / "train_catvnoncat.h5"
    with h5py.File(tmp_path / "datasets" / "train_photos.h5", "r") as f, h5py.File(course) as c:
        assert sorted(f) == ["list_classes", "train_set_paths", "train_set_x", "train_set_y"]
        x, y = f["train_set_x"], f["train_set_y"]
        assert (x.dtype, x.shape) == (np.uint8, (4, 64, 64, 3))
        assert (y.dtype, y.shape) == (c["train_set_y"].dtype, (4,))
        # Stored as they are, to be streamed at the speed of memory; the labels compressed.
        assert x.chunks == (4, 64, 64, 3) and x.compression is None
        assert y.compression == f["train_set_paths"].compression == "gzip"
        assert f["list_classes"].dtype.kind == c["list_classes"].dtype.kind == "S"
        assert list(f["list_classes"][()]) == [b"non-cat", b"cat"]
        # The cats first, then the others, each in sorted order, as read_folder reads them.
        order = ["cat/a.png", "cat/b.png", "non-cat/c.png", "non-cat/d/e.png"]
        assert [p.decode() for p in f["train_set_paths"][()]] == order
        np.testing.assert_array_equal(x[()], np.stack([pixels[n] for n in order]))
        assert list(y[()]) == [1, 1, 0, 0]
        assert f.attrs["catclf_version"] == catclf.__version__
        assert f.attrs["preprocessing"] == PREPROCESSING
        assert f.attrs["source_folder"] == str(tmp_path / "photos")
        assert "test_fraction" not in f.attrs


def test_a_large_set_is_stored_in_equal_chunks_of_at_most_64_images(tmp_path):
    for i in range(35):
        save_png(tmp_path / "photos" / "cat" / f"{i:02}.png", np.full((64, 64, 3), i))
        save_png(tmp_path / "photos" / "dog" / f"{i:02}.png", np.full((64, 64, 3), 200 + i))
    summary = prepare("photos", "--out", "datasets", cwd=tmp_path)
    path = tmp_path / "datasets" / "train_photos.h5"
    with h5py.File(path, "r") as f:
        assert f["train_set_x"].chunks == (35, 64, 64, 3)  # 2 of 35, no room left empty
        # 0..34 are the cats, 35..69 the dogs: 64 and 65 are the dogs 29 and 30.
        expected = np.stack([np.full((64, 64, 3), 229), np.full((64, 64, 3), 230)])
        np.testing.assert_array_equal(f["train_set_x"][64:66], expected)
    assert summary["train"]["bytes"] == path.stat().st_size > 70 * 12288  # stored as they are
    data = read_hdf5(path)
    assert data.m == 70 and data.positives == 35 and data.classes == ("dog", "cat")


def test_sources_read_back_are_the_photos(tmp_path):
    tiny(tmp_path / "photos", ["cat/x.png", "non-cat/y.png"])
    prepare("photos", "--out", "datasets", cwd=tmp_path)
    data = read_hdf5(tmp_path / "datasets" / "train_photos.h5")
    assert data.sources == [
        str(tmp_path / "photos/cat/x.png"),
        str(tmp_path / "photos/non-cat/y.png"),
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes")
def test_a_file_name_that_is_not_utf8_survives(tmp_path):
    folder = tmp_path / "photos"
    tiny(folder, ["non-cat/y.png"])
    odd = os.fsdecode(b"cat/caf\xe9 \xff.png")  # Latin-1 bytes: not valid UTF-8
    tiny(folder, [odd, "cat/ok.png"])
    prepare("photos", "--out", "datasets", cwd=tmp_path)
    with h5py.File(tmp_path / "datasets" / "train_photos.h5", "r") as f:
        assert list(f["train_set_paths"][()]) == [
            b"cat/caf\xe9 \xff.png",
            b"cat/ok.png",
            b"non-cat/y.png",
        ]
    data = read_hdf5(tmp_path / "datasets" / "train_photos.h5")
    assert data.sources[0] == str(folder / odd)
    assert Path(data.sources[0]).is_file()


# the split


def test_the_split_follows_the_hash_of_the_relative_path(tmp_path):
    names = [f"cat/c{i:03}.png" for i in range(100)] + [f"other/n{i:03}.png" for i in range(100)]
    tiny(tmp_path / "photos", names)
    fraction = 0.25
    summary = prepare("photos", "--out", "ds", "--test-fraction", fraction, cwd=tmp_path)
    expected_test = [n for n in names if in_test_by_hash(n, fraction)]
    assert recorded_paths(tmp_path / "ds" / "test_photos.h5", "test_set") == expected_test
    assert recorded_paths(tmp_path / "ds" / "train_photos.h5", "train_set") == [
        n for n in names if n not in expected_test
    ]
    # About a quarter of each class: 25 expected, 4.3 its standard deviation.
    assert 12 <= summary["test"]["positives"] <= 38
    assert 12 <= summary["test"]["negatives"] <= 38
    assert summary["test"]["examples"] + summary["train"]["examples"] == 200
    with h5py.File(tmp_path / "ds" / "test_photos.h5", "r") as f:
        assert f.attrs["test_fraction"] == fraction
        assert list(f["test_set_y"][()]) == [
            1 if n.startswith("cat/") else 0 for n in expected_test
        ]


def test_a_file_keeps_its_side_when_photos_are_added(tmp_path):
    old = [f"cat/c{i:02}.png" for i in range(30)] + [f"other/n{i:02}.png" for i in range(30)]
    tiny(tmp_path / "photos", old)
    prepare("photos", "--out", "ds", "--test-fraction", "0.3", cwd=tmp_path)
    before = set(recorded_paths(tmp_path / "ds" / "test_photos.h5", "test_set"))
    tiny(tmp_path / "photos", [f"cat/new{i}.png" for i in range(20)] + ["other/zz/new.png"])
    prepare("photos", "--out", "ds", "--test-fraction", "0.3", cwd=tmp_path)
    after = set(recorded_paths(tmp_path / "ds" / "test_photos.h5", "test_set"))
    assert before and after - before
    assert {n for n in after if n in old} == before


def test_moving_the_photo_folder_keeps_the_split(tmp_path):
    names = [f"cat/c{i:02}.png" for i in range(20)] + [f"other/n{i:02}.png" for i in range(20)]
    tiny(tmp_path / "photos", names)
    prepare("photos", "--out", "here", "--test-fraction", "0.4", cwd=tmp_path)
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    shutil.move(tmp_path / "photos", tmp_path / "elsewhere" / "deeper" / "photos")
    prepare("elsewhere/deeper/photos", "--out", "there", "--test-fraction", "0.4", cwd=tmp_path)
    for prefix in ("train_set", "test_set"):
        name = f"{prefix.split('_')[0]}_photos.h5"
        here = recorded_paths(tmp_path / "here" / name, prefix)
        assert here == recorded_paths(tmp_path / "there" / name, prefix)


def test_a_class_that_would_miss_a_side_lends_its_nearest_file(tmp_path):
    cats = [f"cat/{i}.png" for i in range(3)]
    others = [f"other/{i}.png" for i in range(3)]
    tiny(tmp_path / "photos", cats + others)
    # At 0.001 no file is below the line: each class's lowest hash goes to the test set.
    prepare("photos", "--out", "low", "--test-fraction", "0.001", cwd=tmp_path)
    # At 0.999 every file is: each class's highest hash stays for training.
    prepare("photos", "--out", "high", "--test-fraction", "0.999", cwd=tmp_path)

    def fraction(name):
        return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64

    lowest = [min(group, key=fraction) for group in (cats, others)]
    highest = [max(group, key=fraction) for group in (cats, others)]
    assert all(not in_test_by_hash(n, 0.001) and in_test_by_hash(n, 0.999) for n in cats + others)
    assert recorded_paths(tmp_path / "low" / "test_photos.h5", "test_set") == lowest
    assert recorded_paths(tmp_path / "high" / "train_photos.h5", "train_set") == highest


def test_a_class_of_one_image_cannot_be_split(tmp_path):
    tiny(tmp_path / "photos", ["cat/only.png", "other/a.png", "other/b.png"])
    result = invoke("prepare", "photos", "--out", "ds", "--test-fraction", "0.5", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "'cat'" in line and "single" in line
    assert listing(tmp_path) == ["photos"]
    # Without a split, one image of a class is enough.
    assert prepare("photos", "--out", "ds", cwd=tmp_path)["train"]["examples"] == 3


@pytest.mark.parametrize("fraction", ["0", "1", "-0.2", "1.5", "nan", "half"])
def test_a_test_fraction_outside_0_to_1_is_a_usage_error(tmp_path, fraction):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    result = invoke("prepare", "photos", "--out", "ds", "--test-fraction", fraction, cwd=tmp_path)
    assert result.returncode == 2
    assert listing(tmp_path) == ["photos"]


# names, folders and what is already there


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("My Photos!", "train_My_Photos.h5"), ("chats-été.v2", "train_chats-été.v2.h5")],
)
def test_the_name_comes_from_the_photo_folder(tmp_path, folder, expected):
    tiny(tmp_path / folder, ["cat/a.png", "other/b.png"])
    prepare(folder, "--out", "ds", cwd=tmp_path)
    assert listing(tmp_path / "ds") == [FILE_LIST, expected]


def test_the_photo_folder_given_as_dot_is_named_after_itself(tmp_path):
    tiny(tmp_path / "garden", ["cat/a.png", "other/b.png"])
    prepare(".", "--out", "../ds", cwd=tmp_path / "garden")
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_garden.h5"]


@pytest.mark.parametrize("name", ["a/b", "", ".hidden", "../up", "x" * 101])
def test_an_unsafe_name_is_a_usage_error(tmp_path, name):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    result = invoke("prepare", "photos", "--out", "ds", "--name", name, cwd=tmp_path)
    assert result.returncode == 2
    assert listing(tmp_path) == ["photos"]


def test_files_of_another_name_are_refused_and_left_alone(tmp_path):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    prepare("photos", "--out", "ds", "--name", "first", cwd=tmp_path)
    before = (tmp_path / "ds" / "train_first.h5").read_bytes()
    result = invoke("prepare", "photos", "--out", "ds", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("catclf: error: ds: ") and "train_first.h5" in line
    assert "decoding" not in result.stderr  # refused before any work
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_first.h5"]
    assert (tmp_path / "ds" / "train_first.h5").read_bytes() == before


def test_the_same_name_is_replaced_and_a_stale_test_file_removed(tmp_path):
    tiny(tmp_path / "photos", [f"cat/{i}.png" for i in range(4)] + ["other/a.png", "other/b.png"])
    prepare("photos", "--out", "ds", "--test-fraction", "0.5", cwd=tmp_path)
    tiny(tmp_path / "photos", ["other/c.png"])
    result = invoke("prepare", "photos", "--out", "ds", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "removed ds/test_photos.h5, the test set of an earlier run" in result.stderr
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_photos.h5"]
    assert read_hdf5(tmp_path / "ds" / "train_photos.h5").m == 7


def test_out_is_created_but_not_its_parent(tmp_path):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    result = invoke("prepare", "photos", "--out", "no/such/ds", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line == "catclf: error: no/such/ds: cannot create this folder: no/such does not exist"
    prepare("photos", "--out", "ds", cwd=tmp_path)
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_photos.h5"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [("missing", "missing: no such folder"), ("file.png", "file.png: not a folder")],
)
def test_data_must_be_a_folder(tmp_path, data, fragment):
    save_png(tmp_path / "file.png", np.zeros((2, 2, 3)))
    result = invoke("prepare", data, "--out", "ds", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert fragment in line
    assert not (tmp_path / "ds").exists()


def test_positive_names_the_cat_folder(tmp_path):
    tiny(tmp_path / "photos", ["kittens/a.png", "kittens/b.png", "dogs/c.png"])
    summary = prepare("photos", "--out", "ds", "--positive", "kittens", cwd=tmp_path)
    assert summary["classes"] == ["dogs", "kittens"]
    with h5py.File(tmp_path / "ds" / "train_photos.h5", "r") as f:
        assert list(f["list_classes"][()]) == [b"dogs", b"kittens"]
        assert list(f["train_set_y"][()]) == [1, 1, 0]


def test_strict_stops_at_an_unreadable_image_and_writes_nothing(tmp_path):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    (tmp_path / "photos" / "cat" / "bad.png").write_bytes(b"not a PNG")
    result = invoke("prepare", "photos", "--out", "ds", "--strict", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "bad.png" in line
    assert listing(tmp_path) == ["photos"]


# output


def test_summary_to_a_pipe_and_as_json(tmp_path):
    tiny(tmp_path / "photos", [f"cat/{i}.png" for i in range(5)] + ["other/a.png", "other/b.png"])
    (tmp_path / "photos" / "other" / "bad.png").write_bytes(b"")
    (tmp_path / "photos" / "cat" / "notes.txt").write_text("not an image")
    result = invoke("prepare", "photos", "-o", "ds", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    size = (tmp_path / "ds" / "train_photos.h5").stat().st_size
    assert result.stdout.splitlines() == [
        f"train file: ds/train_photos.h5 ({size / 1000:.3g} KB)",
        "train examples: 7 images: 5 cat, 2 other",  # as the class folders are named
        "test file: none",
        "test examples: none",
        "skipped: 1",
        "ignored: 1",
        "not in a class folder: 0",
    ]
    assert "skipped photos/other/bad.png" in result.stderr
    summary = prepare("photos", "-o", "ds", cwd=tmp_path)
    assert summary["train"] == {
        "path": "ds/train_photos.h5",
        "examples": 7,
        "positives": 5,
        "negatives": 2,
        "bytes": size,
    }
    assert summary["test"] is None and summary["test_fraction"] is None
    assert [s["path"] for s in summary["skipped"]] == ["photos/other/bad.png"]
    assert summary["ignored"] == 1
    assert (summary["folder"], summary["name"], summary["source"]) == ("ds", "photos", "photos")


def test_quiet_says_nothing_on_stderr(tmp_path):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    result = invoke("prepare", "photos", "--out", "ds", "--quiet", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""


def test_progress_bars_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    tiny(tmp_path / "photos", [f"cat/{i}.png" for i in range(3)] + ["other/a.png"])
    leader, follower = pty.openpty()
    process = start_catclf(
        "prepare",
        "photos",
        "--out",
        "ds",
        cwd=tmp_path,
        env={"TERM": "xterm", "COLUMNS": "100"},
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the program has ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, seen
    assert b"decoding" in seen and b"writing" in seen and b"4/4" in seen
    assert b"Traceback" not in seen
    assert b"train examples: 4 images" in out


# interrupts


@pytest.mark.parametrize(
    ("signal_number", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["Ctrl-C", "SIGTERM"],
)
def test_an_interrupt_while_decoding_writes_nothing(tmp_path, signal_number, status):
    # One large photo, linked under many names: each is decoded, none costs disk space.
    big = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    first = save_png(tmp_path / "photos" / "cat" / "000.png", big)
    (tmp_path / "photos" / "other").mkdir()
    for i in range(1, 150):
        os.link(first, tmp_path / "photos" / ("cat" if i % 2 else "other") / f"{i:03}.png")
    tiny(tmp_path / "small", ["cat/a.png", "other/b.png"])
    prepare("small", "--out", "ds", "--name", "photos", cwd=tmp_path)
    old = (tmp_path / "ds" / "train_photos.h5").read_bytes()
    exit_status, out, err = interrupted(
        ["prepare", "photos", "--out", "ds"],
        cwd=tmp_path,
        after="decoding 150 images",
        signal_number=signal_number,
        delay=0.5,  # well inside the 150 decodings, which take seconds
    )
    assert exit_status == status
    assert out == ""
    assert "nothing was saved" in err
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_photos.h5"]
    assert (tmp_path / "ds" / "train_photos.h5").read_bytes() == old


def test_images_beyond_the_memory_limit_give_the_same_files(tmp_path):
    photos(tmp_path / "photos", per_class=8)
    # 16 images take 196,608 bytes decoded: 1KB holds none of them.
    plain = prepare("photos", "--out", "plain", "--test-fraction", "0.5", cwd=tmp_path)
    spilled = prepare(
        "photos",
        "--out",
        "spilled",
        "--test-fraction",
        "0.5",
        "--memory-limit",
        "1KB",
        cwd=tmp_path,
    )
    for side in ("train", "test"):
        assert spilled[side]["examples"] == plain[side]["examples"]
        with (
            h5py.File(tmp_path / "plain" / f"{side}_photos.h5", "r") as a,
            h5py.File(tmp_path / "spilled" / f"{side}_photos.h5", "r") as b,
        ):
            assert set(a) == set(b)
            for name in a:
                np.testing.assert_array_equal(a[name][()], b[name][()])
    assert sorted(p.name for p in (tmp_path / "spilled").iterdir()) == [
        FILE_LIST,
        "test_photos.h5",
        "train_photos.h5",
    ]


# Nothing in FOLDER that is not catclf's is replaced or removed

REFUSED = "was not written by catclf, or was changed since; use --force to"


@pytest.mark.parametrize("kind", ["course-layout HDF5", "text"])
def test_a_train_file_catclf_did_not_write_is_refused_before_decoding(tmp_path, kind):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    (tmp_path / "ds").mkdir()
    theirs = make_foreign(tmp_path / "ds" / "train_photos.h5", kind).read_bytes()
    result = invoke("prepare", "photos", "--out", "ds", cwd=tmp_path)
    assert result.returncode == 1
    # One line: nothing was decoded.
    assert result.stderr == f"catclf: error: ds/train_photos.h5: {REFUSED} replace it\n"
    assert listing(tmp_path / "ds") == ["train_photos.h5"]
    assert (tmp_path / "ds" / "train_photos.h5").read_bytes() == theirs
    forced = prepare("photos", "--out", "ds", "--force", cwd=tmp_path)
    assert forced["train"]["examples"] == 2
    assert read_hdf5(tmp_path / "ds" / "train_photos.h5").m == 2


def test_a_test_file_catclf_did_not_write_is_not_removed_without_force(tmp_path):
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "test_photos.h5").write_bytes(b"my test data")
    result = invoke("prepare", "photos", "--out", "ds", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"catclf: error: ds/test_photos.h5: {REFUSED} remove it\n"
    assert (tmp_path / "ds" / "test_photos.h5").read_bytes() == b"my test data"
    prepare("photos", "--out", "ds", "--force", cwd=tmp_path)
    assert listing(tmp_path / "ds") == [FILE_LIST, "train_photos.h5"]


def test_a_read_only_folder_is_refused_before_decoding(tmp_path):
    drop = without_root_powers()
    tiny(tmp_path / "photos", ["cat/a.png", "other/b.png"])
    (tmp_path / "ds").mkdir(mode=0o555)
    for out, said in [
        ("ds", "ds: cannot write into this folder: it is not writable"),
        ("ds/new", "ds/new: cannot create this folder: ds is not writable"),
    ]:
        result = catclf_run("prepare", "photos", "--out", out, cwd=tmp_path, prefix=drop)
        assert result.returncode == 1
        assert result.stderr == f"catclf: error: {said}\n"
    assert listing(tmp_path / "ds") == []
