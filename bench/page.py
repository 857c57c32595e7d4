"""How close the page of `catclf.webpage` is to `catclf predict`, format by format, and how
long it takes, measured in headless Chromium.

    python bench/page.py [--repeat 7] [--out bench/page.json]

Needs the test extra (Playwright's Python package) and a Chromium (Debian's `chromium`).
Writes the bundled model's page and a corpus of images into a temporary folder: the sample
photos, images of every kind the page decodes itself (PNG, BMP) or leaves to the browser
(WebP, GIF, JPEG), and phone-sized JPEGs; chooses each on the page as a user would; and
compares the page's 64x64 pixels and probability with catclf's (`load_image`,
`Model.predict_proba`). JPEGs are scored twice: as the page scores them in this browser,
and as it scores them where the browser cannot decode a JPEG at reduced scale (the "box"
fallback). Prints a table per group, the page's size, and the time for 12-megapixel photos.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import catclf
from catclf.images import load_image
from catclf.webpage import write_page

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
ORIENTATION = 0x0112
RESULT = """() => {
  const r = window.catclfPage.result;
  return r.error ? r : {...r, pixels: Array.from(r.pixels), contributions: null};
}"""


def photo(width: int, height: int, rng: np.random.Generator, name: str = "cat_chelsea.png"):
    """A sample photo stretched to width x height, with sensor-like noise: (h, w, 3) uint8."""
    with Image.open(SAMPLES / name) as im:
        base = np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    noise = rng.normal(0, 6, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def saved(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def exif(orientation: int) -> bytes:
    e = Image.Exif()
    e[ORIENTATION] = orientation
    return e.tobytes()


def corpus(folder: Path) -> list[tuple[str, Path]]:
    """(group, path) of every image measured, written into folder."""
    rng = np.random.default_rng(2024)
    files: list[tuple[str, Path]] = []

    def add(group: str, name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files.append((group, path))

    for path in sorted(SAMPLES.iterdir()):
        if path.suffix in (".png", ".jpg"):
            group = "sample PNG" if path.suffix == ".png" else "sample JPEG"
            shutil.copy(path, folder / path.name)
            files.append((group, folder / path.name))
    rgb = photo(451, 300, rng)
    alpha = np.tile(np.linspace(0, 255, 451).astype(np.uint8), (300, 1))
    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    gray = Image.fromarray(rgb).convert("L")
    palette = Image.fromarray(rgb).quantize(200)
    tall = Image.fromarray(photo(100, 700, rng))
    wide = Image.fromarray(photo(900, 70, rng))
    for name, image, options in [
        ("rgb", Image.fromarray(rgb), {}),
        ("rgba", rgba, {}),
        ("gray", gray, {}),
        ("gray16", Image.fromarray(np.asarray(gray).astype(np.uint16) * 257), {}),
        ("la", Image.fromarray(np.dstack([np.asarray(gray), alpha])), {}),
        ("palette_trns", palette, {"transparency": bytes(range(0, 250, 5)) * 4}),
        ("bilevel", gray.convert("1"), {}),
        ("interlaced", Image.fromarray(rgb), {"interlace": True}),
        ("tall", tall, {}),
        ("wide", wide, {}),
        ("exif8", Image.fromarray(rgb), {"exif": exif(8)}),
        ("large", Image.fromarray(photo(3000, 2000, rng)), {"compress_level": 1}),
    ]:
        add("PNG", f"png_{name}.png", saved(image, "PNG", **options))
    for name, image in [
        ("rgb", Image.fromarray(rgb)),
        ("rgba", rgba),
        ("palette", palette),
        ("gray", gray),
        ("bilevel", gray.convert("1")),
        ("tall", tall),
    ]:
        add("BMP", f"bmp_{name}.bmp", saved(image, "BMP"))
    for name, image, options in [
        ("rgb", Image.fromarray(rgb), {}),
        ("rgba", rgba, {}),
        ("exif6", Image.fromarray(rgb), {"exif": exif(6)}),
        ("large", Image.fromarray(photo(2000, 1500, rng)), {"method": 0}),
    ]:
        add("WebP lossless", f"webp_{name}.webp", saved(image, "WEBP", lossless=True, **options))
    add("WebP lossy", "webp_lossy.webp", saved(Image.fromarray(rgb), "WEBP", quality=80))
    add("GIF", "gif_palette.gif", saved(palette, "GIF"))
    add("GIF", "gif_trns.gif", saved(palette, "GIF", transparency=3))
    frames = [Image.fromarray(photo(200, 150, rng)).quantize(64) for _ in range(3)]
    add("GIF", "gif_animated.gif", saved(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    for width, height in [(500, 375), (1100, 800), (2100, 1500), (4100, 2300)]:
        image = Image.fromarray(photo(width, height, rng, "noncat_coffee.png"))
        add("JPEG", f"jpeg_{width}x{height}.jpg", saved(image, "JPEG", quality=90))
    image = Image.fromarray(photo(1600, 1200, rng))
    add("JPEG", "jpeg_progressive.jpg", saved(image, "JPEG", quality=85, progressive=True))
    add("JPEG", "jpeg_444.jpg", saved(image, "JPEG", quality=95, subsampling=0))
    add("JPEG", "jpeg_gray.jpg", saved(image.convert("L"), "JPEG", quality=90))
    add("JPEG", "jpeg_exif3.jpg", saved(image, "JPEG", quality=90, exif=exif(3)))
    for width, height, turn in [
        (4032, 3024, 6),
        (4032, 3024, 1),
        (3024, 4032, 1),
        (4032, 3024, 8),
        (4000, 3000, 3),
    ]:
        image = Image.fromarray(photo(width, height, rng, "noncat_astronaut.png"))
        add(
            "phone JPEG",
            f"phone_{width}x{height}_o{turn}.jpg",
            saved(image, "JPEG", quality=92, exif=exif(turn)),
        )
    return files


class Page:
    """The page open in a Chromium tab, scoring files as a user chooses them."""

    def __init__(self, browser: Any, url: str) -> None:
        self.tab = browser.new_page()
        self.requests: list[str] = []
        self.tab.on("request", lambda request: self.requests.append(request.url))
        self.tab.goto(url)
        self.tab.locator("#app[data-state=ready]").wait_for()

    def score(self, path: Path, options: dict[str, str] | None = None) -> tuple[dict, float]:
        """(the page's result, the seconds from choosing the file to the result shown)."""
        self.tab.evaluate(
            "(o) => { window.catclfPage.options = o; "
            "document.getElementById('app').dataset.state = 'waiting'; }",
            options or {},
        )
        self.tab.set_input_files("#photo", [])  # the same file twice is a change too
        started = time.perf_counter()
        self.tab.set_input_files("#photo", str(path))
        self.tab.locator("#app[data-state=done], #app[data-state=error]").wait_for()
        wall = time.perf_counter() - started
        return self.tab.evaluate(RESULT), wall


def compare(page: Page, files: list[tuple[str, Path]], model: Any) -> list[dict[str, Any]]:
    rows = []
    for group, path in files:
        ref = load_image(path)
        p = model.predict_proba(path)
        variants = [("as this browser", {})]
        if "JPEG" in group:
            variants.append(("box fallback", {"jpeg": "box"}))
        for variant, options in variants:
            got, _ = page.score(path, options)
            if "error" in got:
                rows.append({"group": group, "file": path.name, "variant": variant, **got})
                continue
            pixels = np.array(got["pixels"], dtype=np.uint8).reshape(ref.shape)
            diff = np.abs(pixels.astype(int) - ref.astype(int))
            rows.append(
                {
                    "group": group,
                    "file": path.name,
                    "variant": variant,
                    "levels": int(diff.max()),
                    "differing": int((diff > 0).sum()),
                    "dp": abs(got["probability"] - p),
                    "jpeg": got["jpeg"],
                    "scale": got["scale"],
                }
            )
    return rows


def timing(page: Page, folder: Path, repeat: int) -> dict[str, Any]:
    """Milliseconds to score 12-megapixel photos (4032x3024): the page's own count (from
    reading the file to the result shown) and the time seen from outside (from choosing the
    file), the medians of repeat runs. A phone JPEG (orientation 6), with the scaled decode
    and with the box fallback; the same photo as PNG and as lossless WebP."""
    rng = np.random.default_rng(12)
    image = Image.fromarray(photo(4032, 3024, rng, "cat_chelsea.png"))
    cases = [
        ("JPEG", "jpg", "JPEG", {"quality": 92, "exif": exif(6)}, {}),
        ("JPEG, box fallback", "jpg", "JPEG", {"quality": 92, "exif": exif(6)}, {"jpeg": "box"}),
        ("PNG", "png", "PNG", {}, {}),
        ("WebP lossless", "webp", "WEBP", {"lossless": True, "method": 0}, {}),
    ]
    out: dict[str, Any] = {}
    for name, suffix, fmt, save_options, options in cases:
        path = folder / f"timing_4032x3024.{suffix}"
        if not path.exists():
            path.write_bytes(saved(image, fmt, **save_options))
        inside, outside = [], []
        for _ in range(repeat):
            got, wall = page.score(path, options)
            inside.append(got["milliseconds"])
            outside.append(1000 * wall)
        out[name] = {
            "bytes": path.stat().st_size,
            "page_ms": round(statistics.median(inside)),
            "wall_ms": round(statistics.median(outside)),
            "max_page_ms": round(max(inside)),
            "times": {step: round(ms) for step, ms in got["times"].items()},
        }
    return out


def table(rows: list[dict[str, Any]]) -> str:
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[(row["group"], row["variant"])].append(row)
    lines = [
        "| images | decoded | files | pixels equal | max level difference "
        "| max probability difference |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (group, variant), found in by.items():
        ok = [r for r in found if "levels" in r]
        errors = len(found) - len(ok)
        lines.append(
            f"| {group} | {variant} | {len(found)} | {sum(r['levels'] == 0 for r in ok)} "
            f"| {max(r['levels'] for r in ok)} | {max(r['dp'] for r in ok):.1e} |"
            + (f" ({errors} refused)" if errors else "")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # here: only this script needs it

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium on this machine")
    model = catclf.load_model()
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        folder = Path(scratch)
        page_path = write_page(model, folder / "page.html")
        files = corpus(folder)
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = Page(browser, page_path.as_uri())
        rows = compare(page, files, model)
        times = timing(page, folder, args.repeat)
        probe = page.tab.evaluate("window.catclfPage.probe")
        version = browser.version
        requests = sorted(set(page.requests))
        browser.close()
        size = page_path.stat().st_size
    print(table(rows))
    print(f"\nChromium {version}; JPEG probe: {probe}; requests: {requests}")
    print(f"page: {size:,} bytes")
    print(json.dumps(times, indent=1))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "chromium": version,
                    "probe": probe,
                    "page_bytes": size,
                    "rows": rows,
                    "timing": times,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
