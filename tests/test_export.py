"""`catclf export`: a model file's model written as a page, an ONNX file, or both, with every
target checked before anything is written. What the files compute is tested in
test_webpage.py and test_onnxfile.py; here, the command."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
from helpers import BUNDLED_MODEL, SAMPLES, brightness_model, invoke

from catclf import webpage
from catclf.images import load_image


def is_page(path) -> bool:
    with open(path, "rb") as f:
        return webpage.is_page(f)


def test_export_writes_both_and_says_where(tmp_path):
    result = invoke("export", "--html", "page.html", "--onnx", "model.onnx", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["page: page.html", "onnx: model.onnx"]
    assert is_page(tmp_path / "page.html")
    # The ONNX file gives what the bundled model gives a photo, whose logit is known.
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    pixels = load_image(SAMPLES / "cat_chelsea.png")[np.newaxis]
    [[p]] = session.run(None, {"pixels": pixels})[0]
    assert p == pytest.approx(0.788323, abs=5e-7)


def test_export_json_names_the_model_and_the_files(tmp_path):
    brightness_model(tmp_path / "mine.h5")
    result = invoke("export", "-m", "mine.h5", "--onnx", "m.onnx", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"model": "mine.h5", "onnx": "m.onnx"}
    # brightness_model: z = 4 * mean(x) - 2; white gives sigmoid(2).
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    white = np.full((1, 64, 64, 3), 255, np.uint8)
    assert session.run(None, {"pixels": white})[0][0, 0] == pytest.approx(1 / (1 + np.exp(-2)))


def test_nothing_to_export_is_a_usage_error(tmp_path):
    result = invoke("export", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "catclf: error: nothing to export; give --html PAGE, --onnx FILE, or both",
        "catclf: try 'catclf export --help'",
    ]


def test_a_file_that_is_not_catclfs_stops_both_before_either_is_written(tmp_path):
    (tmp_path / "mine.onnx").write_bytes(b"my own model")
    result = invoke("export", "--html", "page.html", "--onnx", "mine.onnx", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line == (
        "catclf: error: mine.onnx: is not an ONNX file catclf wrote; use --force to replace it"
    )
    assert not (tmp_path / "page.html").exists()
    assert (tmp_path / "mine.onnx").read_bytes() == b"my own model"
    forced = invoke("export", "--html", "page.html", "--onnx", "mine.onnx", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and is_page(tmp_path / "page.html")


def test_the_model_file_is_never_written_over_even_with_force(tmp_path):
    (tmp_path / "model.h5").write_bytes(BUNDLED_MODEL.read_bytes())
    before = (tmp_path / "model.h5").read_bytes()
    for flag in ("--html", "--onnx"):
        result = invoke("export", flag, "model.h5", "--force", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "model.h5" in result.stderr
        assert (tmp_path / "model.h5").read_bytes() == before


def test_catclfs_own_files_are_replaced(tmp_path):
    for _ in range(2):
        result = invoke("export", "--html", "page.html", "--onnx", "m.onnx", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "page.html"]
