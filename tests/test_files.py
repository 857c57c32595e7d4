"""Tests for catclf.files: files that belong together are replaced together or not at all."""

import pytest

from catclf.errors import DataError
from catclf.files import write_atomically


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
