"""The page file of catclf.webpage, without a browser: what it holds, the policy that keeps
it from loading anything, the preprocessing contract, and how it is written (atomically,
never over a file catclf did not write unless forced). test_webpage.py runs it in Chromium."""

import base64
import errno
import html
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import PIL
import pytest
from helpers import BUNDLED_MODEL, N_X, write_model_file
from occupants import SPECIAL, is_special, make_special
from PIL import Image

import catclf
from catclf import files, webpage
from catclf.errors import ExportError
from catclf.images import load_image
from catclf.webpage import write_page


@pytest.fixture
def make_model(tmp_path_factory):
    """A model of random weights and the given class names, from a file made by hand."""

    def make(classes=("non-cat", "cat")):
        folder = tmp_path_factory.mktemp("model")
        w = np.random.default_rng(0).normal(scale=0.01, size=(N_X, 1))
        path = write_model_file(folder / "model.h5", w=w, attrs={"classes": list(classes)})
        return catclf.load_model(path)

    return make


class Elements(HTMLParser):
    """The start tags of a page with their attributes, and the text of each script and
    style element, as a browser's parser splits them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.texts, self.title, self._in = [], [], "", None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in in ("script", "style"):
            self.texts.append((self._in, data))
        elif self._in == "title":
            self.title += data


def held(page):
    """The model data the page holds, read as the page reads it: JSON in its script."""
    found = re.search(r'<script type="application/json" id="catclf-model">(.*?)</script>', page)
    assert found
    return json.loads(found.group(1))


def policy(page):
    """The page's Content-Security-Policy, directive by directive."""
    metas = [a for tag, a in Elements(page).tags if tag == "meta" and "http-equiv" in a]
    assert [a["http-equiv"] for a in metas] == ["Content-Security-Policy"]
    directives = [d.split() for d in metas[0]["content"].split(";")]
    return {d[0]: d[1:] for d in directives}


def sha256(text):
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# What the page holds


def test_the_page_holds_w_b_and_the_class_names_exactly():
    model = catclf.load_model(BUNDLED_MODEL)
    data = held(webpage.page_html(model))
    w = np.frombuffer(base64.b64decode(data["w"]), dtype="<f8")
    assert w.shape == (N_X,) and np.array_equal(w, model.w.reshape(-1))
    assert data["b"] == model.b
    assert data["classes"] == ["non-cat", "cat"]
    assert data["image_size"] == 64


def test_class_names_are_shown_as_text_and_cannot_end_the_script_that_holds_them(make_model):
    names = ("</script><script>alert(1)</script>", 'cat & "co"')
    page = webpage.page_html(make_model(classes=names))
    elements = Elements(page)
    assert [tag for tag, _ in elements.tags if tag == "script"] == ["script", "script"]
    assert held(page)["classes"] == list(names)
    assert elements.title == f"{names[1]} or {names[0]}?"
    assert "<script>alert(1)" not in page


def test_the_page_loads_nothing_and_runs_only_its_own_script_and_style(make_model):
    page = webpage.page_html(make_model())
    found = policy(page)
    assert found.pop("default-src") == ["'none'"]
    assert found.pop("img-src") == ["data:", "blob:"]
    assert found.pop("base-uri") == ["'none'"]
    assert found.pop("form-action") == ["'none'"]
    texts = Elements(page).texts
    scripts = [text for kind, text in texts if kind == "script" and "Preprocess" in text]
    styles = [text for kind, text in texts if kind == "style"]
    assert found.pop("script-src") == [sha256(scripts[0])]
    assert found.pop("style-src") == [sha256(styles[0])]
    assert found == {}  # connect-src and every other fetch fall back to default-src 'none'
    for tag, attrs in Elements(page).tags:
        assert not {"src", "href", "srcset", "action", "poster"} & set(attrs), tag
        assert tag not in ("link", "iframe", "object", "embed", "img", "base"), tag


def test_the_page_says_it_is_catclfs_in_its_first_bytes(make_model):
    page = webpage.page_html(make_model()).encode()
    assert webpage.is_page(io.BytesIO(page))
    assert not webpage.is_page(io.BytesIO(b"<!DOCTYPE html>\n<title>mine</title>" + page[600:]))


# The preprocessing contract


@pytest.mark.parametrize(
    "version, order",
    [
        ("10.0.0", "pillow10"),
        ("11.3.0", "pillow10"),
        ("12.3.0", "pillow10"),
        ("13.0.0", "pillow13"),
        ("13.1.0.dev0", "pillow13"),
        ("14.2.1", "pillow13"),
    ],
)
def test_the_resize_order_follows_the_pillow_version(version, order):
    assert webpage.resize_order(version) == order


def test_the_contract_is_this_catclfs_and_this_pillows():
    found = webpage.contract()
    major = int(PIL.__version__.split(".")[0])
    assert found["resize_order"] == ("pillow13" if major >= 13 else "pillow10")
    assert found["draft_side"] == 4 * 64  # catclf.images: 4 pixels per output pixel
    assert found["max_pixels"] == Image.MAX_IMAGE_PIXELS


