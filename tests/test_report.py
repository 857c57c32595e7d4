"""catclf report, its pictures and page, and matplotlib as an optional extra.

Pictures are checked as a user's tools see them: each PNG opens with Pillow at the size
the README gives; the page is parsed and must load nothing from outside itself. Counts
are worked out with numpy on w and b read with h5py.
"""

import base64
import html
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest
from course import (
    LEARNING_RATE,
    NUM_ITERATIONS,
    TEST_ACCURACY_SHOWN,
    TEST_CORRECT,
    TEST_EXAMPLES,
    TRAIN_ACCURACY_SHOWN,
)
from helpers import (
    BUNDLED_MODEL,
    FILE_LIST,
    N_X,
    PACKAGE_DATA,
    SAMPLES,
    catclf_run,
    class_folders,
    constant_model,
    environment,
    error_lines,
    invoke,
    sigmoid,
    without_root_powers,
    write_model_file,
)
from PIL import Image

import catclf
from catclf import coursefiles, plots, report
from catclf.errors import ReportError

TEST_FILE = PACKAGE_DATA / "test_catvnoncat.h5"
INSTALL = "pip install matplotlib"  # works where catclf came from a clone, too


def png_size(data):
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


class Page(HTMLParser):
    """Every URL the page refers to, its embedded PNGs, and its text."""

    def __init__(self, text):
        super().__init__()
        self.urls, self.pngs, self.tags, self.words = [], [], set(), []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data", "poster"):
                self.urls.append(value)
            if tag == "img" and name == "src" and value.startswith("data:image/png;base64,"):
                self.pngs.append(base64.b64decode(value.split(",", 1)[1], validate=True))

    def handle_data(self, data):
        self.words.append(data)

    @property
    def text(self):
        return " ".join(" ".join(self.words).split())


def made_report(*args, cwd):
    result = invoke("report", *args, "--out", "out", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), Page((cwd / "out" / "index.html").read_text("utf-8"))


def counts_by_hand():
    """(tp, fp, tn, fn) of the bundled model on the bundled test set, p > 0.5 is cat."""
    with h5py.File(BUNDLED_MODEL, "r") as f:
        w, b = f["w"][()].reshape(-1), float(f["b"][()])
    with h5py.File(TEST_FILE, "r") as f:
        x = f["test_set_x"][()].reshape(TEST_EXAMPLES, -1) / 255
        y = f["test_set_y"][()].reshape(-1)
    cat = sigmoid(x @ w + b) > 0.5
    return (
        int(np.sum(cat & (y == 1))),
        int(np.sum(cat & (y == 0))),
        int(np.sum(~cat & (y == 0))),
        int(np.sum(~cat & (y == 1))),
    )


def model_alone(folder):
    """The bundled model, but trained on data it does not record: a report without DATA
    shows the model alone."""
    path = folder / "alone.h5"
    shutil.copy(BUNDLED_MODEL, path)
    with h5py.File(path, "r+") as f:
        f.attrs["train_data"] = "photos that are gone"
    return path


def test_report_on_a_model_alone(tmp_path):
    summary, page = made_report("-m", model_alone(tmp_path), cwd=tmp_path)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        FILE_LIST,
        "index.html",
        "learning_curve.png",
        "weights.png",
    ]
    assert summary["files"] == [
        "out/learning_curve.png",
        "out/weights.png",
        "out/index.html",
    ]
    assert summary["scores"] is None
    assert png_size((out / "learning_curve.png").read_bytes()) == (800, 500)
    assert png_size((out / "weights.png").read_bytes()) == (1600, 450)
    # The page shows exactly those pictures, embedded.
    assert page.pngs == [
        (out / "learning_curve.png").read_bytes(),
        (out / "weights.png").read_bytes(),
    ]
    # The bundled model's facts, as the course trains it.
    for fact in (
        f"learning rate {LEARNING_RATE}",
        f"iterations {NUM_ITERATIONS}",
        TRAIN_ACCURACY_SHOWN,
        TEST_ACCURACY_SHOWN,
    ):
        assert fact in page.text


