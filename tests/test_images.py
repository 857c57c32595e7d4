"""Tests for catclf.images: every image to (64, 64, 3) uint8 pixels, then columns of X.

Expected pixels are worked out in the test itself: hand-made arrays, PNG bytes written
with struct and zlib, and Pillow operations (transpose, resize) applied step by step.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from corpus import (
    EPS,
    PNG_SIGNATURE,
    baseline_jpeg,
    bmp_rle8,
    build,
    encoded,
    many_scans_jpeg,
    tiff_gray,
)
from helpers import BUNDLED_MODEL, SAMPLES, catclf_run, deep_folders, sigmoid
from PIL import Image, ImageFile, ImageOps

from catclf import bounds, folders, images, workers
from catclf.errors import CatclfError, ImageError
from catclf.folders import find_images
from catclf.images import load_image, to_columns
from catclf.model import load_model
from catclf.workers import MIN_IMAGES_PER_PROCESS, reader

LANCZOS = Image.Resampling.LANCZOS
ORIENTATION = 0x0112  # the EXIF tag


def resized(pixels: np.ndarray) -> np.ndarray:
    """What the course's preprocessing makes of an RGB array: Lanczos to 64x64, aspect not kept."""
    return np.asarray(Image.fromarray(pixels).resize((64, 64), LANCZOS))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    """A PNG file written byte by byte; idat is the compressed (or not) pixel stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def upright_image() -> np.ndarray:
    """A 30-row by 48-column RGB image with no symmetry, so any wrong turn shows."""
    rng = np.random.default_rng(6)
    return rng.integers(0, 256, size=(30, 48, 3), dtype=np.uint8)


# How a camera stores an upright picture U under each EXIF orientation; reading must undo it.
STORED_AS = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: np.rot90(u, 2),
    4: lambda u: u[::-1, :],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, 1),  # row 0 is the visual right side: displayed turned 90 clockwise
    7: lambda u: np.rot90(u, 2).transpose(1, 0, 2),
    8: lambda u: np.rot90(u, -1),  # row 0 is the visual left side
}


def exif_with(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


# --- shape, resizing, untouched 64x64 -------------------------------------------------------


def test_image_already_64x64_keeps_its_exact_pixels(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    path = tmp_path / "exact.png"
    Image.fromarray(pixels).save(path)

    out = load_image(path)

    assert out.dtype == np.uint8
    assert out.shape == (64, 64, 3)
    np.testing.assert_array_equal(out, pixels)


def test_other_sizes_are_resized_with_lanczos(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(50, 90, 3), dtype=np.uint8)
    path = tmp_path / "wide.png"
    Image.fromarray(pixels).save(path)

    np.testing.assert_array_equal(load_image(path), resized(pixels))


def test_aspect_ratio_is_not_kept(tmp_path: Path) -> None:
    # 128 wide, 32 tall: left half red, right half blue. Squashed, not padded or cropped,
    # so the top and bottom rows still hold picture and each half still fills half the width.
    pixels = np.zeros((32, 128, 3), dtype=np.uint8)
    pixels[:, :64] = (255, 0, 0)
    pixels[:, 64:] = (0, 0, 255)
    path = tmp_path / "banner.png"
    Image.fromarray(pixels).save(path)

    out = load_image(path)

    for row in (0, 31, 63):
        np.testing.assert_array_equal(out[row, 5], (255, 0, 0))
        np.testing.assert_array_equal(out[row, 58], (0, 0, 255))


def test_real_photograph_becomes_64x64_rgb() -> None:
    out = load_image(SAMPLES / "cat_chelsea.png")
    with Image.open(SAMPLES / "cat_chelsea.png") as im:
        expected = resized(np.asarray(im.convert("RGB")))
    np.testing.assert_array_equal(out, expected)


# --- EXIF orientation -----------------------------------------------------------------------


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = upright_image()
    stored = np.ascontiguousarray(STORED_AS[orientation](upright))
    path = tmp_path / f"orientation{orientation}.png"
    Image.fromarray(stored).save(path, exif=exif_with(orientation))

    np.testing.assert_array_equal(load_image(path), resized(upright))


@pytest.mark.parametrize(("orientation", "turn_back"), [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_of_a_jpeg_photo(tmp_path: Path, orientation: int, turn_back: int) -> None:
    # A phone writes the sensor's pixels and a tag; decode those pixels, turn them by hand.
    with Image.open(SAMPLES / "noncat_rocket.jpg") as im:
        photo = im.convert("RGB").crop((0, 0, 160, 100))
    path = tmp_path / "phone.jpg"
    photo.save(path, quality=90, exif=exif_with(orientation))
    with Image.open(path) as im:
        as_stored = np.asarray(im.convert("RGB"))

    upright = np.ascontiguousarray(np.rot90(as_stored, turn_back))

    np.testing.assert_array_equal(load_image(path), resized(upright))


def test_exif_orientation_with_image_transpose(tmp_path: Path) -> None:
    # The same check for orientation 6 with Pillow's transpose instead of numpy.
    upright = Image.fromarray(upright_image())
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise, as the sensor saw
    path = tmp_path / "six.png"
    stored.save(path, exif=exif_with(6))

    expected = np.asarray(upright.resize((64, 64), LANCZOS))
    np.testing.assert_array_equal(load_image(path), expected)


def test_malformed_exif_keeps_the_pixels_as_stored(tmp_path: Path) -> None:
    pixels = upright_image()
    path = tmp_path / "bad_exif.png"
    Image.fromarray(pixels).save(path, exif=exif_with(99))  # not an orientation

    np.testing.assert_array_equal(load_image(path), resized(pixels))


# --- colour modes ---------------------------------------------------------------------------


def test_palette_image_takes_its_colours_from_the_palette(tmp_path: Path) -> None:
    palette = [(10, 20, 30), (200, 100, 0), (0, 255, 128)]
    indices = np.zeros((64, 64), dtype=np.uint8)
    indices[10:20, :] = 1
    indices[:, 40:] = 2
    im = Image.fromarray(indices, mode="P")
    im.putpalette([c for colour in palette for c in colour])
    path = tmp_path / "palette.png"
    im.save(path)

    out = load_image(path)

    np.testing.assert_array_equal(out[0, 0], palette[0])
    np.testing.assert_array_equal(out[15, 5], palette[1])
    np.testing.assert_array_equal(out[15, 50], palette[2])
    np.testing.assert_array_equal(out, np.array(palette, dtype=np.uint8)[indices])


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(gray, mode="L").save(path)

    np.testing.assert_array_equal(load_image(path), np.stack([gray, gray, gray], axis=-1))


def test_bilevel_becomes_black_and_white(tmp_path: Path) -> None:
    on = np.zeros((64, 64), dtype=bool)
    on[:, 32:] = True
    path = tmp_path / "bilevel.png"
    Image.fromarray(on).save(path)  # mode "1"

    expected = np.where(on[..., None], 255, 0).astype(np.uint8).repeat(3, axis=-1)
    np.testing.assert_array_equal(load_image(path), expected)


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    # With no black ink, red = 255 - cyan, green = 255 - magenta, blue = 255 - yellow.
    im = Image.new("CMYK", (64, 64), (0, 0, 0, 0))
    im.paste((100, 0, 50, 0), (0, 0, 64, 32))
    im.paste((0, 0, 0, 255), (0, 32, 64, 64))
    path = tmp_path / "cmyk.tif"
    im.save(path)

    out = load_image(path)

    np.testing.assert_array_equal(out[:32], np.full((32, 64, 3), (155, 255, 205)))
    np.testing.assert_array_equal(out[32:], np.zeros((32, 64, 3)))


def write_16_bit_gray_png(path: Path, values: np.ndarray) -> None:
    # Big-endian 16-bit samples, one filter byte (0, none) per row, as the PNG standard says.
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    height, width = values.shape
    path.write_bytes(png_bytes(width, height, 16, 0, zlib.compress(rows)))


def test_16_bit_grayscale_png_is_scaled_by_255_over_65535(tmp_path: Path) -> None:
    values = (np.arange(64 * 64, dtype=np.int64) * 16 + 7).reshape(64, 64)
    values[0, :4] = (0, 128, 129, 200)
    values[63, 63] = 65535
    path = tmp_path / "deep.png"
    write_16_bit_gray_png(path, values)

    out = load_image(path)

    eight_bit = ((values * 510 + 65535) // 131070).astype(np.uint8)  # round(v * 255 / 65535)
    assert list(eight_bit[0, :4]) == [0, 0, 1, 1]
    assert eight_bit[63, 63] == 255
    np.testing.assert_array_equal(out, np.stack([eight_bit] * 3, axis=-1))


def test_dark_16_bit_png_is_scaled_too(tmp_path: Path) -> None:
    # A 16-bit image whose values all happen to be below 256 is nearly black, not bright:
    # the bit depth, not the values, decides the scale.
    values = np.zeros((64, 64), dtype=np.int64)
    values[:, 32:] = 255
    path = tmp_path / "dark.png"
    write_16_bit_gray_png(path, values)

    out = load_image(path)

    np.testing.assert_array_equal(out[:, :32], np.zeros((64, 32, 3)))
    np.testing.assert_array_equal(out[:, 32:], np.ones((64, 32, 3)))  # 255 * 255 / 65535 = 0.99


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[:, :, :3] = (200, 0, 100)
    rgba[:, :16, 3] = 0  # fully transparent
    rgba[:, 16:32, 3] = 128  # half
    rgba[:, 32:, 3] = 255  # opaque
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)

    out = load_image(path).astype(int)

    np.testing.assert_array_equal(out[:, :16], np.full((64, 16, 3), 255))
    np.testing.assert_array_equal(out[:, 32:], np.full((64, 32, 3), (200, 0, 100)))
    # colour * a + white * (1 - a) with a = 128/255, to within one step of rounding
    half = np.array([200, 0, 100]) * 128 / 255 + 255 * 127 / 255
    assert np.abs(out[:, 16:32] - half).max() <= 1


def test_gray_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = Image.new("LA", (64, 64), (0, 0))
    la.paste((0, 255), (0, 0, 64, 32))
    path = tmp_path / "la.png"
    la.save(path)

    out = load_image(path)

    np.testing.assert_array_equal(out[:32], np.zeros((32, 64, 3)))
    np.testing.assert_array_equal(out[32:], np.full((32, 64, 3), 255))


def test_transparent_gif_index_becomes_white(tmp_path: Path) -> None:
    indices = np.zeros((64, 64), dtype=np.uint8)
    indices[:, 20:] = 1
    im = Image.fromarray(indices, mode="P")
    im.putpalette([0, 0, 0, 30, 60, 90] + [0] * (254 * 3))
    path = tmp_path / "clear.gif"
    im.save(path, transparency=0)

    out = load_image(path)

    np.testing.assert_array_equal(out[:, :20], np.full((64, 20, 3), 255))
    np.testing.assert_array_equal(out[:, 20:], np.full((64, 44, 3), (30, 60, 90)))


# --- first frame ----------------------------------------------------------------------------


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 0)]
    frames = [Image.new("RGB", (64, 64), c) for c in colours]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as im:
        assert im.n_frames == 3  # really an animation

    np.testing.assert_array_equal(load_image(path), np.full((64, 64, 3), colours[0]))


def test_multi_page_tiff_gives_its_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (64, 64), c) for c in [(1, 2, 3), (250, 251, 252)]]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with Image.open(path) as im:
        assert im.n_frames == 2

    np.testing.assert_array_equal(load_image(path), np.full((64, 64, 3), (1, 2, 3)))


# --- bytes input ----------------------------------------------------------------------------


def test_bytes_give_the_same_pixels_as_the_file(tmp_path: Path) -> None:
    pixels = upright_image()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")

    np.testing.assert_array_equal(load_image(buffer.getvalue(), name="upload"), resized(pixels))


def test_empty_bytes_raise_image_error_named_as_asked() -> None:
    with pytest.raises(ImageError) as caught:
        load_image(b"", name="stdin")
    message = str(caught.value)
    assert message.startswith("stdin")
    assert "\n" not in message


def test_bad_bytes_raise_image_error_named_as_asked() -> None:
    with pytest.raises(ImageError) as caught:
        load_image(b"hello, not an image", name="stdin")
    assert str(caught.value).startswith("stdin: ")


# --- unreadable images ----------------------------------------------------------------------


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def make_bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / {"folder": "folder.jpg", "png": "cut.png", "text": "notes.jpg"}.get(
        kind, f"{kind}.jpg"
    )
    if kind == "missing":
        pass
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("These are not the pixels you are looking for.\n")
    elif kind == "jpeg":
        path.write_bytes(truncated((SAMPLES / "noncat_rocket.jpg").read_bytes()))
    elif kind == "png":
        path.write_bytes(truncated((SAMPLES / "cat_chelsea.png").read_bytes()))
    return path


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "jpeg", "png"])
def test_bad_image_raises_one_line_image_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = make_bad(tmp_path, kind)

    with pytest.raises(ImageError) as caught:
        load_image(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message


@pytest.mark.parametrize("side", [20_000, 10_000])
def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path, side: int) -> None:
    # Only the header declares side x side pixels (400 or 100 megapixels, both above the
    # limit); the pixel data is a few bytes, so nothing large is ever allocated.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(side, side, 8, 2, zlib.compress(b"\x00" * 64)))

    with pytest.raises(ImageError) as caught:
        load_image(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "too large" in message
    assert "\n" not in message


def test_sample_images_all_load() -> None:
    # The shipped samples cover JPEG, PNG, RGBA and large photos.
    names = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    assert len(names) == 7
    for name in names:
        out = load_image(SAMPLES / name)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8, name


# --- large JPEG photos: reduced-scale decoding -----------------------------------------------


def plain_pixels(path: Path) -> np.ndarray:
    """The one-by-one reference: open, full decode, EXIF turn, RGB, Lanczos to 64x64."""
    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)
        return np.asarray(upright.convert("RGB").resize((64, 64), LANCZOS))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int64) - b.astype(np.int64)).mean())


def camera_photo(path: Path, source: str, size: tuple[int, int], **save: object) -> Path:
    """A photo-like JPEG: a sample photo enlarged to size, with sensor-like noise, quality 90."""
    with Image.open(SAMPLES / source) as im:
        big = im.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    # In float32, in place: a 4000 x 3000 photo takes a second less than in float64.
    noisy = np.random.default_rng(3).standard_normal((size[1], size[0], 3), dtype=np.float32)
    noisy *= 6
    noisy += np.asarray(big, dtype=np.float32)
    pixels = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90, **save)
    return path


@pytest.mark.parametrize(
    ("source", "size"),
    [("cat_chelsea.png", (1600, 1066)), ("noncat_rocket.jpg", (4000, 3000))],
)
def test_large_photo_pixels_stay_close_to_a_full_decode(
    tmp_path: Path, source: str, size: tuple[int, int]
) -> None:
    path = camera_photo(tmp_path / "photo.jpg", source, size)

    assert mean_abs_diff(load_image(path), plain_pixels(path)) <= 3.0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_large_photo_is_turned_upright(tmp_path: Path, orientation: int) -> None:
    # Stored 1600 wide and 1000 tall; orientations 6 and 8 show it 1000 wide and 1600 tall.
    path = camera_photo(
        tmp_path / "phone.jpg", "cat_chelsea.png", (1600, 1000), exif=exif_with(orientation)
    )
    expected = plain_pixels(path)

    out = load_image(path)

    assert mean_abs_diff(out, expected) <= 3.0
    # Any other turn is far off: the check above can tell them apart.
    for turns in (1, 2, 3):
        assert mean_abs_diff(np.rot90(out, turns), expected) > 10


def test_long_thin_jpeg_is_decoded_in_full(tmp_path: Path) -> None:
    # 3000 by 120: halving it would leave 60 rows, fewer than the 64 the model needs.
    path = camera_photo(tmp_path / "panorama.jpg", "noncat_rocket.jpg", (3000, 120))

    np.testing.assert_array_equal(load_image(path), plain_pixels(path))


# --- decoding in several processes ------------------------------------------------------------


def mixed_inputs(tmp_path: Path, count: int) -> list[tuple[Path | bytes, str]]:
    """count images of different sizes, every fifth one unreadable, and some bytes."""
    rng = np.random.default_rng(4)
    items: list[tuple[Path | bytes, str]] = []
    for i in range(count):
        path = tmp_path / f"{i:03d}.png"
        if i % 5 == 3:
            path.write_text("not a picture")
        else:
            size = (int(rng.integers(40, 200)), int(rng.integers(40, 200)), 3)
            Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(path)
        items.append((path, path.name))
    buffer = io.BytesIO()
    Image.fromarray(upright_image()).save(buffer, format="PNG")
    items.insert(7, (buffer.getvalue(), "stdin"))
    return items


def outcomes(results: list[np.ndarray | ImageError]) -> list[object]:
    return [str(r) if isinstance(r, ImageError) else r.tobytes() for r in results]


def test_several_processes_give_every_result_of_one_in_input_order(tmp_path: Path) -> None:
    items = mixed_inputs(tmp_path, 6 * MIN_IMAGES_PER_PROCESS)
    expected = []
    for source, name in items:
        try:
            expected.append(load_image(source, name))
        except ImageError as e:
            expected.append(e)

    with reader(3, len(items)) as read:
        pooled = list(read(items))
    with reader(1, len(items)) as read:
        alone = list(read(items))

    assert outcomes(pooled) == outcomes(expected)
    assert outcomes(alone) == outcomes(expected)
    assert sum(isinstance(r, ImageError) for r in pooled) == 9


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Enough JPEGs for two worker processes, made from the sample photos: each decoding
    scale (1/8, 1/4, 1/2 and full size), every EXIF orientation, some progressive, some
    gray."""
    folder = tmp_path_factory.mktemp("photos")
    count = 2 * MIN_IMAGES_PER_PROCESS
    sources = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    sizes = [(1600, 1066), (2100, 2060), (1000, 700), (1066, 1600), (480, 360)]
    photos = []
    for i in range(count):
        path = folder / f"photo_{i:02d}.jpg"
        save = {"exif": exif_with(1 + i % 8), "progressive": i % 3 == 2}
        camera_photo(path, sources[i % len(sources)], sizes[i % len(sizes)], **save)
        if i % 5 == 4:
            with Image.open(path) as im:
                im.convert("L").save(path, quality=90, **save)
        photos.append(path)
    return photos


