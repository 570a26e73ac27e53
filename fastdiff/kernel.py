"""All-pairs thumbnail MSE, written once against an array module (numpy, or cupy on a GPU).

MSE(a, b) = (|a|^2 + |b|^2 - 2 a.b) / d over the d = px*px*3 values, minimum over the rotations of b.
The product a.b runs as float32 matrix products over chunks of at most CHUNK values of thumbnails
centred at 128: every term is an integer of magnitude <= 2**14, so every partial sum of a chunk is an
integer <= 2**24 and therefore exact in float32 whatever the summation order. Only the additions of the
chunk results round; the filter keeps every pair within a proven margin of the threshold, and the few
candidates are then recomputed exactly (float64 dot products of those integers, every partial sum exact), so
results equal the brute-force definition bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

CHUNK = 1024
REFINE_BATCH = 256
# exact sums of many candidates through one product of their images (exact_sse_auto): when the pairs cover at least
# 1 / PRODUCT of their images' combinations (a pair costs about 50 us alone, 0.5-2 us inside a product on 2 cores)
# and each side has at most PRODUCT_SIDE images (the product's memory)
PRODUCT = 24
PRODUCT_SIDE = 512
# products with at most this many results run as einsum loops: through a multithreaded BLAS they wait for its
# threads (28 ms measured for 16 x 64 x 1024 on 2 busy cores, 0.13 ms as einsum)
SMALL_PRODUCT = 2**15


@dataclass
class Side:
    """One side of a block comparison on the array module's device."""

    centred: Any  # float32 (r, n, d): rotations of the flattened thumbnails minus 128 (r = 1 or 4)
    sq_norm: Any  # int64 (n,) exact squared norm of the centred thumbnails


def prepare(xp: ModuleType, thumbs: Any, rotations: int) -> Side:
    """Thumbnails (n, px, px, 3) uint8 on the array module's device, with `rotations` (1 or 4) rotated copies."""
    n = thumbs.shape[0]
    dev = xp.asarray(thumbs)
    rotated = xp.stack([xp.rot90(dev, k, axes=(1, 2)).reshape(n, -1) for k in range(rotations)])
    centred = xp.subtract(rotated, 128, dtype=xp.float32)
    c32 = rotated[0].astype(xp.int32) - 128
    sq_norm = (c32 * c32).sum(axis=1, dtype=xp.int64)
    return Side(centred, sq_norm)


def _ulp(x: float) -> float:
    """Spacing of float32 numbers at magnitude x (an upper bound for all smaller magnitudes)."""
    return 2.0 ** (np.ceil(np.log2(max(x, 1.0))) - 23)


