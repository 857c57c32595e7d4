"""The ONNX file: onnxruntime gives, from the same pixels, the probabilities catclf gives
(and, for a hand-made model, those worked out by hand); the graph is standard ONNX; the file
says what it is; it is written as catclf writes files; the docs' snippets run."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import BUNDLED_MODEL, N_X, SAMPLES, listing, save_png
from occupants import FOREIGN, SPECIAL, is_special, make_foreign, make_special
from PIL import Image

import catclf
from catclf import onnxfile
from catclf.errors import CatclfError, ExportError, MissingPackage, ParameterError
from catclf.images import is_image_name, load_image
from catclf.model import Model, Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "onnx.md"
AGREE = 1e-6  # what the docs promise: catclf's probability, from any runtime
PHOTOS = sorted(p for p in SAMPLES.iterdir() if is_image_name(p))


def make_model(w=None, b=0.0, *, classes=("dog", "cat"), test_accuracy=0.6, created=None):
    return Model(
        w=np.zeros((N_X, 1)) if w is None else w,
        b=b,
        settings=Settings(learning_rate=0.01, num_iterations=300, l2=0.25),
        costs=(math.log(2), 0.5),
        final_cost=0.5,
        classes=classes,
        train_examples=10,
        train_accuracy=0.9,
        test_examples=0 if test_accuracy is None else 5,
        test_accuracy=test_accuracy,
        train_data="/home/someone/photos",
        created="2024-01-02T03:04:05+00:00" if created is None else created,
    )


def session(source):
    """An onnxruntime session of a file, or of a model's ONNX bytes."""
    if isinstance(source, onnx.ModelProto):
        source = source.SerializeToString()
    return ort.InferenceSession(
        source if isinstance(source, bytes) else str(source), providers=["CPUExecutionProvider"]
    )