def test_photos_decoded_by_worker_processes_have_the_pixels_of_load_image_one_by_one(
    photos: list[Path],
) -> None:
    alone = [load_image(p) for p in photos]
    # Most are decoded at a reduced scale: a full decode gives other pixels.
    reduced = [mean_abs_diff(a, plain_pixels(p)) > 0 for a, p in zip(alone, photos, strict=True)]
    assert sum(reduced) >= 12

    with reader(2, len(photos)) as read:
        pooled = list(read((p, str(p)) for p in photos))

    assert outcomes(pooled) == outcomes(alone)


def test_predict_scores_photos_in_two_processes_as_in_one(photos: list[Path]) -> None:
    # catclf predict with worker processes gives each photo the probability, to the last
    # bit, that one process gives it, which is sigmoid(w . x + b) of load_image's pixels.
    folder = photos[0].parent
    runs = [
        catclf_run("predict", "--json", "--jobs", jobs, "-m", BUNDLED_MODEL, ".", cwd=folder)
        for jobs in (1, 2)
    ]

    assert [r.returncode for r in runs] == [0, 0]
    assert runs[1].stdout == runs[0].stdout
    records = [json.loads(line) for line in runs[1].stdout.splitlines()]
    assert [r["path"] for r in records] == [p.name for p in photos]
    model = load_model(BUNDLED_MODEL)
    by_hand = [
        float(sigmoid(model.w[:, 0] @ (load_image(p).reshape(-1) / 255) + model.b)) for p in photos
    ]
    np.testing.assert_allclose([r["probability"] for r in records], by_hand, rtol=1e-12)


