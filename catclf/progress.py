"""How the library tells its caller what it is doing, without printing anything itself.

- Progress: every long piece of work (decoding images, writing them, training, a run of a
  sweep, a fold) is a task its caller may watch. The caller passes a Progress down;
  `progress(task, total, unit=...)` is called as each task starts and returns a Step, called
  as the work advances: `step(done)`, `done` more of total (iterations, images, or the
  `unit` it names), with the cost after a training iteration. A task ends when the next
  starts, or when the call that made it returns.
- Notes: what a person may want to know on the way (which data was read, what was left out,
  a run's cost that ended above where it began) is logged to the standard library's logger
  "catclf", at INFO (a note) or WARNING (a warning). It has a NullHandler: a program sees the
  notes only if it asks for them, as with any library; the command line prints them.
"""

from __future__ import annotations

import logging
from typing import Protocol

from catclf.errors import CatclfError

LOGGER = "catclf"
LOG = logging.getLogger(LOGGER)
LOG.addHandler(logging.NullHandler())


class Step(Protocol):
    """One task advancing: done more of its total; cost, after a training iteration."""

    def __call__(self, done: int = 1, *, cost: float | None = None) -> None: ...


class Progress(Protocol):
    """A caller's watch on long work: called as each task starts (see the module)."""

    def __call__(self, task: str, total: int | None, *, unit: str = "") -> Step: ...


def unwatched(task: str, total: int | None, *, unit: str = "") -> Step:
    """The Progress of a caller that watches nothing."""
    return _nothing


def _nothing(done: int = 1, *, cost: float | None = None) -> None:
    pass


def within(step: Step) -> Progress:
    """A Progress for work done as part of a task already started: every task the work
    starts advances step instead (the runs of a sweep train, and each training is part of
    its run's task), by its iterations: a task counted in another unit (examples, when the
    data is streamed) advances it by one for each cost it reports."""

    def progress(task: str, total: int | None, *, unit: str = "") -> Step:
        if not unit:
            return step

        def iterations(done: int = 1, *, cost: float | None = None) -> None:
            if cost is not None:
                step(1, cost=cost)

        return iterations

    progress.within = True  # type: ignore[attr-defined]  # work inside another's task
    return progress


ERROR = "catclf_error"  # the attribute of a log record that holds the error a note is of


def note(message: str | CatclfError) -> None:
    """Something a person may want to know, on the way: in words, or an error that did not
    stop the work (a run of a sweep that diverged), which the record also holds as its
    ERROR attribute, for a caller to say in its own words (`CatclfError.told`)."""
    if isinstance(message, CatclfError):
        LOG.info("%s", message, extra={ERROR: message})
    else:
        LOG.info(message)


def warn(message: str) -> None:
    """Something a person should know of what was done: a result to doubt, data unused."""
    LOG.warning(message)
