"""Tests for catclf.datasets: class folders, course HDF5 files, folders of those.

Expected counts come from catclf/data/README.md; expected pixels from h5py reads of the
course files and from arrays made in the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from course import TEST_CATS, TEST_EXAMPLES, TRAIN_CATS, TRAIN_EXAMPLES
from helpers import Watched
from PIL import Image

from catclf import coursefiles, datasets
from catclf.coursefiles import read_hdf5
from catclf.dataset import Dataset
from catclf.datasets import bundled, load, load_test
from catclf.errors import DataError, ImageError, ParameterError
from catclf.photos import read_folder

DATA = Path(datasets.__file__).parent / "data"
TRAIN_H5 = DATA / "train_catvnoncat.h5"
TEST_H5 = DATA / "test_catvnoncat.h5"


def solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def class_tree(root: Path, counts: dict[str, int]) -> dict[Path, tuple[int, int, int]]:
    """counts[folder] images of distinct solid colours in each folder; returns path -> colour."""
    colours = {}
    shade = 0
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shade += 20
            colour = (shade, 255 - shade, 7)
            colours[solid(root / folder / f"img{i}.png", colour)] = colour
    return colours


def write_h5(
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    prefix: str = "train_set",
    classes: list[bytes] | None = None,
) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{prefix}_x", data=x)
        f.create_dataset(f"{prefix}_y", data=y)
        if classes is not None:
            f.create_dataset("list_classes", data=np.array(classes, dtype="S"))
    return path


def random_images(m: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(m, 64, 64, 3), dtype=np.uint8)


def assert_one_line_data_error(call: Callable[[], object], *fragments: str) -> str:
    with pytest.raises(DataError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# --- a folder of class folders --------------------------------------------------------------


def test_folder_with_cat_and_non_cat(tmp_path: Path) -> None:
    colours = class_tree(tmp_path, {"cat": 1, "non-cat": 2})

    data, test = load(tmp_path)

    assert test is None
    assert data.m == 3
    assert data.describe() == "3 images: 1 cat, 2 non-cat"
    assert data.classes == ("non-cat", "cat")
    assert data.X.shape == (12288, 3)
    assert data.Y.shape == (1, 3)
    for i, source in enumerate(data.sources):
        path = Path(source)
        assert data.labels[i] == (1 if path.parent.name == "cat" else 0)
        assert data.Y[0, i] == data.labels[i]
        np.testing.assert_array_equal(data.images[i], np.full((64, 64, 3), colours[path]))
        np.testing.assert_array_equal(data.X[:, i], data.images[i].ravel() / 255)
    assert sorted(data.sources) == sorted(str(p) for p in colours)
    assert data.skipped == []


@pytest.mark.parametrize("name", ["cats", "Cat", "CATS"])
def test_cat_or_cats_in_any_case_is_positive(tmp_path: Path, name: str) -> None:
    class_tree(tmp_path, {name: 2, "dogs": 1})

    data = read_folder(tmp_path)

    assert data.positives == 2
    assert data.classes == ("dogs", name)
    for source, label in zip(data.sources, data.labels, strict=True):
        assert label == (Path(source).parent.name == name)


def test_images_in_nested_folders_of_a_class_count(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 1, "non-cat": 1})
    solid(tmp_path / "cat" / "2019" / "june" / "deep.png", (1, 2, 3))

    data = read_folder(tmp_path)

    assert data.describe() == "3 images: 2 cat, 1 non-cat"


def test_images_of_other_sizes_are_resized_when_loaded(tmp_path: Path) -> None:
    solid(tmp_path / "cat" / "big.jpg", (255, 255, 255), size=(300, 200))
    solid(tmp_path / "non-cat" / "small.png", (0, 0, 0), size=(10, 10))

    data = read_folder(tmp_path)

    assert data.images.shape == (2, 64, 64, 3)
    assert data.images.dtype == np.uint8


@pytest.mark.parametrize("positive", ["dog", "DOG"])
def test_positive_names_the_positive_folder(tmp_path: Path, positive: str) -> None:
    class_tree(tmp_path, {"bird": 2, "dog": 1})

    data = read_folder(tmp_path, positive=positive)

    assert data.positives == 1
    assert data.classes == ("bird", "dog")
    positive_sources = [s for s, lab in zip(data.sources, data.labels, strict=True) if lab == 1]
    assert [Path(s).parent.name for s in positive_sources] == ["dog"]


def test_positive_overrides_the_cat_folder(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 2, "lion": 1})

    data, _ = load(tmp_path, positive="lion")

    assert data.positives == 1
    assert data.classes == ("cat", "lion")


def test_positive_that_names_no_folder(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 1, "non-cat": 1})
    assert_one_line_data_error(lambda: load(tmp_path, positive="dog"), "dog")


def test_two_folders_neither_cat_asks_for_positive(tmp_path: Path) -> None:
    class_tree(tmp_path, {"bird": 1, "dog": 1})
    assert_one_line_data_error(lambda: load(tmp_path), "positive=NAME", "bird", "dog")


def test_hidden_folder_is_never_a_class(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 1, "non-cat": 1, ".ipynb_checkpoints": 1})

    data, _ = load(tmp_path)

    assert data.describe() == "2 images: 1 cat, 1 non-cat"


def test_hidden_cat_folder_does_not_make_a_second_class(tmp_path: Path) -> None:
    class_tree(tmp_path, {".cat": 1, "dog": 1})
    assert_one_line_data_error(lambda: load(tmp_path), "two class folders")


@pytest.mark.parametrize(
    "counts",
    [{"cat": 1}, {"cat": 1, "non-cat": 1, "dog": 1}, {}],
    ids=["one folder", "three folders", "no folder"],
)
def test_not_exactly_two_class_folders(tmp_path: Path, counts: dict[str, int]) -> None:
    class_tree(tmp_path, counts)
    solid(tmp_path / "loose.png", (0, 0, 0))  # an image beside the folders is not a class
    assert_one_line_data_error(lambda: load(tmp_path), str(tmp_path), "two class folders")


def test_empty_class_folder(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 2, "non-cat": 0})
    (tmp_path / "non-cat" / "notes.txt").write_text("no pictures here")
    solid(tmp_path / "non-cat" / ".hidden.png", (0, 0, 0))
    assert_one_line_data_error(lambda: load(tmp_path), "non-cat", "no images")


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_one_line_data_error(lambda: load(missing), str(missing))


def test_heic_and_avif_photos_in_a_class_folder_are_examples(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    class_tree(tmp_path, {"cat": 1, "non-cat": 1})
    Image.new("RGB", (40, 30), (250, 20, 10)).save(tmp_path / "cat" / "phone.avif", quality=95)
    iphone = pillow_heif.from_pillow(Image.new("RGB", (40, 30), (20, 240, 10)))
    iphone.save(tmp_path / "non-cat" / "IMG_0001.HEIC", quality=95)

    data = read_folder(tmp_path)

    assert data.describe() == "4 images: 2 cat, 2 non-cat"
    assert data.skipped == []
    for name, colour in [("phone.avif", (250, 20, 10)), ("IMG_0001.HEIC", (20, 240, 10))]:
        [i] = [i for i, s in enumerate(data.sources) if s.endswith(name)]
        assert np.abs(data.images[i].astype(int) - colour).max() <= 3  # lossy codecs


def test_files_that_are_not_images_are_counted_as_ignored(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 2, "non-cat": 2})
    (tmp_path / "cat" / "notes.txt").write_text("not a picture")
    (tmp_path / "non-cat" / "2019").mkdir()
    (tmp_path / "non-cat" / "2019" / "clip.mov").write_bytes(b"\0" * 64)
    (tmp_path / "non-cat" / ".DS_Store").write_bytes(b"\0")  # hidden: not counted

    data, _ = load(tmp_path)

    assert data.m == 4
    assert data.ignored == 2


# --- unreadable images in a folder ----------------------------------------------------------


def folder_with_bad_images(root: Path) -> list[Path]:
    class_tree(root, {"cat": 2, "non-cat": 2})
    text = root / "cat" / "notes.jpg"
    text.write_text("not a picture")
    empty = root / "non-cat" / "zero.png"
    empty.write_bytes(b"")
    return [text, empty]


def test_unreadable_images_are_skipped_and_listed(tmp_path: Path) -> None:
    bad = folder_with_bad_images(tmp_path)

    data, _ = load(tmp_path)

    assert data.describe() == "4 images: 2 cat, 2 non-cat"
    assert not set(data.sources) & {str(p) for p in bad}
    assert sorted(s.path for s in data.skipped) == sorted(str(p) for p in bad)
    for skipped in data.skipped:
        assert skipped.error and "\n" not in skipped.error
    assert "empty" in next(s.error for s in data.skipped if s.path == str(bad[1]))


def test_strict_raises_on_the_first_unreadable_image(tmp_path: Path) -> None:
    bad = folder_with_bad_images(tmp_path)

    with pytest.raises(ImageError) as caught:
        load(tmp_path, strict=True)

    assert any(str(caught.value).startswith(f"{p}: ") for p in bad)


def test_class_with_only_unreadable_images(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 0, "non-cat": 2})
    (tmp_path / "cat" / "broken.jpg").write_text("nope")
    message = assert_one_line_data_error(lambda: load(tmp_path))
    assert message.startswith(f"{tmp_path / 'cat'}: ")


def test_progress_is_told_the_total_and_every_image(tmp_path: Path) -> None:
    folder_with_bad_images(tmp_path)
    watched = Watched()
    load(tmp_path, progress=watched)
    assert watched.tasks == [["decoding", 6, "images"]]
    assert watched.done("decoding") == 6


# --- the same pixels from PNG files and from the course's HDF5 file -------------------------


def test_folder_of_course_pngs_gives_the_hdf5_columns(tmp_path: Path) -> None:
    with h5py.File(TRAIN_H5, "r") as f:
        x = f["train_set_x"][()]
        y = f["train_set_y"][()]
    chosen = [int(i) for i in np.flatnonzero(y == 1)[:3]] + [
        int(i) for i in np.flatnonzero(y == 0)[:3]
    ]
    for i in chosen:
        folder = tmp_path / ("cat" if y[i] == 1 else "non-cat")
        folder.mkdir(exist_ok=True)
        Image.fromarray(x[i]).save(folder / f"train_{i:03d}.png")

    from_folder, _ = load(tmp_path)
    from_hdf5 = read_hdf5(TRAIN_H5)

    assert from_folder.m == 6
    X_folder, X_hdf5 = from_folder.X, from_hdf5.X
    for column, source in enumerate(from_folder.sources):
        i = int(Path(source).stem.removeprefix("train_"))
        np.testing.assert_array_equal(X_folder[:, column], X_hdf5[:, i])
        assert from_folder.Y[0, column] == from_hdf5.Y[0, i] == y[i]


# --- HDF5 files -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["train_set", "test_set"])
def test_hdf5_in_the_course_layout(tmp_path: Path, prefix: str) -> None:
    x = random_images(4)
    y = np.array([1, 0, 0, 1])
    path = write_h5(tmp_path / "small.h5", x, y, prefix, [b"non-cat", b"cat"])

    data, test = load(path)

    assert test is None
    np.testing.assert_array_equal(data.images, x)
    assert data.labels.tolist() == [1, 0, 0, 1]
    assert data.classes == ("non-cat", "cat")
    assert data.describe() == "4 images: 2 cat, 2 non-cat"
    np.testing.assert_array_equal(data.X, x.reshape(4, -1).T / 255)
    np.testing.assert_array_equal(data.Y, [[1.0, 0.0, 0.0, 1.0]])


def test_hdf5_labels_as_a_row(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "row.h5", random_images(3), np.array([[0, 1, 1]]))

    data = read_hdf5(path)

    assert data.labels.tolist() == [0, 1, 1]


def test_hdf5_class_names_are_read(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "dogs.h5", random_images(2), np.array([0, 1]), classes=[b"x", b"y"])
    assert read_hdf5(path).classes == ("x", "y")


def test_hdf5_without_paths_names_examples_by_index(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "plain.h5", random_images(2), np.array([0, 1]))
    assert read_hdf5(path).sources == [f"{path}[0]", f"{path}[1]"]


def test_hdf5_in_compressed_chunks_with_paths_gives_the_photos_as_sources(tmp_path: Path) -> None:
    x = random_images(5, seed=4)
    with h5py.File(tmp_path / "packed.h5", "w") as f:
        f.create_dataset("train_set_x", data=x, chunks=(2, 64, 64, 3), compression="gzip")
        f.create_dataset("train_set_y", data=np.array([1, 1, 0, 0, 1]), compression="gzip")
        names = [b"cat/a.png", b"cat/b.png", b"dog/c.png", b"dog/d d.jpg", b"cat/\xff.png"]
        f.create_dataset("train_set_paths", data=names, dtype=h5py.string_dtype("utf-8"))
        f.attrs["source_folder"] = "/photos/garden"

    data = read_hdf5(tmp_path / "packed.h5")

    np.testing.assert_array_equal(data.images, x)
    assert data.labels.tolist() == [1, 1, 0, 0, 1]
    assert data.sources == [
        "/photos/garden/cat/a.png",
        "/photos/garden/cat/b.png",
        "/photos/garden/dog/c.png",
        "/photos/garden/dog/d d.jpg",
        "/photos/garden/cat/" + os.fsdecode(b"\xff.png"),
    ]


def test_write_hdf5_is_read_back_as_it_was(tmp_path: Path) -> None:
    images = random_images(3, seed=5)
    data = Dataset(images, np.array([1, 0, 1]), ["a", "b", "c"], ("dogs", "cats"), "here")
    told: list[int] = []

    coursefiles.write_hdf5(
        tmp_path / "w.h5",
        data,
        "test_set",
        ["cats/1.png", "dogs/2.png", "cats/3.png"],
        {"source_folder": b"/somewhere", "note": "made in a test"},
        told.append,
    )

    back = read_hdf5(tmp_path / "w.h5")
    np.testing.assert_array_equal(back.images, images)
    assert back.labels.tolist() == [1, 0, 1]
    assert back.classes == ("dogs", "cats")
    assert back.sources == [
        "/somewhere/cats/1.png",
        "/somewhere/dogs/2.png",
        "/somewhere/cats/3.png",
    ]
    assert sum(told) == 3
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert f.attrs["note"] == "made in a test"


def test_hdf5_with_a_path_list_of_the_wrong_length(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "short.h5", random_images(3), np.array([1, 0, 1]))
    with h5py.File(path, "a") as f:
        f.create_dataset("train_set_paths", data=[b"a.png", b"b.png"])
    assert_one_line_data_error(lambda: read_hdf5(path), "short.h5", "train_set_paths", "3")


def test_folder_of_course_files_gives_train_and_test(tmp_path: Path) -> None:
    x_train, x_test = random_images(3, seed=1), random_images(2, seed=2)
    write_h5(tmp_path / "train_mine.h5", x_train, np.array([1, 0, 1]))
    write_h5(tmp_path / "test_mine.h5", x_test, np.array([0, 1]), prefix="test_set")

    train, test = load(tmp_path)

    assert test is not None
    np.testing.assert_array_equal(train.images, x_train)
    np.testing.assert_array_equal(test.images, x_test)
    assert train.labels.tolist() == [1, 0, 1]
    assert test.labels.tolist() == [0, 1]
    np.testing.assert_array_equal(load_test(tmp_path).images, x_test)


def test_folder_with_only_a_train_file(tmp_path: Path) -> None:
    write_h5(tmp_path / "train_only.h5", random_images(2), np.array([1, 0]))

    train, test = load(tmp_path)

    assert train.m == 2
    assert test is None


def test_load_test_of_a_class_folder_is_the_folder(tmp_path: Path) -> None:
    class_tree(tmp_path, {"cat": 1, "non-cat": 1})
    assert load_test(tmp_path).describe() == "2 images: 1 cat, 1 non-cat"


def test_load_test_of_an_hdf5_file_is_the_file(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "t.h5", random_images(2), np.array([1, 1]), prefix="test_set")
    assert load_test(path).positives == 2


def test_bundled_sets_match_the_readme() -> None:
    train, test = bundled()

    assert (train.m, train.positives) == (TRAIN_EXAMPLES, TRAIN_CATS)
    assert (test.m, test.positives) == (TEST_EXAMPLES, TEST_CATS)
    for data, m, cats in ((train, TRAIN_EXAMPLES, TRAIN_CATS), (test, TEST_EXAMPLES, TEST_CATS)):
        assert data.describe() == f"{m} images: {cats} cat, {m - cats} non-cat"
    assert train.classes == test.classes == ("non-cat", "cat")
    assert train.X.shape == (12288, TRAIN_EXAMPLES) and test.X.shape == (12288, TEST_EXAMPLES)
    assert train.Y.shape == (1, TRAIN_EXAMPLES) and test.Y.shape == (1, TEST_EXAMPLES)
    with h5py.File(TRAIN_H5, "r") as f:
        np.testing.assert_array_equal(train.images, f["train_set_x"][()])
        np.testing.assert_array_equal(train.labels, f["train_set_y"][()])
    with h5py.File(TEST_H5, "r") as f:
        np.testing.assert_array_equal(test.images, f["test_set_x"][()])
        np.testing.assert_array_equal(test.labels, f["test_set_y"][()])


def test_load_test_of_the_bundled_folder_is_the_test_file() -> None:
    data = load_test(DATA)
    assert (data.m, data.positives) == (TEST_EXAMPLES, TEST_CATS)


# --- malformed HDF5 files -------------------------------------------------------------------


def test_hdf5_with_missing_keys_lists_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=random_images(1))
        f.create_dataset("labels", data=np.array([1]))
    assert_one_line_data_error(lambda: load(path), str(path), "train_set_x", "images", "labels")


def test_hdf5_with_x_but_no_y(tmp_path: Path) -> None:
    path = tmp_path / "half.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=random_images(1))
    assert_one_line_data_error(lambda: load(path), "train_set_y")


@pytest.mark.parametrize(
    ("x", "y", "fragment"),
    [
        (random_images(2).astype(np.float32), np.array([0, 1]), "float32"),
        (np.zeros((2, 32, 32, 3), dtype=np.uint8), np.array([0, 1]), "(2, 32, 32, 3)"),
        (np.zeros((2, 64, 64), dtype=np.uint8), np.array([0, 1]), "(2, 64, 64)"),
        (random_images(2), np.array([0, 2]), "2"),
        (random_images(2), np.array([0.0, 0.5]), "0.5"),
        (random_images(2), np.array([-1, 1]), "-1"),
        (random_images(3), np.array([0, 1]), "3"),
        (random_images(2), np.array([0, 1, 1]), "3"),
        (random_images(2), np.array([b"cat", b"dog"]), "train_set_y"),
    ],
    ids=[
        "float pixels",
        "32x32",
        "no channels",
        "label 2",
        "label 0.5",
        "label -1",
        "more images than labels",
        "more labels than images",
        "text labels",
    ],
)
def test_malformed_hdf5(tmp_path: Path, x: np.ndarray, y: np.ndarray, fragment: str) -> None:
    path = write_h5(tmp_path / "bad.h5", x, y)
    message = assert_one_line_data_error(lambda: load(path))
    assert message.startswith(f"{path}: ")
    assert fragment in message.removeprefix(f"{path}: ")  # the test's id is in the path


def test_hdf5_with_no_images(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "none.h5", np.zeros((0, 64, 64, 3), np.uint8), np.zeros(0, int))
    assert_one_line_data_error(lambda: load(path), str(path))


@pytest.mark.parametrize("content", ["text", "png", "empty"])
def test_file_that_is_not_hdf5(tmp_path: Path, content: str) -> None:
    path = tmp_path / "data.h5"
    if content == "text":
        path.write_text("train_set_x,train_set_y\n1,0\n")
    elif content == "png":
        Image.new("RGB", (64, 64)).save(path, format="PNG")
    else:
        path.write_bytes(b"")
    message = assert_one_line_data_error(lambda: load(path), str(path))
    assert message.startswith(str(path))


def test_truncated_hdf5(tmp_path: Path) -> None:
    whole = TRAIN_H5.read_bytes()
    path = tmp_path / "train_cut.h5"
    path.write_bytes(whole[: len(whole) // 2])

    message = assert_one_line_data_error(lambda: load(path), str(path))
    assert message.startswith(str(path))


def test_hdf5_with_damaged_metadata(tmp_path: Path) -> None:
    # Zeros over the object headers near the start: the file still opens (its length is
    # right) but looking up a name fails inside HDF5.
    damaged = bytearray(TRAIN_H5.read_bytes())
    damaged[200:3000] = bytes(2800)
    path = tmp_path / "train_damaged.h5"
    path.write_bytes(bytes(damaged))

    message = assert_one_line_data_error(lambda: load(path))
    assert message.startswith(f"{path}: ")


def test_truncated_hdf5_in_a_course_folder(tmp_path: Path) -> None:
    whole = TEST_H5.read_bytes()
    (tmp_path / "train_a.h5").write_bytes(TRAIN_H5.read_bytes())
    (tmp_path / "test_a.h5").write_bytes(whole[: len(whole) * 3 // 4])

    assert_one_line_data_error(lambda: load(tmp_path), "test_a.h5")
    assert_one_line_data_error(lambda: load_test(tmp_path), "test_a.h5")


def test_folder_with_two_train_files(tmp_path: Path) -> None:
    write_h5(tmp_path / "train_a.h5", random_images(1), np.array([1]))
    write_h5(tmp_path / "train_b.h5", random_images(1), np.array([0]))
    assert_one_line_data_error(lambda: load(tmp_path), "train_a.h5", "train_b.h5")


def test_dataset_describe_counts() -> None:
    data = Dataset(
        images=np.zeros((3, 64, 64, 3), dtype=np.uint8),
        labels=np.array([0, 1, 0]),
        sources=["a", "b", "c"],
        classes=("non-cat", "cat"),
        origin="hand-made",
    )
    assert data.describe() == "3 images: 1 cat, 2 non-cat"


# --- data larger than the memory limit ----------------------------------------------------------


def write_chunked_h5(path: Path, x: np.ndarray, y: np.ndarray, chunk: int) -> Path:
    """A course-layout file as large sets come: chunked, gzip-compressed, labels (1, m)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=x, chunks=(chunk, 64, 64, 3), compression="gzip")
        f.create_dataset("train_set_y", data=y.reshape(1, -1))
    return path


