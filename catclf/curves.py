"""A sweep whose learning curves are drawn into a folder, as `catclf sweep --out` makes it:
one picture of every run's cost, written atomically, only where catclf may write it (see
`catclf.files`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from catclf import plots
from catclf.model import Settings
from catclf.progress import Progress, note
from catclf.selection import SWEEP_RATES, Sweep, SweepRun, run_sweep

CURVES = "learning_curves.png"


def labelled(runs: Sequence[SweepRun]) -> tuple[list[tuple[str, list[float] | None]], str]:
    """The learning curves of a sweep, each labelled by its rate (and penalty, when the
    sweep tried several), and the legend's title; a diverged run's costs are None."""
    several = len({r.l2 for r in runs}) > 1

    def label(r: SweepRun) -> str:
        return f"{r.learning_rate:g}, l2 {r.l2:g}" if several else f"{r.learning_rate:g}"

    curves = [(label(r), None if r.model is None else list(r.costs)) for r in runs]
    return curves, "learning rate, l2" if several else "learning rate"


def sweep(
    data: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
    learning_rates: Sequence[float] = SWEEP_RATES,
    num_iterations: int = Settings.num_iterations,
    l2_values: Sequence[float] = (Settings.l2,),
    validation_fraction: float | None = None,
    folds: int | None = None,
    positive: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    solver: str = "auto",
    memory_limit: int | str | None = "auto",
    progress: Progress | None = None,
    on_saved: Callable[[], None] | None = None,
) -> Sweep:
    """`catclf.selection.run_sweep`, and with out its learning curves drawn into that folder
    as CURVES (checked before any training: matplotlib there, the name free or catclf's, or
    force; never over the data), the sweep's written saying where. on_saved() is called
    once the picture is in place."""
    folder = None if out is None else Path(out)
    inputs = [Path(p) for p in (data, test) if p is not None]
    if folder is not None:
        plots.require()
        plots.check_folder(folder, [CURVES], force=force, inputs=inputs)
    done = run_sweep(
        data,
        test,
        learning_rates=learning_rates,
        num_iterations=num_iterations,
        l2_values=l2_values,
        validation_fraction=validation_fraction,
        folds=folds,
        positive=positive,
        strict=strict,
        jobs=jobs,
        solver=solver,
        memory_limit=memory_limit,
        progress=progress,
    )
    if folder is None or done.diverged:
        return done
    pictures = {CURVES: plots.learning_curves(*labelled(done.runs))}
    written = plots.write_files(folder, pictures, force=force, inputs=inputs, on_saved=on_saved)
    for path in written:
        note(f"wrote {path}")
    return replace(done, written=written)