def test_without_pillows_pixel_limit_the_page_keeps_catclfs_memory_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert webpage.contract()["max_pixels"] == (512 << 20) // 4


@pytest.mark.parametrize(
    "data, expected", [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)]
)
def test_fnv1a_gives_the_published_values(data, expected):
    assert webpage.fnv1a(data) == expected


def test_the_jpeg_probe_tells_catclfs_scaled_decode_from_what_a_browser_could_fake():
    probe, hashes = webpage.jpeg_probe()
    # At full size, catclf's own loader gives the pixels hashed (64x64: no draft, no resize).
    assert hashes[1] == webpage.fnv1a(load_image(probe).tobytes())
    assert len(set(hashes.values())) == 4
    with Image.open(io.BytesIO(probe)) as im:
        full = np.asarray(im.convert("RGB"), dtype=np.float64)
    for scale in (2, 4, 8):
        side = 64 // scale
        # A full decode averaged in blocks, or resized: not what libjpeg's scaled IDCT gives.
        blocks = full.reshape(side, scale, side, scale, 3).mean(axis=(1, 3))
        averaged = np.floor(blocks + 0.5).astype(np.uint8)
        lanczos = Image.Resampling.LANCZOS
        resized = Image.fromarray(full.astype(np.uint8)).resize((side, side), lanczos)
        assert hashes[scale] != webpage.fnv1a(averaged.tobytes())
        assert hashes[scale] != webpage.fnv1a(resized.tobytes())
    data = webpage.contract()["jpeg_probe"]
    assert base64.b64decode(data["jpeg"]) == probe
    assert data["hashes"] == {str(k): v for k, v in hashes.items()}


# Writing the page


def test_write_page_writes_the_page_and_returns_its_path(tmp_path, make_model):
    model = make_model()
    assert write_page(model, tmp_path / "page.html") == tmp_path / "page.html"
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == webpage.page_html(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_write_page_replaces_a_page_it_wrote(tmp_path, make_model):
    write_page(make_model(classes=("a", "b")), tmp_path / "page.html")
    write_page(make_model(classes=("dog", "cat")), str(tmp_path / "page.html"))
    assert held((tmp_path / "page.html").read_text())["classes"] == ["dog", "cat"]


FOREIGN = {
    "text": "my notes\n",
    "a page of the user's": "<!DOCTYPE html>\n<html><title>My cat</title></html>\n",
    "a catclf report": '<!DOCTYPE html>\n<html lang="en"><title>catclf report</title>\n',
    "empty": "",
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_write_page_replaces_another_file_only_with_force(tmp_path, kind, make_model):
    path = tmp_path / "page.html"
    path.write_text(FOREIGN[kind])
    with pytest.raises(ExportError) as e:
        write_page(make_model(), path)
    assert str(e.value) == f"{path}: is not a page catclf wrote; force=True replaces it"
    assert path.read_text() == FOREIGN[kind]
    write_page(make_model(), path, force=True)
    assert webpage.is_page(io.BytesIO(path.read_bytes()))


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_write_page_never_replaces_a_device_fifo_socket_or_folder(
    tmp_path, kind, force, make_model
):
    path = make_special(tmp_path / "page.html", kind)
    with pytest.raises(ExportError, match=f"page.html: is a {re.escape(SPECIAL[kind])}, not a"):
        write_page(make_model(), path, force=force)
    assert is_special(path, kind)


def test_write_page_never_replaces_the_model_it_is_made_from(tmp_path, make_model):
    path = tmp_path / "model.h5"
    make_model().save(path)
    before = path.read_bytes()
    with pytest.raises(ExportError, match="an input of this command; catclf never replaces"):
        write_page(catclf.load_model(path), path, force=True, inputs=[path])
    assert path.read_bytes() == before


def test_write_page_into_a_missing_folder_says_so(tmp_path, make_model):
    path = tmp_path / "missing" / "page.html"
    with pytest.raises(ExportError, match="cannot write the page: .*missing does not exist"):
        write_page(make_model(), path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_page_and_no_temporary_file(
    tmp_path, monkeypatch, make_model
):
    path = tmp_path / "page.html"
    write_page(make_model(classes=("a", "b")), path)
    before = path.read_bytes()

    def full(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(ExportError) as e:
        write_page(make_model(), path)
    assert str(e.value) == f"{path}: cannot write the page (No space left on device)"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_the_page_is_valid_utf8_whatever_the_class_names_hold(make_model):
    # A class name from a folder name that is not UTF-8 (held with a lone surrogate).
    page = webpage.page_html(make_model(classes=(b"caf\xe9", b"cat")))
    page.encode("utf-8")
    assert html.escape("caf\\xe9") in page
