"""The process as catclf sets it up: standard streams that are closed, full or cannot encode
a name, and signals from the first moment catclf's code runs. Each run is a real process."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from course import TRAIN_EXAMPLES
from helpers import (
    WHITE,
    brightness_model,
    environment,
    start_catclf,
    uniform,
    write_model_file,
)

ESC = "\x1b"
NO_SPACE = "catclf: error: stdout: cannot write the results (No space left on device)"


def run(*args, cwd, close=(), stdout=subprocess.PIPE, stdin=b"", env=None, command=None):
    """catclf ARGS in cwd with the file descriptors in close closed; (status, stdout, stderr)."""

    def closing():
        for fd in close:
            os.close(fd)

    result = subprocess.run(
        [*(command or [sys.executable, "-m", "catclf"]), *map(os.fsencode, map(str, args))],
        cwd=cwd,
        input=None if 0 in close else stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=environment(env),
        preexec_fn=closing,
        timeout=120,
    )
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err
    out = result.stdout.decode("utf-8", "surrogateescape") if result.stdout is not None else ""
    return result.returncode, out, err


@pytest.fixture
def pictures(tmp_path):
    return {
        "model": brightness_model(tmp_path / "bright.h5"),
        "white": uniform(tmp_path / "white.png", 255),
    }


@pytest.fixture
def full(tmp_path):
    """A character device like /dev/full (1, 7), made here, opened for writing: every write
    to it fails with ENOSPC."""
    path = tmp_path / "full"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        f = open(path, "wb")  # noqa: SIM115
    except OSError as e:
        pytest.skip(f"cannot make a device node here: {e}")
    yield f
    f.close()


# stdin


def test_a_closed_stdin_is_an_error_for_the_image_read_from_it(tmp_path, pictures):
    status, out, err = run(
        "predict", "-m", pictures["model"], "-", "white.png", cwd=tmp_path, close=[0]
    )
    assert status == 1
    assert out == f"white.png\t{WHITE}\tcat\n"
    assert err == "catclf: error: -: cannot read an image from stdin: it is closed\n"


def test_a_closed_stdin_is_an_error_for_a_list_read_from_it(tmp_path, pictures):
    status, out, err = run(
        "predict", "-m", pictures["model"], "--files-from", "-", cwd=tmp_path, close=[0]
    )
    assert (status, out) == (1, "")
    assert err == "catclf: error: -: cannot read the list of paths: stdin is closed\n"


# stdout


def test_a_closed_stdout_is_refused_before_any_work(tmp_path, pictures):
    status, _, err = run("predict", "-m", pictures["model"], "white.png", cwd=tmp_path, close=[1])
    assert status == 1
    assert err == (
        "catclf: error: stdout is closed: there is nowhere to write the results; nothing was done\n"
    )
    # Not after training and saving a model, which an exit status of 1 would deny.
    status, _, err = run("train", "-n", "10", cwd=tmp_path, close=[1])
    assert status == 1 and err.startswith("catclf: error: stdout is closed")
    assert not (tmp_path / "model.h5").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "-m", "bright.h5", "white.png"],
        ["predict", "-m", "bright.h5", "--json", "white.png", "white.png"],
        ["info", "-m", "bright.h5"],
        ["--help"],  # written by typer itself
    ],
)
def test_a_full_stdout_is_one_line_and_status_1(tmp_path, pictures, full, args):
    status, _, err = run(*args, cwd=tmp_path, stdout=full)
    assert status == 1
    assert err == NO_SPACE + "\n"


def test_train_saves_its_model_and_says_so_when_its_summary_cannot_be_written(tmp_path, full):
    status, _, err = run("train", "-n", "200", "-q", "-m", "new.h5", cwd=tmp_path, stdout=full)
    # The status says whether the model was saved: it was.
    assert status == 0
    assert (
        err
        == f"catclf: {NO_SPACE.removeprefix('catclf: error: ')}; the model was saved to new.h5\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "new.h5"]


def test_train_whose_reader_has_gone_still_saves_its_model_and_says_nothing(tmp_path):
    process = start_catclf("train", "-n", "200", "-q", "--json", cwd=tmp_path)
    process.stdout.close()  # long before the summary: as `catclf train | true` would
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert err == b""
    assert (tmp_path / "model.h5").is_file()


def test_a_name_stdout_cannot_encode_is_escaped(tmp_path, pictures):
    shutil.copy(pictures["white"], tmp_path / "café.png")
    ascii_only = {"PYTHONIOENCODING": "ascii"}
    status, out, err = run(
        "predict", "-m", pictures["model"], "café.png", "white.png", cwd=tmp_path, env=ascii_only
    )
    assert (status, err) == (0, "")
    assert out == f"caf\\xe9.png\t{WHITE}\tcat\nwhite.png\t{WHITE}\tcat\n"
    status, out, err = run(
        "predict", "--json", "-m", pictures["model"], "café.png", cwd=tmp_path, env=ascii_only
    )
    assert (status, err) == (0, "")
    assert out.isascii() and json.loads(out)["path"] == "café.png"


# stderr


def test_with_stderr_closed_stdout_carries_the_results_only(tmp_path, pictures):
    status, out, _ = run(
        "predict", "-m", pictures["model"], "white.png", "missing.png", cwd=tmp_path, close=[2]
    )
    assert status == 1
    assert out == f"white.png\t{WHITE}\tcat\n"
    # train's notes would otherwise come first on stdout; the model it writes is whole.
    status, out, _ = run("train", "-n", "200", "--json", "-m", "m.h5", cwd=tmp_path, close=[2])
    assert status == 0
    assert json.loads(out)["model"] == "m.h5"
    status, out, err = run("info", "--json", "-m", "m.h5", cwd=tmp_path)
    assert status == 0 and json.loads(out)["num_iterations"] == 200


# Text from a file cannot forge a line of output or drive the terminal


def test_info_shows_a_forged_model_attribute_on_its_own_line(tmp_path):
    forged = "x\nfinal cost: 0.000001\n" + ESC + "]0;owned\x07"
    path = write_model_file(
        tmp_path / "forged.h5",
        attrs={
            "train_data": forged,
            "created": ESC + "[2J\x9b",
            "classes": ["non-cat", ESC + "[1mcat"],
        },
    )
    status, out, err = run("info", "-m", path, cwd=tmp_path)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines].count("final cost") == 1
    assert "train data: x\\nfinal cost: 0.000001\\n\\x1b]0;owned\\x07" in lines
    assert "created: \\x1b[2J\\x9b" in lines
    assert "classes: non-cat / \\x1b[1mcat (negative / positive)" in lines
    assert ESC not in out and "\x9b" not in out and "\x07" not in out
    status, out, _ = run("info", "--json", "-m", path, cwd=tmp_path)
    assert json.loads(out)["train_data"] == forged and ESC not in out and "\x9b" not in out


# Signals, from the first moment catclf's own code runs

# Sends the signal when a module is first imported: at a chosen moment of start-up, every
# time, instead of after a delay that may fall anywhere.
SIGNAL_ON_IMPORT = """
import importlib.abc, os, signal, sys

class SignalOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == os.environ["SIGNAL_ON_IMPORT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["SIGNAL_NUMBER"]))
        return None

sys.meta_path.insert(0, SignalOnImport())
"""

SIGNALS = [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated"),
    (signal.SIGHUP, 129, "hung up"),
]


def signalled_on_import(module, signal_number, *args, cwd, command=None):
    hook = cwd / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SIGNAL_ON_IMPORT)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
        "SIGNAL_ON_IMPORT": module,
        "SIGNAL_NUMBER": str(int(signal_number)),
    }
    return run(*args, cwd=cwd, env=env, command=command)


def installed_script():
    script = Path(sys.executable).parent / "catclf"
    return [str(script)] if script.is_file() else None


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALS, ids=lambda v: str(v))
@pytest.mark.parametrize("how", ["python -m catclf", "catclf"])
def test_a_signal_while_the_command_line_is_imported(
    tmp_path, pictures, signal_number, status, said, how
):
    command = installed_script() if how == "catclf" else None
    if how == "catclf" and command is None:
        pytest.skip("the catclf script is not installed beside this Python")
    code, out, err = signalled_on_import(
        "typer", signal_number, "predict", "white.png", cwd=tmp_path, command=command
    )
    assert (code, out) == (status, "")
    assert err == f"catclf: {said}; nothing was saved\n"


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALS, ids=lambda v: str(v))
def test_a_signal_before_python_m_catclf_has_set_its_handlers(
    tmp_path, signal_number, status, said
):
    # As catclf.cli.signals is imported, before main has set the handlers: __main__ holds the
    # signals until then.
    code, out, err = signalled_on_import(
        "catclf.cli.signals", signal_number, "train", "-n", "10", cwd=tmp_path
    )
    assert (code, out) == (status, "")
    assert err == f"catclf: {said}; nothing was saved\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "hook"]


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALS, ids=lambda v: str(v))
def test_a_signal_while_the_options_are_read(tmp_path, signal_number, status, said):
    # --memory-limit is checked by a callback that imports catclf.memory, while typer reads
    # the options, before the command runs.
    code, out, err = signalled_on_import(
        "catclf.memory", signal_number, "train", "--memory-limit", "1GB", cwd=tmp_path
    )
    assert (code, out) == (status, "")
    assert err == f"catclf: {said}; nothing was saved\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "hook"]


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALS, ids=lambda v: str(v))
def test_a_signal_while_the_command_imports_what_it_uses(
    tmp_path, pictures, signal_number, status, said
):
    # The model file's reader, imported as predict reads the model.
    code, out, err = signalled_on_import(
        "catclf.hdf5lite",
        signal_number,
        "predict",
        "-m",
        pictures["model"],
        "white.png",
        cwd=tmp_path,
    )
    assert (code, out) == (status, "")
    assert err == f"catclf: {said}\n"  # predict writes no file


def test_a_hang_up_ignored_from_the_start_stays_ignored(tmp_path):
    # As nohup starts a command: SIGHUP ignored. catclf keeps it so; SIGTERM still ends it.
    process = start_catclf(
        "train",
        "-n",
        "1000000",
        cwd=tmp_path,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        for line in process.stderr:
            if f"{TRAIN_EXAMPLES} images" in line:
                break
        process.send_signal(signal.SIGHUP)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143
    assert err.splitlines()[-1] == "catclf: terminated; nothing was saved"
    assert list(tmp_path.iterdir()) == []


# An interrupt that comes while code run by exec or eval of a string runs (namedtuple makes
# its classes so, while modules are imported) leaves CPython's note of an unhandled Ctrl-C
# set: the status catclf chose must still be the one its parent sees.
SIGNAL_IN_EXEC = SIGNAL_ON_IMPORT.replace(
    'os.kill(os.getpid(), int(os.environ["SIGNAL_NUMBER"]))',
    "exec(\"import os; os.kill(os.getpid(), int(os.environ['SIGNAL_NUMBER']))\")",
)


@pytest.mark.parametrize(("signal_number", "status", "said"), SIGNALS, ids=lambda v: str(v))
@pytest.mark.parametrize("how", ["python -m catclf", "catclf"])
def test_a_signal_inside_an_exec_while_importing_keeps_catclfs_status(
    tmp_path, signal_number, status, said, how
):
    command = installed_script() if how == "catclf" else None
    if how == "catclf" and command is None:
        pytest.skip("the catclf script is not installed beside this Python")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SIGNAL_IN_EXEC)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
        "SIGNAL_ON_IMPORT": "typer",
        "SIGNAL_NUMBER": str(int(signal_number)),
    }
    code, out, err = run("info", cwd=tmp_path, env=env, command=command)
    assert (code, out) == (status, "")
    assert said in err


# Until catclf.cli.start.main has set its handlers, Python's own is in place, and Ctrl-C prints
# a traceback: what runs before them is kept to what Python itself runs.
MODULES_AT_HANDLERS = """
import importlib.abc, importlib.util, os, sys

BEFORE = set(sys.modules)


def report(*args):
    sys.stderr.write(" ".join(sorted(set(sys.modules) - BEFORE)) + "\\n")
    sys.stderr.flush()
    os._exit(0)


class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != os.environ["WATCHED"]:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            setattr(module, os.environ["WATCHED_CALL"], report)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Watch())
"""


def imported_before(tmp_path, watched, call, *args):
    """The modules a Python started with ARGS has imported, beyond those imported by the
    time its sitecustomize runs, when watched.call is first called."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(MODULES_AT_HANDLERS)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
        "WATCHED": watched,
        "WATCHED_CALL": call,
    }
    code, out, err = run(*args, cwd=tmp_path, env=env, command=[sys.executable])
    assert code == 0, err
    return set(err.split())


def test_python_m_catclf_sets_its_handlers_before_importing_anything_python_has_not(tmp_path):
    # What `python -m` imports to run any package: one that does nothing but stop.
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "__init__.py").write_text("")
    (tmp_path / "nothing" / "__main__.py").write_text("from nothing.stop import stop\nstop()\n")
    (tmp_path / "nothing" / "stop.py").write_text("def stop():\n    pass\n")
    runpy_imports = imported_before(tmp_path, "nothing.stop", "stop", "-m", "nothing")
    assert "nothing" in runpy_imports  # the watch sees imports
    catclf_imports = imported_before(
        tmp_path, "catclf.cli.signals", "handle_signals", "-m", "catclf", "--version"
    )
    assert catclf_imports - runpy_imports == {
        "catclf",
        "catclf.cli",
        "catclf.cli.start",
        "catclf.cli.signals",
    }


def test_importing_catclf_imports_nothing_else():
    code = "import sys; before = set(sys.modules); import catclf; print(set(sys.modules) - before)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("{'catclf'}\n", "")