def probabilities(runner, pixels):
    (out,) = runner.run(["probability"], {"pixels": pixels})
    return out


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled model and its ONNX file."""
    model = catclf.load_model(BUNDLED_MODEL)
    path = onnxfile.write_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


# What onnxruntime computes


def test_a_hand_made_model_gives_the_probabilities_worked_out_by_hand():
    # w weighs three pixel values, named by (row, column, channel) and their place in C
    # order: red of the top-left pixel (0), its blue (2), blue of the bottom-right (12287).
    w = np.zeros((N_X, 1))
    w[0], w[2], w[N_X - 1] = 1.0, 3.0, -5.0
    model = make_model(w, b=0.5)
    pixels = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    pixels[0, 0, 0, 0], pixels[0, 63, 63, 2] = 255, 51  # z = 1 - 5 * 0.2 + 0.5 = 0.5
    pixels[1, 0, 0, 2] = 255  # z = 3 + 0.5 = 3.5
    pixels[2] = 255  # z = 1 + 3 - 5 + 0.5 = -0.5
    # 1 / (1 + e^-z): e^-0.5 = 0.6065306597126334, e^-3.5 = 0.0301973834223185.
    by_hand = [1 / 1.6065306597126334, 1 / 1.0301973834223185, 1 - 1 / 1.6065306597126334]
    out = probabilities(session(onnxfile.onnx_model(model)), pixels)
    assert out.shape == (3, 1) and out.dtype == np.float64
    assert out[:, 0] == pytest.approx(by_hand, abs=1e-12)
    assert out[:, 0] == pytest.approx(model.predict_proba(pixels), abs=AGREE)


def test_the_bundled_model_gives_catclfs_probabilities_on_the_course_test_set(bundled):
    model, path = bundled
    images = catclf.load_data()[1].images
    assert images.shape == (50, 64, 64, 3)
    out = probabilities(session(path), images)
    assert np.max(np.abs(out[:, 0] - model.predict_proba(images))) <= AGREE


def test_the_bundled_model_gives_catclfs_probabilities_on_the_sample_photos(bundled):
    model, path = bundled
    pixels = np.stack([load_image(photo) for photo in PHOTOS])
    out = probabilities(session(path), pixels)
    assert np.max(np.abs(out[:, 0] - model.predict_proba(PHOTOS))) <= AGREE
    # The figure the README gives for the sample cat.
    assert out[PHOTOS.index(SAMPLES / "cat_chelsea.png"), 0] == pytest.approx(0.788323, abs=5e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_weights_and_pixels_give_catclfs_probabilities(seed):
    # Weights spread wide enough that the logits run from far below 0 to far above it.
    rng = np.random.default_rng(seed)
    model = make_model(rng.normal(scale=0.05, size=(N_X, 1)), b=float(rng.normal(scale=3)))
    pixels = rng.integers(0, 256, size=(20, 64, 64, 3), dtype=np.uint8)
    out = probabilities(session(onnxfile.onnx_model(model)), pixels)
    assert np.max(np.abs(out[:, 0] - model.predict_proba(pixels))) <= AGREE


@pytest.mark.parametrize("b", [-40.0, -10.0, 10.0, 40.0])
def test_a_probability_near_0_or_1_is_catclfs_to_the_last_bit_of_1(b):
    # onnxruntime's Sigmoid is exact to a unit in the last place of 1 (2.2e-16), not
    # relative to p: at z = -40 it gives 0 where 1 / (1 + e^40) is 4.2e-18 (docs/onnx.md).
    model = make_model(b=b)
    out = probabilities(session(onnxfile.onnx_model(model)), np.zeros((1, 64, 64, 3), np.uint8))
    assert abs(out[0, 0] - 1 / (1 + math.exp(-b))) <= 2.3e-16
    assert abs(out[0, 0] - model.predict_proba(np.zeros((64, 64, 3), np.uint8))) <= 2.3e-16


def test_one_file_takes_any_number_of_images(bundled):
    model, path = bundled
    runner = session(path)
    images = catclf.load_data()[1].images
    one_by_one = [probabilities(runner, images[i : i + 1]) for i in range(50)]
    assert {p.shape for p in one_by_one} == {(1, 1)}
    together = probabilities(runner, images)
    assert together.shape == (50, 1)
    assert np.max(np.abs(np.concatenate(one_by_one) - together)) <= AGREE
    assert probabilities(runner, images[:0]).shape == (0, 1)


# The graph


def test_the_graph_is_standard_onnx_of_the_default_domain(bundled):
    proto = onnx.load(bundled[1])
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 13)]
    assert proto.ir_version == 7
    nodes = proto.graph.node
    assert {node.domain for node in nodes} == {""}
    assert [node.op_type for node in nodes] == [
        "Cast",
        "Flatten",
        "Div",
        "MatMul",
        "Add",
        "Sigmoid",
    ]
    (given,) = proto.graph.input
    (made,) = proto.graph.output
    assert given.name == "pixels" and made.name == "probability"
    assert given.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert made.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    dims = [d.dim_param or d.dim_value for d in given.type.tensor_type.shape.dim]
    assert dims == ["N", 64, 64, 3]
    assert [d.dim_param or d.dim_value for d in made.type.tensor_type.shape.dim] == ["N", 1]
    assert proto.producer_name == "catclf" and proto.producer_version == catclf.__version__
    assert "sigmoid" in proto.graph.doc_string and "'cat'" in proto.graph.doc_string


def test_the_graph_holds_the_models_w_and_b(bundled):
    model, path = bundled
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    assert np.array_equal(stored["w"], model.w) and stored["w"].dtype == np.float64
    assert stored["b"].tolist() == [model.b]


# What the file says of itself


def test_the_metadata_says_the_classes_the_pixels_and_the_training(tmp_path):
    path = onnxfile.write_onnx(make_model(), tmp_path / "model.onnx")
    meta = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["dog", "cat"]
    assert meta["positive_class"] == "cat"
    assert meta["catclf_version"] == catclf.__version__
    assert float(meta["learning_rate"]) == 0.01 and int(meta["num_iterations"]) == 300
    assert float(meta["l2"]) == 0.25
    assert int(meta["train_examples"]) == 10 and float(meta["train_accuracy"]) == 0.9
    assert int(meta["test_examples"]) == 5 and float(meta["test_accuracy"]) == 0.6
    assert meta["created"] == "2024-01-02T03:04:05+00:00"
    assert "/home/someone" not in path.read_bytes().decode("utf-8", "replace")
    words = meta["preprocessing"]
    for step in ("uint8 (N, 64, 64, 3)", "first frame", "EXIF", "white", "LANCZOS", "C order"):
        assert step in words, step
    contract = json.loads(meta["preprocessing_json"])
    assert contract["shape"] == ["N", 64, 64, 3] and contract["dtype"] == "uint8"
    assert (contract["layout"], contract["channels"]) == ("NHWC", "RGB")
    assert contract["transparency"] == {"composited_on": [255, 255, 255]}
    assert contract["resize"]["size"] == [64, 64] and "LANCZOS" in contract["resize"]["filter"]
    assert contract["jpeg_reduced_scale"]["min_side"] == 256


def test_a_model_without_a_test_set_says_nothing_of_one(tmp_path):
    meta = onnxfile.metadata(make_model(test_accuracy=None, created=""))
    assert not {"test_examples", "test_accuracy", "created"} & set(meta)


def test_a_class_name_that_is_not_utf8_is_written_and_read_back(tmp_path):
    name = os.fsdecode(b"caf\xe9")  # a folder's name in Latin-1, as Python holds it
    model = make_model(classes=("non-cat", name))
    path = onnxfile.write_onnx(model, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    meta = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["non-cat", name]
    assert meta["positive_class"] == "caf\\xe9"


def test_onnx_model_takes_only_a_model():
    with pytest.raises(ParameterError, match="model is an object of type str, expected"):
        onnxfile.onnx_model("model.h5")


# How the file is written


def test_the_file_is_written_whole_with_nothing_left_beside_it(tmp_path):
    target = onnxfile.write_onnx(make_model(b=1.0), str(tmp_path / "model.onnx"))
    assert target == tmp_path / "model.onnx"
    assert listing(tmp_path) == ["model.onnx"]
    assert onnx.load(target).SerializeToString() == target.read_bytes()


def test_an_onnx_file_catclf_wrote_is_replaced(tmp_path):
    path = onnxfile.write_onnx(make_model(b=1.0), tmp_path / "model.onnx")
    onnxfile.write_onnx(make_model(b=-1.0), path)
    black = np.zeros((1, 64, 64, 3), np.uint8)
    assert probabilities(session(path), black)[0, 0] == pytest.approx(1 / (1 + math.e))


def someone_elses_onnx(path):
    """A valid ONNX file that another program wrote: the identity of a float."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph, producer_name="someone"), path)
    return path


