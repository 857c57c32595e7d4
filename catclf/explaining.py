"""One image explained by a model file's model, its map drawn into a PNG when asked: the whole
of `catclf explain`."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from catclf import modelfile, parameters, plots
from catclf.errors import ModelError
from catclf.explanation import Explanation
from catclf.images import load_image
from catclf.model import PathLike, load_model
from catclf.report import drawn


@dataclass(frozen=True, eq=False)
class Explained:
    """What `run` did: the explanation, the model file that gave it, and the picture
    written (None when none was asked for)."""

    explanation: Explanation
    model_file: Path
    picture: Path | None

    def __repr__(self) -> str:
        return f"Explained({self.explanation!r}, model_file={str(self.model_file)!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": os.fsdecode(self.model_file),
            "picture": None if self.picture is None else os.fsdecode(self.picture),
            **self.explanation.as_dict(),
        }


def run(
    image: PathLike | bytes,
    *,
    model: PathLike | None = None,
    baseline: str = "black",
    out: PathLike | None = None,
    force: bool = False,
) -> Explained:
    """Explain the image file (or the bytes of one, read from stdin, named "-") with the
    model at model (`catclf.modelfile.find` when None),
    against baseline ("black" or "mean"); with out, draw the explanation into a PNG there,
    which must be free, a picture catclf drew, or (with force) another regular file; that is
    checked, and matplotlib looked for, before any work."""
    baseline = parameters.baseline(baseline)
    if out is not None:
        plots.require()
        plots.check_picture(Path(out), force=force)
    path = modelfile.find(model)
    found = load_model(path)
    try:
        if isinstance(image, bytes):
            explanation = replace(
                found.explain(load_image(image, "-"), baseline=baseline), source="-"
            )
        else:
            explanation = found.explain(image, baseline=baseline)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e
    picture = None
    if out is not None:
        name = drawn(Path(explanation.source).name, 60, end=True)
        picture = plots.write_picture(Path(out), plots.explanation(explanation, name), force=force)
    return Explained(explanation, path, picture)
