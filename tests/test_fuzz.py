"""Property tests: whatever the bytes, shapes or values, catclf reads them correctly or raises
its own error with a one-line message; the math stays finite and its gradients right.

The profile is deterministic (derandomized, no example database), so CI sees the same
examples every run, and small enough that the whole file takes seconds.
"""

from __future__ import annotations

import io
import math
import tempfile
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import N_X, write_model_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from catclf import bounds
from catclf import model as model_file
from catclf.coursefiles import read_hdf5
from catclf.errors import CatclfError, DataError, ImageError, ModelError
from catclf.images import load_image
from catclf.logistic import cost_from_z, propagate, sigmoid

settings.register_profile(
    "catclf",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("catclf")
PILLOW = Path(Image.__file__).parent


def assert_one_line(error: CatclfError, name: str) -> None:
    message = str(error)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message and message.strip() == message


# Images


def seed_images() -> dict[str, bytes]:
    """A small picture in every format catclf is likely to meet."""
    rng = np.random.default_rng(3)
    picture = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    found = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM"):
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt)
        found[fmt] = buffer.getvalue()
    return found


SEEDS = seed_images()


def check_image(data: bytes) -> None:
    # Pillow's warnings about damaged metadata are the program's to filter (the command line
    # ignores them all); catclf itself warns of nothing.
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        try:
            pixels = load_image(data, name="fuzzed")
        except ImageError as e:
            assert_one_line(e, "fuzzed")
        else:
            assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    assert [w.filename for w in escaped if Path(w.filename).parent != PILLOW] == []


@settings(max_examples=60)
@given(st.binary(max_size=4096))
def test_random_bytes_are_an_image_or_an_image_error(data):
    check_image(data)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "insert", "delete"]))
        if how == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 64))]
        if not data:
            break
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@settings(max_examples=150)
@given(mutated())
def test_mutated_images_are_an_image_or_an_image_error(data):
    check_image(data)


@settings(max_examples=150)
@given(mutated())
def test_the_structure_of_a_mutated_image_is_surveyed_or_refused_in_one_line(data):
    # Before Pillow reads a file, its markers, chunks or tags are walked: whatever they say,
    # the walk ends with what decoding would cost, or a reason to refuse the file.
    try:
        survey = bounds.survey(io.BytesIO(data), len(data))
    except bounds.Unfit as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert survey.held >= 0 and survey.coefficients >= 0


# HDF5 data sets


@st.composite
def course_file(draw):
    m = draw(st.integers(0, 3))
    x_dtype = draw(st.sampled_from([np.uint8, np.uint8, np.float32, np.int16]))
    x_tail = draw(st.sampled_from([(64, 64, 3), (64, 64, 3), (32, 32, 3), (64, 64)]))
    x = np.random.default_rng(m).integers(0, 256, (m, *x_tail)).astype(x_dtype)
    labels = draw(
        st.lists(st.sampled_from([0, 1, 1, 0, 2, -1, 0.5, math.nan]), min_size=m, max_size=m + 1)
    )
    y = np.array(labels, dtype=np.float64)
    y_kind = draw(st.sampled_from(["int64", "uint8", "float64", "bool", "row", "text"]))
    if y_kind == "row":
        y = y.reshape(1, -1)
    elif y_kind == "text":
        y = np.array([str(v).encode() for v in labels], dtype="S8")
    elif np.all(np.isfinite(y)):
        y = y.astype(y_kind)
    prefix = draw(st.sampled_from(["train_set", "test_set", "other"]))
    content = {f"{prefix}_x": x, f"{prefix}_y": y}
    for name in draw(st.sets(st.sampled_from(sorted(content)), max_size=1)):
        del content[name]
    classes = draw(st.sampled_from([None, [b"non-cat", b"cat"], [b"one"], [1, 2]]))
    if classes is not None:
        content["list_classes"] = np.array(classes)
    if draw(st.booleans()):
        content["extra"] = np.arange(3)
    return content


