"""Pictures of a model and its runs, drawn with matplotlib into PNG bytes, and written
into a folder.

matplotlib is an optional extra (`pip install 'catclf[plot]'`) and this is the only
module that imports it, inside its functions. Figures are made with matplotlib's
object API and rendered by its Agg canvas: pyplot and its GUI backends are never
involved, whatever DISPLAY says. Every figure has a fixed size in inches at DPI dots
per inch, so each PNG has a known size in pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from numpy.typing import NDArray

from catclf import files
from catclf.errors import ReportError
from catclf.logistic import COST_EVERY
from catclf.wording import one_line, printable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    from catclf.explanation import Explanation

# The same command wherever catclf came from: an index, a clone or a wheel (the plot extra,
# pip install 'catclf[plot]', only resolves where catclf is on an index).
INSTALL = "pip install matplotlib"
DPI = 100

# Sizes in pixels (width, height).
CURVE_SIZE = (800, 500)
WEIGHTS_SIZE = (1600, 450)
CONFUSION_SIZE = (500, 450)
EXPLANATION_SIZE = (960, 560)
GRID_COLUMNS = 8
GRID_CELL = (150, 190)  # one image and its three-line caption, or its map
GRID_HEADER = 80
GRID_MAX = 48
# The largest cost drawn: beyond it, the ticks' arithmetic overflows a float.
MAX_DRAWN = 1e300
# For text that comes from files and folders (class names, paths): drawn as it is written,
# never parsed as mathtext (where "$" starts a formula, which may fail to parse) or LaTeX.
LITERAL = {"parse_math": False, "usetex": False}


def require() -> None:
    """Raise ReportError, saying how to install it, unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ReportError(
            f"drawing pictures needs matplotlib, which is not installed: {INSTALL}"
        ) from e


def grid_size(shown: int) -> tuple[int, int]:
    """Size in pixels of the picture of `shown` misclassified images (at most GRID_MAX)."""
    return GRID_COLUMNS * GRID_CELL[0], GRID_HEADER + _grid_rows(shown) * GRID_CELL[1]


def _grid_rows(shown: int) -> int:
    return max(1, math.ceil(2 * shown / GRID_COLUMNS))  # each image beside its map


def drawable(costs: Sequence[float]) -> tuple[list[float], str | None]:
    """costs as a curve can show them, and what of them cannot be drawn, in words (None when
    all can). A cost that is not a number, or beyond MAX_DRAWN either side, becomes NaN, a
    gap in the curve: the axes and their ticks must stay within what a float holds."""
    kept = [c if math.isfinite(c) and abs(c) <= MAX_DRAWN else math.nan for c in costs]
    left = sum(1 for c in kept if math.isnan(c))
    if not costs:
        return kept, "not drawn: the model file records no costs"
    if left == len(costs):
        return kept, (
            f"not drawn: none of its {len(costs)} recorded costs is a number within {MAX_DRAWN:g}"
        )
    if left:
        return (
            kept,
            f"{left} of the {len(costs)} recorded costs are beyond {MAX_DRAWN:g} or not "
            "numbers, and not drawn",
        )
    return kept, None


def learning_curve(costs: Sequence[float], learning_rate: float) -> bytes:
    """Cost against iteration for one run; costs are those of iterations 0, 100, 200, ..."""
    fig, ax = _figure(CURVE_SIZE)
    _cost_axes(ax)
    ax.plot(_iterations(costs), costs, marker="o", markersize=3)
    ax.set_title(f"Learning curve, learning rate {learning_rate:g}")
    return _png(fig)


def learning_curves(runs: Sequence[tuple[str, Sequence[float] | None]], title: str) -> bytes:
    """One cost curve per (label, costs) of a sweep, the legend titled title; costs None for
    a run that diverged, which is named in the legend but not drawn (its cost would flatten
    the rest)."""
    fig, ax = _figure(CURVE_SIZE)
    _cost_axes(ax)
    for label, costs in runs:
        if costs is None:
            ax.plot([], [], " ", label=f"{label} (diverged, not drawn)")
        else:
            ax.plot(_iterations(costs), costs, label=label)
    ax.legend(title=title)
    ax.set_title("Learning curves")
    return _png(fig)


