"""Which examples are held out of training: a validation part, and the folds of a
cross-validation. Pure numpy on each example's place in [0, 1) and its label; no data is
read here.

An example is placed by what it is, never by chance or by its position: its fraction is
`stable_fraction` of its pixels, the SHA-256 of its 64 x 64 x 3 bytes (rows, columns,
channels, as `image.tobytes()` gives them) placed in [0, 1), the hash with which `catclf
prepare` places a photo by its path. So the same data gives the same split whatever its
order, its file names or its form (photos, or the course file `catclf prepare` made of
them), and identical images always fall on the same side: no held-out example is also
trained on. Pixels rather than names, since names say where an example is
("train_catvnoncat.h5[17]" changes with the file's place and the example's row), not what
it is.

Within each class the examples are put in the order of their fractions, identical images
together as one, and then
- `held_out` holds out the first round(fraction * n) of a class's n examples (at least
  one, never all): the low end of the hash order, as prepare's test set is, but cut at a
  count rather than at the fraction, so that each class gives exactly its share;
- `fold_numbers` deals them in turn into the folds, the turn running on from one class to
  the next: each fold holds its share of each class to within one example, and the folds'
  sizes differ by at most one (identical images, dealt as one, can add to that).
Adding an example moves at most one other across a validation line, and reshuffles the
folds only of the examples after it in its class's order.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

from catclf.errors import DataError


def stable_fraction(key: bytes) -> float:
    """Where key falls in [0, 1): the first 8 bytes of its SHA-256, big-endian, over 2**64.
    The same key gives the same fraction on any machine, in any run."""
    digest = hashlib.sha256(key).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _ranked_groups(
    fractions: NDArray[np.float64], members: NDArray[np.intp]
) -> list[NDArray[np.intp]]:
    """members (positions) in the order of their fractions, those of equal fraction (the
    same image) together as one group; each group in increasing position."""
    order = members[np.argsort(fractions[members], kind="stable")]
    ranked = fractions[order]
    return np.split(order, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1)


def held_out(
    fractions: NDArray[np.float64], labels: NDArray[np.int64], fraction: float
) -> NDArray[np.bool_]:
    """Which of m examples, of fractions (m,) and labels (m,) of 0 / 1, are held out: (m,)
    bool. Of each class of n >= 2 examples, the round(fraction * n) (at least 1, at most
    n - 1) first in the order of their fractions; a class of a single example is never held
    out. fraction is between 0 and 1."""
    held = np.zeros(labels.size, dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        n = members.size
        if n < 2:
            continue
        share = min(max(math.floor(fraction * n + 0.5), 1), n - 1)
        taken = 0
        for group in _ranked_groups(fractions, members):
            # Never all of a class: the training part keeps at least one.
            if taken >= share or taken + group.size > n - 1:
                break
            held[group] = True
            taken += group.size
    return held


def fold_numbers(
    fractions: NDArray[np.float64],
    labels: NDArray[np.int64],
    folds: int,
    classes: tuple[str, str],
    origin: str,
) -> NDArray[np.intp]:
    """The fold, 0 to folds - 1, of each of m examples of fractions (m,) and labels (m,):
    (m,), dealt in the order of their fractions class by class. Raises DataError, naming
    origin and the class (classes: negative name, positive name), when a fold would hold
    no example or its complement miss a class (a class needs 2 different images)."""
    assignment = np.empty(labels.size, dtype=np.intp)
    turn = 0
    for label in (0, 1):
        groups = _ranked_groups(fractions, np.flatnonzero(labels == label))
        if len(groups) < 2:
            found = (
                "no image"
                if not groups
                else "a single image"
                if groups[0].size == 1
                else f"{groups[0].size} copies of one image"
            )
            raise DataError(
                f"{origin}: cross-validation needs at least 2 different images of each "
                f"class; {classes[label]!r} has {found}"
            )
        for group in groups:
            assignment[group] = turn % folds
            turn += 1
    if turn < folds:
        raise DataError(f"{origin}: {turn} different images cannot fill {folds} folds; use fewer")
    return assignment
