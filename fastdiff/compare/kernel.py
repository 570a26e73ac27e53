"""All-pairs thumbnail MSE, written once against an array module (numpy, or cupy on a GPU).

MSE(a, b) = (|a|^2 + |b|^2 - 2 a.b) / d over the d = px*px*3 values, minimum over the symmetries T_k of b
(`transform`: the rotations k = 0..3, and with mirror the flipped rotations k = 4..7; `symmetries`).
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

from fastdiff.core.symmetry import INVERSE, codes_of, transform

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


def stack_order(codes: tuple[int, ...]) -> tuple[int, ...]:
    """The codes in the order `prepare` stacks them: first a subset that covers all of them together with its
    inverses (codes whose inverse comes earlier go last), so that a diagonal tile multiplies a prefix only."""
    head = [k for i, k in enumerate(codes) if INVERSE[k] not in codes[:i]]
    return tuple(head + [k for k in codes if k not in head])


def covering(codes: tuple[int, ...]) -> int:
    """How many leading codes of stack_order(codes) cover every code up to inversion (3 of 4, 7 of 8)."""
    return sum(1 for i, k in enumerate(codes) if INVERSE[k] not in codes[:i])


@dataclass
class Side:
    """One side of a block comparison on the array module's device."""

    centred: Any  # float32 (r, n, d): the symmetries T_codes[s] of the flattened thumbnails minus 128
    sq_norm: Any  # int64 (n,) exact squared norm of the centred thumbnails
    codes: tuple[int, ...] = (0,)  # the symmetry code of each row of centred (stack_order)


def prepare(xp: ModuleType, thumbs: Any, symmetry: int | tuple[int, ...]) -> Side:
    """Thumbnails (n, px, px, 3) uint8 on the array module's device, with a transformed copy for each symmetry
    (codes, or a count of rotations: 1 or 4), stacked in `stack_order`."""
    n = thumbs.shape[0]
    dev = xp.asarray(thumbs)
    codes = stack_order(codes_of(symmetry))
    rotated = xp.stack([transform(xp, dev, k).reshape(n, -1) for k in codes])
    centred = xp.subtract(rotated, 128, dtype=xp.float32)
    c32 = rotated[0].astype(xp.int32) - 128
    sq_norm = (c32 * c32).sum(axis=1, dtype=xp.int64)
    return Side(centred, sq_norm, codes)


def _ulp(x: float) -> float:
    """Spacing of float32 numbers at magnitude x (an upper bound for all smaller magnitudes)."""
    return 2.0 ** (np.ceil(np.log2(max(x, 1.0))) - 23)