def weights(w: NDArray[np.float64], classes: tuple[str, str] = ("non-cat", "cat")) -> bytes:
    """w (12288, 1) as the 64x64 RGB template it is, beside its positive and negative parts
    and the model-level view of what pushes where.

    First: w min-max scaled to 0..1 (grey is w = 0 only when w is balanced). Then the
    positive part, max(w, 0) / its max: pixels whose brightness pushes toward the positive
    class; the negative part, max(-w, 0) / its max: toward the negative one. Last, w summed
    over the three colours in diverging colours, limits symmetric about zero: red where a
    brighter pixel pushes toward the positive class, blue toward the negative one.
    """
    image = np.asarray(w, dtype=np.float64).reshape(64, 64, 3)
    span = float(image.max() - image.min())
    negative, positive = drawn_name(classes[0]), drawn_name(classes[1])
    panels = [
        ("w, scaled to 0..1", (image - image.min()) / span if span > 0 else image * 0),
        (f"positive part: toward {positive}", _part(image)),
        (f"negative part: toward {negative}", _part(-image)),
    ]
    fig = _bare_figure(WEIGHTS_SIZE)
    axes = fig.subplots(1, 4)
    for ax, (title, pixels) in zip(axes, panels, strict=False):
        ax.imshow(pixels, interpolation="nearest")
        ax.set_title(title, **LITERAL)
        ax.set_axis_off()
    summed = image.sum(axis=2)
    limit = float(np.max(np.abs(summed))) or 1.0
    shown = axes[3].imshow(summed, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    axes[3].set_title(f"summed: red {positive}, blue {negative}", **LITERAL)
    axes[3].set_axis_off()
    fig.colorbar(shown, ax=axes[3], shrink=0.8)
    fig.suptitle("The weights w as a 64x64 image", fontsize="x-large")
    return _png(fig)


def confusion(tp: int, fp: int, tn: int, fn: int, classes: tuple[str, str]) -> bytes:
    """The 2x2 confusion matrix with its counts; rows the true class, columns the predicted
    one, the positive class first, as `catclf evaluate` prints it. classes is
    (negative name, positive name)."""
    counts = np.array([[tp, fn], [fp, tn]])
    names = [classes[1], classes[0]]
    fig, ax = _figure(CONFUSION_SIZE)
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, int(counts.max())))
    for (row, column), count in np.ndenumerate(counts):
        # Dark text on light cells, white on dark ones.
        dark = count > counts.max() / 2
        ax.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize="xx-large",
            color="white" if dark else "black",
        )
    ax.set_xticks([0, 1], labels=names, **LITERAL)
    if max(len(n) for n in names) > 10:
        # Long names side by side would run into each other: tilted, they fit.
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.set_yticks([0, 1], labels=names, **LITERAL)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({int(counts.sum())} images)")
    return _png(fig)


def misclassified(explained: Sequence[Explanation], captions: Sequence[str], more: int) -> bytes:
    """A grid of images, k <= GRID_MAX, each as the model saw it (at 2x, nearest neighbour)
    with its caption, and beside it the map of its explanation: four to a row. more is how
    many others were not shown."""
    fig = _bare_figure(grid_size(len(explained)))
    axes = np.asarray(fig.subplots(_grid_rows(len(explained)), GRID_COLUMNS)).reshape(-1)
    for ax in axes:
        ax.set_axis_off()
    for i, e in enumerate(explained):
        seen, why = axes[2 * i], axes[2 * i + 1]
        seen.imshow(e.pixels, interpolation="nearest")
        seen.set_title(captions[i], fontsize="small", **LITERAL)
        draw_map(why, e)
        why.set_title("why", fontsize="small")
    total = len(explained) + more
    title = f"Misclassified: {total} image{'' if total == 1 else 's'}"
    if more:
        title += f" (the {len(explained)} most confidently wrong shown, {more} more not shown)"
    classes = explained[0].classes if explained else ("", "")
    fig.suptitle(
        f"{title}\nbeside each, why: red pushed toward {drawn_name(classes[1])}, "
        f"blue toward {drawn_name(classes[0])}",
        fontsize="large",
        **LITERAL,
    )
    return _png(fig)


