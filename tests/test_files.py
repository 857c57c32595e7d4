"""Tests for catclf.files: files that belong together are replaced together or not at all,
and nothing that is not catclf's is replaced or removed."""

import hashlib
import json
import os
import stat

import pytest
from occupants import FOREIGN, SPECIAL, is_special, make_foreign, make_special

from catclf.errors import DataError
from catclf.files import check_file, write_atomically, write_files


def text_writer(text):
    def write(tmp):
        tmp.write_text(text)

    return write


def fail(target, why):
    return DataError(f"{target}: cannot write ({why})")


def test_both_files_are_written_and_nothing_else(tmp_path):
    a, b, old = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "old.h5"
    old.write_text("from before")
    write_atomically([(a, text_writer("A")), (b, text_writer("B"))], fail, remove=[old])
    assert (a.read_text(), b.read_text()) == ("A", "B")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(28, "No space left on device"), DataError),
        (RuntimeError("Can't write data"), DataError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
    ids=["disk full", "h5py write error", "Ctrl-C"],
)
def test_a_failure_on_the_second_file_leaves_both_old_files(tmp_path, failure, expected):
    a, b, old = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "old.h5"
    a.write_text("old A")
    b.write_text("old B")
    old.write_text("from before")

    def half_write(tmp):
        tmp.write_text("half of B")
        raise failure

    with pytest.raises(expected) as caught:
        write_atomically([(a, text_writer("new A")), (b, half_write)], fail, remove=[old])
    if expected is DataError:
        assert str(caught.value).startswith(f"{b}: cannot write (")
    assert (a.read_text(), b.read_text(), old.read_text()) == ("old A", "old B", "from before")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "old.h5"]


def test_a_missing_folder_is_the_callers_error(tmp_path):
    target = tmp_path / "missing" / "a.h5"
    with pytest.raises(DataError, match="missing/a.h5: cannot write"):
        write_atomically([(target, text_writer("A"))], fail)
    assert list(tmp_path.iterdir()) == []


# What catclf may replace: one file


def ours(f):
    return f.read(4) == b"OURS"


def judge(path, **options):
    return check_file(path, ours=ours, not_ours="is not ours", error=DataError, **options)


def contents(folder):
    """Every entry of folder, by name: a file's bytes, or the kind of anything else."""
    found = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            found[p.name] = ("link", os.readlink(p))
        elif p.is_file():
            found[p.name] = p.read_bytes()
        else:
            found[p.name] = stat.S_IFMT(p.lstat().st_mode)
    return found


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_a_special_file_is_never_replaced(tmp_path, kind, force):
    path = make_special(tmp_path / "model.h5", kind)
    with pytest.raises(DataError) as refused:
        judge(path, force=force)
    assert str(refused.value) == (
        f"{path}: is a {SPECIAL[kind]}, not a file; catclf replaces only regular files"
    )
    assert is_special(path, kind)


@pytest.mark.parametrize("kind", SPECIAL)
def test_a_link_to_a_special_file_is_never_followed_to_it(tmp_path, kind):
    make_special(tmp_path / "thing", kind)
    (tmp_path / "model.h5").symlink_to("thing")
    with pytest.raises(DataError) as refused:
        judge(tmp_path / "model.h5", force=True)
    assert str(refused.value).startswith(
        f"{tmp_path / 'model.h5'} (a link to thing): is a {SPECIAL[kind]}, not a file"
    )
    assert is_special(tmp_path / "thing", kind)


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_file_that_is_not_ours_is_replaced_only_with_force(tmp_path, kind):
    path = make_foreign(tmp_path / "model.h5", kind)
    with pytest.raises(DataError) as refused:
        judge(path)
    assert str(refused.value) == f"{path}: is not ours; force=True replaces it"
    assert judge(path, force=True) == path


def test_nothing_or_a_file_of_ours_may_be_replaced(tmp_path):
    assert judge(tmp_path / "new.h5") == tmp_path / "new.h5"
    (tmp_path / "old.h5").write_bytes(b"OURS and more")
    assert judge(tmp_path / "old.h5") == tmp_path / "old.h5"


@pytest.mark.parametrize(
    ("target", "why"),
    [("missing/model.h5", "missing does not exist"), ("a-file/model.h5", "a-file is not a folder")],
)
def test_a_folder_that_cannot_hold_the_file_is_named(tmp_path, target, why):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DataError) as refused:
        judge(tmp_path / target)
    assert str(refused.value) == f"{tmp_path / target}: cannot write the file: {tmp_path / why}"


def test_a_link_is_followed_to_a_file_of_ours(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "v3.h5").write_bytes(b"OURS")
    (tmp_path / "model.h5").symlink_to("models/v3.h5")
    assert judge(tmp_path / "model.h5") == tmp_path / "models" / "v3.h5"


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
def test_a_link_to_a_file_not_ours_is_refused_even_with_force(tmp_path, force):
    make_foreign(tmp_path / "notes.txt", "text")
    (tmp_path / "model.h5").symlink_to("notes.txt")
    with pytest.raises(DataError) as refused:
        judge(tmp_path / "model.h5", force=force)
    assert str(refused.value) == (
        f"{tmp_path / 'model.h5'}: is a link to notes.txt, which is not ours; catclf replaces "
        "what a link leads to only if it is catclf's own, even when forced"
    )