# --- to_columns -----------------------------------------------------------------------------


def test_to_columns_puts_each_pixel_where_the_course_flatten_does() -> None:
    images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    images[0, 0, 1, 0] = 51  # row 0, column 1, red
    images[1, 5, 7, 2] = 255  # row 5, column 7, blue
    images[1, 63, 63, 1] = 102  # last pixel, green

    X = to_columns(images)

    assert X.shape == (12288, 2)
    expected = np.zeros((12288, 2))
    expected[(0 * 64 + 1) * 3 + 0, 0] = 0.2
    expected[(5 * 64 + 7) * 3 + 2, 1] = 1.0
    expected[(63 * 64 + 63) * 3 + 1, 1] = 0.4
    np.testing.assert_allclose(X, expected, rtol=0, atol=1e-12)


def test_to_columns_equals_the_course_formula() -> None:
    images = np.random.default_rng(2).integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)

    X = to_columns(images)

    np.testing.assert_array_equal(X, images.reshape(5, -1).T / 255)
    for i in range(5):
        np.testing.assert_array_equal(X[:, i], images[i].ravel() / 255)
    assert X.dtype == np.float64


def test_loaded_pixel_lands_in_its_column_position(tmp_path: Path) -> None:
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[10, 20] = (255, 0, 51)
    path = tmp_path / "dot.png"
    Image.fromarray(pixels).save(path)

    X = to_columns(load_image(path)[None])

    base = (10 * 64 + 20) * 3
    assert X[base : base + 3, 0].tolist() == [1.0, 0.0, 0.2]
    assert np.count_nonzero(X) == 2