def test_an_hdf5_set_above_the_memory_limit_stays_in_its_file(tmp_path: Path) -> None:
    x, y = random_images(11), np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0])
    path = write_chunked_h5(tmp_path / "big.h5", x, y, chunk=3)
    # 11 images take 12288 * 11 = 135,168 bytes: 3/4 of a limit of 180,224 bytes.
    assert not read_hdf5(path, memory_limit=180_224).in_file
    data = read_hdf5(path, memory_limit=180_223)
    assert data.in_file
    assert (data.m, data.positives) == (11, 6)
    np.testing.assert_array_equal(data.labels, y)
    assert data.sources[10] == f"{path}[10]"
    np.testing.assert_array_equal(data.images, x)  # read on request
    np.testing.assert_array_equal(data.X, x.reshape(11, -1).T / 255)


@pytest.mark.parametrize("in_file", [True, False])
@pytest.mark.parametrize("columns, rows", [(1, 1), (2, 5), (4, 4), (64, 1024)])
def test_blocks_hold_the_columns_of_x_exactly(
    tmp_path: Path, in_file: bool, columns: int, rows: int
) -> None:
    x, y = random_images(11, seed=3), np.arange(11) % 2
    path = write_chunked_h5(tmp_path / "big.h5", x, y, chunk=3)
    data = read_hdf5(path, memory_limit=1 if in_file else None)
    assert data.in_file == in_file
    counted: list[int] = []
    X_parts, Y_parts = [], []
    for X_k, Y_k in data.blocks(columns, rows, on_block=counted.append):
        assert X_k.shape[0] == 12288 and 1 <= X_k.shape[1] <= columns
        X_parts.append(X_k.copy())  # the buffer is reused for the next block
        Y_parts.append(Y_k)
    # The same bits as the course's reshape and division.
    np.testing.assert_array_equal(np.hstack(X_parts), x.reshape(11, -1).T / 255)
    np.testing.assert_array_equal(np.hstack(Y_parts), [y])
    assert sum(counted) == 11 and len(counted) == len(X_parts)