def explanation(e: Explanation, name: str) -> bytes:
    """One image's explanation, for the file name: its map of each pixel's share of the
    logit over the image as the model saw it (greyed), beside that image, with the legend
    and the sum the shares add up to."""
    fig = _bare_figure(EXPLANATION_SIZE)
    seen, ax = fig.subplots(1, 2, width_ratios=[1, 1.6])
    seen.imshow(e.pixels, interpolation="nearest")
    seen.set_title("as the model sees it (64x64)")
    seen.set_axis_off()
    drawn = draw_map(ax, e)
    ax.set_title(f"each pixel's share of the logit, against {BASELINE_WORDS[e.baseline]}")
    ax.set_axis_off()
    bar = fig.colorbar(drawn, ax=ax, shrink=0.8)
    bar.ax.set_title(
        f"toward\n{drawn_name(e.classes[1])}", fontsize="small", parse_math=False, usetex=False
    )
    bar.ax.set_xlabel(
        f"toward\n{drawn_name(e.classes[0])}", fontsize="small", parse_math=False, usetex=False
    )
    fig.suptitle(
        f"{name}: {drawn_name(e.label)}, P({drawn_name(e.classes[1])}) = {e.probability:.6f}\n"
        f"logit {e.logit:.4f} = {BASELINE_WORDS[e.baseline]} {e.base:.4f} + toward "
        f"{e.toward:.4f} + away {e.away:.4f}",
        **LITERAL,
    )
    return _png(fig, PNG_TEXT)


BASELINE_WORDS = {"black": "a black image", "mean": "the average training image"}


def drawn_name(name: str, most: int = 16) -> str:
    """A class name as a picture's legend shows it: on one line, at most most characters."""
    name = printable(one_line(name))
    return name if len(name) <= most else name[: most - 1] + "\u2026"


