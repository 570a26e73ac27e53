"""difPy-exact compare stage: difPy 4.2.1's wrap-around metric (dif.py L697-717), vectorised.

The metric is `mean(square(a - b))` on uint8, so differences and squares wrap modulo 256, minimum over rotations
0/90/180 (counter-clockwise) of the image with the higher ID only. Pairs of a tile are gathered in batches and summed
over growing slices of a fixed permutation of the values; every element contributes 0..255, so a partial sum above
the threshold rules a pair out early and unrelated pairs cost a few hundred values instead of 3 x 7500. With the
'duplicates' threshold a match needs every difference to be a multiple of 16 (x*x mod 256 == 0 iff x mod 16 == 0),
i.e. equal low nibbles, which are matched by hashing in O(n).
"""

from __future__ import annotations

import dataclasses
import math
import time
from types import ModuleType

import numpy as np

from fastdiff.compare.pairing import Dims, allowed_each, allowed_pairs, shape_key
from fastdiff.compare.pairs import COMPUTED, Pairs
from fastdiff.core.options import CompareOptions
from fastdiff.core.userfn import DiffFunction
from fastdiff.thumbnails.batch import Batch

UNIT_BATCH = 16384  # (pair, rotation) units gathered at once (x slice width bytes)
FIRST_SLICE, MAX_SLICE = 256, 4096  # fewest values summed before the first pruning, and the widest slice
DENSE_FRACTION = 0.25  # a tile with at least this fraction of allowed pairs is summed densely
DENSE_BYTES = 2**22  # bytes of one dense difference chunk