def test_the_page_loads_nothing_from_outside(tmp_path):
    _, page = made_report("--data", TEST_FILE, cwd=tmp_path)
    assert page.urls
    for url in page.urls:
        assert url.startswith("data:") or url.startswith("#"), url
    assert "script" not in page.tags and "link" not in page.tags
    assert "http" not in (tmp_path / "out" / "index.html").read_text("utf-8")


def test_report_on_the_course_test_set(tmp_path):
    summary, page = made_report("--data", PACKAGE_DATA, cwd=tmp_path)
    out = tmp_path / "out"
    tp, fp, tn, fn = counts_by_hand()
    assert tp + tn == TEST_CORRECT  # the course's 70 % test accuracy
    wrong = TEST_EXAMPLES - TEST_CORRECT
    scores = summary["scores"]
    assert scores["examples"] == TEST_EXAMPLES
    assert scores["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert summary["misclassified"] == fp + fn == wrong
    assert png_size((out / "confusion.png").read_bytes()) == (500, 450)
    # 15 images, each beside its map, in rows of 4: four rows of 190 pixels below an
    # 80-pixel title.
    assert png_size((out / "misclassified.png").read_bytes()) == (1200, 80 + 4 * 190)
    assert len(page.pngs) == 4
    assert f"accuracy {TEST_ACCURACY_SHOWN}" in page.text
    assert f"true positives, false positives {tp}, {fp}" in page.text
    assert f"true negatives, false negatives {tn}, {fn}" in page.text
    assert f"precision {100 * tp / (tp + fp):.2f} % ({tp}/{tp + fp})" in page.text
    assert f"recall {100 * tp / (tp + fn):.2f} % ({tp}/{tp + fn})" in page.text
    assert f"{wrong} of {TEST_EXAMPLES} images are misclassified" in page.text


def test_more_than_48_misclassified_images_are_capped(tmp_path):
    constant_model(tmp_path / "sure.h5", 0.9)  # calls everything a cat
    with h5py.File(tmp_path / "dogs.h5", "w") as f:
        f["test_set_x"] = np.random.default_rng(0).integers(0, 256, (50, 64, 64, 3), np.uint8)
        f["test_set_y"] = np.zeros(50, np.int64)
    summary, page = made_report("-m", "sure.h5", "--data", "dogs.h5", cwd=tmp_path)
    assert summary["misclassified"] == 50
    # 48 images beside their maps, in twelve rows of four.
    picture = (tmp_path / "out" / "misclassified.png").read_bytes()
    assert png_size(picture) == (1200, 80 + 12 * 190)
    assert "50 of 50 images are misclassified; the 48 most confidently wrong are shown" in page.text


def test_no_misclassified_picture_when_every_image_is_right(tmp_path):
    class_folders(tmp_path / "data")  # reddish cats, bluish others
    red_minus_blue = np.zeros((64, 64, 3))
    red_minus_blue[..., 0], red_minus_blue[..., 2] = 1.0, -1.0
    write_model_file(tmp_path / "red.h5", w=red_minus_blue.reshape(N_X, 1) / 100)
    constant_model(tmp_path / "sure.h5", 0.9)  # calls everything a cat: 4 wrong
    # The picture of an earlier report must not stay beside the new page.
    earlier = invoke("report", "-m", "sure.h5", "--data", "data", "--out", "out", cwd=tmp_path)
    assert earlier.returncode == 0, earlier.stderr
    assert (tmp_path / "out" / "misclassified.png").exists()
    result = invoke("report", "-m", "red.h5", "--data", "data", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "misclassified" not in result.stdout
    assert "no image of data is misclassified" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        FILE_LIST,
        "confusion.png",
        "index.html",
        "learning_curve.png",
        "weights.png",
    ]
    page = Page((tmp_path / "out" / "index.html").read_text("utf-8"))
    assert "None: the model classifies all 8 images rightly" in page.text
    assert "accuracy 100.00 % (8/8)" in page.text


def test_plain_summary_lists_the_files(tmp_path):
    result = invoke("report", "-m", model_alone(tmp_path), "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "learning curve: out/learning_curve.png",
        "weights: out/weights.png",
        "page: out/index.html",
    ]
    assert "alone.h5 records no test set: give data to score the model" in result.stderr


def test_without_data_the_model_is_scored_on_the_test_set_it_records(tmp_path):
    summary, page = made_report(cwd=tmp_path)  # the bundled model: the bundled test set
    assert summary["scores"]["examples"] == TEST_EXAMPLES
    assert summary["scores"]["accuracy"] == TEST_CORRECT / TEST_EXAMPLES
    assert (tmp_path / "out" / "confusion.png").exists()


def test_a_gui_display_and_backend_setting_change_nothing(tmp_path):
    env = {"DISPLAY": ":0", "MPLBACKEND": "TkAgg"}
    result = catclf_run("report", "--out", "out", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert png_size((tmp_path / "out" / "weights.png").read_bytes()) == (1600, 450)


def test_out_that_is_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "out").write_text("mine")
    result = invoke("report", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("catclf: error: out: ")
    assert (tmp_path / "out").read_text() == "mine"


def test_report_needs_out(tmp_path):
    result = invoke("report", cwd=tmp_path)
    assert result.returncode == 2


def test_a_failed_write_names_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_write_bytes = Path.write_bytes

    def full_at_the_second(path, data):
        if data == b"2":
            raise OSError(28, "No space left on device")
        return real_write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_the_second)
    with pytest.raises(ReportError, match=r"weights\.png: cannot write \(No space left on dev"):
        plots.write_files(tmp_path, {"a.png": b"1", "weights.png": b"2", "b.png": b"3"})
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_the_place_of_a_picture_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "weights.png").mkdir()
    with pytest.raises(ReportError) as refused:
        plots.write_files(tmp_path, {"a.png": b"1", "weights.png": b"2"}, force=True)
    assert str(refused.value) == (
        f"{tmp_path / 'weights.png'}: is a folder, not a file; catclf replaces only regular files"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["weights.png"]


# matplotlib is optional

WITHOUT_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; "
    "from catclf.cli import main; sys.argv[0] = 'catclf'; main()"
)