def test_labels_are_checked_a_slice_at_a_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(coursefiles, "LABEL_ROWS", 4)
    y = np.array([0, 1, 0, 1, 1, 0, 7, 1, 0, 3])
    path = write_chunked_h5(tmp_path / "big.h5", random_images(10), y, chunk=2)
    assert_one_line_data_error(lambda: read_hdf5(path, memory_limit=1), "other than 0 and 1: 3, 7")
    good = write_chunked_h5(tmp_path / "good.h5", random_images(10), y % 2, chunk=2)
    np.testing.assert_array_equal(read_hdf5(good, memory_limit=1).labels, y % 2)


def test_a_photo_folder_above_the_memory_limit_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    class_tree(tmp_path, {"cat": 2, "non-cat": 1})
    watched = Watched()
    # 3 images take 3 * 12288 = 36,864 bytes: 3/4 of a limit of 49,152 bytes.
    message = assert_one_line_data_error(
        lambda: load(tmp_path, memory_limit=49_151, progress=watched),
        str(tmp_path),
        "3 images",
        "catclf.prepare",
        "memory_limit",
    )
    assert "36.9 KB" in message  # 3 * 12288 bytes of pixels
    assert watched.tasks == []
    data, _ = load(tmp_path, memory_limit=49_152)  # X is formed or streamed later
    assert data.m == 3 and not data.in_file


