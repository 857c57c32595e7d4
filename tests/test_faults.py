"""Faults around a run: interrupts, unwritable and full disks, two runs at once, model files
from elsewhere, files that try to run code or to exhaust memory.

Whatever happens, the model path holds a complete model (the old one or a new one), no
temporary file stays behind, and the user reads one line saying what went wrong.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import (
    FILE_LIST,
    N_X,
    brightness_model,
    catclf_run,
    class_folders,
    error_lines,
    finish,
    hooked,
    inseparable,
    invoke,
    listing,
    start_catclf,
    uniform,
    without_root_powers,
    write_model_file,
)
from typer.testing import CliRunner

import catclf
from catclf import model as model_file
from catclf.cli import app
from catclf.datasets import load
from catclf.errors import DataError, ModelError

PACKAGE = Path(catclf.__file__).parent


def start_train(*args, cwd):
    return start_catclf(
        "train",
        *args,
        cwd=cwd,
        text=True,
        # A shell that starts jobs in the background hands them SIGINT ignored; a user's
        # catclf, started from a terminal, has it at its default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


# Interrupts at any moment: while starting, decoding, training


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.6, 1.5])
def test_ctrl_c_at_any_moment_leaves_the_old_model(tmp_path, delay):
    # Counted from the moment catclf's command has started (numpy is loaded); where each
    # delay lands (decoding, training) depends on the machine, and at every moment the
    # promise is the same. Before that, Python itself may still be starting up.
    data = class_folders(tmp_path / "data", per_class=40)
    old = brightness_model(tmp_path / "model.h5").read_bytes()
    process = start_train(data, "-n", "100000000", cwd=tmp_path)
    wait_until_loaded(process, "_multiarray_umath")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = finish(process)
    assert process.returncode == 130, err
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "catclf: interrupted; nothing was saved"
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["data", "model.h5"]


def wait_until_loaded(process, library, timeout=60):
    """Wait until process has mapped a shared library whose name contains library."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if library in Path(f"/proc/{process.pid}/maps").read_text():
                return
        except OSError:
            return
        time.sleep(0.01)