def filter_margin(d: int) -> float:
    """Upper bound on |computed - exact| of the filter quantity below (in units of the dot product)."""
    n_chunks = -(-d // CHUNK)
    largest = 2.0 * (2**14) * d  # bound on |dot| and on (|a|^2 + |b|^2) / 2 of centred values
    return (n_chunks + 4) * _ulp(largest)


def dot_max(xp: ModuleType, a: Side, b: Side, rotations: int | None = None) -> Any:
    """Approximate max over the first `rotations` (default: all) rotations of b of a.rot(b) for all pairs, float32
    (n, m).

    The rotations of b are stacked into one (r*m, d) matrix so each chunk is one large product.
    """
    r = rotations or b.centred.shape[0]
    _, m, d = b.centred.shape
    stacked = b.centred[:r].reshape(r * m, d)
    acc = None
    for s in range(0, d, CHUNK):
        part = a.centred[0, :, s : s + CHUNK] @ stacked[:, s : s + CHUNK].T
        acc = part if acc is None else xp.add(acc, part, out=acc)
    return acc.reshape(-1, r, m).max(axis=1)


# SSE(a, rot90(b, k)) = SSE(b, rot90(a, -k)): seen from b, the rotations k = 0, 1, 2, 3 are the columns 0, 3, 2, 1
FROM_B = [0, 3, 2, 1]


def _pick(xp: ModuleType, sse: Any, reverse: Any) -> tuple[Any, Any]:
    """The minimum over rotations of sse (int64 (p, r)) and the first rotation reaching it, seen from b where
    reverse (bool (p,) or None): the tie rule of exact_sse."""
    if reverse is not None and sse.shape[1] == 4:
        sse = xp.where(reverse[:, None], sse[:, FROM_B], sse)
    rot = sse.argmin(axis=1)
    return sse[xp.arange(len(rot)), rot], rot.astype(xp.int8)


def exact_sse(xp: ModuleType, a: Side, b: Side, ia: Any, ib: Any, reverse: Any = None) -> tuple[Any, Any]:
    """Exact minimum SSE over rotations (int64) and the first rotation k reaching it, for pairs (ia[t], ib[t]).

    SSE = |a|^2 + |b|^2 - 2 a.rot(b) on the centred values: each product is at most 2**14 in magnitude, so every
    partial sum of a float64 dot product is an integer below 2**53 (for any d < 2**39) and exact in any order.
    Where reverse[t], the pair is seen from b: k is the first rotation of a with SSE(b, rot90(a, k)) minimal, so that
    ties between rotations resolve the same way whichever side a pair's images were on."""
    out_sse, out_rot = [], []
    for s in range(0, len(ia), REFINE_BATCH):
        pa, pb = ia[s : s + REFINE_BATCH], ib[s : s + REFINE_BATCH]
        va = a.centred[0][pa].astype(xp.float64)
        norms = a.sq_norm[pa] + b.sq_norm[pb]
        sse = xp.stack(
            [norms - 2 * xp.einsum("ij,ij->i", va, rot[pb].astype(xp.float64)).astype(xp.int64) for rot in b.centred],
            axis=1,
        )
        sse, rot = _pick(xp, sse, None if reverse is None else reverse[s : s + REFINE_BATCH])
        out_sse.append(sse)
        out_rot.append(rot)
    if not out_sse:
        return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
    return xp.concatenate(out_sse), xp.concatenate(out_rot)


def exact_dots(xp: ModuleType, a: Side, b: Side) -> Any:
    """Exact a.rot_k(b) for every pair and rotation of b: float64 (n, r, m) holding integers.

    Each chunk of at most CHUNK values is one float32 product whose partial sums are integers of magnitude
    <= CHUNK * 2**14 = 2**24, exact in float32 whatever the order; the chunk results are integers added in float64
    (magnitude < 2**53), exact too. The same numbers as exact_sse's dot products, at matrix-product speed."""
    r, m, d = b.centred.shape
    n = a.centred.shape[1]
    stacked = b.centred.reshape(r * m, d)
    acc = xp.zeros((n, r * m), xp.float64)
    for s in range(0, d, CHUNK):
        x, y = a.centred[0, :, s : s + CHUNK], stacked[:, s : s + CHUNK]
        acc += xp.einsum("ik,jk->ij", x, y) if n * r * m <= SMALL_PRODUCT else x @ y.T
    return acc.reshape(-1, r, m)


def exact_sse_product(xp: ModuleType, a: Side, b: Side, ia: Any, ib: Any, reverse: Any = None) -> tuple[Any, Any]:
    """exact_sse through one exact product of all of a by all of b (exact_dots): equal results, cheaper when the
    pairs (ia[t], ib[t]) cover a good part of a x b."""
    if len(ia) == 0:
        return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
    dots = exact_dots(xp, a, b)[ia, :, ib].astype(xp.int64)  # (p, r): the advanced indices come first
    return _pick(xp, (a.sq_norm[ia] + b.sq_norm[ib])[:, None] - 2 * dots, reverse)


def exact_sse_auto(xp: ModuleType, a: Side, b: Side, ia: Any, ib: Any, reverse: Any = None) -> tuple[Any, Any]:
    """exact_sse (the same numbers), through exact_sse_product on the images involved when the pairs are many among
    few images (PRODUCT, PRODUCT_SIDE): clusters of near copies."""
    if len(ia) == 0:
        return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
    ua, la = xp.unique(ia, return_inverse=True)
    ub, lb = xp.unique(ib, return_inverse=True)
    if len(ua) * len(ub) > PRODUCT * len(ia) or max(len(ua), len(ub)) > PRODUCT_SIDE:
        return exact_sse(xp, a, b, ia, ib, reverse)
    sub_a = Side(a.centred[:1, ua], a.sq_norm[ua]) if len(ua) < a.centred.shape[1] else a
    sub_b = Side(b.centred[:, ub], b.sq_norm[ub]) if len(ub) < b.centred.shape[1] else b
    return exact_sse_product(xp, sub_a, sub_b, la.reshape(-1), lb.reshape(-1), reverse)


def compare_tile(
    xp: ModuleType, a: Side, b: Side, allowed: Any, threshold: float, reverse: Any = None, symmetric: bool = False
) -> tuple[Any, Any, Any, Any]:
    """Pairs (i, j) with allowed[i, j] and MSE <= threshold: returns (i, j, mse float64, rotation int8); where
    reverse[i, j] the rotation is seen from b (exact_sse).

    symmetric: a and b hold the same thumbnails in the same order (a tile on the diagonal of a block compared with
    itself). Since a.rot_k(b) = b.rot_-k(a), the products of rotations 0-2 at (i, j) and at (j, i) cover all four
    rotations of the pair, so the filter multiplies 3 rotations instead of 4.
    """
    d = a.centred.shape[2]
    if symmetric and b.centred.shape[0] == 4:
        dots = dot_max(xp, a, b, rotations=3)
        dots = xp.maximum(dots, dots.T)
    else:
        dots = dot_max(xp, a, b)
    # MSE <= t  <=>  dot >= (|a|^2 + |b|^2 - t*d) / 2 ; keep everything within the proven margin.
    need = (a.sq_norm[:, None].astype(xp.float32) + b.sq_norm[None, :].astype(xp.float32)) * 0.5
    need -= np.float32(threshold * d * 0.5 + filter_margin(d))
    ia, ib = xp.nonzero((dots >= need) & allowed)
    sse, rot = exact_sse_auto(xp, a, b, ia, ib, None if reverse is None else reverse[ia, ib])
    mse = sse.astype(xp.float64) / d
    keep = mse <= threshold
    return ia[keep], ib[keep], mse[keep], rot[keep]