def test_a_broken_link_and_a_link_loop_are_named(tmp_path):
    (tmp_path / "dangling.h5").symlink_to("gone/model.h5")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(DataError) as refused:
        judge(tmp_path / "dangling.h5", force=True)
    assert str(refused.value) == (
        f"{tmp_path / 'dangling.h5'}: is a link to gone/model.h5, which does not exist"
    )
    with pytest.raises(DataError) as refused:
        judge(tmp_path / "a", force=True)
    assert str(refused.value) == (
        f"{tmp_path / 'a'}: is a link that cannot be followed (Too many levels of symbolic links)"
    )


def test_a_link_not_followed_is_replaced_itself_and_only_with_force(tmp_path):
    (tmp_path / "v3.h5").write_bytes(b"OURS")
    (tmp_path / "page.html").symlink_to("v3.h5")
    with pytest.raises(DataError) as refused:
        judge(tmp_path / "page.html", follow=False)
    assert str(refused.value) == (
        f"{tmp_path / 'page.html'}: is a link to v3.h5; force=True replaces the link itself (what "
        "it leads to is left alone)"
    )
    assert judge(tmp_path / "page.html", follow=False, force=True) == tmp_path / "page.html"


def test_an_input_is_never_replaced_even_with_force(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"OURS, and read by the command")  # an input, even if it looks like ours
    os.link(data, tmp_path / "hard.h5")
    course = tmp_path / "course"
    course.mkdir()
    (course / "train_x.h5").write_bytes(b"train")
    (course / "old.h5").write_bytes(b"OURS")
    (tmp_path / "elsewhere.h5").write_bytes(b"test")
    (course / "test_x.h5").symlink_to(tmp_path / "elsewhere.h5")
    inputs = [data, course, tmp_path / "missing"]
    cases = {
        data: f"{data}: is an input of this command",
        tmp_path / "hard.h5": f"{tmp_path / 'hard.h5'}: is the same file as {data}, an input",
        course / "train_x.h5": f"{course / 'train_x.h5'}: is in {course}, an input",
        tmp_path / "elsewhere.h5": f"{tmp_path / 'elsewhere.h5'}: is in {course}, an input",
    }
    for path, said in cases.items():
        with pytest.raises(DataError) as refused:
            judge(path, force=True, inputs=inputs)
        assert str(refused.value).startswith(said)
        assert str(refused.value).endswith("catclf never replaces its input, even when forced")
    # A file of catclf's own in a data folder is not data.
    assert judge(course / "old.h5", inputs=inputs) == course / "old.h5"


# What catclf may replace: files in a folder, and the list of those it wrote


def write_bytes(data):
    def write(tmp):
        tmp.write_bytes(data)

    return write


def write_into(folder, pictures, **options):
    return write_files(
        folder,
        [(name, write_bytes(data)) for name, data in pictures.items()],
        fail,
        error=DataError,
        **options,
    )


def recorded(folder):
    return json.loads((folder / ".catclf-files.json").read_text("utf-8"))


def test_the_list_records_each_file_written_with_its_size_and_sha256(tmp_path):
    out = tmp_path / "out"
    write_into(out, {"a.png": b"A" * 10, "index.html": b"<p>hi</p>"})
    assert recorded(out) == {
        "format": "catclf-files",
        "files": {
            "a.png": {"bytes": 10, "sha256": hashlib.sha256(b"A" * 10).hexdigest()},
            "index.html": {"bytes": 9, "sha256": hashlib.sha256(b"<p>hi</p>").hexdigest()},
        },
    }
    write_into(out, {"a.png": b"B"})  # its own files are replaced; the others stay listed
    assert contents(out)["a.png"] == b"B"
    assert set(recorded(out)["files"]) == {"a.png", "index.html"}


def test_a_file_of_the_user_or_changed_by_the_user_is_refused_and_kept(tmp_path):
    write_into(tmp_path, {"a.png": b"A", "b.png": b"B"})
    with open(tmp_path / "b.png", "ab") as f:
        f.write(b" edited")
    (tmp_path / "c.png").write_bytes(b"mine")
    before = contents(tmp_path)
    for name in ("b.png", "c.png"):
        with pytest.raises(DataError) as refused:
            write_into(tmp_path, {"a.png": b"new A", name: b"new"})
        assert str(refused.value) == (
            f"{tmp_path / name}: was not written by catclf, or was changed since; force=True "
            "replaces it"
        )
        assert contents(tmp_path) == before  # not even a temporary file
    write_into(tmp_path, {"b.png": b"B2", "c.png": b"C2"}, force=True)
    assert (contents(tmp_path)["b.png"], contents(tmp_path)["c.png"]) == (b"B2", b"C2")
    assert recorded(tmp_path)["files"]["c.png"]["sha256"] == hashlib.sha256(b"C2").hexdigest()


