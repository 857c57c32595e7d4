"""Model and data files are read only from themselves, each read bounded before it is made.

Every kind in tests/hostile_hdf5.py is refused with one line naming the file and what was
found, by the library and by the commands that read it, with no Python warning: a kind
that points at a FIFO only in a subprocess under a timeout, since a regression would hang
beyond the reach of signals. Files that use what HDF5 offers within those bounds (soft
links, gzip with shuffle and checksums, chunks gzip left stored as they were) still load.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import N_X, catclf_run, invoke, uniform, write_model_file
from hostile_hdf5 import Case, build, images, labels, with_user_block
from typer.testing import CliRunner

from catclf import datasets, hdf5
from catclf import model as model_file
from catclf.cli import app
from catclf.errors import CatclfError, DataError, ModelError

TIMEOUT = 120  # seconds for one catclf run: generous on a loaded machine, finite if it hangs


def _kinds() -> tuple[list[str], list[str]]:
    """Every kind, and those read only in a subprocess (reading them would block this one)."""
    with tempfile.TemporaryDirectory() as folder:
        cases = build(Path(folder))
    return [c.kind for c in cases], [c.kind for c in cases if c.blocks]


KINDS, BLOCKING = _kinds()
IN_PROCESS = [k for k in KINDS if k not in BLOCKING]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Case]:
    folder = tmp_path_factory.mktemp("hostile")
    return {case.kind: case for case in build(folder)}


@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    """A good model and a white picture, for the commands that need one beside the file."""
    folder = tmp_path_factory.mktemp("scoring")
    return write_model_file(folder / "good.h5"), uniform(folder / "white.png", 255)


def commands(case: Case, scoring, out: Path) -> list[list[str]]:
    good_model, white = scoring
    if case.is_model:
        return [
            ["info", "--json", "-m", str(case.path)],
            ["predict", "-m", str(case.path), str(white)],
        ]
    return [
        ["train", str(case.path), "-n", "1", "-m", str(out)],
        ["evaluate", str(case.path), "-m", str(good_model)],
    ]


def test_the_docs_count_the_hostile_kinds():
    docs = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
    assert f"`tests/hostile_hdf5.py` {len(KINDS)} kinds" in " ".join(docs.read_text().split())
    assert len(set(KINDS)) == len(KINDS)


def test_the_hostile_files_are_small(hostile):
    # What they declare is large; what they are is not: the sparse file of zeros is 122 GB
    # on paper and nothing on disk.
    for case in hostile.values():
        assert case.path.stat().st_size < 400_000, case.kind
    assert hostile["10,000,000 images in a sparse file of zeros"].path.stat().st_size < 14_000


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("kind", IN_PROCESS)
def test_the_library_refuses(hostile, kind):
    case = hostile[kind]
    error = ModelError if case.is_model else DataError
    with pytest.raises(error) as caught:
        if case.is_model:
            model_file.load_model(case.path)
        else:
            datasets.load(case.path, memory_limit=1)
    message = str(caught.value)
    assert re.match(rf"{re.escape(str(case.path))}: {case.reason}", message), message
    assert "\n" not in message


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("kind", IN_PROCESS)
def test_the_commands_refuse(hostile, scoring, tmp_path, monkeypatch, kind):
    case = hostile[kind]
    monkeypatch.chdir(tmp_path)
    for args in commands(case, scoring, tmp_path / "out.h5"):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert re.match(rf"catclf: error: {re.escape(str(case.path))}: {case.reason}", line), line
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("kind", BLOCKING)
def test_a_file_that_would_hang_a_reader_is_refused(hostile, scoring, tmp_path, kind):
    case = hostile[kind]
    assert case.blocks
    for args in commands(case, scoring, tmp_path / "out.h5"):
        result = catclf_run(*args, cwd=tmp_path, timeout=TIMEOUT)
        assert result.returncode == 1
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert re.match(rf"catclf: error: {re.escape(str(case.path))}: {case.reason}", line), line


def test_a_model_whose_heap_would_hang_a_reader_is_no_model_to_write_over(hostile, tmp_path):
    # Whether a model may be replaced is asked of the file itself: the same walk first.
    target = tmp_path / "model.h5"
    target.write_bytes(hostile["a heap of strings whose free space has no size"].path.read_bytes())
    before = target.read_bytes()
    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as f:
        f["train_set_x"], f["train_set_y"] = images(4), labels(4)
    result = catclf_run("train", data, "-n", "1", "-m", target, cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 1
    assert "model.h5: is not a catclf model" in result.stderr
    assert target.read_bytes() == before


# What HDF5 offers within the bounds still loads


def test_a_model_behind_a_user_block_with_sizes_of_4_bytes_loads(tmp_path):
    # Its heaps of strings are laid out with those sizes: walked as HDF5 reads them.
    plain = write_model_file(tmp_path / "plain.h5")
    moved = with_user_block(plain, tmp_path / "moved.h5")
    assert moved.read_bytes()[16384:16392] == b"\x89HDF\r\n\x1a\n"
    assert model_file.load_model(moved) == model_file.load_model(plain)


def test_a_soft_link_within_the_file_is_followed(tmp_path):
    w = np.random.default_rng(3).normal(scale=0.01, size=(N_X, 1))
    path = write_model_file(tmp_path / "soft.h5", drop=("w",))
    with h5py.File(path, "a") as f:
        f.create_group("params")["weights"] = w
        f["w"] = h5py.SoftLink("/params/weights")
    np.testing.assert_array_equal(model_file.load_model(path).w, w)


def test_compressed_checked_datasets_load_as_written(tmp_path):
    x = images(70, seed=5)
    y = labels(70)
    path = tmp_path / "packed.h5"
    with h5py.File(path, "w") as f:
        packed = {"compression": "gzip", "shuffle": True, "fletcher32": True}
        stored = f.create_dataset("train_set_x", data=x, chunks=(64, 64, 64, 3), compression="gzip")
        # The last chunk as a writer may leave one that gzip would not shrink: not inflated.
        last = np.zeros((64, 64, 64, 3), dtype=np.uint8)
        last[:6] = x[64:]
        stored.id.write_direct_chunk((64, 0, 0, 0), last.tobytes(), filter_mask=1)
        f.create_dataset("train_set_y", data=y, chunks=(16,), **packed)
        f.create_dataset("list_classes", data=np.array([b"dog", b"cat"]), chunks=(1,), **packed)
        paths = [f"p/{i}.png" for i in range(70)]
        text = h5py.string_dtype()  # a checksum is not for variable-length values
        f.create_dataset(
            "train_set_paths", data=paths, dtype=text, compression="gzip", shuffle=True
        )
    for memory_limit in (None, 1):
        data, _ = datasets.load(path, memory_limit=memory_limit)
        np.testing.assert_array_equal(data.images, x)
        np.testing.assert_array_equal(data.labels, y)
        assert data.classes == ("dog", "cat")
        assert data.sources == [str(Path("p", f"{i}.png")) for i in range(70)]


def test_a_model_with_gzip_weights_loads(tmp_path):
    w = np.random.default_rng(4).normal(scale=0.01, size=(N_X, 1))
    path = write_model_file(tmp_path / "packed.h5", drop=("w",))
    with h5py.File(path, "a") as f:
        f.create_dataset("w", data=w, compression="gzip", shuffle=True, fletcher32=True)
    np.testing.assert_array_equal(model_file.load_model(path).w, w)


def test_a_set_left_in_its_file_is_read_only_while_it_is_that_file(tmp_path):
    path = tmp_path / "set.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = images(4)
        f["train_set_y"] = labels(4)
    data, _ = datasets.load(path, memory_limit=1)
    assert data.in_file
    with h5py.File(path, "a") as f:
        f.attrs["changed"] = 1
    with pytest.raises(DataError, match=r"set\.h5: changed while it was being read"):
        data.take([0])


# Values: a model whose z could overflow, texts read a slice at a time


def test_weights_whose_sum_stays_within_the_bound_score_every_picture(tmp_path):
    # sum(|w|) = 12288 * 8e295 = 9.8e299 <= 1e300: z is finite for any picture. By hand:
    # a black picture gives z = b, p = sigmoid(-1) = 0.268941; a white one z ~ 1e300, p = 1.
    path = write_model_file(tmp_path / "big.h5", w=np.full((N_X, 1), 8e295), b=np.float64(-1))
    uniform(tmp_path / "white.png", 255)
    uniform(tmp_path / "black.png", 0)
    result = invoke("predict", "-m", path, "black.png", "white.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "black.png\t0.268941\tnon-cat",
        "white.png\t1.000000\tcat",
    ]


def test_weights_just_beyond_the_bound_are_refused(tmp_path):
    path = write_model_file(tmp_path / "big.h5", w=np.full((N_X, 1), 8.2e295))
    with pytest.raises(ModelError, match=r"sum\(\|w\|\) \+ \|b\| is 1\.01e\+300, more than"):
        model_file.load_model(path)


@pytest.mark.filterwarnings("error")
def test_float128_weights_beyond_float64_are_refused_without_a_warning(tmp_path):
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("long double is float64 here")
    w = np.full((N_X, 1), np.longdouble(10) ** 400)
    path = write_model_file(tmp_path / "long.h5", w=w)
    with pytest.raises(ModelError, match=r"'w' holds NaN or infinite values"):
        model_file.load_model(path)


def test_texts_are_read_a_slice_at_a_time(tmp_path, monkeypatch):
    path = tmp_path / "texts.h5"
    texts = [f"text {i}".encode() for i in range(1000)]
    with h5py.File(path, "w") as f:
        f.create_dataset("t", data=texts, dtype=h5py.string_dtype("ascii"))
    reads = []
    monkeypatch.setattr(hdf5, "TEXT_READ_BYTES", 3 * path.stat().st_size)
    with h5py.File(path, "r") as f:
        node = f["t"]
        original = type(node).__getitem__

        def counted(self, key):
            reads.append(key)
            return original(self, key)

        monkeypatch.setattr(type(node), "__getitem__", counted)
        assert hdf5.read_texts(node, path, CatclfError, "t") == texts
    assert reads == [slice(i, i + 3) for i in range(0, 1000, 3)]


def test_an_empty_attribute_is_no_value(tmp_path):
    path = write_model_file(tmp_path / "empty.h5")
    with h5py.File(path, "a") as f:
        f.attrs["created"] = h5py.Empty("f8")
    assert model_file.load_model(path).created == ""


def test_a_small_file_of_many_compressed_images_is_scored_a_slice_at_a_time(tmp_path):
    # 40,000 black images: 491 MB of pixels in a file of under a megabyte. evaluate reads
    # them once, a slice at a time, so it runs in an address space smaller than they are.
    m = 40_000
    # One chunk of 64 black images, compressed once as HDF5's gzip filter does, stored 625
    # times: what h5py writes for them, without passing 491 MB through gzip.
    chunk = zlib.compress(bytes(64 * N_X), 4)
    path = tmp_path / "zeros.h5"
    with h5py.File(path, "w") as f:
        x = f.create_dataset(
            "test_set_x", (m, 64, 64, 3), np.uint8, chunks=(64, 64, 64, 3), compression="gzip"
        )
        for start in range(0, m, 64):
            x.id.write_direct_chunk((start, 0, 0, 0), chunk)
        f["test_set_y"] = np.arange(m) % 2
    assert path.stat().st_size < 2**20 < m * N_X // 400
    assert datasets.load_test(path, in_file=True).in_file
    limit = ["prlimit", f"--as={450 * 2**20}"]
    if subprocess.run([*limit, "true"], capture_output=True).returncode != 0:
        pytest.skip("prlimit cannot limit the address space here")
    result = catclf_run("evaluate", path, "-q", "--json", cwd=tmp_path, prefix=limit)
    assert result.returncode == 0, result.stderr
    # A black image is x = 0: every one gets sigmoid(b) of the bundled model, all alike.
    assert json.loads(result.stdout)["accuracy"] == 0.5
