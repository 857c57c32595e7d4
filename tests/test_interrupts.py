"""Tests for catclf.interrupts: regions that signals wait for, and the command line's
handler, which honours a signal once, after the region it came in."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
import weakref

import pytest

from catclf import interrupts


@contextlib.contextmanager
def handler(signal_number, handle):
    previous = signal.signal(signal_number, handle)
    try:
        yield
    finally:
        signal.signal(signal_number, previous)


def blocked(signal_number):
    return signal_number in signal.pthread_sigmask(signal.SIG_BLOCK, ())


def signal_here(signal_number):
    # To this thread: the test process may run others, to which the system would give a
    # signal sent to the process while this thread holds it.
    signal.pthread_kill(threading.get_ident(), signal_number)


def test_a_signal_waits_for_the_region_and_is_handled_as_it_ends():
    events = []
    with handler(signal.SIGTERM, lambda n, f: events.append("handled")):
        with interrupts.held():
            signal_here(signal.SIGTERM)
            events.append("region goes on")
        events.append("after the region")
    assert events == ["region goes on", "handled", "after the region"]


def test_an_interrupt_is_raised_where_the_region_ends_and_the_mask_is_restored():
    def interrupt(n, f):
        raise KeyboardInterrupt

    went_on = False
    with handler(signal.SIGINT, interrupt), pytest.raises(KeyboardInterrupt), interrupts.held():
        assert blocked(signal.SIGINT) and blocked(signal.SIGTERM) and blocked(signal.SIGHUP)
        signal_here(signal.SIGINT)
        went_on = True
    assert went_on
    assert not blocked(signal.SIGINT)


def test_regions_nest_and_the_signal_waits_for_the_outermost():
    events = []
    with handler(signal.SIGTERM, lambda n, f: events.append("handled")):
        with interrupts.held():
            with interrupts.held():
                signal_here(signal.SIGTERM)
            events.append("inner region ended")
        events.append("outer region ended")
    assert events == ["inner region ended", "handled", "outer region ended"]


def test_a_region_in_another_thread_leaves_its_signals_alone():
    # Python runs handlers in the main thread only: there is nothing to hold elsewhere.
    seen = []

    def run():
        with interrupts.held():
            seen.append(blocked(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [False]


class Made:
    """An object whose death is recorded, with whether SIGTERM was held then."""

    def __init__(self, deaths):
        weakref.finalize(self, lambda: deaths.append(blocked(signal.SIGTERM)))


def test_what_a_held_call_makes_dies_inside_the_region():
    deaths = []

    def make():
        made = Made(deaths)
        return id(made)

    interrupts.call_held(make)
    assert deaths == [True]


def test_what_a_held_call_makes_dies_inside_the_region_even_when_it_raises():
    # The traceback would keep the call's frame, and what it made, alive after the region.
    deaths = []

    def fail():
        made = Made(deaths)  # noqa: F841
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire") as caught:
        interrupts.call_held(fail)
    assert deaths == [True]
    assert caught.traceback[-1].name == "fail"  # still says where it was raised


def test_a_held_call_leaves_the_frames_of_the_exception_being_handled():
    # Called while another exception is handled: that one's frames are not the call's.
    def kept():
        outer = Made([])  # noqa: F841
        raise ValueError("handled outside")

    def fail():
        raise OSError("inside")

    try:
        kept()
    except ValueError as handled:
        with pytest.raises(OSError):
            interrupts.call_held(fail)
        assert "outer" in handled.__traceback__.tb_next.tb_frame.f_locals


# The command line's handler, in a process of its own. While the main thread holds the
# signals, the system gives one to another thread: the handler, which Python then runs
# in the main thread, inside the region, must not raise there (inside h5py's finalizers)
# but as the region ends.
HELD_HDF5_WORK = """
import sys, threading, time
import h5py, numpy as np
from catclf import interrupts
from catclf.cli import signals

signals.handle_signals()
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
with h5py.File("data.h5", "w") as f:
    f.create_dataset("x", data=np.zeros((64, 64, 64, 3), np.uint8), chunks=(8, 64, 64, 3))
buffer = np.empty((8, 64, 64, 3), np.uint8)


def read():
    with h5py.File("data.h5", "r") as f:
        for i in range(8):
            f["x"].read_direct(buffer, np.s_[8 * i : 8 * (i + 1)])


try:
    # Inside the try: a signal sent as soon as this line is read must find the handler.
    print("reading", flush=True)
    while True:
        interrupts.call_held(read)
except KeyboardInterrupt as stop:
    print(f"stopped by {type(stop).__name__} {stop.signum}", flush=True)
"""


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3])
def test_a_signal_another_thread_receives_is_raised_as_the_region_ends(
    tmp_path, signal_number, delay
):
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_HDF5_WORK],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout.readline() == "reading\n"
        time.sleep(delay)
        process.send_signal(signal_number)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (out, err) == (f"stopped by Stopped {int(signal_number)}\n", "")


# A signal whose handler raises inside a weakref callback or a finalizer outside any held
# region (as an import lets go of its lock, say): Python prints the exception and drops
# it, and the command line sends the signal again, to be raised where it stops the run.
RAISED_IN_A_FINALIZER = """
import os, sys, time, weakref
from catclf.cli import signals

signals.handle_signals()


class Thing:
    pass


try:
    thing = Thing()
    weakref.finalize(thing, os.kill, os.getpid(), int(sys.argv[1]))
    del thing  # the handler runs in the finalizer, as the signal is sent
    for _ in range(1000):
        time.sleep(0.01)
    print("not stopped", flush=True)
except KeyboardInterrupt as stop:
    print(f"stopped by {type(stop).__name__} {stop.signum}", flush=True)
"""


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_raised_in_a_finalizer_is_raised_again_where_it_stops_the_run(
    tmp_path, signal_number
):
    done = subprocess.run(
        [sys.executable, "-c", RAISED_IN_A_FINALIZER, str(int(signal_number))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.stdout, done.stderr) == (f"stopped by Stopped {int(signal_number)}\n", "")