def test_a_set_left_in_its_file_is_still_a_dataclass_that_replace_copies(tmp_path: Path) -> None:
    from dataclasses import replace

    x, y = random_images(5, seed=7), np.array([1, 0, 1, 1, 0])
    data = read_hdf5(write_chunked_h5(tmp_path / "big.h5", x, y, chunk=2), memory_limit=1)
    copy = replace(data, origin="copy")
    assert data.in_file and not copy.in_file  # the copy holds the images it read
    np.testing.assert_array_equal(copy.images, x)
    assert copy.origin == "copy" and copy.hdf5_file == data.hdf5_file


@pytest.mark.parametrize("in_file", [True, False])
def test_take_reads_only_the_images_asked_for(tmp_path: Path, in_file: bool) -> None:
    x, y = random_images(7, seed=5), np.array([1, 0, 1, 1, 0, 0, 1])
    data = read_hdf5(
        write_chunked_h5(tmp_path / "big.h5", x, y, chunk=2), memory_limit=1 if in_file else None
    )
    assert data.in_file == in_file
    np.testing.assert_array_equal(data.take([6, 0, 3]), x[[6, 0, 3]])
    assert data.take([]).shape == (0, 64, 64, 3)


def test_a_folder_beyond_the_memory_limit_waits_in_a_file_given_a_spill_folder(
    tmp_path: Path,
) -> None:
    colours = class_tree(tmp_path / "data", {"cat": 3, "non-cat": 4})
    spill = tmp_path / "spill"
    spill.mkdir()
    in_memory = read_folder(tmp_path / "data")
    # 7 images take 86,016 bytes; a limit of 1,000 holds none of them.
    with pytest.raises(DataError, match=r"catclf\.prepare"):
        read_folder(tmp_path / "data", memory_limit=1000)
    spilled = read_folder(tmp_path / "data", memory_limit=1000, spill=spill)

    assert isinstance(spilled.images, np.memmap)
    assert spilled.sources == in_memory.sources
    np.testing.assert_array_equal(spilled.labels, in_memory.labels)
    for i, source in enumerate(spilled.sources):
        np.testing.assert_array_equal(
            spilled.images[i], np.full((64, 64, 3), colours[Path(source)])
        )
    assert list(spill.iterdir()) == []  # the file has no name: nothing to leave behind