# --- find_images ----------------------------------------------------------------------------


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_find_images_is_recursive_sorted_and_skips_hidden_and_other_files(
    tmp_path: Path,
) -> None:
    wanted = [
        touch(tmp_path / "a" / "x.jpg"),
        touch(tmp_path / "a" / "y.PNG"),
        touch(tmp_path / "b.png"),
        touch(tmp_path / "c" / "d" / "z.gif"),
        touch(tmp_path / "c" / "e.webp"),
    ]
    for unwanted in [
        ".DS_Store",
        "._b.png",  # AppleDouble
        ".hidden.jpg",
        ".ipynb_checkpoints/b-checkpoint.png",
        "a/.thumbs/x.jpg",
        "notes.txt",
        "README",
        "c/model.h5",
        "c/photo.jpg.part",
    ]:
        touch(tmp_path / unwanted)
    (tmp_path / "folder.jpg").mkdir()  # a folder, however it is named, is not an image

    found = find_images(tmp_path)

    assert found == sorted(found)
    assert found == wanted


def test_find_images_does_not_loop_on_a_symlink_loop(tmp_path: Path) -> None:
    image = touch(tmp_path / "cat" / "a.png")
    os.symlink(tmp_path, tmp_path / "cat" / "loop")
    os.symlink(tmp_path / "cat", tmp_path / "again")  # links to folders are not followed

    assert find_images(tmp_path) == [image]


def test_find_images_of_an_empty_folder_is_empty(tmp_path: Path) -> None:
    assert find_images(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel does this on Linux")
def test_a_decoding_worker_ends_with_the_process_that_started_it(tmp_path):
    # A process starts a worker as the pool does, then dies without stopping it: the
    # worker, which would otherwise sleep for a minute, must end at once.
    worker_pid = tmp_path / "worker.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "from catclf.workers import _end_with\n"
            "parent = os.getpid()\n"
            "if os.fork() == 0:\n"
            "    _end_with(parent)\n"
            f"    open({str(worker_pid)!r}, 'w').write(str(os.getpid()))\n"
            "    time.sleep(60)\n"
            "    os._exit(0)\n"
            "time.sleep(60)\n",
        ]
    )
    deadline = time.monotonic() + 30
    while not (worker_pid.exists() and worker_pid.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = int(worker_pid.read_text())
    parent.kill()
    parent.wait()

    def ended():  # gone, or a zombie that only its new parent has still to reap
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 10
    while not ended() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ended()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux's")
def test_a_decoding_process_that_dies_is_an_error_not_a_hang(monkeypatch, tmp_path):
    # As if a decoder crashed its process: the worker ends without answering.
    monkeypatch.setattr(workers, "_answer", lambda source: os._exit(1))
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")  # workers see the patch
    items = [(tmp_path / f"{i}.png", f"{i}.png") for i in range(4 * MIN_IMAGES_PER_PROCESS)]
    with pytest.raises(CatclfError, match="decoding process ended"), reader(2, len(items)) as read:
        list(read(items))


def test_work_sent_to_a_process_that_has_died_is_an_error_not_a_closed_stdout(
    monkeypatch, tmp_path
):
    # The workers die before their first task, and the first task is sent only once they
    # are gone: sending it meets a broken pipe, which is the worker's death, not stdout's.
    monkeypatch.setattr(workers, "_serve", lambda connection, parent: os._exit(1))
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    count = 4 * MIN_IMAGES_PER_PROCESS

    def items():
        time.sleep(0.5)
        yield from ((tmp_path / f"{i}.png", f"{i}.png") for i in range(count))

    with pytest.raises(CatclfError, match="decoding process ended"), reader(2, count) as read:
        list(read(items()))


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("F", -1.0, 0), ("F", 1e6, 255), ("I", -5, 0), ("I", 70000, 255)],
)
def test_an_image_of_one_value_out_of_range_is_clipped(tmp_path, mode, value, expected):
    # No range to stretch from its minimum to its maximum: the value is clipped to 0..255.
    path = tmp_path / "flat.tif"
    Image.new(mode, (64, 64), value).save(path)
    np.testing.assert_array_equal(load_image(path), np.full((64, 64, 3), expected))