@pytest.mark.parametrize(("signal_number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_while_decoding_a_folder(tmp_path, signal_number, status):
    data = class_folders(tmp_path / "data", per_class=300)
    old = brightness_model(tmp_path / "model.h5").read_bytes()
    process = start_train(data, "-n", "100000000", "--model", "model.h5", cwd=tmp_path)
    # Decoding 600 pictures takes a while once Pillow's decoder is loaded.
    wait_until_loaded(process, "_imaging")
    process.send_signal(signal_number)
    out, err = finish(process)
    assert process.returncode == status, err
    assert "Traceback" not in err and out == ""
    assert "nothing was saved" in err
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["data", "model.h5"]


# Interrupts during HDF5 work. A handler that raises inside h5py's finalizers (as a File
# dies) can only be printed and dropped by Python: the interrupt was lost. `hooked` sends
# the signal at a chosen moment (as the call-th h5py File dies, as a function begins), the
# same in every run.

SIGNALLED = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
FILE_DIES = ("h5py._hl.files:File.__init__", "dies")
PREVIOUS = "previous"  # the photo folder of an earlier prepare, kept in the output files


def course_file(path, prefix, m, seed):
    """A course file of m random images, in gzip chunks of 64 as catclf writes them."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        x = rng.integers(0, 256, (m, 64, 64, 3), dtype=np.uint8)
        f.create_dataset(f"{prefix}_x", data=x, chunks=(64, 64, 64, 3), compression="gzip")
        f.create_dataset(f"{prefix}_y", data=np.arange(m) % 2)
    return path


def contents(folder):
    """Each file in folder, hidden ones too, by name: its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def prepare_args(photos, out, test=True, *options):
    """`catclf prepare PHOTOS` into out as data set "photos", with a test fraction of 0.3 if
    test, quietly."""
    fraction = ["--test-fraction", "0.3"] if test else []
    return ["prepare", photos, "--out", out, "--name", "photos", *fraction, *options, "-q"]


def streamed_train(sets, *extra):
    return ["train", sets["course"], "-n", "100000000", "--memory-limit", "8MB", *extra]


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Made once for the interrupt tests: a course folder of 640 training images (too many
    for --memory-limit 8MB: left in the file and read 64 at a time) and 128 test images; a
    photo folder; a model; an output folder that an earlier prepare wrote."""
    root = tmp_path_factory.mktemp("sets")
    course = root / "course"
    course.mkdir()
    course_file(course / "train_big.h5", "train_set", 640, seed=1)
    course_file(course / "test_big.h5", "test_set", 128, seed=2)
    photos = class_folders(root / "photos", per_class=90, seed=3)
    class_folders(root / PREVIOUS, per_class=10, seed=4)
    result = invoke(*prepare_args(PREVIOUS, "prepared"), cwd=root)
    assert result.returncode == 0, result.stderr
    return {
        "course": course,
        "photos": photos,
        "model": brightness_model(root / "model.h5"),
        "prepared": root / "prepared",
    }


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
@pytest.mark.parametrize(
    ("target", "action", "call"),
    [
        (*FILE_DIES, 1),  # the model file looked at before training
        (*FILE_DIES, 2),  # the test file read
        (*FILE_DIES, 3),  # its chunks checked
        (*FILE_DIES, 6),  # the training file's chunks checked
        (*FILE_DIES, 8),  # a slice of its images read, in the first pass
        (*FILE_DIES, 20),  # one in the second pass
        ("catclf.coursefiles:FilePixels._read", "signal", 9),
    ],
)
def test_a_signal_during_streamed_training_from_hdf5_stops_it(
    tmp_path, sets, target, action, call, signal_number, status, said
):
    old = shutil.copy(sets["model"], tmp_path / "model.h5")
    before = old.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    process = hooked(
        *streamed_train(sets, "-m", old, "-q"),
        cwd=work,
        hook=tmp_path / "hook",
        target=target,
        action=action,
        call=call,
        signal_number=signal_number,
    )
    out, err = finish(process)
    assert process.returncode == status, err
    assert (out, err) == ("", f"catclf: {said}; nothing was saved\n")
    assert old.read_bytes() == before
    assert listing(tmp_path) == ["hook", "model.h5", "work"]
    assert listing(work) == []


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
@pytest.mark.parametrize(
    ("target", "action", "call"),
    [
        (*FILE_DIES, 1),  # the training file made
        (*FILE_DIES, 3),  # its first chunk of images written (h5py makes a File inside)
        (*FILE_DIES, 6),  # its last chunk: opened
        (*FILE_DIES, 9),  # the test file's images
        ("catclf.coursefiles:_write_images", "signal", 2),
    ],
)
def test_a_signal_while_prepare_writes_leaves_the_earlier_files(
    tmp_path, sets, target, action, call, signal_number, status, said
):
    out = shutil.copytree(sets["prepared"], tmp_path / "out")
    before = contents(out)
    process = hooked(
        *prepare_args(sets["photos"], out),
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target=target,
        action=action,
        call=call,
        signal_number=signal_number,
    )
    stdout, err = finish(process)
    assert process.returncode == status, err
    assert (stdout, err) == ("", f"catclf: {said}; nothing was saved\n")
    assert contents(out) == before
    assert listing(tmp_path) == ["hook", "out"]


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
# The test file opened, its chunks checked, a slice of it read (the model is read without h5py).
@pytest.mark.parametrize("call", [1, 2, 3])
def test_a_signal_while_evaluate_reads_hdf5_stops_it(
    tmp_path, sets, call, signal_number, status, said
):
    process = hooked(
        *["evaluate", sets["course"], "-m", sets["model"], "-q"],
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target=FILE_DIES[0],
        action=FILE_DIES[1],
        call=call,
        signal_number=signal_number,
    )
    out, err = finish(process)
    assert process.returncode == status, err
    assert (out, err) == ("", f"catclf: {said}\n")


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
@pytest.mark.parametrize("call", [1, 4])  # the model read, a slice of the test file
def test_a_signal_while_report_reads_hdf5_writes_no_report(
    tmp_path, sets, call, signal_number, status, said
):
    report = ["report", "--out", "report", sets["course"], "-m", sets["model"], "-q"]
    process = hooked(
        *report,
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target=FILE_DIES[0],
        action=FILE_DIES[1],
        call=call,
        signal_number=signal_number,
    )
    out, err = finish(process)
    assert process.returncode == status, err
    assert (out, err) == ("", f"catclf: {said}; nothing was saved\n")
    assert listing(tmp_path) == ["hook"]


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_a_signal_at_any_moment_of_streamed_training_stops_it(
    tmp_path, sets, delay, threads, signal_number, status, said
):
    # Sent from outside, at a moment the machine decides: whatever it is, the same end. With
    # two BLAS threads, the system may give the signal to one of them while the main thread
    # holds it: it must still stop the run.
    old = shutil.copy(sets["model"], tmp_path / "model.h5")
    before = old.read_bytes()
    process = start_catclf(
        *streamed_train(sets, "-m", old),
        cwd=tmp_path,
        text=True,
        env={"OPENBLAS_NUM_THREADS": threads},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stderr:
        if "each iteration reads them" in line:
            break
    time.sleep(delay)
    process.send_signal(signal_number)
    out, err = finish(process)
    assert process.returncode == status, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert err.splitlines()[-1] == f"catclf: {said}; nothing was saved"
    assert old.read_bytes() == before
    assert listing(tmp_path) == ["model.h5"]


# Once the files are in place, an interrupt says so: they were saved.


def listed(folder):
    """The file list of folder, checked against the files: each recorded as it is."""
    records = json.loads((folder / FILE_LIST).read_text())["files"]
    for name, record in records.items():
        data = (folder / name).read_bytes()
        assert (record["bytes"], record["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    return sorted(records)


def source_folder(path):
    with h5py.File(path, "r") as f:
        return os.fsdecode(f.attrs["source_folder"])


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
def test_a_signal_as_prepare_renames_its_files_says_they_were_saved(
    tmp_path, sets, signal_number, status, said
):
    out = shutil.copytree(sets["prepared"], tmp_path / "out")
    process = hooked(
        *prepare_args(sets["photos"], out),
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target="os:replace",
        action="signal",
        signal_number=signal_number,
    )
    stdout, err = finish(process)
    assert process.returncode == status, err
    assert (stdout, err) == ("", f"catclf: {said}; the data files were saved in {out}\n")
    # All of them: the renames are done together.
    assert listed(out) == ["test_photos.h5", "train_photos.h5"]
    for name in listed(out):
        assert source_folder(out / name) == str(sets["photos"])
    assert load(out)[0].m + load(out)[1].m == 180


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALLED, ids=["INT", "TERM"])
def test_a_signal_as_train_renames_its_model_says_it_was_saved(
    tmp_path, sets, signal_number, status, said
):
    shutil.copy(sets["model"], tmp_path / "model.h5")
    process = hooked(
        *["train", sets["course"], "-n", "3", "--memory-limit", "8MB", "-q"],
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target="os:replace",
        action="signal",
        signal_number=signal_number,
    )
    out, err = finish(process)
    assert process.returncode == status, err
    assert (out, err) == ("", f"catclf: {said}; the model was saved to model.h5\n")
    saved = model_file.load_model(tmp_path / "model.h5")
    assert (saved.train_examples, saved.settings.num_iterations) == (640, 3)
    assert listing(tmp_path) == ["hook", "model.h5"]


def test_a_signal_after_train_saved_while_its_summary_waits_says_it_was_saved(tmp_path):
    # stdout is a pipe that nobody reads, full before catclf starts: the summary waits.
    import fcntl

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 4096)
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)
    process = start_catclf(
        "train", "-n", "200", "--json", "-q", cwd=tmp_path, stdout=write_end, text=True
    )
    os.close(write_end)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "model.h5").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert model_file.load_model(tmp_path / "model.h5").settings.num_iterations == 200
        process.send_signal(signal.SIGTERM)
        _, err = finish(process)
    finally:
        os.close(read_end)
    assert process.returncode == 143
    assert err == "catclf: terminated; the model was saved to model.h5\n"
    assert listing(tmp_path) == ["model.h5"]


# Unwritable and full disks


def test_a_read_only_folder_is_refused_before_training(tmp_path):
    drop = without_root_powers()
    data = class_folders(tmp_path / "data")
    target = tmp_path / "models"
    target.mkdir()
    old = brightness_model(target / "model.h5").read_bytes()
    target.chmod(0o555)
    try:
        result = catclf_run(
            "train", data, "-n", "100", "-m", target / "model.h5", cwd=tmp_path, prefix=drop
        )
    finally:
        target.chmod(0o755)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {target / 'model.h5'}: ")
    assert "not writable" in line
    assert (target / "model.h5").read_bytes() == old
    assert listing(target) == ["model.h5"]


@contextlib.contextmanager
def tmpfs(folder, size):
    """A tmpfs of size bytes mounted on folder, or a skip when mounting is not allowed."""
    folder.mkdir()
    mount = shutil.which("mount")
    if os.geteuid() != 0 or not mount:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_keeps_the_old_model(tmp_path):
    data = class_folders(tmp_path / "data")
    # Room for the old model (about 100 kB) and a fraction of a second one.
    with tmpfs(tmp_path / "disk", 160 * 1024) as disk:
        old = brightness_model(disk / "model.h5").read_bytes()
        result = invoke("train", data, "-n", "100", "-m", disk / "model.h5", cwd=tmp_path)
        assert result.returncode == 1
        [line] = error_lines(result.stderr)
        assert line.startswith(f"catclf: error: {disk / 'model.h5'}: ")
        assert "No space left on device" in line
        assert (disk / "model.h5").read_bytes() == old
        assert listing(disk) == ["model.h5"]


# A disk that fills up while HDF5 writes: HDF5 cannot close such a file, and used to crash
# the process as it ended (a segmentation fault after the error line). Each size lets the
# write fail at another point: as the file is made, within the training file, within the
# test file once the training file is written.
@pytest.mark.parametrize("size", ["300K", "1100K", "2250K"])
def test_prepare_onto_a_full_disk_is_one_line_and_keeps_the_earlier_files(tmp_path, sets, size):
    with tmpfs(tmp_path / "disk", size) as disk:
        out = shutil.copytree(sets["prepared"], disk / "out")
        before = contents(out)
        result = catclf_run(*prepare_args(sets["photos"], out), cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.splitlines()
        assert re.fullmatch(
            rf"catclf: error: {re.escape(str(out))}/(train|test)_photos\.h5: cannot write "
            r"\(No space left on device\)",
            line,
        ), line
        assert contents(out) == before
        assert listing(disk) == ["out"]


@pytest.mark.parametrize("size", ["112K", "150K", "190K"])
def test_a_model_onto_a_full_disk_is_one_line_and_keeps_the_old_one(tmp_path, sets, size):
    with tmpfs(tmp_path / "disk", size) as disk:
        old = shutil.copy(sets["model"], disk / "model.h5")
        before = old.read_bytes()
        result = catclf_run("train", sets["course"], "-n", "2", "-m", old, "-q", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert result.stderr == (
            f"catclf: error: {old}: cannot write the model (No space left on device)\n"
        )
        assert old.read_bytes() == before
        assert listing(disk) == ["model.h5"]


def test_decoded_images_that_a_full_disk_cannot_hold_are_one_line(tmp_path, sets):
    # Beyond --memory-limit they wait in a file beside the output, whose pages could not be
    # written later: the process used to end with SIGBUS.
    with tmpfs(tmp_path / "disk", "1000K") as disk:
        out = shutil.copytree(sets["prepared"], disk / "out")
        before = contents(out)
        result = catclf_run(
            *prepare_args(sets["photos"], out, False, "--memory-limit", "100KB"),
            cwd=tmp_path,
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr == (
            f"catclf: error: {out}: cannot hold the decoded images here (No space left on device)\n"
        )
        assert contents(out) == before


def test_a_read_only_file_system_is_refused(tmp_path):
    data = class_folders(tmp_path / "data")
    with tmpfs(tmp_path / "disk", 1 << 20) as disk:
        old = brightness_model(disk / "model.h5").read_bytes()
        done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only")
        result = invoke("train", data, "-n", "100", "-m", disk / "model.h5", cwd=tmp_path)
        assert result.returncode == 1
        [line] = error_lines(result.stderr)
        assert "not writable" in line
        assert (disk / "model.h5").read_bytes() == old


def test_no_space_when_the_model_is_flushed_is_one_line(tmp_path, monkeypatch):
    # The library level, so that it runs everywhere: the disk fills up as the new model
    # is flushed to it, after h5py has written it.
    data = class_folders(tmp_path / "data")
    old = brightness_model(tmp_path / "model.h5").read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "fsync", no_space)
    result = CliRunner().invoke(app, ["train", str(data), "-n", "100", "-q"])
    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert line == "catclf: error: model.h5: cannot write the model (No space left on device)"
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["data", "model.h5"]


# Two runs writing the same model at once


def model_content(path):
    with h5py.File(path, "r") as f:
        return {
            "w": f["w"][()],
            "b": f["b"][()],
            "costs": f["costs"][()],
            "learning_rate": f.attrs["learning_rate"],
            "train_data": f.attrs["train_data"],
        }


def same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def test_two_runs_at_once_leave_one_complete_model(tmp_path):
    runs = {
        "a": (class_folders(tmp_path / "data-a", seed=1), "0.01"),
        "b": (class_folders(tmp_path / "data-b", seed=2), "0.02"),
    }
    expected = {}
    for name, (data, rate) in runs.items():
        result = invoke(
            "train", data, "-r", rate, "-n", "300", "-m", f"{name}.h5", "-q", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        expected[name] = model_content(tmp_path / f"{name}.h5")
    assert not same(expected["a"], expected["b"])
    out = tmp_path / "out"
    out.mkdir()
    for _ in range(3):
        processes = [
            start_train(data, "-r", rate, "-n", "300", "-m", out / "model.h5", "-q", cwd=tmp_path)
            for data, rate in runs.values()
        ]
        for process in processes:
            _, err = finish(process, timeout=300)
            assert process.returncode == 0, err
        final = model_content(out / "model.h5")
        assert same(final, expected["a"]) or same(final, expected["b"])
        assert model_file.load_model(out / "model.h5").w.shape == (N_X, 1)
        assert listing(out) == ["model.h5"]


# Two runs writing into one folder at once


def stopped_at(process, timeout=120):
    """Wait until process has stopped itself (SIGSTOP), or has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.01)
    raise AssertionError(f"catclf did not stop: {finish(process)}")


def consistent(out):
    """The photo folder of the one run whose files out holds, all of them listed as they
    are, and nothing else."""
    names = listed(out)
    assert listing(out) == sorted([FILE_LIST, *names])
    assert names in (["train_photos.h5"], ["test_photos.h5", "train_photos.h5"])
    [source] = {source_folder(out / name) for name in names}
    return source, names


@pytest.mark.parametrize("later_has_test", [False, True], ids=["later without", "later with"])
def test_a_run_that_writes_into_a_folder_another_has_just_written_leaves_one_set(
    tmp_path, sets, later_has_test
):
    # The later run has looked at the folder and decoded its photos, then stops as it
    # begins to write; the other runs from start to end; then the later one goes on. One
    # takes a test file, the other none: the folder must not keep one's training file
    # beside the other's test file.
    photos = {True: sets["photos"], False: tmp_path / "few"}
    class_folders(photos[False], per_class=8, seed=5)
    out = tmp_path / "out"
    later = hooked(
        *prepare_args(photos[later_has_test], out, later_has_test),
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target="catclf.files:write_atomically",
        action="stop",
    )
    stopped_at(later)
    first = catclf_run(
        *prepare_args(photos[not later_has_test], out, not later_has_test), cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert consistent(out)[0] == str(photos[not later_has_test])
    later.send_signal(signal.SIGCONT)
    _, err = finish(later)
    assert (later.returncode, err) == (0, "")
    source, names = consistent(out)
    assert source == str(photos[later_has_test])
    assert ("test_photos.h5" in names) == later_has_test


def test_two_prepares_at_once_into_one_folder_leave_one_complete_set(tmp_path, sets):
    few = class_folders(tmp_path / "few", per_class=8, seed=6)
    runs = [(sets["photos"], True), (few, False)]
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        processes = [
            start_catclf(*prepare_args(photos, out, test), cwd=tmp_path, text=True)
            for photos, test in runs
        ]
        for process in processes:
            _, err = finish(process)
            assert (process.returncode, err) == (0, "")
        source, names = consistent(out)
        assert (source, "test_photos.h5" in names) in {(str(p), test) for p, test in runs}


def test_a_report_written_into_a_folder_another_has_just_written_leaves_one_report(tmp_path, sets):
    # With data, a report has a confusion matrix; without, none: never one report's page
    # beside the other's matrix.
    later = hooked(
        *["report", "--out", "report", "-m", sets["model"], "-q"],
        cwd=tmp_path,
        hook=tmp_path / "hook",
        target="catclf.files:write_atomically",
        action="stop",
    )
    stopped_at(later)
    first = catclf_run(
        "report", "--out", "report", sets["course"], "-m", sets["model"], "-q", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "confusion.png" in listed(tmp_path / "report")
    later.send_signal(signal.SIGCONT)
    _, err = finish(later)
    assert (later.returncode, err) == (0, "")
    names = listed(tmp_path / "report")
    assert names == ["index.html", "learning_curve.png", "weights.png"]
    assert listing(tmp_path / "report") == sorted([FILE_LIST, *names])
    assert "confusion" not in (tmp_path / "report" / "index.html").read_text()


# Model files from elsewhere


@pytest.mark.parametrize(
    ("attrs", "why"),
    [
        (
            {"format_version": 2},
            r"model format version 2, but this catclf reads version 1; upgrade",
        ),
        ({"image_size": 128}, r"model is for 128x128x3 images, this catclf uses 64x64x3"),
        ({"format": "catclf-neural-network"}, r"not a catclf model \(format is"),
    ],
    ids=["newer format", "other image size", "other format"],
)
def test_predict_says_why_it_refuses_a_model(tmp_path, attrs, why):
    write_model_file(tmp_path / "other.h5", attrs=attrs)
    uniform(tmp_path / "white.png", 255)
    result = invoke("predict", "-m", "other.h5", "white.png", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.match(rf"catclf: error: other\.h5: {why}", line), line


# Never run code from a file


class Marker:
    """Unpickling this creates the marker file: the proof that something was unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickled(marker):
    return pickle.dumps(Marker(marker), protocol=0)  # text: no NUL for h5py strings


def test_a_model_holding_a_pickle_is_refused_unread(tmp_path):
    marker = tmp_path / "marker"
    opaque = tmp_path / "opaque.h5"
    write_model_file(opaque, w=np.void(pickled(marker)))
    strings = tmp_path / "strings.h5"
    write_model_file(strings, w=np.array([pickled(marker)], dtype=h5py.special_dtype(vlen=bytes)))
    attribute = tmp_path / "attribute.h5"
    write_model_file(attribute, attrs={"format": np.void(pickled(marker))})
    npy = tmp_path / "model.npy"
    np.save(npy, np.array([Marker(marker)], dtype=object), allow_pickle=True)
    for path in (opaque, strings, attribute, npy):
        with pytest.raises(ModelError) as caught:
            model_file.load_model(path)
        assert str(caught.value).startswith(f"{path}: ")
        result = invoke("predict", "-m", path, PACKAGE.parent / "sample_images", cwd=tmp_path)
        assert result.returncode == 1
        assert len(error_lines(result.stderr)) == 1
    assert not marker.exists()


def test_a_data_set_holding_a_pickle_is_refused_unread(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "train_pickle.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "train_set_x", data=np.array([pickled(marker)], dtype=h5py.special_dtype(vlen=bytes))
        )
        f.create_dataset("train_set_y", data=np.array([1]))
    npy = tmp_path / "train.npy"
    np.save(npy, np.array([Marker(marker)], dtype=object), allow_pickle=True)
    for data in (path, npy):
        with pytest.raises(DataError):
            load(data)
        result = invoke("train", data, "-n", "10", cwd=tmp_path)
        assert result.returncode == 1
        assert len(error_lines(result.stderr)) == 1
    assert not marker.exists()
    assert not (tmp_path / "model.h5").exists()


def test_no_module_can_unpickle_or_run_code():
    sources = {p.name: p.read_text() for p in PACKAGE.glob("*.py")}
    assert "model.py" in sources
    risky = re.compile(
        r"\bimport pickle\b|\bpickle\.|\bdill\b|\bmarshal\b|\bshelve\b|allow_pickle\s*=\s*True"
        r"|\beval\(|\bexec\(|\bnp\.load\(|numpy\.load\(|torch\.load"
    )
    found = {name: risky.findall(text) for name, text in sources.items() if risky.search(text)}
    assert found == {}


# Files that declare more than memory holds


def under_a_memory_limit():
    """A prefix that caps catclf's address space at 3 GB, so that an attempt to read a
    huge declared shape fails in the test instead of waking the OOM killer."""
    prlimit = shutil.which("prlimit")
    return [prlimit, f"--as={3 * 10**9}", "--"] if prlimit else []


def huge_course_file(path, m, y_m=None):
    with h5py.File(path, "w") as f:
        # Chunked and never written: the file is a few kilobytes, reading it back is not.
        f.create_dataset("train_set_x", shape=(m, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3))
        f.create_dataset("train_set_y", shape=(y_m or m,), dtype=np.uint8, chunks=(1024,))
    return path


@pytest.mark.parametrize("m", [10**9, 10**6], ids=["10**9 images", "10**6 images"])
def test_a_data_set_that_declares_more_than_it_stores_is_refused_before_reading(tmp_path, m):
    path = huge_course_file(tmp_path / "train_huge.h5", m)
    assert path.stat().st_size < 10**6
    with pytest.raises(DataError, match=rf"train_huge\.h5: train_set_x declares {m} images"):
        load(path)


def test_a_data_set_with_some_images_never_written_is_refused(tmp_path):
    path = tmp_path / "train_part.h5"
    with h5py.File(path, "w") as f:
        x = f.create_dataset("train_set_x", (10, 64, 64, 3), np.uint8, chunks=(1, 64, 64, 3))
        x[:9] = 7  # the tenth image is never written
        f.create_dataset("train_set_y", data=np.arange(10) % 2)
    with pytest.raises(DataError, match=r"declares 10 images but does not store them all"):
        load(path)


def test_a_contiguous_data_set_never_written_is_refused(tmp_path):
    path = tmp_path / "train_empty.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", (10**6, 64, 64, 3), np.uint8)
        f.create_dataset("train_set_y", (10**6,), np.uint8)
    with pytest.raises(DataError, match=r"declares 1000000 images but does not store them all"):
        load(path)


def test_the_cli_refuses_a_huge_data_set_quickly(tmp_path):
    path = huge_course_file(tmp_path / "train_huge.h5", 10**9)
    result = catclf_run("train", path, cwd=tmp_path, prefix=under_a_memory_limit(), timeout=120)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {path}: train_set_x declares 1000000000 images")
    assert not (tmp_path / "model.h5").exists()


def test_more_labels_than_images_is_refused_before_reading(tmp_path):
    path = huge_course_file(tmp_path / "train_labels.h5", 2, y_m=10**12)
    with h5py.File(path, "a") as f:
        f["train_set_x"][:] = 0  # the two images are stored; the labels are not
    with pytest.raises(DataError, match=r"2 images but train_set_y has 1000000000000 labels"):
        load(path)


@pytest.mark.parametrize(
    ("name", "shape", "why"),
    [("w", (10**9, 1), "'w' has shape"), ("costs", (10**11,), "'costs' has shape")],
)
def test_a_model_declaring_a_huge_array_is_refused_before_reading(tmp_path, name, shape, why):
    path = write_model_file(tmp_path / "huge.h5", drop=(name,))
    with h5py.File(path, "a") as f:
        f.create_dataset(
            name, shape=shape, dtype=np.float64, chunks=(min(shape[0], 4096),) + shape[1:]
        )
    assert path.stat().st_size < 10**6
    uniform(tmp_path / "white.png", 255)
    result = catclf_run(
        "predict",
        "-m",
        path,
        "white.png",
        cwd=tmp_path,
        prefix=under_a_memory_limit(),
        timeout=120,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"catclf: error: {path}: dataset {why}")


def test_an_endless_stdin_is_not_read_to_the_end(tmp_path, monkeypatch):
    from catclf.cli import inputs

    monkeypatch.setattr(inputs, "MAX_STDIN_BYTES", 1 << 20)
    brightness_model(tmp_path / "model.h5")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["predict", "-"], input=b"y\n" * (1 << 20))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result.stderr) == [
        "catclf: error: -: more than 1 MiB on stdin, too large for an image"
    ]


# A cost that turns NaN, through the CLI


def test_a_nan_cost_stops_training_and_keeps_the_old_model(tmp_path):
    data = inseparable(tmp_path / "data")
    old = brightness_model(tmp_path / "model.h5").read_bytes()
    result = invoke("train", data, "-r", "1e308", "-n", "100", cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert re.search(r"cost became (nan|inf)", line)
    assert line.endswith("no model was saved")
    assert (tmp_path / "model.h5").read_bytes() == old
    assert listing(tmp_path) == ["data", "model.h5"]
    assert result.stdout == ""