# --- subsets, as a validation part or a fold takes them ---------------------------------------


@pytest.mark.parametrize("in_file", [True, False])
@pytest.mark.parametrize("indices", [[0, 2, 3, 9, 10], [10], [4, 5, 6]])
def test_a_subset_holds_the_examples_asked_for_in_order(
    tmp_path: Path, in_file: bool, indices: list[int]
) -> None:
    x, y = random_images(11, seed=9), np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0])
    path = write_chunked_h5(tmp_path / "big.h5", x, y, chunk=3)
    data = read_hdf5(path, memory_limit=1 if in_file else None)
    part = data.subset(indices, "part")
    assert part.in_file == in_file  # a set left in its file stays there
    assert (part.m, part.origin, part.classes) == (len(indices), "part", data.classes)
    np.testing.assert_array_equal(part.labels, y[indices])
    assert part.sources == [f"{path}[{i}]" for i in indices]  # still says which image
    assert part.hdf5_file is None  # example i of the part is not image i of the file
    np.testing.assert_array_equal(part.images, x[indices])
    np.testing.assert_array_equal(part.X, x[indices].reshape(len(indices), -1).T / 255)
    blocks = [X_k.copy() for X_k, _ in part.blocks(2, 2)]
    np.testing.assert_array_equal(np.hstack(blocks), part.X)
    np.testing.assert_array_equal(part.take([len(indices) - 1, 0]), x[[indices[-1], indices[0]]])
    # A subset of a subset picks from the first.
    np.testing.assert_array_equal(part.subset([0], "one").images, x[indices[:1]])