# --- formats: one list of raster formats, and nothing else ----------------------------------


def fake_ghostscript(folder: Path, marker: Path) -> dict[str, str]:
    """An environment whose PATH finds a `gs` in folder that leaves marker when run."""
    folder.mkdir()
    gs = folder / "gs"
    gs.write_text(
        f"#!/bin/sh\necho \"$@\" >> '{marker}'\n"
        'if [ "$1" = "--version" ]; then echo 10.02.1; fi\nexit 1\n'
    )
    gs.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.skipif(sys.platform.startswith("win"), reason="a shell script as gs")
def test_postscript_named_like_a_jpeg_is_not_an_image_and_runs_nothing(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(EPS)
    marker = tmp_path / "gs-was-run"
    env = fake_ghostscript(tmp_path / "bin", marker)
    # Pillow left to choose its decoder runs Ghostscript on this file:
    probe = f"from PIL import Image\ntry: Image.open({str(photo)!r}).load()\nexcept Exception: pass"
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=60)
    assert marker.exists()
    marker.unlink()

    code = (
        "from pathlib import Path\nfrom catclf.images import load_image\n"
        f"try: load_image(Path({str(photo)!r}))\nexcept Exception as e: print(e)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )

    assert not marker.exists()
    assert result.stdout.startswith(f"{photo}: not an image (catclf reads JPEG, PNG,")


def test_a_pdf_named_like_a_png_is_not_an_image(tmp_path):
    path = tmp_path / "scan.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(path, format="PDF")
    assert path.read_bytes().startswith(b"%PDF")

    with pytest.raises(ImageError, match=r"scan\.png: not an image \(catclf reads"):
        load_image(path)


def smooth_picture(height: int = 48, width: int = 80) -> np.ndarray:
    """Gradients, which lossy codecs keep well: a few levels off at most."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 3, y * 5, (x + y) * 2], axis=2).astype(np.uint8)


def test_a_heic_photo_is_read(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    source = smooth_picture()
    path = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(Image.fromarray(source)).save(path, quality=90)

    out = load_image(path)

    # HEIC is lossy: the pixels are those of the source, to within a few levels.
    assert mean_abs_diff(out, resized(source)) <= 2.0
    assert mean_abs_diff(out, resized(source[::-1])) > 20  # far from a wrong picture


def test_a_lossless_heic_gives_the_exact_pixels(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    source = upright_image()
    path = tmp_path / "exact.heif"
    heif = pillow_heif.from_pillow(Image.fromarray(source))
    heif.save(path, quality=-1, chroma=444, matrix_coefficients=0)

    np.testing.assert_array_equal(load_image(path), resized(source))


def test_an_avif_photo_is_read(tmp_path):
    source = smooth_picture()
    path = tmp_path / "photo.avif"
    Image.fromarray(source).save(path, quality=90)

    assert mean_abs_diff(load_image(path), resized(source)) <= 2.0


def test_the_extensions_are_those_of_the_formats_read():
    pytest.importorskip("pillow_heif").register_heif_opener()
    Image.init()
    named = Image.registered_extensions()
    for name, extensions in images.FORMATS.items():
        assert name in Image.OPEN, name  # Pillow can open every format on the list
        for extension in extensions:
            assert named[extension] == name, extension
    assert {e for es in images.FORMATS.values() for e in es} == images.IMAGE_EXTENSIONS
    assert {".heic", ".heif", ".avif", ".jpg", ".png", ".webp"} <= images.IMAGE_EXTENSIONS
    # Formats that hand the file to another program, or hold no pixels, are not on it.
    assert images.FORMATS.keys().isdisjoint({"EPS", "PDF", "WMF", "MPEG", "HDF5", "GRIB"})


# --- memory: a budget per image, and conversions that copy nothing whole ---------------------


def test_a_sparse_webp_larger_than_the_budget_is_refused_unread(tmp_path):
    path = tmp_path / "huge.webp"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path, lossless=True)
    # 600 MiB long, a few kilobytes on disk: the WebP reader would hold it twice.
    os.truncate(path, 600 << 20)

    with pytest.raises(ImageError) as caught:
        load_image(path)

    assert str(caught.value) == (
        f"{path}: needs 1,200 MiB to decode, more than the 512 MiB allowed for one image"
    )


def test_the_budget_is_worked_out_from_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 6 << 20)
    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), (9, 9, 9)).save(big)  # 2000 x 1000 x 4 bytes: 7.6 MiB
    with pytest.raises(ImageError, match=r"big\.png: needs 8 MiB to decode, more than the 6 MiB"):
        load_image(big)
    # A JPEG is counted at the scale it is decoded: 4000 x 3000 at 1/4, 1000 x 750 x 4 bytes.
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (4000, 3000), (9, 9, 9)).save(photo, quality=90)
    np.testing.assert_array_equal(load_image(photo), np.full((64, 64, 3), 9))


def test_a_large_float_image_is_scaled_without_a_whole_copy_in_floats(tmp_path):
    # 4000 x 4000 float32 take 61 MiB; as float64, twice that. Every array made while
    # decoding is counted (numpy reports its memory to tracemalloc): none is as large.
    values = np.full((4000, 4000), -100.0, dtype=np.float32)
    values[:, :1000] = 300.0
    values[:2000, 1000:] = np.nan  # counts as 0
    path = tmp_path / "deep.tif"
    Image.fromarray(values).save(path, compression="tiff_deflate")
    # Stretched from -100..300 to 0..255: 300 is 255, -100 is 0, 0 is 63.75, rounded to 64.
    expected_gray = np.select([values == 300.0, values == -100.0], [255, 0], 64).astype(np.uint8)

    tracemalloc.start()
    try:
        out = load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < values.nbytes
    np.testing.assert_array_equal(out, resized(np.stack([expected_gray] * 3, axis=-1)))


# --- opening: nothing waits, every refusal is one line -----------------------------------------


def test_a_file_swapped_for_a_fifo_after_the_check_is_refused_not_waited_on(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(path)
    looked = images._first_look

    def look_then_swap(source: Path) -> None:
        looked(source)  # a regular file, then a FIFO by the time it is opened
        source.unlink()
        os.mkfifo(source)

    monkeypatch.setattr(images, "_first_look", look_then_swap)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("waited on a FIFO"))
    signal.alarm(10)
    try:
        with pytest.raises(ImageError, match=r"photo\.png: not a regular file"):
            load_image(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_name_too_long_is_an_image_error_naming_it(tmp_path):
    long = tmp_path / ("a" * 300 + ".jpg")
    with pytest.raises(ImageError) as caught:
        load_image(long)
    assert str(caught.value) == f"{long}: cannot read: File name too long"
    folder = tmp_path / ("b" * 300)
    with pytest.raises(ImageError) as caught:
        find_images(folder)
    assert str(caught.value) == f"{folder}: cannot list this folder (File name too long)"


def test_a_path_through_a_folder_without_search_permission(tmp_path):
    from helpers import without_root_powers

    drop = without_root_powers()
    (tmp_path / "locked" / "inner").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "locked" / "inner" / "a.png")
    (tmp_path / "locked").chmod(0o600)  # readable, not searchable
    code = (
        "from pathlib import Path\n"
        "from catclf.folders import find_images\n"
        "from catclf.images import load_image\n"
        "for call, path in [(load_image, 'locked/inner/a.png'), (find_images, 'locked/inner')]:\n"
        "    try: call(Path(path))\n"
        "    except Exception as e: print(type(e).__name__, e)\n"
    )
    try:
        result = subprocess.run(
            [*drop, sys.executable, "-c", code],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert result.stdout.splitlines() == [
        "ImageError locked/inner/a.png: cannot read: Permission denied",
        "ImageError locked/inner: cannot list this folder (Permission denied)",
    ], result.stderr


def test_list_images_counts_the_other_files_and_not_the_hidden_ones(tmp_path):
    touch(tmp_path / "cat.jpg")
    touch(tmp_path / "sub" / "IMG_0001.HEIC")
    touch(tmp_path / "sub" / "clip.MOV")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".DS_Store")
    touch(tmp_path / "._cat.jpg")
    touch(tmp_path / ".cache" / "thumb.txt")

    listing = folders.list_images(tmp_path)

    assert listing.images == [tmp_path / "cat.jpg", tmp_path / "sub" / "IMG_0001.HEIC"]
    assert listing.ignored == 2  # clip.MOV, notes.txt
    assert listing.unreadable == []


def test_list_images_walks_any_depth_of_folders_and_searches_a_bounded_one(tmp_path):
    touch(tmp_path / "top.png")
    with (
        deep_folders(tmp_path / "near", folders.MAX_DEPTH - 1) as near,
        deep_folders(tmp_path / "far", 1200) as far,  # far beyond Python's recursion limit
    ):
        touch(near / "deep.png")
        touch(far / "deep.png")
        listing = folders.list_images(tmp_path)
    found = [p.relative_to(tmp_path) for p in listing.images]
    assert found == [Path("near", *["d"] * (folders.MAX_DEPTH - 1), "deep.png"), Path("top.png")]
    [(where, why)] = listing.unreadable
    assert where == str(tmp_path / "far" / Path(*["d"] * (folders.MAX_DEPTH - 1)))
    assert why == f"holds folders more than {folders.MAX_DEPTH} levels deep; not searched"


# --- bounds before decoding: work and memory an image may cost -------------------------------

MID_GRAY = np.full((64, 64, 3), 128, dtype=np.uint8)  # every coefficient 0, after the shift


def test_a_jpeg_of_100_scans_is_decoded_and_one_of_101_is_refused():
    # DC, AC at half precision, then n refinements: n + 2 scans. Every coefficient is 0.
    np.testing.assert_array_equal(load_image(many_scans_jpeg(64, 98), "100.jpg"), MID_GRAY)
    with pytest.raises(ImageError) as caught:
        load_image(many_scans_jpeg(64, 99), "101.jpg")
    assert str(caught.value) == (
        "101.jpg: refused before decoding: a JPEG of more than 100 scans (a progressive photo "
        "has about 10)"
    )


def test_the_coefficients_a_progressive_or_multi_scan_jpeg_keeps_count_against_the_budget(
    monkeypatch,
):
    # 2048 x 2048: 256 x 256 blocks of 64 coefficients of 2 bytes, 8 MiB a component. A JPEG
    # in one scan of all its components keeps none of them: only its pixels, decoded at 1/8.
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 8 << 20)
    np.testing.assert_array_equal(load_image(baseline_jpeg(2048, 1, True), "one.jpg"), MID_GRAY)
    np.testing.assert_array_equal(load_image(baseline_jpeg(2048, 3, True), "three.jpg"), MID_GRAY)
    for data, name in [
        (many_scans_jpeg(2048, 0), "progressive.jpg"),
        (baseline_jpeg(2048, 3, False), "a-scan-a-component.jpg"),
    ]:
        with pytest.raises(ImageError, match=rf"^{name}: needs \d+ MiB to decode, more than"):
            load_image(data, name)
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 9 << 20)
    np.testing.assert_array_equal(load_image(many_scans_jpeg(2048, 0), "p.jpg"), MID_GRAY)


def jfif_with_stray_bytes(count: int) -> bytes:
    jpeg = encoded(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG")
    after_app0 = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:after_app0] + bytes(count) + jpeg[after_app0:]


def gif_with_stray_bytes(count: int) -> bytes:
    gif = encoded(Image.new("P", (16, 16), 3), "GIF")
    screen = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    return gif[:screen] + bytes(count) + gif[screen:]


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (
            jfif_with_stray_bytes,
            "corrupt JPEG: more than 64 KiB of stray bytes between its segments",
        ),
        (
            gif_with_stray_bytes,
            "corrupt GIF: more than 64 KiB of stray bytes before its first frame",
        ),
    ],
    ids=["jpeg", "gif"],
)
def test_stray_bytes_are_skipped_up_to_64_kib(make, what):
    # Pillow skips them a byte at a time: a few are decoded past, 64 KiB and more are refused.
    assert load_image(make(100), "few").shape == (64, 64, 3)
    assert load_image(make(64 << 10), "at the limit").shape == (64, 64, 3)
    with pytest.raises(ImageError) as caught:
        load_image(make((64 << 10) + 1), "more")
    assert str(caught.value) == f"more: refused before decoding: {what}"


def test_a_ppm_header_longer_than_64_kib_is_refused():
    pixels = bytes(range(48))
    short = b"P6\n# a comment\n4 4\n255\n" + pixels
    np.testing.assert_array_equal(
        load_image(short, "short.ppm"), resized(np.frombuffer(pixels, np.uint8).reshape(4, 4, 3))
    )
    endless = b"P6\n#" + b"x" * (64 << 10) + b"\n4 4\n255\n" + pixels
    with pytest.raises(ImageError, match="a PPM header longer than 64 KiB"):
        load_image(endless, "endless.ppm")


def test_a_run_length_bmp_is_bounded_by_its_pixels_and_commands():
    def rle(width: int, height: int, commands: bytes) -> bytes:
        return bmp_rle8(width, height, len(commands)) + commands

    # Each row: 2 pixels of index 7 (gray 7), the end of the row; then the end of the image.
    rows = b"\x02\x07\x00\x00" * 2 + b"\x00\x01"
    np.testing.assert_array_equal(
        load_image(rle(2, 2, rows), "small.bmp"), np.full((64, 64, 3), 7, dtype=np.uint8)
    )
    with pytest.raises(ImageError, match="of more than 4,194,304 pixels"):
        load_image(rle(2048, 2049, rows), "large.bmp")
    # Twice as many bytes of commands as pixels and rows can need: empty ends of rows.
    with pytest.raises(ImageError, match="of more commands than it has pixels"):
        load_image(rle(2, 2, rows + bytes(16)), "padded.bmp")


def test_a_tiff_of_more_strips_than_pillow_can_list_quickly_is_refused():
    tiff = tiff_gray(8, 300_000, 300_000, [])
    with pytest.raises(ImageError, match="a TIFF tag of more than 262,144 values"):
        load_image(tiff + bytes(8 * 300_000 + 4096), "strips.tif")


def test_metadata_pillow_reads_whole_counts_against_the_budget(monkeypatch):
    # A PNG of 8 x 8 whose text chunk is as long as the budget allows one image: refused
    # before Pillow reads the chunk.
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 4 << 20)
    read = []
    real = ImageFile._safe_read
    monkeypatch.setattr(ImageFile, "_safe_read", lambda fp, n: read.append(n) or real(fp, n))
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(bytes(8 * 25)))
    text = png_chunk(b"tEXt", b"comment\x00" + b"x" * (4 << 20))
    with pytest.raises(ImageError, match=r"needs \d+ MiB to decode, more than the 4 MiB"):
        load_image(PNG_SIGNATURE + ihdr + text + idat + png_chunk(b"IEND", b""), "text.png")
    assert read == []
    # A tenth of that is decoded.
    text = png_chunk(b"tEXt", b"comment\x00" + b"x" * (400 << 10))
    png = PNG_SIGNATURE + ihdr + text + idat + png_chunk(b"IEND", b"")
    np.testing.assert_array_equal(load_image(png, "note.png"), np.zeros((64, 64, 3)))


# --- the worker processes: plain bytes, results as they come, a time budget ------------------


def slow_when_named_slow(monkeypatch) -> None:
    """Worker processes (forked, so that they see the patch) take for ever over an image whose
    file name starts with "slow"."""
    real = workers.read_or_reason

    def reading(source):
        if isinstance(source, Path) and source.name.startswith("slow"):
            time.sleep(3600)
        return real(source)

    monkeypatch.setattr(workers, "read_or_reason", reading)
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")


def expected_outcomes(items, too_long=(), budget="1"):
    found = []
    for source, name in items:
        if name in too_long:
            found.append(f"{name}: took longer than the {budget} s allowed to decode one image")
            continue
        try:
            found.append(load_image(source, name).tobytes())
        except ImageError as e:
            found.append(str(e))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux's")
def test_an_image_that_takes_too_long_ends_its_worker_and_the_rest_are_served(
    monkeypatch, tmp_path
):
    slow_when_named_slow(monkeypatch)
    monkeypatch.setattr(workers, "TIME_BUDGET", 1.0)
    items = mixed_inputs(tmp_path, 3 * MIN_IMAGES_PER_PROCESS)
    for at in (0, 9, 10):  # the first, and two in a row on one worker or two
        slow = tmp_path / f"slow-{at}.png"
        Image.new("RGB", (8, 8)).save(slow)
        items.insert(at, (slow, slow.name))
    expected = expected_outcomes(items, too_long={"slow-0.png", "slow-9.png", "slow-10.png"})

    with reader(2, len(items)) as read:
        got = list(read(items))

    assert outcomes(got) == expected
    assert all(r.flags.writeable for r in got if isinstance(r, np.ndarray))
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux's")
def test_a_decoder_that_overruns_the_budget_is_ended_in_its_work(monkeypatch, tmp_path):
    # 2,500 scans of a 8192 x 8192 JPEG, let through the bounds: libjpeg would take about a
    # minute over them. Its worker is ended while libjpeg works, and the others are served.
    monkeypatch.setattr(bounds, "MAX_SCANS", 10_000)
    monkeypatch.setattr(workers, "TIME_BUDGET", 1.0)
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    scans = tmp_path / "scans.jpg"
    scans.write_bytes(many_scans_jpeg(8192, 2500))
    items = mixed_inputs(tmp_path, 2 * MIN_IMAGES_PER_PROCESS)
    items.insert(5, (scans, "scans.jpg"))
    expected = expected_outcomes(items, too_long={"scans.jpg"})

    started = time.monotonic()
    with reader(2, len(items)) as read:
        got = list(read(items))

    assert outcomes(got) == expected
    assert time.monotonic() - started < 30  # far less than the minute libjpeg would take


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux's")
def test_the_workers_exchange_plain_bytes_never_a_pickle(monkeypatch, tmp_path):
    # Any use of pickle over a pipe, here or in a (forked) worker, fails the reading.
    from multiprocessing.connection import Connection

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle crossed a pipe")

    monkeypatch.setattr(Connection, "send", refuse)
    monkeypatch.setattr(Connection, "recv", refuse)
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    items = mixed_inputs(tmp_path, 3 * MIN_IMAGES_PER_PROCESS)
    # A name that is not UTF-8, and a large image given as bytes (as from stdin).
    odd = tmp_path / os.fsdecode(b"caf\xe9.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(odd)
    items.insert(3, (odd, str(odd)))
    items.insert(4, (tmp_path / os.fsdecode(b"gone-\xff.png"), os.fsdecode(b"gone-\xff.png")))
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (700, 700, 3), np.uint8)).save(
        big, format="PNG", compress_level=0
    )
    items.insert(6, (big.getvalue(), "-"))
    expected = expected_outcomes(items)

    with reader(2, len(items)) as read:
        got = list(read(items))

    assert outcomes(got) == expected
    assert os.fsdecode(b"gone-\xff.png: no such file") in expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux's")
def test_the_tasks_in_flight_to_a_worker_fit_any_pipe(monkeypatch, tmp_path):
    # Paths of about 900 bytes: of the 16 a worker may be sent at once, only as many as fit
    # in LARGE_TASK bytes go, so that sending one never waits on a worker that waits for its
    # result to be taken (a pipe holds 8 KB on some systems).
    monkeypatch.setattr(workers, "_start_method", lambda: "fork")
    folder = tmp_path.joinpath(*(c * 200 for c in "abcd"))
    folder.mkdir(parents=True)
    items = []
    for i in range(40):
        path = folder / f"{i:02d}.png"
        Image.new("RGB", (8, 8), (i, 0, 0)).save(path)
        items.append((path, path.name))
    in_flight = []
    send = workers._Pool._send

    def sending(pool, worker, index, task):
        send(pool, worker, index, task)
        in_flight.append((len(worker.tasks), worker.sent))

    monkeypatch.setattr(workers._Pool, "_send", sending)

    with reader(2, len(items)) as read:
        got = list(read(items, len(items)))

    assert outcomes(got) == expected_outcomes(items)
    task = 1 + len(os.fsencode(items[0][0]))  # the tag byte and the path: each the same size
    assert max(sent for _, sent in in_flight) <= workers.LARGE_TASK
    assert max(tasks for tasks, _ in in_flight) == workers.LARGE_TASK // task < workers.FIRST


def test_the_first_result_comes_before_more_images_are_taken_than_decide_on_the_workers(
    tmp_path,
):
    # A list still being written (find | catclf predict -f -) is taken an image at a time:
    # the first result must not wait for more images than decided on two workers.
    items = [i for i in mixed_inputs(tmp_path, 4 * MIN_IMAGES_PER_PROCESS) if i[1] != "stdin"]
    taken = 0

    def listed():
        nonlocal taken
        for item in items:
            taken += 1
            yield item

    with reader(2, len(items)) as read:
        results = read(listed())
        first = next(results)
        assert taken <= 2 * MIN_IMAGES_PER_PROCESS
        rest = list(results)

    assert outcomes([first, *rest]) == expected_outcomes(items)


def test_workers_started_from_a_thread_decode_too(tmp_path):
    # With another thread running, the workers are not forked: they start from a new
    # interpreter (the fork server), and are served all the same.
    items = mixed_inputs(tmp_path, 2 * MIN_IMAGES_PER_PROCESS)
    expected = expected_outcomes(items)
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.extend(read_all(items)))
    thread.start()
    thread.join(timeout=120)
    assert outcomes(got) == expected


def read_all(items):
    with reader(2, len(items)) as read:
        return list(read(items))


# --- threads and warnings: the library changes no global state -------------------------------


def warned_by_pillow(folder: Path) -> list[Path]:
    """Readable images over whose metadata Pillow warns as it decodes them."""
    folder.mkdir(exist_ok=True)
    build(folder)
    names = ["tag-past-end.tif", "bad-mpo.jpg", "exif-past-end.jpg", "wrong-size.ico"]
    return [folder / name for name in names]


def test_pillow_warns_over_the_odd_images_through_the_library(tmp_path):
    # The program's own filters decide what becomes of Pillow's warnings.
    for path in warned_by_pillow(tmp_path):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert load_image(path).shape == (64, 64, 3)
        assert caught, path


def test_predict_proba_from_8_threads_changes_no_warning_filter(tmp_path):
    from helpers import BUNDLED_MODEL

    import catclf

    odd = warned_by_pillow(tmp_path / "odd")
    paths = [*odd, *sorted(SAMPLES.glob("*.png")), *sorted(SAMPLES.glob("*.jpg"))] * 2
    model = catclf.load_model(BUNDLED_MODEL)
    alone = model.predict_proba(paths)
    filters = list(warnings.filters)

    def predict(start: threading.Barrier, found: list[np.ndarray]) -> None:
        start.wait()
        found.append(model.predict_proba(paths))

    for _ in range(8):
        start = threading.Barrier(8)
        found: list[np.ndarray] = []
        threads = [threading.Thread(target=predict, args=(start, found)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert warnings.filters == filters
        assert len(found) == 8
        for probabilities in found:
            np.testing.assert_array_equal(probabilities, alone)

    # The program's own warning is still shown: no filter ignores it.
    with warnings.catch_warnings(record=True) as shown:
        warnings.warn("the program's own warning, after the threads", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["the program's own warning, after the threads"]


@pytest.mark.parametrize("action", ["default", "error"])
def test_an_image_above_pillows_pixel_limit_is_refused_whatever_the_filters_say(tmp_path, action):
    # A TGA (no header for catclf to read first) of 10,000 x 9,000: above Image.MAX_IMAGE_PIXELS
    # (89,478,485), below twice it, where Pillow only warns. Its pixels are never read.
    path = tmp_path / "big.tga"
    path.write_bytes(struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 10_000, 9_000, 24, 0))
    with warnings.catch_warnings():
        warnings.simplefilter(action)
        with pytest.raises(ImageError) as caught:
            load_image(path)
    assert str(caught.value).startswith(f"{path}: image too large to decode safely (")
