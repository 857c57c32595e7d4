"""What the test files share: catclf run as a user runs it, and the pictures, folders and
model files the tests make. The course's published figures are in course.py.

Two ways to run the command line, with the same result (status, stdout, stderr):
`invoke` runs it in this process with typer's CliRunner; `catclf_run` starts
`python -m catclf`, for what needs a process of catclf's own: its signal handlers and
standard streams, a prefix such as setpriv or prlimit, what it imports at start-up, and
the one line catclf.cli.signals gives an internal error.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from course import LEARNING_RATE, NUM_ITERATIONS, TRAIN_EXAMPLES
from PIL import Image
from typer.testing import CliRunner

import catclf
from catclf.cli import app, output

# Every command of catclf: a test that covers each takes them from here.
COMMANDS = [
    "train",
    "predict",
    "explain",
    "export",
    "evaluate",
    "info",
    "report",
    "sweep",
    "cv",
    "prepare",
]
PACKAGE_DATA = Path(catclf.__file__).parent / "data"
BUNDLED_MODEL = PACKAGE_DATA / "model.h5"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
N_X = 64 * 64 * 3
FILE_LIST = ".catclf-files.json"  # what catclf wrote in a folder, as the README says


# Running catclf


def environment(env=None):
    """os.environ without the CATCLF_ variables of whoever runs the tests, and with env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CATCLF_")}
    clean.update(env or {})
    return clean


def catclf_run(*args, cwd, stdin=b"", env=None, prefix=(), timeout=300):
    """Run `python -m catclf ARGS` in cwd (after prefix, a command such as setpriv);
    stdout and stderr as text. Arguments may be str, bytes, Path or numbers."""
    result = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "catclf",
            *(a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args),
        ],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=environment(env),
        timeout=timeout,
    )
    out = result.stdout.decode("utf-8", "surrogateescape")
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err
    return subprocess.CompletedProcess(result.args, result.returncode, out, err)


def start_catclf(*args, cwd, env=None, **popen):
    """`python -m catclf ARGS` started in cwd, stdout and stderr piped unless popen says
    otherwise; the caller waits for it."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, "-m", "catclf", *map(str, args)], cwd=cwd, env=environment(env), **popen
    )


# Python's own warning filters, as a `python -m catclf` started without -W has them.
PYTHON_IGNORES = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(*args, cwd, stdin=b"", env=None):
    """`catclf ARGS` run in this process, in cwd, as catclf_run runs it in a new one: the
    same arguments, environment, streams set up as catclf.cli.main sets them, and a Python
    warning written on stderr. An exception catclf lets out fails the test where the real
    command would print `internal error`."""
    overrides = {k: None for k in os.environ if k.startswith("CATCLF_")}
    overrides.update(env or {})
    argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args]
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with (
            CliRunner().isolation(input=stdin, env=overrides) as (out, err, _),
            warnings.catch_warnings(record=True) as warned,
        ):
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for category in PYTHON_IGNORES:
                warnings.simplefilter("ignore", category)
            output.configure_streams()
            status = _exit_status(argv)
            for w in warned:
                sys.stderr.write(
                    warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                )
            sys.stdout.flush()
            sys.stderr.flush()
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        os.chdir(here)
    result = subprocess.CompletedProcess(
        ["catclf", *argv],
        status,
        stdout.decode("utf-8", "surrogateescape"),
        stderr.decode("utf-8", "backslashreplace"),
    )
    assert "Traceback" not in result.stderr
    return result


def _exit_status(argv):
    try:
        app(argv, prog_name="catclf")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)  # as Python does at exit
        return 1
    return 0


def train_json(*args, cwd):
    """`catclf train ARGS --json`, which must succeed: (its summary, its stderr)."""
    result = invoke("train", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def interrupted(args, *, cwd, after, signal_number, delay=0.0):
    """Run `python -m catclf ARGS` and send it signal_number delay seconds after a line of
    its stderr holds after; (exit status, stdout, stderr)."""
    process = start_catclf(
        *args,
        cwd=cwd,
        text=True,
        # A shell that starts jobs in the background hands them SIGINT ignored; a user's
        # catclf, started from a terminal, has it at its default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if after in line:
                break
        time.sleep(delay)
        process.send_signal(signal_number)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in err
    return process.returncode, out, err


# A sitecustomize for a `python -m catclf` started by `hooked`: at the call-th call of the
# function HOOK_TARGET ("module:name", a method as "module:Class.method"), it signals the
# process as the call begins ("signal"), or as the object the call makes dies ("dies": for
# h5py's File, the moment whose finalizers used to drop an interrupt), or stops it with
# SIGSTOP ("stop") until the test lets it go on. The moment is the same in every run,
# however busy the machine.
HOOK = """
import importlib.abc, importlib.util, os, sys, weakref