@pytest.mark.parametrize("in_file", [True, False])
def test_an_empty_subset_is_refused(tmp_path: Path, in_file: bool) -> None:
    x, y = random_images(4, seed=9), np.array([0, 1, 1, 0])
    data = read_hdf5(
        write_chunked_h5(tmp_path / "s.h5", x, y, chunk=3), memory_limit=1 if in_file else None
    )
    with pytest.raises(DataError, match="^nothing: holds no images$"):
        data.subset([], "nothing")


def test_a_subset_of_a_set_in_its_file_reads_only_the_chunks_it_needs(
    tmp_path: Path, monkeypatch
) -> None:
    x, y = random_images(12, seed=2), np.arange(12) % 2
    data = read_hdf5(write_chunked_h5(tmp_path / "big.h5", x, y, chunk=3), memory_limit=1)
    part = data.subset([1, 2, 10], "part")
    reads: list[tuple[int, int]] = []
    real_read = coursefiles.FilePixels._read

    def counted(self, f, start, stop, out):  # type: ignore[no-untyped-def]
        reads.append((start, stop))
        return real_read(self, f, start, stop, out)

    monkeypatch.setattr(coursefiles.FilePixels, "_read", counted)
    slices = [s.copy() for s in part.slices(3)]
    assert reads == [(0, 3), (9, 12)]  # the chunks of rows 3 to 8 hold nothing asked for
    np.testing.assert_array_equal(np.concatenate(slices), x[[1, 2, 10]])
    pixels = part.__dict__["_images"]
    assert isinstance(pixels, coursefiles.FilePixels) and (pixels.m, pixels.stored) == (3, 12)
    np.testing.assert_array_equal(pixels.read(1, 3), x[[2, 10]])