@pytest.mark.parametrize("kind", [*FOREIGN, "someone else's ONNX"])
def test_another_file_is_replaced_only_with_force(tmp_path, kind):
    path = tmp_path / "model.onnx"
    if kind == "someone else's ONNX":
        someone_elses_onnx(path)
    else:
        make_foreign(path, kind)
    before = path.read_bytes()
    with pytest.raises(ExportError) as refused:
        onnxfile.write_onnx(make_model(), path)
    assert str(refused.value) == (
        f"{path}: is not an ONNX file catclf wrote; force=True replaces it"
    )
    assert path.read_bytes() == before
    onnxfile.write_onnx(make_model(b=2.0), path, force=True)
    black = np.zeros((1, 64, 64, 3), np.uint8)
    assert probabilities(session(path), black)[0, 0] == pytest.approx(1 / (1 + math.exp(-2)))
    assert listing(tmp_path) == ["model.onnx"]


def test_a_catclf_file_too_large_to_be_one_catclf_writes_is_not_taken_for_one(tmp_path):
    proto = onnxfile.onnx_model(make_model())
    onnx.helper.set_model_props(proto, {"padding": "x" * onnxfile.MAX_OURS})
    path = tmp_path / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ExportError, match="is not an ONNX file catclf wrote"):
        onnxfile.write_onnx(make_model(), path)


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_a_device_fifo_socket_or_folder_is_never_replaced(tmp_path, kind, force):
    path = make_special(tmp_path / "model.onnx", kind)
    with pytest.raises(ExportError, match=f"model.onnx: is a {re.escape(SPECIAL[kind])}, not a"):
        onnxfile.write_onnx(make_model(), path, force=force)
    assert is_special(path, kind)
    assert listing(tmp_path) == ["model.onnx"]


def test_the_model_file_it_was_read_from_is_never_replaced(tmp_path):
    source = tmp_path / "model.h5"
    make_model().save(source)
    before = source.read_bytes()
    with pytest.raises(ExportError, match="is an input of this command"):
        onnxfile.write_onnx(catclf.load_model(source), source, force=True, inputs=[source])
    assert source.read_bytes() == before


def test_a_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ExportError) as refused:
        onnxfile.write_onnx(make_model(), tmp_path / "nowhere" / "model.onnx")
    assert str(refused.value) == (
        f"{tmp_path / 'nowhere' / 'model.onnx'}: cannot write the ONNX file: "
        f"{tmp_path / 'nowhere'} does not exist"
    )


# Without the onnx package


def test_without_onnx_writing_says_what_to_install_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails, as if missing
    for call in (
        lambda: onnxfile.onnx_model(make_model()),
        lambda: onnxfile.write_onnx(make_model(), tmp_path / "model.onnx"),
    ):
        with pytest.raises(MissingPackage) as missing:
            call()
        error = missing.value
        assert isinstance(error, CatclfError) and error.package == "onnx"
        assert str(error) == (
            "writing an ONNX file needs the onnx package, which is not installed: "
            "pip install 'catclf[onnx]', or pip install onnx"
        )
    assert listing(tmp_path) == []