def run_without_matplotlib(*args, cwd):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    return result


def test_the_blocker_really_hides_matplotlib(tmp_path):
    code = "import sys; sys.modules['matplotlib'] = None; import matplotlib"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1 and "import of matplotlib halted" in result.stderr


def test_train_predict_and_sweep_work_without_matplotlib(tmp_path):
    class_folders(tmp_path / "data")
    trained = run_without_matplotlib("train", "data", "-n", "20", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "model.h5").exists()
    predicted = run_without_matplotlib(
        "predict", "-m", BUNDLED_MODEL, SAMPLES / "cat_chelsea.png", cwd=tmp_path
    )
    assert predicted.returncode == 0, predicted.stderr
    swept = run_without_matplotlib("sweep", "data", "-r", "0.01", "-n", "20", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr


@pytest.mark.parametrize(
    "args",
    [["report", "--out", "out"], ["sweep", "-n", "100000", "--out", "out"]],
    ids=["report", "sweep --out"],
)
def test_pictures_without_matplotlib_say_how_to_install_it(tmp_path, args):
    result = run_without_matplotlib(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    # One line, before any work: no training began (100000 iterations would show).
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert INSTALL in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_command_line_imports_no_heavy_module_until_a_command_runs():
    code = (
        "import sys, catclf.cli; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'PIL', 'h5py') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]"


def test_report_on_a_model_whose_accuracies_are_not_numbers(tmp_path):
    # A hand-made file may hold NaN where catclf writes accuracies (infinity is refused).
    write_model_file(tmp_path / "odd.h5", attrs={"train_accuracy": float("nan")})
    _, page = made_report("--model", "odd.h5", cwd=tmp_path)
    assert "train accuracy nan" in page.text


# Nothing in DIR that is not catclf's is replaced or removed

REFUSED = "was not written by catclf, or was changed since; use --force to replace it"


def test_pictures_of_the_users_are_left_alone_by_a_report_without_data(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "confusion.png").write_bytes(b"my own confusion matrix")
    (out / "misclassified.png").write_bytes(b"my own picture")
    result = invoke("report", "-m", model_alone(tmp_path), "--out", "out", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "confusion.png").read_bytes() == b"my own confusion matrix"
    assert (out / "misclassified.png").read_bytes() == b"my own picture"
    assert sorted(p.name for p in out.iterdir()) == [
        FILE_LIST,
        "confusion.png",
        "index.html",
        "learning_curve.png",
        "misclassified.png",
        "weights.png",
    ]


def test_a_name_taken_by_a_file_of_the_users_is_refused_before_any_work(tmp_path):
    class_folders(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "confusion.png").write_bytes(b"my own confusion matrix")
    (out / "index.html").write_text("<p>my home page</p>")
    alone = model_alone(tmp_path)
    for args, taken in [([], "index.html"), (["--data", "data"], "confusion.png")]:
        result = invoke("report", "-m", alone, *args, "--out", "out", cwd=tmp_path)
        assert result.returncode == 1
        assert result.stdout == ""
        # One line: refused before the data was read and scored.
        assert result.stderr == f"catclf: error: out/{taken}: {REFUSED}\n"
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "index.html"]
    assert (out / "index.html").read_text() == "<p>my home page</p>"
    forced = invoke("report", "--data", "data", "--out", "out", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert png_size((out / "confusion.png").read_bytes()) == (500, 450)
    assert "catclf report" in (out / "index.html").read_text("utf-8")
    assert set(json.loads((out / FILE_LIST).read_text())["files"]) >= {
        "confusion.png",
        "index.html",
    }


def test_a_page_changed_since_catclf_wrote_it_is_the_users(tmp_path):
    first = invoke("report", "--out", "out", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    with open(tmp_path / "out" / "index.html", "a") as f:
        f.write("<p>my notes on this model</p>")
    edited = (tmp_path / "out" / "index.html").read_bytes()
    result = invoke("report", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"catclf: error: out/index.html: {REFUSED}"]
    assert (tmp_path / "out" / "index.html").read_bytes() == edited


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("no/such/out", "no/such/out: cannot create this folder: no/such does not exist"),
        ("locked", "locked: cannot write into this folder: it is not writable"),
        ("locked/out", "locked/out: cannot create this folder: locked is not writable"),
    ],
)
def test_an_out_that_cannot_be_written_is_refused_before_any_work(tmp_path, out, said):
    drop = without_root_powers() if out.startswith("locked") else []
    class_folders(tmp_path / "data")
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "locked").mkdir(mode=0o555)
    result = catclf_run(
        "report", "-m", BUNDLED_MODEL, "--data", "data", "--out", out, cwd=tmp_path, prefix=drop
    )
    assert result.returncode == 1
    assert result.stderr == f"catclf: error: {said}\n"  # nothing scored
    assert list((tmp_path / "locked").iterdir()) == []
    assert not (tmp_path / "no").exists()


def test_data_is_a_positional_argument_as_for_evaluate_and_still_an_option(tmp_path):
    data = str(PACKAGE_DATA)
    by_argument = catclf_run("report", data, "--out", "a", "--json", "-q", cwd=tmp_path)
    by_option = catclf_run("report", "--data", data, "--out", "b", "--json", "-q", cwd=tmp_path)
    assert by_argument.returncode == by_option.returncode == 0, by_argument.stderr
    scores = [json.loads(r.stdout)["scores"] for r in (by_argument, by_option)]
    assert scores[0] == scores[1] and scores[0]["accuracy"] == 0.7
    both = catclf_run("report", data, "--data", data, "--out", "c", cwd=tmp_path)
    assert both.returncode == 2 and not (tmp_path / "c").exists()


# Odd models and names: what can be drawn is drawn, what cannot is said in one line


@pytest.mark.parametrize(
    ("costs", "drawn", "said"),
    [
        ([0.69, 1e308, 1e300, 5.0], True, "1 of the 4 recorded costs are beyond 1e+300"),
        ([0.69, np.inf, np.nan, 5.0], True, "2 of the 4 recorded costs are beyond 1e+300"),
        ([-1e308, 1e308], False, "not drawn: none of its 2 recorded costs is a number"),
        ([], False, "not drawn: the model file records no costs"),
    ],
)
def test_a_cost_history_too_large_to_draw_is_said_in_one_line(tmp_path, costs, drawn, said):
    write_model_file(tmp_path / "odd.h5", costs=np.array(costs, dtype=np.float64))
    result = catclf_run("report", "-m", "odd.h5", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert error_lines(result.stderr) == []
    [line] = [x for x in result.stderr.splitlines() if "learning curve" in x]
    assert line.startswith(f"catclf: learning curve: {said}")
    assert (tmp_path / "out" / "learning_curve.png").exists() == drawn
    page = Page((tmp_path / "out" / "index.html").read_text("utf-8"))
    assert said.capitalize() in page.text
    assert len(page.pngs) == (2 if drawn else 1)


def test_long_class_names_are_shortened_in_pictures_and_whole_on_the_page(tmp_path):
    # 120 letters made matplotlib warn that its layout collapsed; 60,000 took a minute.
    for letters in (120, 60_000):
        names = ("n" * letters, "c" * letters)
        data = tmp_path / f"data{letters}.h5"
        with h5py.File(TEST_FILE, "r") as src, h5py.File(data, "w") as f:
            f["test_set_x"] = src["test_set_x"][()]
            f["test_set_y"] = src["test_set_y"][()]
            f["list_classes"] = np.array([n.encode() for n in names])
        model = tmp_path / f"model{letters}.h5"
        write_model_file(model, attrs={"classes": list(names)})
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            labelled = coursefiles.read_hdf5(data)
            made = report.build(catclf.load_model(model), "bundled", labelled)
        assert [str(w.message) for w in seen] == []
        page = made.files["index.html"].decode("utf-8")
        assert names[1] in page  # whole, in the table of the model's data
        assert png_size(made.files["confusion.png"]) == (500, 450)
        assert png_size(made.files["misclassified.png"])[0] == 1200


def test_names_that_are_not_utf8_are_kept_and_shown_escaped(tmp_path):
    data = os.fsencode(tmp_path) + b"/data\xff"
    for name, value in ((b"cat", 220), (b"not\xfecat", 30)):
        os.makedirs(data + b"/" + name)
        for i in range(4):
            pixels = np.full((64, 64, 3), value, dtype=np.uint8)
            pixels[i::4, :, 1] = 255 - value
            Image.fromarray(pixels).save(data + b"/" + name + b"/%d\xfd.png" % i)
    data_path = os.fsdecode(data)
    model = os.fsdecode(os.fsencode(tmp_path) + b"/model\xfc.h5")
    trained = catclf_run("train", data_path, "-n", "50", "-q", "-m", model, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    saved = catclf.load_model(model)  # kept: the same names come back
    assert saved.classes == ("not\udcfecat", "cat") and saved.train_data == data_path
    made = catclf_run("report", data_path, "-m", model, "-o", "out", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "data\\xff" in made.stderr and "\\udc" not in made.stderr  # stderr: escaped
    page = (tmp_path / "out" / "index.html").read_text("utf-8")  # valid UTF-8
    assert "not\\xfecat" in page and "data\\xff" in page and "model\\xfc.h5" in page


def test_the_page_names_every_misclassified_image_and_counts_in_agreeing_words(tmp_path):
    class_folders(tmp_path / "data")  # reddish cats, bluish others
    # A reddish picture among the others, whose name must be escaped on the page.
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[..., 0] = 200
    odd = tmp_path / "data" / "non-cat" / "<b>dog & co.png"
    Image.fromarray(pixels).save(odd)
    red_minus_blue = np.zeros((64, 64, 3))
    red_minus_blue[..., 0], red_minus_blue[..., 2] = 1.0, -1.0
    write_model_file(tmp_path / "red.h5", w=red_minus_blue.reshape(N_X, 1) / 100)
    summary, page = made_report("-m", "red.h5", "--data", "data", cwd=tmp_path)
    assert summary["misclassified"] == 1  # only the red picture among the others
    assert "1 of 9 images is misclassified." in page.text
    source = (tmp_path / "out" / "index.html").read_text("utf-8")
    assert html.escape(str(Path("data") / "non-cat" / odd.name)) in source
    assert "<b>dog" not in source
