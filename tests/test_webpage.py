"""The page of catclf.webpage in a real headless Chromium: a photo chosen on it gets
catclf's 64x64 pixels and probability, its explanation adds up, and it loads nothing.

Chromium is the system's (Debian's `chromium`), driven by Playwright's Python package;
where either is missing the module is skipped, and says why. One browser and one tab serve
the whole module: each test opens the page it needs in that tab, and chooses files on it
as a user would. The page exposes its last result as window.catclfPage.result (see
catclf/web/page.js); the pixels compared are those.
"""

import base64
import functools
import http.server
import json
import math
import shutil
import threading
import zlib

import numpy as np
import pytest
from helpers import BUNDLED_MODEL, N_X, SAMPLES, catclf_run, write_model_file
from PIL import Image

import catclf
from catclf.images import load_image
from catclf.webpage import write_page

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None
CHROMIUM = shutil.which("chromium")
MISSING = [
    said
    for said, missing in [
        ("no Chromium on this machine (apt-get install chromium)", CHROMIUM is None),
        ("no playwright package (pip install -e '.[test]')", sync_playwright is None),
    ]
    if missing
]
if MISSING:
    pytest.skip(
        "the page is tested in Chromium through Playwright: " + "; ".join(MISSING),
        allow_module_level=True,
    )

ORIENTATION = 0x0112
RESULT = """() => {
  const r = window.catclfPage.result;
  if (r.error) return r;
  return {...r, pixels: Array.from(r.pixels), contributions: Array.from(r.contributions)};
}"""
# How far the page may stray from catclf on a JPEG where the browser cannot decode it at
# reduced scale and the page averages a full decode instead (the "box" fallback): measured
# on the JPEGs below, at most 1 level and 4.2e-4 in probability (docs/export.md).
BOX_LEVELS = 2
BOX_PROBABILITY = 2e-3
# With equal pixels, the probability differs only in the order of the sum: measured
# 2.1e-15 at most.
SAME = 1e-12


# The browser and the pages


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Tab:
    """One Chromium tab, each request it makes recorded."""

    def __init__(self, browser):
        self.page = browser.new_page()
        self.requests = []
        self.errors = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, url, *, fresh=False):
        """The page at url, ready for a photo (loaded again if fresh)."""
        if fresh or self.page.url != url:
            self.page.goto(url)
        self.page.locator("#app:not([data-state=loading])").wait_for()
        return self

    def choose(self, path, **options):
        """Choose path on the page's file input, as a user does; the page's result.
        options go to the page's preprocessing (window.catclfPage.options)."""
        self.page.evaluate(
            "(o) => { window.catclfPage.options = o; "
            "document.getElementById('app').dataset.state = 'waiting'; }",
            options,
        )
        self.page.set_input_files("#photo", [])  # choosing the same file again is a change
        self.page.set_input_files("#photo", str(path))
        return self.result()

    def result(self):
        self.page.locator("#app[data-state=done], #app[data-state=error]").wait_for()
        assert self.errors == [], "the page's script failed"
        return self.page.evaluate(RESULT)

    def text(self, element_id):
        return self.page.locator(f"#{element_id}").text_content()


@pytest.fixture(scope="module")
def tab(browser):
    return Tab(browser)