@pytest.mark.parametrize("indices", [[3, 1], [0, 0], [-1], [11]])
def test_a_subset_takes_increasing_positions_within_the_set(indices: list[int]) -> None:
    data = Dataset(
        random_images(11), np.arange(11) % 2, [str(i) for i in range(11)], ("a", "b"), "x"
    )
    with pytest.raises(ParameterError, match="increase"):
        data.subset(indices, "bad")


@pytest.mark.parametrize("rows", [1024, 300, 257, 1])
def test_the_mean_image_is_exact_where_its_sums_outgrow_small_integers(rows):
    # 600 white images and one black: each pixel sums to 600 x 255 = 153,000, past the
    # 65,535 a uint16 holds; the mean is 600 / 601 in every value.
    images = np.full((601, 64, 64, 3), 255, dtype=np.uint8)
    images[300] = 0
    data = Dataset(images, np.arange(601) % 2)
    mean = data.mean_column(rows)
    assert mean.shape == (12288, 1)
    np.testing.assert_allclose(mean, 600 / 601, rtol=1e-15, atol=0)
    noise = np.random.default_rng(5).integers(0, 256, (700, 64, 64, 3), dtype=np.uint8)
    by_hand = noise.reshape(700, -1).astype(np.float64).mean(axis=0) / 255
    got = Dataset(noise, np.arange(700) % 2).mean_column(rows)
    np.testing.assert_allclose(got.reshape(-1), by_hand, rtol=1e-14, atol=0)