def test_catclf_imports_its_onnx_module_without_onnx(tmp_path):
    # A process of its own, where onnx was never imported: the module imports without it.
    code = (
        "import sys\n"
        "sys.modules['onnx'] = None\n"
        "import catclf, catclf.onnxfile\n"
        "try:\n"
        "    catclf.onnxfile.write_onnx(catclf.load_model(), 'model.onnx')\n"
        "except catclf.CatclfError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("MissingPackage writing an ONNX file needs the onnx package")
    assert listing(tmp_path) == []


# The docs


def snippets():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    """A folder where a user ran the docs' first snippet (which writes model.onnx) and keeps
    the sample photos."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "sample_images").symlink_to(SAMPLES)
    run_snippet(snippets()[0], folder)
    return folder


def run_snippet(code, folder):
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_the_docs_give_three_snippets():
    assert len(snippets()) == 3


def test_the_docs_snippet_writes_the_bundled_model(user_folder):
    path = user_folder / "model.onnx"
    assert (
        onnx.load(path).SerializeToString()
        == onnxfile.onnx_model(catclf.load_model(BUNDLED_MODEL)).SerializeToString()
    )
    assert f"The bundled model's file is {path.stat().st_size:,} bytes" in DOC.read_text()


def test_the_docs_snippet_with_catclfs_pixels_prints_catclfs_probability(user_folder):
    printed = float(run_snippet(snippets()[1], user_folder))
    expected = catclf.load_model(BUNDLED_MODEL).predict_proba(SAMPLES / "cat_chelsea.png")
    assert printed == pytest.approx(expected, abs=AGREE)


def test_the_docs_snippet_without_catclf_prints_catclfs_probabilities(user_folder):
    code = snippets()[2]
    assert not re.search(r"^\s*(import|from) catclf", code, re.M)
    lines = run_snippet(code, user_folder).splitlines()
    model = catclf.load_model(BUNDLED_MODEL)
    assert len(lines) == 2
    for line in lines:
        photo, printed = line.rsplit(" ", 1)
        expected = model.predict_proba(SAMPLES.parent / photo)
        assert float(printed) == pytest.approx(expected, abs=AGREE)


def pillow_pixels():
    """The docs' Pillow-only catclf_pixels, defined as the snippet defines it."""
    code = snippets()[2]
    scope: dict = {}
    exec(code[: code.index("\nsession = ")], scope)  # the docs' own function, as written
    return scope["catclf_pixels"]


def awkward_photos(folder):
    """8-bit photos that take each step of the Pillow-only recipe: large JPEGs turned by
    EXIF, transparency in a palette, gray with alpha, RGBA, gray JPEG."""
    rng = np.random.default_rng(0)
    made = []
    base = np.clip(
        np.add.outer(np.arange(800) / 4, np.arange(1200) / 6)[..., None]
        + rng.normal(0, 20, (800, 1200, 3)),
        0,
        255,
    ).astype(np.uint8)
    for turn in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = turn
        path = folder / f"turned{turn}.jpg"
        Image.fromarray(base).save(path, exif=exif, quality=90)
        made.append(path)
    palette = Image.fromarray(base[:300, :400]).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(folder / "palette.png", transparency=0)
    gray_alpha = Image.fromarray(base[:200, :300, 0]).convert("LA")
    gray_alpha.putalpha(Image.fromarray(base[:200, :300, 1]))
    gray_alpha.save(folder / "gray_alpha.png")
    rgba = Image.fromarray(base[:250, :350]).convert("RGBA")
    rgba.putalpha(Image.fromarray(base[:250, :350, 2]))
    rgba.save(folder / "rgba.png")
    Image.fromarray(base[:, :, 0]).save(folder / "gray.jpg")
    save_png(folder / "small.png", base[:64, :64])
    return [
        *made,
        *(
            folder / n
            for n in ("palette.png", "gray_alpha.png", "rgba.png", "gray.jpg", "small.png")
        ),
    ]


def test_the_docs_pillow_recipe_makes_catclfs_pixels(tmp_path):
    catclf_pixels = pillow_pixels()
    for photo in [*PHOTOS, *awkward_photos(tmp_path)]:
        assert np.array_equal(catclf_pixels(photo), load_image(photo)), photo.name