def filter_margin(d: int) -> float:
    """Upper bound on |computed - exact| of the filter quantity below (in units of the dot product)."""
    n_chunks = -(-d // CHUNK)
    largest = 2.0 * (2**14) * d  # bound on |dot| and on (|a|^2 + |b|^2) / 2 of centred values
    return (n_chunks + 4) * _ulp(largest)


def dot_max(xp: ModuleType, a: Side, b: Side, rotations: int | None = None) -> Any:
    """Approximate max over the first `rotations` (default: all) symmetries of b of a.T(b) for all pairs, float32
    (n, m).

    The symmetries of b are stacked into one (r*m, d) matrix so each chunk is one large product.
    """
    r = rotations or b.centred.shape[0]
    _, m, d = b.centred.shape
    stacked = b.centred[:r].reshape(r * m, d)
    acc = None
    for s in range(0, d, CHUNK):
        part = a.centred[0, :, s : s + CHUNK] @ stacked[:, s : s + CHUNK].T
        acc = part if acc is None else xp.add(acc, part, out=acc)
    return acc.reshape(-1, r, m).max(axis=1)


# SSE(a, T_k b) = SSE(b, T_k^-1 a): seen from b, the symmetries k = 0..7 are the columns INVERSE[k]
FROM_B = list(INVERSE)


def _pick(xp: ModuleType, sse: Any, reverse: Any, codes: tuple[int, ...]) -> tuple[Any, Any]:
    """The minimum over the symmetries of sse (int64 (p, r), one column per code of `codes`) and the first code
    reaching it, seen from b where reverse (bool (p,) or None): the tie rule of exact_sse."""
    by_code = sorted(codes)
    sse = sse[:, [codes.index(k) for k in by_code]] if list(codes) != by_code else sse
    if reverse is not None and len(codes) > 1:
        sse = xp.where(reverse[:, None], sse[:, [by_code.index(INVERSE[k]) for k in by_code]], sse)
    col = sse.argmin(axis=1)
    code = xp.asarray(np.asarray(by_code, np.int8))[col]
    return sse[xp.arange(len(col)), col], code


def exact_sse(xp: ModuleType, a: Side, b: Side, ia: Any, ib: Any, reverse: Any = None) -> tuple[Any, Any]:
    """Exact minimum SSE over the symmetries of b (int64) and the first code k reaching it, for pairs (ia[t], ib[t]).

    SSE = |a|^2 + |b|^2 - 2 a.T(b) on the centred values: each product is at most 2**14 in magnitude, so every
    partial sum of a float64 dot product is an integer below 2**53 (for any d < 2**39) and exact in any order.
    Where reverse[t], the pair is seen from b: k is the first code with SSE(b, T_k a) minimal, so that
    ties between symmetries resolve the same way whichever side a pair's images were on."""
    out_sse, out_rot = [], []
    for s in range(0, len(ia), REFINE_BATCH):
        pa, pb = ia[s : s + REFINE_BATCH], ib[s : s + REFINE_BATCH]
        va = a.centred[0][pa].astype(xp.float64)
        norms = a.sq_norm[pa] + b.sq_norm[pb]
        sse = xp.stack(
            [norms - 2 * xp.einsum("ij,ij->i", va, rot[pb].astype(xp.float64)).astype(xp.int64) for rot in b.centred],
            axis=1,
        )
        sse, rot = _pick(xp, sse, None if reverse is None else reverse[s : s + REFINE_BATCH], b.codes)
        out_sse.append(sse)
        out_rot.append(rot)
    if not out_sse:
        return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
    return xp.concatenate(out_sse), xp.concatenate(out_rot)


def exact_dots(xp: ModuleType, a: Side, b: Side) -> Any:
    """Exact a.T(b) for every pair and symmetry of b (b.codes): float64 (n, r, m) holding integers.

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
    return _pick(xp, (a.sq_norm[ia] + b.sq_norm[ib])[:, None] - 2 * dots, reverse, b.codes)


def exact_sse_auto(xp: ModuleType, a: Side, b: Side, ia: Any, ib: Any, reverse: Any = None) -> tuple[Any, Any]:
    """exact_sse (the same numbers), through exact_sse_product on the images involved when the pairs are many among
    few images (PRODUCT, PRODUCT_SIDE): clusters of near copies."""
    if len(ia) == 0:
        return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
    ua, la = xp.unique(ia, return_inverse=True)
    ub, lb = xp.unique(ib, return_inverse=True)
    if len(ua) * len(ub) > PRODUCT * len(ia) or max(len(ua), len(ub)) > PRODUCT_SIDE:
        return exact_sse(xp, a, b, ia, ib, reverse)
    sub_a = Side(a.centred[:1, ua], a.sq_norm[ua], a.codes[:1]) if len(ua) < a.centred.shape[1] else a
    sub_b = Side(b.centred[:, ub], b.sq_norm[ub], b.codes) if len(ub) < b.centred.shape[1] else b
    return exact_sse_product(xp, sub_a, sub_b, la.reshape(-1), lb.reshape(-1), reverse)


def compare_tile(
    xp: ModuleType, a: Side, b: Side, allowed: Any, threshold: float, reverse: Any = None, symmetric: bool = False
) -> tuple[Any, Any, Any, Any]:
    """Pairs (i, j) with allowed[i, j] and MSE <= threshold: returns (i, j, mse float64, symmetry code int8); where
    reverse[i, j] the code is seen from b (exact_sse).

    symmetric: a and b hold the same thumbnails in the same order (a tile on the diagonal of a block compared with
    itself). Since a.T_k(b) = b.T_k^-1(a), the products of the leading `covering` symmetries (rotations 0-2, and the
    four flipped ones, which are their own inverses) at (i, j) and at (j, i) cover every symmetry of the pair, so the
    filter multiplies 3 rotations instead of 4, or 7 symmetries instead of 8.
    """
    d = a.centred.shape[2]
    head = covering(b.codes)
    if symmetric and head < len(b.codes):
        dots = dot_max(xp, a, b, rotations=head)
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