MODULE, _, NAME = os.environ["HOOK_TARGET"].partition(":")
ACTION, CALL = os.environ["HOOK_ACTION"], int(os.environ["HOOK_CALL"])
SIGNAL = int(os.environ["HOOK_SIGNAL"])


def patch(module):
    *path, name = NAME.split(".")
    owner = module
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0

    def hooked(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == CALL and ACTION == "signal":
            os.kill(os.getpid(), SIGNAL)
        elif calls == CALL and ACTION == "stop":
            os.kill(os.getpid(), 19)  # SIGSTOP
        result = original(*args, **kwargs)
        if calls == CALL and ACTION == "dies":
            weakref.finalize(args[0], os.kill, os.getpid(), SIGNAL)
        return result

    setattr(owner, name, hooked)


class PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if MODULE in sys.modules:
    patch(sys.modules[MODULE])
else:
    sys.meta_path.insert(0, PatchOnImport())
"""


def hooked(*args, cwd, hook, target, action, call=1, signal_number=signal.SIGINT, env=None):
    """`python -m catclf ARGS` started in cwd with the HOOK above at target (see there),
    written into the folder hook; the caller waits for it."""
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    return start_catclf(
        *args,
        cwd=cwd,
        text=True,
        env={
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
            "HOOK_TARGET": target,
            "HOOK_ACTION": action,
            "HOOK_CALL": str(call),
            "HOOK_SIGNAL": str(int(signal_number)),
            **(env or {}),
        },
        # A user's catclf, started from a terminal, has SIGINT at its default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(process, timeout=60):
    """(stdout, stderr) of process once it has ended, killed after timeout seconds."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def without_root_powers():
    """A command prefix under which file permissions apply, even when the tests run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    drop = [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else []
    if not drop or subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE")
    return drop


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("catclf: error:")]


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


# Pictures and folders of them


def save_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB").save(path)
    return path


def uniform(path, value):
    return save_png(path, np.full((64, 64, 3), value, dtype=np.uint8))


def class_folders(root, per_class=4, seed=0, broken=False, names=("non-cat", "cat")):
    """root/cat: reddish pictures; root/non-cat: bluish ones (green and noise vary); names
    are (negative folder, positive folder).

    Red against blue needs no bias, so a few iterations from w = 0 separate them, and
    the separation holds for pictures not trained on.
    """
    rng = np.random.default_rng(seed)

    def picture(channel):
        pixels = rng.integers(-30, 31, (64, 64, 3))
        pixels[..., channel] += rng.integers(120, 220)
        pixels[..., 1] += rng.integers(0, 256)
        return np.clip(pixels, 0, 255)

    negative, positive = names
    for i in range(per_class):
        save_png(root / positive / f"c{i}.png", picture(0))
        save_png(root / negative / f"n{i}.png", picture(2))
    (root / positive / "README.md").write_text("not an image, and not named like one")
    if broken:
        (root / positive / "broken.png").write_bytes(b"this is not a PNG")
    return root


def inseparable(root):
    """The same picture 3 times as a cat and once as not: no w separates them."""
    picture = np.random.default_rng(1).integers(0, 256, (64, 64, 3))
    for i in range(3):
        save_png(root / "cat" / f"{i}.png", picture)
    save_png(root / "non-cat" / "0.png", picture)
    return root


# Model files made by hand with h5py, in the README's layout, for tests that must not
# depend on catclf's own writer


def write_model_file(path, *, attrs=None, drop=(), **datasets):
    """A model file in the README's layout, written with h5py; keyword arguments replace
    datasets, attrs replaces attributes, drop removes either."""
    content = {"w": np.zeros((N_X, 1)), "b": np.float64(0.5), "costs": np.array([math.log(2)])}
    content.update(datasets)
    attributes = {
        "format": "catclf-logistic-regression",
        "format_version": 1,
        "image_size": 64,
        "channels": 3,
        "classes": ["non-cat", "cat"],
        "preprocessing": "divided by 255",
        "learning_rate": LEARNING_RATE,
        "num_iterations": NUM_ITERATIONS,
        "final_cost": 0.5,
        "train_examples": TRAIN_EXAMPLES,
        "train_accuracy": 0.99,
        "test_examples": 0,
        "test_accuracy": math.nan,
        "train_data": "hand-made",
        "catclf_version": "1.0.0",
        "created": "2024-01-02T03:04:05+00:00",
    }
    attributes.update(attrs or {})
    with h5py.File(path, "w") as f:
        for name, value in content.items():
            if name not in drop:
                f.create_dataset(name, data=value)
        for name, value in attributes.items():
            if name not in drop:
                f.attrs[name] = value
    return path


def brightness_model(path):
    """z = 4 * mean(x) - 2: a uniform image of value v has p = sigmoid(4 v / 255 - 2)."""
    return write_model_file(path, w=np.full((N_X, 1), 4 / N_X), b=np.float64(-2.0))


# For brightness_model, worked out by hand:
# white (255): sigmoid(2) = 0.880797; black (0): sigmoid(-2) = 0.119203;
# grey (128): z = 512/255 - 2 = 0.0078431, p = 0.5 + z/4 - ... = 0.501961.
WHITE, BLACK, GREY = "0.880797", "0.119203", "0.501961"


def constant_model(path, p):
    """w = 0, b = logit(p): every image has probability p."""
    return write_model_file(path, w=np.zeros((N_X, 1)), b=np.float64(math.log(p / (1 - p))))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def probability_by_hand(model_path, image_path):
    """sigmoid(w . x + b) with numpy, w and b read with h5py, x the image's pixels / 255.

    A 64x64 picture is used as it is; a photo (only the sample cat) is first resized
    with Pillow's Lanczos filter, as the README says catclf does.
    """
    with h5py.File(model_path, "r") as f:
        w, b = f["w"][()].reshape(-1), float(f["b"][()])
    with Image.open(image_path) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
    if pixels.shape != (64, 64, 3):
        pixels = np.asarray(
            Image.open(image_path).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS),
            dtype=np.float64,
        )
    return float(sigmoid(w @ (pixels.reshape(-1) / 255) + b))


# Folders deeper than Python's recursion limit: made and removed one level at a time, as
# shutil.rmtree (and so pytest's clean-up of old temporary folders) recurses.


@contextlib.contextmanager
def deep_folders(top, levels):
    """A chain of levels folders named d below top; yields the bottom one, and removes the
    chain and all it holds afterwards, from the bottom up."""
    chain = [top]
    for _ in range(levels):
        chain.append(chain[-1] / "d")
        chain[-1].mkdir(parents=True)
    try:
        yield chain[-1]
    finally:
        for folder in reversed(chain[1:]):
            for entry in folder.iterdir():
                if not entry.is_dir() or entry.is_symlink():
                    entry.unlink()
            folder.rmdir()


class Watched:
    """A catclf.progress.Progress that records what it is told: each task as [name, total,
    unit], and its steps as (task name, done, cost)."""

    def __init__(self):
        self.tasks, self.steps = [], []

    def __call__(self, task, total, *, unit=""):
        self.tasks.append([task, total, unit])

        def step(done=1, *, cost=None):
            self.steps.append((task, done, cost))

        return step

    def costs(self, task=None):
        """The costs reported, in order (of task, when named)."""
        return [c for t, _, c in self.steps if c is not None and task in (None, t)]

    def done(self, task):
        """The sum of task's steps."""
        return sum(d for t, d, _ in self.steps if t == task)
