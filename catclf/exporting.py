"""A model file's model taken elsewhere: a page for any browser, an ONNX file, or both; the
whole of `catclf export`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catclf import modelfile, onnxfile, webpage
from catclf.errors import MissingInput
from catclf.model import PathLike, load_model


@dataclass(frozen=True)
class Exported:
    """What `run` wrote, by kind ("html", "onnx"), and from which model file."""

    model_file: Path
    written: dict[str, Path] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": os.fsdecode(self.model_file),
            **{kind: os.fsdecode(path) for kind, path in self.written.items()},
        }


def run(
    *,
    model: PathLike | None = None,
    html: PathLike | None = None,
    onnx: PathLike | None = None,
    force: bool = False,
    on_saved: Callable[[list[Path]], None] | None = None,
) -> Exported:
    """Write the model at model (`catclf.modelfile.find` when None) as a page at html
    (`catclf.webpage`), as an ONNX file at onnx (`catclf.onnxfile`), or both. Every target is
    checked before anything is written, and none is the model file itself; what is there
    is replaced only when catclf wrote it, or with force another regular file.
    on_saved(files) is called as soon as each file is in place, with the files in place so
    far (see `catclf.files.write_atomically`)."""
    if html is None and onnx is None:
        raise MissingInput("nothing to export", advice="export")
    path = modelfile.find(model)
    inputs = [path]
    # Each target as it is checked now, before the model is read: the file each write
    # puts in place (each write checks it again before its rename).
    targets: dict[str, Path] = {}
    if onnx is not None:
        onnxfile.require()
        targets["onnx"] = onnxfile.check_target(Path(onnx), force=force, inputs=inputs)
    if html is not None:
        targets["html"] = webpage.check_target(Path(html), force=force, inputs=inputs)
    found = load_model(path)
    written: dict[str, Path] = {}

    def saved(kind: str) -> Callable[[], None]:
        def now() -> None:
            written[kind] = targets[kind]
            if on_saved is not None:
                on_saved(list(written.values()))

        return now

    if html is not None:
        webpage.write_page(found, html, force=force, inputs=inputs, on_saved=saved("html"))
    if onnx is not None:
        onnxfile.write_onnx(found, onnx, force=force, inputs=inputs, on_saved=saved("onnx"))
    return Exported(path, written)