def _zero_pairs(flat_a: np.ndarray, stack_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, k) with wrap-around SSE(a_i, rot_k(b_j)) == 0, i.e. equal values modulo 16, found by hashing."""
    by_nibbles: dict[bytes, list[int]] = {}
    for i, row in enumerate(flat_a & 15):
        by_nibbles.setdefault(row.tobytes(), []).append(i)
    found = [
        (i, j, k)
        for k, side in enumerate(stack_b)
        for j, row in enumerate(side & 15)
        for i in by_nibbles.get(row.tobytes(), ())
    ]
    return tuple(np.asarray(v, dtype=np.int64).reshape(-1) for v in (zip(*found) if found else ([], [], [])))


def _dense_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) wrap-around SSE of every row of a with every row of b, in row chunks of about DENSE_BYTES."""
    out = np.empty((len(a), len(b)), np.uint32)
    rows = max(1, DENSE_BYTES // max(1, b.size))
    for r in range(0, len(a), rows):
        diff = a[r : r + rows, None, :] - b[None, :, :]  # uint8: wraps modulo 256
        np.multiply(diff, diff, out=diff)  # the square wraps modulo 256 too
        diff.sum(axis=2, dtype=np.uint32, out=out[r : r + rows])
    return out


def _prune(
    flat_a: np.ndarray, stack_b: np.ndarray, units: tuple[np.ndarray, ...], start: int, width: int, threshold: float
) -> tuple[np.ndarray, ...]:
    """Continue the sums of units (i, j, k, sse over values [0, start)) over growing slices of the values, dropping
    a unit once its partial mean exceeds the threshold; return the units left, with their full sums."""
    d = flat_a.shape[1]
    done = []
    for s in range(0, max(1, len(units[0])), UNIT_BATCH):
        ui, uj, uk, sse = (u[s : s + UNIT_BATCH] for u in units)
        at, w = start, width
        while at < d and len(ui):
            end = min(d, at + w)
            diff = flat_a[ui, at:end] - stack_b[uk, uj, at:end]
            np.multiply(diff, diff, out=diff)
            sse = sse + diff.sum(axis=1, dtype=np.uint32)
            keep = sse / d <= threshold  # float64, as numpy's mean: exact sum / count
            ui, uj, uk, sse = ui[keep], uj[keep], uk[keep], sse[keep]
            at, w = end, min(2 * w, MAX_SLICE)
        done.append((ui, uj, uk, sse))
    return tuple(np.concatenate([u[c] for u in done]) for c in range(4))


def _tile_matches(
    flat_a: np.ndarray, stack_b: np.ndarray, ia: np.ndarray, ib: np.ndarray, mask: np.ndarray, threshold: float
) -> tuple[np.ndarray, ...]:
    """Units (i, j, k, sse) of the allowed pairs of a tile whose full wrap-around mean is <= threshold.

    The first slice of values is summed for all pairs of a dense tile at once (row chunks x all columns, no gather);
    a sparse tile gathers its pairs instead. Survivors continue in _prune.
    """
    d, rotations = flat_a.shape[1], stack_b.shape[0]
    width = min(d, max(FIRST_SLICE, 1 << math.ceil(math.log2(max(1.0, threshold * d / 100)))))
    ri, rj = np.nonzero(mask)
    if len(ri) >= DENSE_FRACTION * mask.size:
        a = flat_a[ia, :width]
        sums = [_dense_sums(a, stack_b[k][ib, :width])[ri, rj].astype(np.int64) for k in range(rotations)]
        sse = np.concatenate(sums)
        units = (np.tile(ia[ri], rotations), np.tile(ib[rj], rotations), np.repeat(np.arange(rotations), len(ri)), sse)
        keep = sse / d <= threshold
        return _prune(flat_a, stack_b, tuple(u[keep] for u in units), width, 2 * width, threshold)
    units = (
        np.repeat(ia[ri], rotations),
        np.repeat(ib[rj], rotations),
        np.tile(np.arange(rotations), len(ri)),
        np.zeros(len(ri) * rotations, np.int64),
    )
    return _prune(flat_a, stack_b, units, 0, width, threshold)


def _per_pair_minimum(i: np.ndarray, j: np.ndarray, mse: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, ...]:
    """One row per pair (i, j): its smallest mse over the rotations, and the first rotation reaching it."""
    first = np.lexsort((rot, mse, j, i))
    if len(first):
        first = first[np.r_[True, (np.diff(i[first]) != 0) | (np.diff(j[first]) != 0)]]
    return i[first], j[first], mse[first], rot[first]


def compare_blocks(
    a: Batch,
    b: Batch,
    opts: CompareOptions,
    same_block: bool,
    xp: ModuleType = np,
    diff: DiffFunction | None = None,
) -> Pairs:
    """difPy's matches among the pairs of a x b (key_a < key_b; the image with the higher key is rotated).

    The signature is `fastdiff.compare.blocks.compare_blocks`'s; difPy's metric runs on the CPU (xp is not used) and
    replaces any user difference (the config refuses diff functions in this mode).

    Raises
    ------
    ValueError
        If a and b are different blocks and not every key of a is below every key of b (difPy's rotation rule).
    """
    started = time.time()
    opts = dataclasses.replace(opts, match_aspect_by=None)  # difPy knows only same_dim
    if not same_block and len(a.keys) and len(b.keys) and a.keys.max() >= b.keys.min():
        raise ValueError("difPy's rotation rule needs every key of block a below every key of block b")
    d = int(np.prod(a.thumbs.shape[1:]))
    flat_a = a.thumbs.reshape(len(a.keys), d)
    stack_b = np.stack(
        [np.rot90(b.thumbs, k, axes=(1, 2)).reshape(len(b.keys), d) for k in range(3 if opts.rotate else 1)]
    )
    dims_a, dims_b = Dims.of(np, a, a.keys), Dims.of(np, b, b.keys)  # difPy pairs images in key order
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # (ia, ib, mse, rotation)
    if not 1 / d <= opts.threshold:  # only a zero sum matches
        ia, ib, rot = _zero_pairs(flat_a, stack_b)
        ok = allowed_each(np, dims_a, ia, dims_b, ib, opts, same_block)
        found.append(_per_pair_minimum(ia[ok], ib[ok], np.zeros(int(ok.sum())), rot[ok]))
    else:
        perm = np.random.default_rng(0).permutation(d)  # any order is exact; a spread one prunes sooner
        flat_a, stack_b = flat_a[:, perm], stack_b[:, :, perm]
        order_a = np.argsort(shape_key(a, opts), kind="stable")
        order_b = np.argsort(shape_key(b, opts), kind="stable")
        t = opts.tile(on_gpu=False)
        for ta in range(0, len(order_a), t):
            for tb in range(0, len(order_b), t):
                ia, ib = order_a[ta : ta + t], order_b[tb : tb + t]
                mask = allowed_pairs(np, dims_a, ia, dims_b, ib, opts, same_block)
                if mask.any():
                    ui, uj, uk, sse = _tile_matches(flat_a, stack_b, ia, ib, mask, opts.threshold)
                    found.append(_per_pair_minimum(ui, uj, sse / d, uk))
    ia, ib, mse, rot = (np.concatenate([f[c] for f in found]) if found else np.zeros(0) for c in range(4))
    key_a, key_b = a.keys[ia.astype(np.int64)], b.keys[ib.astype(np.int64)]
    order = np.lexsort((key_b, key_a))
    return Pairs(
        key_a=key_a[order],
        key_b=key_b[order],
        mse=mse[order].astype(np.float64),
        rotation=rot[order].astype(np.int8),
        kind=np.full(len(order), COMPUTED, np.int8),
        started=started,
        finished=time.time(),
    )
