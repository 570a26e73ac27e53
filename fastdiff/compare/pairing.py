"""Pairing rules shared by both compare implementations: which pairs of two blocks are compared at all, and in which
order a pair's two images stand.

Every function takes the array module `xp` (numpy, or cupy on a GPU) and returns boolean masks on its device.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from fastdiff.core.options import CompareOptions
from fastdiff.thumbnails.batch import Batch


@dataclass
class Dims:
    """What the pair filters need of one block, on the host or on the device.

    Attributes
    ----------
    rank : array of int64, shape (n,)
        Order of the images (pair_ranks).
    long, short : arrays of int64, shape (n,)
        Longer and shorter side of each original image, in pixels.
    """

    rank: Any
    long: Any
    short: Any

    @classmethod
    def of(cls, xp: ModuleType, block: Batch, rank: np.ndarray) -> Dims:
        """The dims of a block's images on the array module's device."""
        return cls(
            xp.asarray(rank),
            xp.asarray(np.maximum(block.height, block.width)),
            xp.asarray(np.minimum(block.height, block.width)),
        )


def shape_key(block: Batch, opts: CompareOptions) -> np.ndarray:
    """A sort key, shape (n,), that puts images the size rules let meet next to each other, so that tiles without
    any allowed pair are skipped."""
    long_side = np.maximum(block.height, block.width)
    short_side = np.minimum(block.height, block.width)
    if opts.same_dim or opts.match_aspect_by == 0:
        return long_side * (1 << 32) + short_side
    if opts.match_aspect_by is not None:
        return long_side / np.maximum(short_side, 1)
    return np.zeros(len(block.keys))


def pair_ranks(a: Batch, b: Batch, same_block: bool, two_partitions: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the images of a and b in the index order of a run from scratch.

    Paths are sorted inside a section, and partition A comes before B. Every pair is compared and stored in this
    order, whatever the keys, so that the pairs of an incremental run (`fastdiff.index.layout`) equal those of a run
    from
    scratch, rotations included.

    Returns
    -------
    rank_a, rank_b : arrays of int64, shapes (len(a.keys),) and (len(b.keys),)
    """
    if two_partitions:
        return np.arange(len(a.keys)), len(a.keys) + np.arange(len(b.keys))
    paths = a.paths if same_block else np.concatenate([a.paths, b.paths])
    rank = np.empty(len(paths), np.int64)
    rank[np.argsort(paths, kind="stable")] = np.arange(len(paths))
    return (rank, rank) if same_block else (rank[: len(a.keys)], rank[len(a.keys) :])


def ordered_pairs(xp: ModuleType, a: Dims, ia: Any, b: Dims, ib: Any, same_block: bool) -> Any:
    """Boolean (len(ia), len(ib)): the pairs to consider at all (each pair once inside one block)."""
    return a.rank[ia][:, None] < b.rank[ib][None, :] if same_block else xp.ones((len(ia), len(ib)), bool)


def compatible_pairs(xp: ModuleType, a: Dims, ia: Any, b: Dims, ib: Any, opts: CompareOptions) -> Any:
    """Boolean (len(ia), len(ib)): the pairs that same_dim and match_aspect_by allow to be compared."""
    return _compatible(xp, a.long[ia][:, None], a.short[ia][:, None], b.long[ib][None, :], b.short[ib][None, :], opts)


def _compatible(xp: ModuleType, la: Any, sa: Any, lb: Any, sb: Any, opts: CompareOptions) -> Any:
    """same_dim / match_aspect_by on long and short sides of broadcastable shapes."""
    mask = xp.ones(np.broadcast_shapes(la.shape, lb.shape), bool)
    if opts.same_dim or opts.match_aspect_by == 0:  # same dimensions, or transposed (difPy / Fast-Diff-Py)
        mask &= (la == lb) & (sa == sb)
    if opts.match_aspect_by:  # aspect ratios within a factor
        ra, rb = la / xp.maximum(sa, 1), lb / xp.maximum(sb, 1)
        mask &= (ra * opts.match_aspect_by >= rb) & (rb >= ra / opts.match_aspect_by)
    return mask


def allowed_pairs(xp: ModuleType, a: Dims, ia: Any, b: Dims, ib: Any, opts: CompareOptions, same_block: bool) -> Any:
    """Boolean (len(ia), len(ib)): which pairs are compared (ordered_pairs and compatible_pairs)."""
    return ordered_pairs(xp, a, ia, b, ib, same_block) & compatible_pairs(xp, a, ia, b, ib, opts)


def allowed_each(xp: ModuleType, a: Dims, ia: Any, b: Dims, ib: Any, opts: CompareOptions, same_block: bool) -> Any:
    """Boolean (len(ia),): allowed_pairs for the listed pairs (ia[t], ib[t]) instead of all combinations."""
    ok = _compatible(xp, a.long[ia], a.short[ia], b.long[ib], b.short[ib], opts)
    if same_block:
        ok &= a.rank[ia] < b.rank[ib]
    return ok