@pytest.fixture(scope="module")
def model():
    return catclf.load_model(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def pages(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("pages")
    write_page(model, folder / "bundled.html")
    write_page(hand_model(folder), folder / "hand.html")
    return folder


def hand_model(folder):
    """A model worked out by hand: b = 0.5; each red value weighs +0.001; each green value
    -0.004 in the left half of the image and 0 in the right; blue 0. For the colour
    (204, 102, 51), x = (0.8, 0.4, 0.2): a pixel of the left half adds
    0.001 * 0.8 - 0.004 * 0.4 = -0.0008 to z, one of the right half +0.0008."""
    w = np.zeros((64, 64, 3))
    w[:, :, 0] = 0.001
    w[:, :32, 1] = -0.004
    path = write_model_file(
        folder / "hand.h5",
        w=w.reshape(N_X, 1),
        b=np.float64(0.5),
        attrs={"classes": ["dog", "cat & <kitten>"]},
    )
    return catclf.load_model(path)


# The images


def photo(width, height, name="cat_chelsea.png", seed=0):
    """A sample photo stretched to width x height, with a little noise, as (h, w, 3)."""
    with Image.open(SAMPLES / name) as im:
        base = np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    noise = np.random.default_rng(seed).normal(0, 6, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def exif(orientation):
    e = Image.Exif()
    e[ORIENTATION] = orientation
    return e.tobytes()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Every image the tests choose, by name, written once."""
    folder = tmp_path_factory.mktemp("images")
    rgb = Image.fromarray(photo(451, 300))
    alpha = np.tile(np.linspace(0, 255, 451).astype(np.uint8), (300, 1))
    rgba = Image.fromarray(np.dstack([np.asarray(rgb), alpha]))
    palette = rgb.quantize(200)
    made = {
        "PNG": (rgb, "PNG", {}),
        "PNG with partial transparency": (rgba, "PNG", {}),
        "PNG palette with transparent entries": (
            palette,
            "PNG",
            {"transparency": bytes(range(0, 250, 5)) * 4},
        ),
        "PNG 16-bit gray": (
            Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257),
            "PNG",
            {},
        ),
        "PNG turned by EXIF (8)": (rgb, "PNG", {"exif": exif(8)}),
        "BMP": (rgb, "BMP", {}),
        "BMP palette": (palette, "BMP", {}),
        "WebP lossless": (rgb, "WEBP", {"lossless": True}),
        "WebP lossless with transparency": (rgba, "WEBP", {"lossless": True}),
        "WebP lossless turned by EXIF (6)": (rgb, "WEBP", {"lossless": True, "exif": exif(6)}),
        "GIF with a transparent entry": (palette, "GIF", {"transparency": 3}),
        # Taller than wide: Pillow 13 resizes it vertically first, Pillow 10 to 12 not.
        "tall PNG": (Image.fromarray(photo(100, 700, seed=1)), "PNG", {}),
        "phone JPEG (4032x3024, EXIF 6)": (
            Image.fromarray(photo(4032, 3024, "noncat_astronaut.png", seed=2)),
            "JPEG",
            {"quality": 92, "exif": exif(6)},
        ),
    }
    paths = {}
    for i, (name, (image, fmt, options)) in enumerate(made.items()):
        paths[name] = folder / f"image{i}.{fmt.lower()}"
        image.save(paths[name], fmt, **options)
    for path in sorted(SAMPLES.glob("*.jpg")):
        paths[path.name] = path
    return paths


LOSSLESS = [
    "PNG",
    "PNG with partial transparency",
    "PNG palette with transparent entries",
    "PNG 16-bit gray",
    "PNG turned by EXIF (8)",
    "BMP",
    "BMP palette",
    "WebP lossless",
    "WebP lossless with transparency",
    "WebP lossless turned by EXIF (6)",
    "GIF with a transparent entry",
    "tall PNG",
]
JPEGS = ["cat_chelsea_large.jpg", "noncat_hubble.jpg", "noncat_rocket.jpg"]
PHONE = "phone JPEG (4032x3024, EXIF 6)"


def pixels(result):
    assert "error" not in result, result
    return np.array(result["pixels"], dtype=np.uint8).reshape(64, 64, 3)


def levels(a, b):
    """The largest difference between two images, in levels of 255."""
    return int(np.abs(a.astype(int) - b.astype(int)).max())


# catclf's pixels and probability


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_images_get_catclfs_pixels_and_probability(tab, pages, images, model, name):
    result = tab.open((pages / "bundled.html").as_uri()).choose(images[name])
    assert np.array_equal(pixels(result), load_image(images[name]))
    assert abs(result["probability"] - model.predict_proba(images[name])) < SAME


@pytest.mark.parametrize("name", [*JPEGS, PHONE])
def test_jpegs_get_catclfs_pixels_where_the_browser_decodes_as_catclf(
    tab, pages, images, model, name
):
    result = tab.open((pages / "bundled.html").as_uri()).choose(images[name])
    probe = tab.page.evaluate("window.catclfPage.probe")
    # Chromium decodes JPEG with libjpeg-turbo, as Pillow does, and at reduced scale through
    # ImageDecoder; the page checks both on a small JPEG held in it (the probe).
    exact = probe["scaled"] if result["scale"] > 1 else probe["full"]
    expected = load_image(images[name])
    p = model.predict_proba(images[name])
    if exact:
        assert result["jpeg"] == ("scaled" if result["scale"] > 1 else "none")
        assert np.array_equal(pixels(result), expected)
        assert abs(result["probability"] - p) < SAME
    else:
        assert levels(pixels(result), expected) <= BOX_LEVELS
        assert abs(result["probability"] - p) <= BOX_PROBABILITY


@pytest.mark.parametrize("name", [*JPEGS, PHONE])
def test_jpegs_stay_close_where_the_browser_cannot_decode_at_reduced_scale(
    tab, pages, images, model, name
):
    result = tab.open((pages / "bundled.html").as_uri()).choose(images[name], jpeg="box")
    assert result["jpeg"] == ("box" if result["scale"] > 1 else "none")
    assert levels(pixels(result), load_image(images[name])) <= BOX_LEVELS
    assert abs(result["probability"] - model.predict_proba(images[name])) <= BOX_PROBABILITY


def test_the_probe_finds_chromium_decodes_jpeg_as_catclf(tab, pages):
    tab.open((pages / "bundled.html").as_uri(), fresh=True).choose(SAMPLES / "noncat_rocket.jpg")
    probe = tab.page.evaluate("window.catclfPage.probe")
    assert probe == {"full": True, "scaled": True}


def test_exif_orientation_turns_a_phone_photo_upright(tab, pages, images):
    result = tab.open((pages / "bundled.html").as_uri()).choose(images[PHONE])
    assert (result["orientation"], result["width"], result["height"]) == (6, 4032, 3024)
    # Orientation 6 asks for a turn of 90 degrees clockwise. Made small here from a full
    # decode (the page, as catclf, decodes at 1/8 scale: a level or so apart on average).
    with Image.open(images[PHONE]) as im:
        stored = im.convert("RGB")
    lanczos = Image.Resampling.LANCZOS
    upright = np.asarray(stored.transpose(Image.Transpose.ROTATE_270).resize((64, 64), lanczos))
    as_stored = np.asarray(stored.resize((64, 64), lanczos))
    got = pixels(result).astype(float)
    assert np.abs(got - upright).mean() < 2
    assert np.abs(got - as_stored).mean() > 20


def test_transparency_is_composited_on_white(tab, pages, tmp_path):
    # Four bands of (r, g, b, alpha): on white, each colour becomes
    # v * alpha / 255 + 255 - alpha, rounded.
    bands = [(255, 0, 0, 0), (0, 0, 0, 128), (0, 0, 0, 255), (200, 100, 50, 64)]
    rgba = np.zeros((64, 64, 4), np.uint8)
    for i, band in enumerate(bands):
        rgba[:, 16 * i : 16 * (i + 1)] = band
    Image.fromarray(rgba).save(tmp_path / "bands.png")
    result = tab.open((pages / "bundled.html").as_uri()).choose(tmp_path / "bands.png")
    got = pixels(result)
    for i, (*colour, alpha) in enumerate(bands):
        expected = [math.floor(v * alpha / 255 + 255 - alpha + 0.5) for v in colour]
        assert (got[:, 16 * i : 16 * (i + 1)] == expected).all(), (i, expected)


def test_the_resize_runs_its_passes_in_the_order_of_this_pillow(tab, pages, images):
    tab.open((pages / "bundled.html").as_uri())
    order = tab.page.evaluate("JSON.parse(document.getElementById('catclf-model').textContent)")
    chosen = order["preprocessing"]["resize_order"]
    other = {"pillow13": "pillow10", "pillow10": "pillow13"}[chosen]
    expected = load_image(images["tall PNG"])
    assert np.array_equal(pixels(tab.choose(images["tall PNG"])), expected)
    # The order matters: the other one rounds differently.
    assert not np.array_equal(pixels(tab.choose(images["tall PNG"], order=other)), expected)


# What the page shows


def test_the_page_shows_the_probability_the_label_and_the_sum_of_the_logit(
    tab, pages, images, model
):
    path = SAMPLES / "cat_chelsea.png"
    result = tab.open((pages / "bundled.html").as_uri()).choose(path)
    p = model.predict_proba(path)
    shown = tab.page.locator("#probability")
    assert float(shown.get_attribute("data-value")) == result["probability"]
    assert abs(float(shown.get_attribute("data-value")) - p) < SAME
    assert shown.text_content() == f"{100 * p:.1f}\u00a0%"
    assert tab.text("label") == model.label(p) == "cat"
    assert tab.text("status") == f"cat_chelsea.png: cat (probability of cat {100 * p:.1f}\u00a0%)"
    # The split catclf explain makes, worked out here with numpy from catclf's pixels.
    shares = model.w.reshape(-1) * (load_image(path).reshape(-1) / 255)
    assert result["toward"] == pytest.approx(shares[shares > 0].sum(), abs=1e-9)
    assert result["away"] == pytest.approx(shares[shares < 0].sum(), abs=1e-9)
    per_pixel = shares.reshape(64, 64, 3).sum(axis=2).reshape(-1)
    assert np.allclose(result["contributions"], per_pixel, rtol=0, atol=1e-12)
    assert result["limit"] == pytest.approx(np.abs(per_pixel).max(), abs=1e-12)
    # And as the library's explanation gives them.
    explained = model.explain(path)
    assert (result["toward"], result["away"], result["limit"]) == pytest.approx(
        (explained.toward, explained.away, explained.limit), abs=1e-9
    )
    assert result["bias"] + result["toward"] + result["away"] == pytest.approx(result["z"], 1e-12)
    assert sum(result["contributions"]) + result["bias"] == pytest.approx(result["z"], 1e-12)
    assert 1 / (1 + math.exp(-result["z"])) == pytest.approx(p, abs=SAME)
    assert tab.text("logit") == f"+{result['z']:.4f}"
    assert tab.page.locator("#problem").is_hidden()


def test_a_hand_worked_model_gives_its_hand_worked_explanation(tab, pages, tmp_path):
    Image.new("RGB", (64, 64), (204, 102, 51)).save(tmp_path / "uniform.png")
    result = tab.open((pages / "hand.html").as_uri()).choose(tmp_path / "uniform.png")
    # z = 0.5 + 2048 * -0.0008 + 2048 * 0.0008. Value by value, every red one adds 0.0008
    # (4096 of them: 3.2768), each green one of the left half -0.0016 (2048: -3.2768).
    assert result["z"] == pytest.approx(0.5, abs=1e-12)
    assert result["toward"] == pytest.approx(3.2768, abs=1e-12)
    assert result["away"] == pytest.approx(-3.2768, abs=1e-12)
    assert result["probability"] == pytest.approx(0.6224593312018546, abs=1e-15)
    contributions = np.array(result["contributions"]).reshape(64, 64)
    assert np.allclose(contributions[:, :32], -0.0008) and np.allclose(contributions[:, 32:], 8e-4)
    assert tab.text("label") == "cat & <kitten>"
    assert tab.page.title() == "cat & <kitten> or dog?"
    assert [tab.text(i) for i in ("bias", "toward", "away", "logit")] == [
        "+0.5000",
        "+3.2768",
        "\u22123.2768",
        "+0.5000",
    ]
    assert tab.text("probability") == "62.2\u00a0%"
    assert (tab.text("legend-low"), tab.text("legend-high")) == ("\u22120.00080", "+0.00080")
    # The map: the left half, which pushes toward the negative class, blue; the right red.
    left, right = tab.page.evaluate(
        "() => { const c = document.getElementById('map').getContext('2d');"
        " return [Array.from(c.getImageData(5, 30, 1, 1).data),"
        " Array.from(c.getImageData(60, 30, 1, 1).data)]; }"
    )
    assert left[2] > left[0] + 40 and right[0] > right[2] + 40


def test_a_file_that_is_not_an_image_is_refused_in_words(tab, pages, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("my notes\n")
    result = tab.open((pages / "bundled.html").as_uri()).choose(path)
    assert result["error"].startswith("not an image")
    problem = tab.page.locator("#problem")
    assert problem.is_visible() and problem.text_content().startswith("notes.png: not an image")
    assert tab.page.locator("#result").is_hidden()


def test_an_image_too_large_to_decode_safely_is_refused_in_words(tab, pages, tmp_path):
    # A PNG whose header says 20000 x 20000 pixels: catclf refuses it before decoding.
    path = tmp_path / "huge.png"
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = (20000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(catclf.ImageError, match="too large to decode safely"):
        load_image(path)
    result = tab.open((pages / "bundled.html").as_uri()).choose(path)
    assert "too large to decode safely" in result["error"]
    assert tab.page.locator("#problem").is_visible()


def test_a_photo_dropped_on_the_page_is_scored(tab, pages, model):
    path = SAMPLES / "noncat_horse_silhouette.png"
    tab.open((pages / "bundled.html").as_uri())
    tab.page.evaluate("document.getElementById('app').dataset.state = 'waiting'")
    tab.page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], "horse.png", {type: "image/png"}));
          const drop = document.getElementById("drop");
          drop.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                                     cancelable: true}));
        }""",
        base64.b64encode(path.read_bytes()).decode(),
    )
    p = model.predict_proba(path)
    assert abs(tab.result()["probability"] - p) < SAME
    # 0.99997054...: as many digits as it takes not to show 100 %.
    assert f"{p:.8f}" == "0.99997054" and tab.text("probability") == "99.997\u00a0%"


# Keyboard and labels


def test_the_file_input_is_labelled_reached_by_tab_and_opened_by_the_keyboard(tab, pages):
    tab.open((pages / "bundled.html").as_uri(), fresh=True)
    labelled = tab.page.get_by_label("Choose a photo", exact=True)
    assert labelled.evaluate("(e) => e.id + ' ' + e.type") == "photo file"
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("document.activeElement.id") == "photo"
    outline = tab.page.evaluate(
        "getComputedStyle(document.querySelector('label[for=photo]')).outlineStyle"
    )
    assert outline not in ("none", "")  # the focus is seen on the button-like label
    tab.page.evaluate("document.getElementById('app').dataset.state = 'waiting'")
    with tab.page.expect_file_chooser() as chooser:
        tab.page.keyboard.press("Enter")
    chooser.value.set_files(str(SAMPLES / "cat_chelsea.png"))
    assert tab.result()["label"] == "cat"


# No network


def test_the_page_makes_no_request_but_for_itself(tab, pages, images):
    url = (pages / "bundled.html").as_uri()
    tab.requests.clear()
    tab.open(url, fresh=True).choose(images["PNG"])
    tab.choose(images["cat_chelsea_large.jpg"])
    assert [u for u in tab.requests if not u.startswith(("data:", "blob:"))] == [url]


def test_the_pages_policy_blocks_any_request_it_might_try(tab, pages):
    tab.open((pages / "bundled.html").as_uri())
    blocked = tab.page.evaluate(
        """async () => {
          const seen = [];
          document.addEventListener("securitypolicyviolation",
                                    (e) => seen.push(e.effectiveDirective));
          let fetched = true;
          try { await fetch("http://127.0.0.1:9/"); } catch (e) { fetched = false; }
          const img = new Image();
          img.src = "http://127.0.0.1:9/x.png";
          await new Promise((done) => { img.onerror = done; img.onload = done; });
          await new Promise((done) => setTimeout(done, 50));
          return {fetched, seen};
        }"""
    )
    assert not blocked["fetched"]
    assert sorted(blocked["seen"]) == ["connect-src", "img-src"]


# Served


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(pages):
    handler = functools.partial(Quiet, directory=str(pages))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_page_works_served_over_http(tab, served, images, model):
    url = f"{served}/bundled.html"
    tab.requests.clear()
    tab.open(url, fresh=True)
    for name in ("PNG", "cat_chelsea_large.jpg"):
        result = tab.choose(images[name])
        assert np.array_equal(pixels(result), load_image(images[name]))
        assert abs(result["probability"] - model.predict_proba(images[name])) < SAME
    assert [u for u in tab.requests if not u.startswith(("data:", "blob:"))] == [url]


def test_the_page_catclf_export_writes_gives_what_catclf_predict_prints(tab, tmp_path):
    # As a user shares a model: the command writes the page, a browser opens it from disk,
    # and each sample photo gets the probability `catclf predict` prints for it.
    done = catclf_run("export", "--html", "page.html", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    photos = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    assert len(photos) == 7
    predicted = catclf_run("predict", *photos, "--json", cwd=tmp_path)
    printed = {json.loads(line)["path"]: json.loads(line) for line in predicted.stdout.splitlines()}
    tab.open((tmp_path / "page.html").as_uri(), fresh=True)
    for path in photos:
        result = tab.choose(path)
        assert result["probability"] == pytest.approx(printed[str(path)]["probability"], abs=1e-12)
        assert tab.text("label") == printed[str(path)]["label"]