def test_tidy_removes_only_files_of_catclf_unchanged_since(tmp_path):
    write_into(tmp_path, {"a.png": b"A", "b.png": b"B"})
    (tmp_path / "b.png").write_bytes(b"the user's now")
    (tmp_path / "d.png").write_bytes(b"the user's")
    write_into(tmp_path, {"c.png": b"C"}, tidy=["a.png", "b.png", "c.png", "d.png", "e.png"])
    assert sorted(contents(tmp_path)) == [".catclf-files.json", "b.png", "c.png", "d.png"]
    assert "a.png" not in recorded(tmp_path)["files"]


def test_remove_refuses_a_file_of_the_user_unless_forced_and_leaves_special_files(tmp_path):
    (tmp_path / "test_x.h5").write_bytes(b"the user's test set")
    make_special(tmp_path / "test_y.h5", "fifo")
    with pytest.raises(DataError) as refused:
        write_into(tmp_path, {"train_x.h5": b"T"}, remove=["test_x.h5", "test_y.h5"])
    assert str(refused.value).endswith(
        "test_x.h5: was not written by catclf, or was changed since; force=True removes it"
    )
    write_into(tmp_path, {"train_x.h5": b"T"}, remove=["test_x.h5", "test_y.h5"], force=True)
    assert sorted(contents(tmp_path)) == [".catclf-files.json", "test_y.h5", "train_x.h5"]
    assert is_special(tmp_path / "test_y.h5", "fifo")


def test_a_link_in_the_folder_is_replaced_itself_with_force_and_its_target_kept(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("the user's site")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "index.html").symlink_to("../site/index.html")
    with pytest.raises(DataError, match="is a link to ../site/index.html; force=True"):
        write_into(tmp_path / "out", {"index.html": b"page"})
    write_into(tmp_path / "out", {"index.html": b"page"}, force=True)
    assert contents(tmp_path / "out")["index.html"] == b"page"
    assert (tmp_path / "site" / "index.html").read_text() == "the user's site"


@pytest.mark.parametrize(
    "content",
    [
        b"not JSON",
        b'{"format": "something else", "files": {}}',
        b"[1, 2]",
        b"\xff\xfe",
        # Nested deeper than Python's parser recurses: 100,000 brackets in 200 kB.
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["not JSON", "another format", "a list", "not UTF-8", "nested deep"],
)
def test_a_list_that_is_not_catclfs_is_replaced_only_with_force(tmp_path, content):
    (tmp_path / ".catclf-files.json").write_bytes(content)
    with pytest.raises(DataError) as refused:
        write_into(tmp_path, {"a.png": b"A"})
    assert str(refused.value) == (
        f"{tmp_path / '.catclf-files.json'}: is not a list of the files catclf wrote; "
        "force=True replaces it"
    )
    write_into(tmp_path, {"a.png": b"A"}, force=True)
    assert recorded(tmp_path)["format"] == "catclf-files"


def test_a_fifo_in_the_place_of_the_list_is_never_read_nor_replaced(tmp_path):
    make_special(tmp_path / ".catclf-files.json", "fifo")
    with pytest.raises(DataError, match="is a FIFO"):
        write_into(tmp_path, {"a.png": b"A"}, force=True)  # returns: nothing waits on the FIFO
    assert is_special(tmp_path / ".catclf-files.json", "fifo")
    assert sorted(contents(tmp_path)) == [".catclf-files.json"]


@pytest.mark.parametrize("kind", ["fifo", "file"])
def test_what_appears_while_the_files_are_written_is_checked_before_the_rename(tmp_path, kind):
    out = tmp_path / "out"
    write_into(out, {"a.png": b"A"})

    def meanwhile(tmp):
        tmp.write_bytes(b"new A")
        (out / "a.png").unlink()
        if kind == "fifo":
            make_special(out / "a.png", "fifo")
        else:
            (out / "a.png").write_bytes(b"put there by another program")

    with pytest.raises(DataError, match="a.png: "):
        write_files(out, [("a.png", meanwhile)], fail, error=DataError)
    assert sorted(contents(out)) == [".catclf-files.json", "a.png"]  # no temporary file
    if kind == "fifo":
        assert is_special(out / "a.png", "fifo")
    else:
        assert contents(out)["a.png"] == b"put there by another program"


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("missing/out", "missing/out: cannot create this folder: {tmp}/missing does not exist"),
        ("a-file/out", "a-file/out: cannot create this folder: {tmp}/a-file is not a folder"),
        ("a-file", "a-file: is a file, expected a folder to write into"),
    ],
)
def test_a_folder_that_cannot_be_written_is_refused_before_anything(tmp_path, out, said):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DataError) as refused:
        write_into(tmp_path / out, {"a.png": b"A"})
    assert str(refused.value) == f"{tmp_path}/" + said.format(tmp=tmp_path)
    assert sorted(contents(tmp_path)) == ["a-file"]