@given(course_file())
def test_hdf5_data_is_read_as_written_or_a_data_error(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.h5"
        with h5py.File(path, "w") as f:
            for name, value in content.items():
                f.create_dataset(name, data=value)
        try:
            data = read_hdf5(path)
        except DataError as e:
            assert_one_line(e, str(path))
            return
    prefix = "train_set" if "train_set_x" in content else "test_set"
    np.testing.assert_array_equal(data.images, content[f"{prefix}_x"])
    np.testing.assert_array_equal(data.labels, content[f"{prefix}_y"].reshape(-1))
    assert set(np.unique(data.labels)) <= {0, 1}


# Model files


NUMERIC_ATTRIBUTES = [
    "format_version",
    "image_size",
    "channels",
    "learning_rate",
    "num_iterations",
    "final_cost",
    "test_accuracy",
]


@st.composite
def model_changes(draw):
    datasets = {}
    w_shape = draw(st.sampled_from([(N_X, 1), (N_X, 1), (N_X,), (1, N_X), (N_X, 2), (3, 1)]))
    w_dtype = draw(st.sampled_from([np.float64, np.float32, np.int32, np.float16]))
    w = np.random.default_rng(7).normal(size=w_shape).astype(w_dtype)
    if draw(st.booleans()) and w.dtype.kind == "f":
        w.reshape(-1)[draw(st.integers(0, w.size - 1))] = draw(
            st.sampled_from([math.nan, math.inf, -math.inf])
        )
    datasets["w"] = w
    datasets["b"] = draw(
        st.sampled_from(
            [np.float64(0.25), np.float64(math.nan), np.array([1.0]), np.int64(2), np.float32(-1.5)]
        )
    )
    datasets["costs"] = draw(
        st.sampled_from(
            [
                np.array([0.69, 0.5]),
                np.zeros((2, 2)),
                np.array([math.nan]),
                np.array(["a"], dtype="S1"),
            ]
        )
    )
    attrs = {}
    for name in draw(st.sets(st.sampled_from(NUMERIC_ATTRIBUTES), max_size=2)):
        attrs[name] = draw(st.sampled_from([b"two", "", math.nan, math.inf, 10**6, -1, [1, 2]]))
    drop = draw(
        st.sets(
            st.sampled_from(
                ["w", "b", "costs", "format", "classes", "created", *NUMERIC_ATTRIBUTES]
            ),
            max_size=2,
        )
    )
    if draw(st.booleans()):
        datasets["extra"] = np.arange(4)
    return datasets, attrs, tuple(drop)


@given(model_changes())
def test_a_model_loads_as_written_or_is_a_model_error(change):
    datasets, attrs, drop = change
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.h5"
        write_model_file(path, attrs=attrs, drop=drop, **datasets)
        try:
            loaded = model_file.load_model(path)
        except ModelError as e:
            assert_one_line(e, str(path))
            return
    assert loaded.w.shape == (N_X, 1)
    np.testing.assert_array_equal(loaded.w, datasets["w"].astype(np.float64))
    assert np.all(np.isfinite(loaded.w)) and math.isfinite(loaded.b)


# The math


finite_z = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=100)
@given(st.lists(finite_z, min_size=1, max_size=20), st.data())
def test_sigmoid_and_cost_stay_finite(zs, data):
    Z = np.array([zs])
    Y = np.array(
        [data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(zs), max_size=len(zs)))]
    )
    # Underflow to 0 is the right answer far out; overflow or NaN would not be.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = sigmoid(Z)
        cost = cost_from_z(Z, Y)
    assert np.all((A >= 0) & (A <= 1))
    assert math.isfinite(cost) and cost >= 0
    # By hand: -log(sigmoid(z)) is about -z for z << 0, so the cost is at most mean(|z|) + ln 2.
    assert cost <= float(np.mean(np.abs(Z))) + math.log(2) + 1e-9


@settings(max_examples=25)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 8), st.floats(0.01, 10.0))
def test_gradients_match_finite_differences(seed, n, m, scale):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=scale, size=(n, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    w = rng.normal(size=(n, 1))
    b = float(rng.normal())
    grads, _ = propagate(w, b, X, Y)
    eps = 1e-6

    def cost(w_, b_):
        return propagate(w_, b_, X, Y)[1]

    for i in range(n):
        step = np.zeros_like(w)
        step[i] = eps
        numeric = (cost(w + step, b) - cost(w - step, b)) / (2 * eps)
        assert grads["dw"][i, 0] == pytest.approx(numeric, rel=1e-4, abs=1e-6)
    assert grads["db"] == pytest.approx(
        (cost(w, b + eps) - cost(w, b - eps)) / (2 * eps), rel=1e-4, abs=1e-6
    )
