"""catclf on a Dask cluster (dask.distributed): training on more images than one machine
holds, and P(cat) of more image files than one machine decodes in good time.

    import dask.array as da
    import h5py
    from dask.distributed import Client
    import catclf.dask

    client = Client("tcp://scheduler:8786")
    f = h5py.File("/shared/train_big.h5")  # a course file, on storage every worker sees
    images = da.from_array(f["train_set_x"], chunks=(4096, 64, 64, 3))
    labels = da.from_array(f["train_set_y"], chunks=4096)
    model = catclf.dask.train(images, labels, num_iterations=2000)
    catclf.dask.predict_proba(model, ["/shared/photos/1.jpg", ...])  # P(cat), in order

`train` takes the steps `catclf.train` takes, from w = 0, b = 0, and so gives its iterates:
each iteration is one map-reduce over the chunks of images. Each chunk stays on its worker
as uint8 pixels, read once per iteration for its share of the cost, dw and db; the shares
are added up a tree of tasks. The client sends w (12288 numbers) out and takes the sums
back, never an image. `predict_proba` and `score_images` decode each file on a worker as
catclf decodes it, and score it in the batches `catclf predict` scores it in: the same
probabilities, to the last bit.

A worker that dies during a run takes the images it held with it. Dask would make them
again from their source; the run ends instead, with ClusterError, so that no model is
made of images other than those it began with (a source rewritten since, or made anew
differently).

This module imports dask and distributed; `import catclf` does not. Every worker needs
catclf, at the client's version, to run its tasks.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from catclf import timestamps
from catclf.dataset import check_label_form, checked_labels
from catclf.errors import ClusterError, DataError, ImageError, ParameterError
from catclf.images import CHANNELS, IMAGE_SIZE, N_X, Pixels, load_image
from catclf.logistic import BLOCK_COLUMNS, COST_EVERY, count_correct
from catclf.model import Model, PathLike, Settings, batch_end
from catclf.passes import Pass
from catclf.progress import Progress, unwatched
from catclf.training import PIXEL_SCALE, check_cost, check_trained
from catclf.wording import kind_of

try:
    import dask
    import dask.array as da
    import dask.bag as db
    import distributed
    from distributed.comm import CommClosedError
except ImportError as e:
    raise ImportError(
        "catclf.dask needs dask and distributed: install the dask extra, pip install 'catclf[dask]'"
    ) from e

__all__ = ["predict_proba", "score_images", "train"]

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)
FAN_IN = 8  # partial sums added by one task of the reduction tree
# Paths decoded by one task: enough that a task's overhead is small beside its decoding, few
# enough that a large list keeps every worker busy.
PATHS_PER_TASK = 1024
# What ends a run on a cluster, rather than a task's own error: the scheduler or a worker
# gone, tasks cancelled with the data they needed, a task that killed the workers it ran on.
LOST = (CommClosedError, distributed.CancelledError, distributed.KilledWorker)


def train(
    images: da.Array,
    labels: Any,
    *,
    learning_rate: float = Settings.learning_rate,
    num_iterations: int = Settings.num_iterations,
    l2: float = Settings.l2,
    progress: Progress | None = None,
    client: distributed.Client | None = None,
    origin: str = "a Dask array",
) -> Model:
    """Gradient descent from w = 0, b = 0 on images and labels, on a Dask cluster: the
    model `catclf.train` makes of the same examples, with its iterates (up to float
    rounding in the order of the sums).

    images is a Dask array of uint8 pixels (n, 64, 64, 3), chunked along its first axis
    (a chunk along the others is joined first); labels n labels of 0 or 1 (the second
    class, cat), a numpy or Dask array (n,) or (1, n). learning_rate, num_iterations and
    l2 are `catclf.train`'s, checked by the same rules (`catclf.parameters`); progress
    watches the "training" task, one step per iteration with its cost. client is the
    dask.distributed Client to run on (None: the current one). origin names the data in
    errors and in the model (its train_data).

    The chunks are held on the workers, as uint8, for the whole run; every iteration sends
    w out and takes back sums of 12288 numbers. Raises ClusterError when there is no
    client, or when a worker holding a chunk leaves the cluster during the run; DataError
    for images or labels of the wrong form, or of one class only; TrainingDiverged as
    `catclf.train` does; ParameterError for a setting outside what catclf allows.
    """
    settings = Settings(learning_rate=learning_rate, num_iterations=num_iterations, l2=l2)
    if not isinstance(origin, str):
        raise ParameterError("origin", origin, "a name for the data, a str")
    client = _client(client)
    images, labels = _examples(images, labels, origin)
    what = f"{origin}: "
    pairs = zip(images.to_delayed().ravel(), labels.to_delayed().ravel(), strict=True)
    chunks = client.compute([dask.delayed(_hold, pure=False)(x, y, what) for x, y in pairs])
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run says so itself
            return _descend(client, chunks, settings, progress, origin)
    except LOST as e:
        raise ClusterError(
            f"{origin}: the Dask cluster failed during training ({_said(e)}); no model was made"
        ) from e
    finally:
        with contextlib.suppress(*LOST):  # a cluster gone has let them go already
            client.cancel(chunks)  # the images leave the workers' memory


def _descend(
    client: distributed.Client,
    chunks: list[distributed.Future],
    settings: Settings,
    progress: Progress | None,
    origin: str,
) -> Model:
    """The run of `train` on the chunks held on the workers (futures of _Chunk)."""
    held = _total(client, [client.submit(_count, c, pure=False) for c in chunks])
    m = held.m
    if held.positives in (0, m):
        only = "cat" if held.positives else "non-cat"
        raise DataError(
            f"{origin}: the training set holds only {only} examples; it needs both classes"
        )
    l2, rate = settings.l2, settings.learning_rate
    step = (progress or unwatched)("training", settings.num_iterations)
    w, b = np.zeros(N_X), 0.0
    costs: list[float] = []
    for i in range(settings.num_iterations):
        sums = _iteration(client, chunks, w, b, count=False)
        _check_same(sums, held, origin, f"iteration {i + 1} of {settings.num_iterations}")
        cost = sums.loss / m
        dw = sums.dw / m
        if l2:
            cost += l2 / (2 * m) * float(w @ w)
            dw += l2 / m * w
        check_cost(settings, i, cost)
        w -= rate * dw
        b -= rate * (sums.db / m)
        if i % COST_EVERY == 0:
            costs.append(cost)
        step(1, cost=cost)
    final = _iteration(client, chunks, w, b, count=True)
    _check_same(final, held, origin, "the final pass")
    final_cost = final.loss / m
    if l2:  # the cost the descent minimised, as its recorded costs are
        final_cost += l2 / (2 * m) * float(w @ w)
    check_trained(settings, w, b, final_cost)
    return Model(
        w=w,
        b=b,
        settings=settings,
        costs=tuple(costs),
        final_cost=final_cost,
        classes=("non-cat", "cat"),
        train_examples=m,
        train_accuracy=final.correct / m,
        test_examples=0,
        test_accuracy=None,
        train_data=origin,
        solver="primal",
        created=timestamps.now(),
    )


def _iteration(
    client: distributed.Client,
    chunks: list[distributed.Future],
    w: NDArray[np.float64],
    b: float,
    *,
    count: bool,
) -> _Sums:
    """The sums of one pass over the chunks at w and b: one task per chunk, then the tree;
    with count, the examples predicted right among them."""
    shared = _scatter(client, w)
    tasks = [client.submit(_pass, c, shared, b, count, pure=False) for c in chunks]
    return _total(client, tasks)


def _scatter(client: distributed.Client, w: NDArray[np.float64]) -> distributed.Future:
    """w sent to a worker once for all the tasks of an iteration. A worker that has just
    died may still be chosen: the scheduler, told of it within moments, chooses another
    when asked again, and the pass then finds the chunks it held made anew (`_check_same`).
    Where no worker can be reached, the error of the last try."""
    for wait in (0.1, 0.3, 1.0):
        try:
            [shared] = client.scatter([w], hash=False)
            return shared
        except CommClosedError:
            time.sleep(wait)
    [shared] = client.scatter([w], hash=False)
    return shared


def _check_same(sums: _Sums, held: _Sums, origin: str, when: str) -> None:
    """Raise ClusterError unless sums are of the chunks the run began with, all of them."""
    if sums.mark != held.mark or sums.m != held.m:
        raise ClusterError(
            f"{origin}: a Dask worker holding training images left the cluster during "
            f"{when}; no model was made"
        )


def _client(client: object) -> distributed.Client:
    """client, checked, or the current Client; ClusterError when there is none."""
    if client is None:
        try:
            return distributed.get_client()
        except ValueError as e:
            raise ClusterError(
                "no Dask client to run on: connect one first, "
                "dask.distributed.Client(scheduler address)"
            ) from e
    if not isinstance(client, distributed.Client):
        raise ParameterError("client", client, "a dask.distributed Client", said=kind_of(client))
    return client


def _examples(images: object, labels: object, origin: str) -> tuple[da.Array, da.Array]:
    """(images, labels) checked, as Dask arrays (n, 64, 64, 3) and (n,) in the same
    chunks of examples, one chunk across each image. The labels' values are checked where
    they are, on the workers (`_hold`), unless they are given in memory."""
    what = f"{origin}: "
    if not isinstance(images, da.Array):
        raise ParameterError(
            "images",
            images,
            "a Dask array of uint8 (n, 64, 64, 3) pixels (images in memory: catclf.train)",
            said=kind_of(images),
        )
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != SHAPE:
        raise DataError(
            f"{what}images are {images.dtype} {images.shape}, expected uint8 "
            f"(n, {IMAGE_SIZE}, {IMAGE_SIZE}, {CHANNELS}) pixels"
        )
    n = images.shape[0]
    if math.isnan(n):
        raise DataError(
            f"{what}the number of images is not known: images.compute_chunk_sizes() finds it"
        )
    if n == 0:
        raise DataError(f"{what}holds no images")
    pixels: da.Array = images
    if any(len(c) > 1 for c in images.chunks[1:]):
        pixels = images.rechunk({1: -1, 2: -1, 3: -1})
    rows = (pixels.chunks[0],)
    if isinstance(labels, da.Array):
        check_label_form(labels.dtype, labels.shape, n, what)
        return pixels, labels.reshape(-1).rechunk(rows)
    return pixels, da.from_array(checked_labels(labels, n, what), chunks=rows)


class _Chunk(NamedTuple):
    """A chunk of examples as its worker holds it: pixels (k, 12288) uint8, y (k,) of 0.0 /
    1.0, and mark, a number drawn as it was made: a chunk made again (its worker gone) has
    another."""

    pixels: NDArray[np.uint8]
    y: NDArray[np.float64]
    mark: int


class _Sums(NamedTuple):
    """What chunks give a pass, summed over them: the loss (m times their cost), dw times m
    (12288,), db times m, m, their positive labels, the examples predicted right, and the
    XOR of their marks, which tells whether they are still the chunks the run began with."""

    loss: float
    dw: NDArray[np.float64]
    db: float
    m: int
    positives: int
    correct: int
    mark: int


def _hold(pixels: NDArray[np.uint8], labels: Any, what: str) -> _Chunk:
    """A chunk of the images (k, 64, 64, 3) and their labels, checked, as it is held."""
    k = pixels.shape[0]
    y = checked_labels(labels, k, what).astype(np.float64)
    flat = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(k, N_X)
    # Not randomness that reaches a result: a name for this making of the chunk.
    return _Chunk(flat, y, uuid.uuid4().int)


def _count(chunk: _Chunk) -> _Sums:
    return _Sums(0.0, np.zeros(N_X), 0.0, len(chunk.y), int(chunk.y.sum()), 0, chunk.mark)


def _pass(chunk: _Chunk, w: NDArray[np.float64], b: float, count: bool) -> _Sums:
    """chunk's share of an iteration at w (12288,) and b: its loss, X dZ^T and sum(dZ), by
    a pass of `catclf.passes` on this task's thread (compiled where the worker has Numba's
    `fast` extra). With count, the examples predicted right as well."""
    with (
        np.errstate(over="ignore", invalid="ignore"),  # the client tells of a diverging run
        Pass(lambda: [chunk.pixels], chunk.y, BLOCK_COLUMNS, threads=1) as sums,
    ):
        loss, dw, db, m = sums(w * PIXEL_SCALE, b)
        correct = _correct(chunk, w, b) if count else 0
    return _Sums(loss, dw * PIXEL_SCALE, db, m, 0, correct, chunk.mark)


def _correct(chunk: _Chunk, w: NDArray[np.float64], b: float) -> int:
    """How many of chunk's examples `catclf.logistic.predict`'s rule gets right at w, b."""
    scaled = w * PIXEL_SCALE
    right = 0
    for j in range(0, len(chunk.y), BLOCK_COLUMNS):
        Z = chunk.pixels[j : j + BLOCK_COLUMNS] @ scaled + b
        right += count_correct(Z, chunk.y[j : j + BLOCK_COLUMNS])
    return right


def _add(*parts: _Sums) -> _Sums:
    first, *rest = parts
    dw = first.dw.copy()
    loss, db, m, positives, correct, mark = (
        first.loss,
        first.db,
        first.m,
        first.positives,
        first.correct,
        first.mark,
    )
    for p in rest:
        dw += p.dw
        loss, db, m = loss + p.loss, db + p.db, m + p.m
        positives, correct, mark = positives + p.positives, correct + p.correct, mark ^ p.mark
    return _Sums(loss, dw, db, m, positives, correct, mark)


def _total(client: distributed.Client, parts: list[distributed.Future]) -> _Sums:
    """The sum of the _Sums of futures parts: added up a tree of tasks on the workers to
    FAN_IN of them at most, which the client takes and adds."""
    while len(parts) > FAN_IN:
        parts = [
            client.submit(_add, *parts[i : i + FAN_IN], pure=False)
            for i in range(0, len(parts), FAN_IN)
        ]
    return _add(*client.gather(parts))


def predict_proba(
    model: Model, paths: Iterable[PathLike] | db.Bag, *, client: distributed.Client | None = None
) -> NDArray[np.float64]:
    """P(cat) of each image file, (n,) in input order, the numbers `catclf predict` and
    `model.predict_proba` give, to the last bit.

    paths is a list (or any iterable) of paths, str or os.PathLike, or a dask.bag.Bag of
    them. Each file is decoded on a worker, as `catclf.images` describes; no image comes
    back to the client, only its probability. Raises the ImageError of the first image (in
    input order) that cannot be read, as `model.predict_proba` does; `score_images` gives
    each file's error in its place instead. ClusterError when the cluster fails.
    """
    scored = _scored(model, paths, client)
    for part in scored:
        if part.errors:
            raise part.errors[0][1]
    return np.concatenate([part.p for part in scored]) if scored else np.empty(0)


def score_images(
    model: Model, paths: Iterable[PathLike] | db.Bag, *, client: distributed.Client | None = None
) -> list[float | ImageError]:
    """P(cat) of each image file, in input order, and in the place of each that cannot be
    read the ImageError that says why, as `catclf predict` reports them; paths and the
    rest as `predict_proba` takes them."""
    out: list[float | ImageError] = []
    for part in _scored(model, paths, client):
        start = len(out)
        out.extend(part.p.tolist())
        for i, error in part.errors:
            out[start + i] = error
    return out


class _Scored(NamedTuple):
    """One task's images scored: p (k,), NaN where an image could not be read, and those
    as (position in the task, ImageError); wrong, the type of an item that is not a path."""

    p: NDArray[np.float64]
    errors: list[tuple[int, ImageError]]
    wrong: str | None


def _scored(model: object, paths: object, client: object) -> list[_Scored]:
    """Each task's _Scored, in input order: the paths parted where batches of
    `Model.score_images` begin, every part decoded and scored on a worker."""
    if not isinstance(model, Model):
        raise ParameterError("model", model, "a catclf Model", said=kind_of(model))
    client = _client(client)
    named: list[tuple[int, Any]]  # (start, its paths or a future of them)
    if isinstance(paths, db.Bag):
        held = client.persist(paths)  # its partitions on the workers, until they are scored
        named = _bag_parts(client, held)
    else:
        named = _list_parts(paths)
    shared = client.scatter(model, hash=False)
    futures = [client.submit(_score, shared, part, start, pure=False) for start, part in named]
    try:
        scored: list[_Scored] = client.gather(futures)
    except LOST as e:
        raise ClusterError(f"the Dask cluster failed while scoring images ({_said(e)})") from e
    for part in scored:
        if part.wrong is not None:
            raise ParameterError(
                "paths",
                paths,
                "paths, str or os.PathLike",
                said=f"{kind_of(paths)} holding {part.wrong}",
            )
    return scored


def _list_parts(paths: object) -> list[tuple[int, list[str]]]:
    """(start, paths) of each part of a list of paths."""
    if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Iterable):
        raise ParameterError(
            "paths",
            paths,
            "a list or a dask.bag.Bag of paths",
            said=kind_of(paths),
        )
    names: list[str] = []
    for item in paths:
        if not isinstance(item, (str, os.PathLike)):
            raise ParameterError(
                "paths",
                paths,
                "paths, str or os.PathLike",
                said=f"{kind_of(paths)} holding {kind_of(item)}",
            )
        names.append(os.fspath(item))
    return [(lo, names[lo:hi]) for lo, hi in itertools.pairwise(_bounds(len(names)))]


def _bag_parts(client: distributed.Client, held: db.Bag) -> list[tuple[int, distributed.Future]]:
    """(start, future of its paths) of each part of held, a bag of paths persisted: its
    partitions cut and joined where the parts begin, on the workers; no path comes to the
    client."""
    partitions = held.to_delayed()
    lengths = client.gather(client.compute([dask.delayed(_length)(p) for p in partitions]))
    ends = [0, *itertools.accumulate(lengths)]  # partition j holds items ends[j] to ends[j + 1]
    starts, parts = [], []
    for lo, hi in itertools.pairwise(_bounds(ends[-1])):
        j = bisect.bisect_right(ends, lo) - 1
        cut, sources = [], []
        while j < len(partitions) and ends[j] < hi:
            cut.append((max(lo, ends[j]) - ends[j], min(hi, ends[j + 1]) - ends[j]))
            sources.append(partitions[j])
            j += 1
        starts.append(lo)
        parts.append(dask.delayed(_join)(cut, *sources))
    return list(zip(starts, client.compute(parts), strict=True))


def _bounds(n: int) -> list[int]:
    """Where the parts of n paths begin, and n: each at the start of a batch of
    `Model.score_images` (`batch_end`), about PATHS_PER_TASK apart."""
    bounds = [0]
    while bounds[-1] < n:
        bounds.append(min(n, batch_end(bounds[-1] + PATHS_PER_TASK - 1)))
    return bounds


def _length(partition: Iterable[Any]) -> int:
    return sum(1 for _ in partition)


def _join(cut: list[tuple[int, int]], *partitions: Sequence[Any]) -> list[Any]:
    """The items partitions[i][a:z] for each (a, z) of cut, in order."""
    return [
        item for (a, z), items in zip(cut, partitions, strict=True) for item in list(items)[a:z]
    ]


def _score(model: Model, paths: list[Any], start: int) -> _Scored:
    """The paths at start of a stream, decoded here and scored in the stream's batches."""
    for item in paths:
        if not isinstance(item, (str, os.PathLike)):
            return _Scored(np.empty(0), [], kind_of(item))
    results = list(model.score_images(_decoded(paths), start=start))
    p = np.array([r if isinstance(r, float) else math.nan for r in results])
    errors = [(i, r) for i, r in enumerate(results) if isinstance(r, ImageError)]
    return _Scored(p, errors, None)


def _decoded(paths: list[PathLike]) -> Iterator[Pixels | ImageError]:
    """Each file's pixels, or why it cannot be read, as `catclf predict` decodes it."""
    for path in paths:
        try:
            yield load_image(Path(path), os.fspath(path))
        except ImageError as e:
            yield e


def _said(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
