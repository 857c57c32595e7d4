"""A page that runs a model in any browser: one self-contained HTML file.

The page holds w (base64 of little-endian float64), b, the class names, and the
preprocessing contract: what the page needs to know of this Python's catclf and Pillow to
give `catclf predict`'s pixels (`contract`). Its scripts and style are read from the package
(catclf/web/); they decode the photo in the browser (PNG and BMP in the page's own code,
everything else by the browser), turn it upright as its EXIF says, composite transparency
on white and resize it to 64x64 with Pillow's Lanczos arithmetic, then show the
probability, the label and the map of each pixel's contribution to the logit.

The page loads nothing: its Content-Security-Policy forbids every request, and allows only
its own inline script and style (by their hashes) and images made in the page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import string
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import PIL
from PIL import Image

from catclf._version import __version__
from catclf.errors import ExportError
from catclf.files import check_file, write_file
from catclf.images import DRAFT_SIDE, IMAGE_SIZE, MAX_IMAGE_BYTES
from catclf.wording import percent, printable

if TYPE_CHECKING:
    from catclf.model import Model

FORMAT = "catclf-page"
# The page's scripts, in the order they run: each defines one object the later ones use.
SCRIPTS = (
    "jpeg.js",
    "orientation.js",
    "png.js",
    "bmp.js",
    "pixels.js",
    "resample.js",
    "decode.js",
    "preprocess.js",
    "model.js",
    "draw.js",
    "page.js",
)
STYLE = "page.css"
TEMPLATE = "page.html"
# A page says it is catclf's in its first lines (the generator meta); this many bytes are
# read to tell.
HEAD_BYTES = 1024
GENERATOR = f'<meta name="generator" content="{FORMAT} '.encode()
# The JPEG decoded at each of these scales, 1/1 to 1/8, as the page checks its browser.
PROBE_SCALES = (1, 2, 4, 8)
PROBE_SIZE = 64
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 16777619


def page_html(model: Model) -> str:
    """The page of model, as text: one HTML document with everything it needs inside."""
    negative, positive = (printable(name) for name in model.classes)
    script = "\n".join(_read(name) for name in SCRIPTS)
    style = _read(STYLE)
    for text, tag in ((script, "script"), (style, "style")):
        if f"</{tag}" in text.lower():  # it would end the element early
            raise ValueError(f"the page's {tag} holds </{tag}")
    data = {
        "format": FORMAT,
        "classes": [negative, positive],
        "image_size": IMAGE_SIZE,
        "w": base64.b64encode(np.asarray(model.w, dtype="<f8").tobytes()).decode("ascii"),
        "b": model.b,
        "preprocessing": contract(),
    }
    # Escaped so that nothing in it, a class name included, can end the script element.
    held = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c")
    e = html.escape
    return string.Template(_read(TEMPLATE)).substitute(
        generator=f"{FORMAT} {__version__}",
        csp=e(_policy(script, style)),
        title=e(f"{positive} or {negative}?"),
        positive=e(positive),
        negative=e(negative),
        accept="image/*",
        about=e(_about(model)),
        version=e(__version__),
        style=style,
        model=held,
        script=script,
    )


def write_page(
    model: Model,
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> Path:
    """Write the page of model to path atomically (a temporary file beside it, then a
    rename); returns the file written: path, or the page a link at path leads to.

    Only a page catclf wrote is replaced, or with force any other regular file; never a
    folder, device, FIFO or socket, nor one of inputs (the model file the page is made
    from, say), even with force. Raises ExportError saying why not. See
    `catclf.files.check_file`. on_saved() is called as soon as the page is in place (see
    `catclf.files.write_file`).
    """
    return write_file(
        Path(path),
        page_html(model).encode("utf-8"),
        lambda at: check_target(at, force=force, inputs=inputs),
        lambda target, why: ExportError(f"{target}: cannot write the page ({why})"),
        ExportError,
        "the page",
        on_saved=on_saved,
    )


def check_target(path: Path, *, force: bool = False, inputs: Sequence[Path] = ()) -> Path:
    """The file to write the page to for path (`catclf.files.check_file`): raises
    ExportError unless a page may be written there."""
    return check_file(
        path,
        ours=is_page,
        not_ours="is not a page catclf wrote",
        error=ExportError,
        force=force,
        inputs=inputs,
        what="the page",
    )


def is_page(f: BinaryIO) -> bool:
    """Whether the open file is a page catclf wrote: its first lines say so."""
    head = f.read(HEAD_BYTES)
    return head.startswith(b"<!DOCTYPE html>") and GENERATOR in head


def contract() -> dict[str, Any]:
    """What the page needs to know to give this catclf's pixels, as the page holds it:

    - resize_order: the order of the two passes of Pillow's resize (`resize_order`);
    - draft_side: the side a JPEG is decoded at reduced scale to keep
      (`catclf.images.DRAFT_SIDE`);
    - max_pixels: the most pixels catclf decodes (Pillow's Image.MAX_IMAGE_PIXELS, or
      what `catclf.images.MAX_IMAGE_BYTES` holds at 4 bytes a pixel where a program has
      lifted Pillow's limit);
    - jpeg_probe: a small JPEG (base64) and the hashes of the RGB bytes this Pillow decodes
      it to at each scale of PROBE_SCALES (`jpeg_probe`), by which the page tells whether
      its browser decodes JPEG as catclf does.
    """
    probe, hashes = jpeg_probe()
    limit = Image.MAX_IMAGE_PIXELS
    return {
        "resize_order": resize_order(PIL.__version__),
        "draft_side": DRAFT_SIDE,
        "max_pixels": int(limit) if limit is not None else MAX_IMAGE_BYTES // 4,
        "jpeg_probe": {
            "jpeg": base64.b64encode(probe).decode("ascii"),
            "hashes": {str(scale): h for scale, h in hashes.items()},
        },
    }


def resize_order(version: str) -> str:
    """Which pass Pillow of this version runs first when it resizes, as resample.js names
    it: "pillow13" (13 and later: vertically first when the height shrinks by more than twice
    what the width shrinks by) or "pillow10" (10 to 12: vertically first only for an image
    more than 100 times as high as wide). The order changes how each pass rounds."""
    return "pillow13" if int(version.split(".")[0]) >= 13 else "pillow10"


def jpeg_probe() -> tuple[bytes, dict[int, int]]:
    """A small JPEG (64x64, 4:2:0, with edges and texture), and for each scale of
    PROBE_SCALES the FNV-1a hash of the RGB bytes Pillow decodes it to at that scale, as
    catclf decodes a large JPEG (`catclf.images`: Image.draft)."""
    yy, xx = np.mgrid[0:PROBE_SIZE, 0:PROBE_SIZE]
    # A fixed pattern with colour ramps, a checkerboard of edges and fine texture, so that
    # every part of the decoder (the inverse DCT at each scale, chroma upsampling, the
    # colour conversion) shows in the hash.
    texture = (xx * 7919 + yy * 104729 + xx * yy * 31) % 61 - 30
    ramps = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx ^ yy) * 8) % 256], axis=-1)
    pixels = ramps + texture[..., np.newaxis] * np.array([1, -1, 2])
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, subsampling="4:2:0")
    data = buffer.getvalue()
    hashes = {}
    for scale in PROBE_SCALES:
        with Image.open(io.BytesIO(data)) as im:
            side = PROBE_SIZE // scale
            im.draft(None, (side, side))
            decoded = im.convert("RGB")
        if decoded.size != (side, side):
            raise RuntimeError(f"Pillow decoded the probe at {decoded.size}, not {side}x{side}")
        hashes[scale] = fnv1a(decoded.tobytes())
    return data, hashes


def fnv1a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of data, as the page computes it."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def _policy(script: str, style: str) -> str:
    """The Content-Security-Policy: nothing may be loaded or sent; only the page's own
    script and style run, and images made in the page show."""
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash(script)}",
            f"style-src {_hash(style)}",
            "img-src data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _about(model: Model) -> str:
    """What the page says of its model, in one sentence or two."""
    said = (
        "The model: logistic regression on the 12,288 values of 64 \u00d7 64 \u00d7 3 pixels, "
        f"trained on {model.train_examples} images, of which it classifies "
        f"{percent(model.train_accuracy, model.train_examples)} rightly"
    )
    if model.test_accuracy is not None and model.test_examples > 0:
        said += (
            f"; of {model.test_examples} images it was not trained on, "
            f"{percent(model.test_accuracy, model.test_examples)}"
        )
    # A percentage kept on one line with its sign.
    return (said + ".").replace(" %", "\u00a0%")


def _read(name: str) -> str:
    return (resources.files("catclf") / "web" / name).read_text(encoding="utf-8")