def draw_map(ax: Axes, e: Explanation) -> ScalarMappable:
    """e's 64x64 map drawn on ax over its image in grey: diverging colours from -limit
    (blue: toward the negative class) to +limit (red: toward the positive one), each
    pixel as opaque as its share is large, so that where nothing is pushed the image
    shows. Returns what a colorbar takes."""
    # here: matplotlib is an optional extra, imported only to draw
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    grey = e.pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    ax.imshow(0.35 + 0.5 * grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    norm = Normalize(-e.limit, e.limit)
    colours = colormaps["RdBu_r"](norm(e.map))
    colours[..., 3] = np.clip(1.5 * np.abs(e.map) / e.limit, 0, 1)
    ax.imshow(colours, interpolation="nearest")
    return ScalarMappable(norm, colormaps["RdBu_r"])


def _part(image: NDArray[np.float64]) -> NDArray[np.float64]:
    positive = np.maximum(image, 0)
    top = float(positive.max())
    return positive / top if top > 0 else positive


def _iterations(costs: Sequence[float]) -> NDArray[np.int64]:
    return np.arange(len(costs)) * COST_EVERY


def _cost_axes(ax: Axes) -> None:
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost J")
    ax.grid(True, alpha=0.3)


def _bare_figure(size: tuple[int, int]) -> Figure:
    # here: matplotlib is an optional extra, imported only to draw
    from matplotlib.figure import Figure

    # Constrained layout fits titles and labels inside the fixed size instead of clipping.
    # Half a pixel more: size / DPI is not exact in binary, and some matplotlib versions
    # truncate size / DPI * DPI (409.99999 to 409) where others round it.
    inches = ((size[0] + 0.5) / DPI, (size[1] + 0.5) / DPI)
    return Figure(figsize=inches, dpi=DPI, layout="constrained")


def _figure(size: tuple[int, int]) -> tuple[Figure, Axes]:
    fig = _bare_figure(size)
    return fig, fig.add_subplot()


def _png(fig: Figure, text: dict[str, str] | None = None) -> bytes:
    # here: matplotlib is an optional extra, imported only to draw
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    canvas.print_png(buffer, metadata=text)
    return buffer.getvalue()


# A picture written on its own, to a path the user names: marked as catclf's in a PNG text
# chunk, so that catclf replaces it next time and never a picture of the user's.
PNG_TEXT = {"Software": "catclf"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MARK_WITHIN = 64 * 1024  # the mark is among the chunks before the image data


def is_ours(f: BinaryIO) -> bool:
    """Whether the open file is a PNG whose text chunks, before its image data, say catclf
    wrote it. At most MARK_WITHIN bytes are read, whatever the chunks declare."""
    head = f.read(MARK_WITHIN)
    if not head.startswith(PNG_SIGNATURE):
        return False
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(head):
        length = int.from_bytes(head[at : at + 4], "big")
        kind, body = head[at + 4 : at + 8], head[at + 8 : at + 8 + length]
        if kind == b"IDAT" or len(body) < length:
            return False
        if kind == b"tEXt" and body == b"Software\0catclf":
            return True
        at += 12 + length
    return False


def check_picture(path: Path, *, force: bool = False) -> Path:
    """The file to write a picture to for path (path, or what a link there leads to); raises
    ReportError unless it is free, a picture catclf drew, or with force another regular
    file; never a folder, device, FIFO or socket (see `catclf.files.check_file`)."""
    return files.check_file(
        path,
        ours=is_ours,
        not_ours="is not a picture catclf drew",
        error=ReportError,
        force=force,
        what="the picture",
    )


def write_picture(path: Path, data: bytes, *, force: bool = False) -> Path:
    """Write the PNG data to path atomically, where check_picture allows it, checked again
    just before the rename; the file written."""
    return files.write_file(
        path,
        data,
        lambda at: check_picture(at, force=force),
        lambda target, why: ReportError(f"{target}: cannot write ({why})"),
        ReportError,
        "the picture",
    )


# Pictures written into a folder: where catclf may write them (see `catclf.files`).


def check_folder(
    out: Path,
    names: Sequence[str] = (),
    *,
    force: bool = False,
    inputs: Sequence[Path] = (),
) -> None:
    """Raise ReportError unless each of names may be written into out: out is a folder
    that can be written, or can be created in its parent, and no name is taken by a file
    catclf did not write there (with force, by anything but a regular file or link, or
    one of inputs). See `catclf.files.check_names`."""
    files.check_names(out, names, error=ReportError, force=force, inputs=inputs)


def write_files(
    out: Path,
    pictures: dict[str, bytes],
    *,
    replaces: Sequence[str] = (),
    force: bool = False,
    inputs: Sequence[Path] = (),
    on_saved: Callable[[], None] | None = None,
) -> list[Path]:
    """Write each named file into out (created if missing), all atomically; the paths.

    Where check_folder allows it, and checked again just before the files are renamed into
    place. The files named in replaces that are not among them are removed if catclf wrote
    them, so that out does not keep a picture from an earlier run that the new page does
    not show; a file of the user's is left alone. on_saved() is called as soon as the
    files are in place (see `catclf.files.write_files`).
    """

    def writer(data: bytes) -> Callable[[Path], None]:
        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        return write

    return files.write_files(
        out,
        [(name, writer(data)) for name, data in pictures.items()],
        lambda target, why: ReportError(f"{target}: cannot write ({why})"),
        error=ReportError,
        force=force,
        inputs=inputs,
        tidy=[name for name in replaces if name not in pictures],
        on_saved=on_saved,
    )
