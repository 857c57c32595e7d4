"""A model as a standard ONNX file, for any ONNX runtime: the pixels in, P(cat) out.

The graph uses operators of the default domain only, at opset 13, in a file of IR version
7: what ONNX 1.8 defined in 2020, so that runtimes of many years run it:

    pixels       uint8 (N, 64, 64, 3), N images of 64 rows of 64 pixels of R, G, B
    Cast         to float64
    Flatten      (N, 12288), each image in C order, as catclf flattens it
    Div          by 255
    MatMul, Add  z = x w + b, with w (12288, 1) and b, float64
    Sigmoid
    probability  float64 (N, 1), P(positive class)

Every step is in float64, as catclf's own: the 12288 additions of the product, in whatever
order a runtime makes them, are the only difference, and move a probability by about 1e-15
(in float32 the same graph would be some 4e-7 away). onnxruntime's Sigmoid is exact to the
last bit of 1, not relative to p: a probability below about 1e-16 comes out as 0.

The pixels are catclf's input to the model, made as `catclf.images.load_image` makes them
(decoded, upright, RGB on white, resized with Lanczos); the file says so in its metadata
(metadata_props, all strings), with:
- classes: the two names as a JSON list, negative first (["non-cat", "cat"]);
- positive_class: the class whose probability is the output;
- preprocessing: the contract in words; preprocessing_json: the same for programs;
- catclf_version: the catclf that wrote the file;
- learning_rate, num_iterations, l2, train_examples, train_accuracy, and, when known,
  test_examples, test_accuracy and created: what training recorded, as numbers in text.
Where the data came from (train_data, a path on the trainer's machine) stays out of a file
that is made to be shared.

onnx is an optional extra (`pip install 'catclf[onnx]'`), imported only in the functions
that need it. The file is written as the model file is (`catclf.files`): atomically, and
never over a file that is not one catclf wrote unless forced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from catclf._version import __version__
from catclf.errors import ExportError, MissingPackage, ParameterError
from catclf.files import check_file, write_file
from catclf.images import CHANNELS, DRAFT_SIDE, IMAGE_SIZE, N_X, PREPROCESSING
from catclf.model import Model

if TYPE_CHECKING:
    import onnx

OPSET = 13
IR_VERSION = 7
PRODUCER = "catclf"
INPUT = "pixels"
OUTPUT = "probability"
INSTALL = "pip install 'catclf[onnx]', or pip install onnx"
# A file catclf writes holds w (12288 float64, 96 KiB) and a few names and numbers: a larger
# file is someone else's, and is not read whole to find that out.
MAX_OURS = 1 << 20

PIXELS = (
    f"uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}): N images, each {IMAGE_SIZE} rows "
    f"from the top, {IMAGE_SIZE} pixels from the left, R, G, B"
)
CONTRACT = (
    f"input {INPUT!r}: {PIXELS}, made as catclf.images.load_image makes them, by catclf's "
    f"preprocessing, of which the graph does the last two steps: {PREPROCESSING}"
)
CONTRACT_JSON: dict[str, Any] = {
    "input": INPUT,
    "dtype": "uint8",
    "shape": ["N", IMAGE_SIZE, IMAGE_SIZE, CHANNELS],
    "layout": "NHWC",
    "channels": "RGB",
    "made_by": "catclf.images.load_image",
    "frame": "first",
    "jpeg_reduced_scale": {"min_side": DRAFT_SIDE, "decoder": "Pillow draft"},
    "exif_orientation": "applied",
    "high_bit_depth": "scaled to 8 bits",
    "transparency": {"composited_on": [255, 255, 255]},
    "resize": {
        "size": [IMAGE_SIZE, IMAGE_SIZE],
        "filter": "Pillow LANCZOS",
        "keep_aspect_ratio": False,
        "when": "not already that size",
    },
    "in_graph": ["flatten each image in C order", "divide by 255", "sigmoid(x w + b)"],
    "output": OUTPUT,
}


def onnx_model(model: Model) -> onnx.ModelProto:
    """model as an ONNX graph: input pixels, uint8 (N, 64, 64, 3); output probability,
    float64 (N, 1), P(model.classes[1]), with the metadata the module's docstring lists.

    Raises MissingPackage when the onnx package is not installed."""
    try:
        # here: onnx is an optional extra, imported only to export
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        raise _missing() from e
    if not isinstance(model, Model):
        raise ParameterError(
            "model", model, "a catclf.Model", said=f"an object of type {type(model).__name__}"
        )
    negative, positive = model.classes
    nodes = [
        helper.make_node("Cast", [INPUT], ["values"], to=TensorProto.DOUBLE, name="cast"),
        helper.make_node("Flatten", ["values"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Div", ["flat", "scale"], ["x"], name="divide"),
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="weigh"),
        helper.make_node("Add", ["xw", "b"], ["z"], name="bias"),
        helper.make_node("Sigmoid", ["z"], [OUTPUT], name="sigmoid"),
    ]
    weights = [
        numpy_helper.from_array(np.array(255.0, dtype=np.float64), "scale"),
        numpy_helper.from_array(np.asarray(model.w, dtype=np.float64).reshape(N_X, 1), "w"),
        numpy_helper.from_array(np.array([model.b], dtype=np.float64), "b"),
    ]
    pixels = helper.make_tensor_value_info(
        INPUT, TensorProto.UINT8, ["N", IMAGE_SIZE, IMAGE_SIZE, CHANNELS], doc_string=PIXELS
    )
    probability = helper.make_tensor_value_info(
        OUTPUT,
        TensorProto.DOUBLE,
        ["N", 1],
        doc_string=_text(f"P({positive}) of each image, float64 (N, 1)"),
    )
    doc = _text(
        f"catclf logistic regression: probability = sigmoid(x w + b), x the {N_X} pixels "
        f"of each image flattened in C order and divided by 255, w ({N_X}, 1) and b learnt "
        f"by gradient descent; classes {negative!r} (0) and {positive!r} (1)"
    )
    graph = helper.make_graph(nodes, "catclf", [pixels], [probability], weights, doc_string=doc)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
        producer_version=__version__,
        doc_string=doc,
    )
    helper.set_model_props(proto, metadata(model))
    return proto


def metadata(model: Model) -> dict[str, str]:
    """The metadata_props of model's ONNX file, each a string."""
    found = {
        "classes": _json(list(model.classes)),
        "positive_class": _text(model.classes[1]),
        "preprocessing": CONTRACT,
        "preprocessing_json": json.dumps(CONTRACT_JSON),
        "catclf_version": __version__,
        "learning_rate": repr(float(model.settings.learning_rate)),
        "num_iterations": str(model.settings.num_iterations),
        "l2": repr(float(model.settings.l2)),
        "train_examples": str(model.train_examples),
        "train_accuracy": repr(float(model.train_accuracy)),
    }
    if model.test_accuracy is not None:
        found["test_examples"] = str(model.test_examples)
        found["test_accuracy"] = repr(float(model.test_accuracy))
    if model.created:
        found["created"] = _text(model.created)
    return found


def write_onnx(
    model: Model,
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write model to path as an ONNX file (`onnx_model`), atomically: a temporary file in the
    same folder, then a rename. The file written: path, or the file a link at path leads to.

    Replaces an ONNX file catclf wrote, or with force any other regular file; never a
    folder, device, FIFO or socket, nor one of inputs (the files the model was read from),
    even with force (see `catclf.files.check_file`). What is at path is checked again just
    before the rename, and on_saved() called as soon as the file is in place (see
    `catclf.files.write_file`). Raises MissingPackage when the onnx package is not installed,
    ExportError when the file cannot be written there.
    """
    proto = onnx_model(model)
    return write_file(
        Path(path),
        proto.SerializeToString(),
        lambda at: check_target(at, force=force, inputs=inputs),
        lambda target, why: ExportError(f"{target}: cannot write the ONNX file ({why})"),
        ExportError,
        "the ONNX file",
        on_saved=on_saved,
    )


def check_target(path: Path, *, force: bool = False, inputs: Sequence[Path] = ()) -> Path:
    """The file to write the ONNX file to for path: path, or the file a link at path leads
    to; raises ExportError unless catclf may write it there (`catclf.files.check_file`)."""
    return check_file(
        path,
        ours=is_ours,
        not_ours="is not an ONNX file catclf wrote",
        error=ExportError,
        force=force,
        inputs=inputs,
        what="the ONNX file",
    )


def is_ours(f: BinaryIO) -> bool:
    """Whether the open file is an ONNX file catclf wrote: at most MAX_OURS bytes, that parse
    as an ONNX model whose producer is catclf."""
    data = f.read(MAX_OURS + 1)
    if len(data) > MAX_OURS:
        return False
    try:
        from onnx import ModelProto  # here: onnx is an optional extra, imported only to export
    except ImportError as e:
        raise _missing() from e
    try:
        proto = ModelProto.FromString(data)
    except Exception:  # protobuf's DecodeError, and whatever else bytes that are not ONNX give
        return False
    return proto.producer_name == PRODUCER


def require() -> None:
    """Raise MissingPackage, saying how to install it, unless onnx can be imported."""
    try:
        import onnx  # noqa: F401  # here: onnx is an optional extra, imported only to export
    except ImportError as e:
        raise _missing() from e


def _missing() -> MissingPackage:
    """The error of a system without the onnx package, saying how to install it."""
    return MissingPackage("writing an ONNX file", "onnx", INSTALL)


def _text(text: str) -> str:
    """text as ONNX stores a string, UTF-8: itself, or, for a name that is not UTF-8 (a
    folder's name, which Python holds with lone surrogates), its bytes with the ones that are
    not UTF-8 written as escapes (\\xe9)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _json(value: object) -> str:
    """value as JSON that ONNX can store: with its characters as they are, or, for a name that
    is not UTF-8, with \\u escapes, from which json.loads gives the same str back."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text
