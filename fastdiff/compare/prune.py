"""Exact pruning of the all-pairs compare: integer lower bounds on the SSE discard most pairs before the kernel.

Bounds (all on SSE(a, b) = sum over the d = px*px*3 values of (a - b)^2, integers a, b in 0..255).

* Partition bound. For any partition of the d positions into groups G with integer sums S_G,
  Cauchy-Schwarz gives (S_G(a) - S_G(b))^2 = (sum_G (a - b))^2 <= |G| * sum_G (a - b)^2, hence
  SSE(a, b) >= sum_G (S_G(a) - S_G(b))^2 / |G|. A finer partition never gives a smaller bound.
* Band. The partition into one group gives SSE >= (S(a) - S(b))^2 / d, i.e. MSE >= (mean_a - mean_b)^2: with the
  images sorted by S, the candidates of an image lie in a band of S of half-width sqrt(threshold * d * d).
* Channel means. The partition into the 3 colour channels (d / 3 values each), the same for every rotation.
* Grid. The groups are the cells of a g x g grid of each colour channel, with cut points closed under x -> px - x
  (`grid_cuts`). rot90 maps such a grid onto itself, so the cell sums of rot90(b, k) are rot90 of the cell sums of
  b, with equal cell sizes: the bound of (a, rot90(b, k)) costs K = 3 g^2 products, not d, for each rotation, and
  min over k of the bound is <= min over k of the SSE, the quantity compared with the threshold. The cuts being
  closed under x -> px - x, fliplr maps the grid onto itself too: with mirror the same holds for the eight
  symmetries T_k (`fastdiff.compare.kernel.transform`), applied to the cell sums.

Exactness of the arithmetic (u = 2**-53, the float64 unit round-off).

* Sums: every S_G is an integer <= 255 d < 2**53 computed in float64, exact in any summation order.
* Threshold: a pair is a match when fl(sse / d) <= t, which implies sse <= t d (1 + 2u). `limit` =
  fl(t d (1 + 2**-30)) + margin is above that, so a pair is discarded only when its computed bound exceeds `limit`.
* Band and channel means: differences of integer sums are exact, and their squares, sums of 3 and scaling add a
  relative error <= 6u (all terms are non-negative), far inside the 2**-30 slack.
* Grid: the bound is computed as n_a + n_b - 2 c, with n = sum_G S_G^2 / |G| and c = sum_G S_G(a) S_G(b) / |G|;
  each of these sums of K terms is within gamma_(K+4) (sum of the absolute terms) of its value (standard dot product
  error, any order, FMA or not), and the absolute terms add up to at most 255^2 d each (S_G <= 255 |G|). The
  computed bound is therefore within `grid_margin` = 4 * 255^2 d * 2 (K + 6) u of the exact bound, and `limit`
  includes that margin.

The cascade: tiles outside the band are skipped (the images are sorted by sum); inside a tile each strip of SUB rows
meets only the range of columns (sorted by sum) within the band of its sums, where the channel bound is evaluated,
and the grid bound for the pairs it leaves.
Pairs left by the bounds are computed exactly (`fastdiff.compare.kernel.exact_sse`, with its tie rules between
rotations) when they are few, or by the kernel's GEMM filter restricted to them when they are many (`DENSE`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from fastdiff.compare import hash_join, kernel
from fastdiff.core.cells import GRID, SUM_CHUNK, cell_sums, image_cuts
from fastdiff.core.device import to_host
from fastdiff.core.symmetry import codes_of, transform

log = logging.getLogger(__name__)

SUB = 128  # rows of a tile's strips, each compared with the columns inside its band
DENSE = 0.02  # survivors per pair of a tile above which the GEMM filter is cheaper than the bounds and exact sums
PROBE = 512  # pairs of a tile on which the bounds are tried first (`Pruner.probe`) ...
PROBE_MIN = 2**15  # ... when it has at least this many pairs
GRID_BATCH = 8192  # pairs whose grid bound is computed at a time


def grid_margin(d: int, cells: int) -> float:
    """Upper bound on |computed - exact| of the grid bound in SSE units (module docstring), for `cells` groups."""
    return 4.0 * 255**2 * d * 2 * (cells + 6) * 2.0**-53


def memory_bytes(n_a: int, n_b: int, px: int, rotations: int, tile_a: int, tile_b: int) -> int:
    """Upper bound on the memory the pruning adds to a compare job (bytes).

    The cell sums of both blocks (the batches' integers and their float64 copies), a's weighted by 1 / |G| and b's
    in each rotation (`Pruner`), the int64 row and cell sums of a chunk of `cell_sums`, the survivors of a tile (two
    int64 positions and a bool mask for each of its pairs, at most), the prepared sides of the pairs computed
    exactly (at most a tile of a, and every rotation of a tile of b, float32, plus `kernel.prepare`'s int32 and
    rotation temporaries), and `kernel.exact_sse`'s float64 batches or, instead of them, the exact product of a
    cluster of candidates (`kernel.exact_sse_product`: at most PRODUCT_SIDE images a side, float64 sums, a float32
    chunk product, and the int64 sums of each rotation of its pairs, twice), and a batch of pair-by-pair grid
    bounds; or, instead of all the per-tile terms (at threshold 0 no tile is compared), the hash join
    (`hash_join_bytes`).
    """
    d = px * px * 3
    cells = 3 * min(GRID, px) ** 2 * 8  # one image's float64 cell sums (its stored integers: at most as many bytes)
    sums = 2 * (n_a + n_b) * cells + n_a * cells + rotations * n_b * cells
    chunk = 2 * SUM_CHUNK * 8 + d
    survivors = tile_a * tile_b * (2 * 8 + 1)
    sides = (tile_a + rotations * tile_b) * d * (4 + 4 + 1) + (tile_a + tile_b) * d * 4
    refine = 3 * kernel.REFINE_BATCH * d * 8
    grid = 4 * GRID_BATCH * cells
    side_a, side_b = min(tile_a, kernel.PRODUCT_SIDE), min(tile_b, kernel.PRODUCT_SIDE)
    product = side_a * side_b * rotations * (8 + 4 + 2 * 8)
    tiles = survivors + sides + max(refine, product) + grid
    return sums + chunk + max(tiles, hash_join_bytes(n_a, n_b, px, rotations))


def hash_join_bytes(n_a: int, n_b: int, px: int, rotations: int) -> int:
    """The temporary memory of `fastdiff.compare.hash_join.equal_pairs` before its pairs (bytes): the digests (one per
    image of a, one per rotation of b) with their sort order, sorted copy and search bounds, and a chunk of byte
    comparisons (VERIFY_BYTES of a's thumbnails, the rotated copies of b's and their comparison). The hits add 57
    bytes each, and there is one for each equal pair (as many as the job's output rows: not bounded in advance)."""
    digests = n_a * 8 * 3 + n_b * rotations * 8 * 4
    verify = 3 * hash_join.VERIFY_BYTES + 3 * px * px
    return digests + verify


@dataclass
class Counts:
    """What the bounds left, for the job's log."""

    pairs: int = 0  # pairs of the tiles looked at (before any bound)
    band: int = 0  # pairs in the column ranges of the row strips that the band keeps
    channels: int = 0  # allowed pairs that the bound of the channel means keeps
    grid: int = 0  # allowed pairs that the grid bound keeps
    dense_tiles: int = 0  # tiles sent to the GEMM filter
    started: float = field(default_factory=time.time)

    def line(self, total: int, matches: int) -> str:
        """One log line: the `total` pairs of the block pair, the candidates left after each bound, the matches
        and the seconds since the bounds were set up."""
        return (
            f"pruned compare: {total} pairs; {self.pairs} in tiles inside the band, {self.band} in row strips inside "
            f"the band, {self.channels} after the channel means, {self.grid} after the grid bound "
            f"({self.dense_tiles} tiles through the GEMM filter); {matches} matches; "
            f"{time.time() - self.started:.2f} s"
        )


class Pruner:
    """The bounds of one block pair, and the pruned comparison of its tiles.

    Parameters
    ----------
    xp : module
        numpy or cupy.
    thumbs_a, thumbs_b : array
        uint8 (n, px, px, 3) and (m, px, px, 3) on xp's device (the same object for a block with itself).
    threshold : float
        MSE threshold (0-255 scale), >= 0.
    rotations : int or tuple of int
        The symmetries of b: a count of rotations (1 or 4) or their codes (`fastdiff.compare.kernel.symmetries`).
    """

    def __init__(
        self,
        xp: ModuleType,
        thumbs_a: Any,
        thumbs_b: Any,
        threshold: float,
        rotations: int | tuple[int, ...],
        cells_a: np.ndarray | None = None,
        cells_b: np.ndarray | None = None,
    ) -> None:
        self.xp, self.thumbs_a, self.thumbs_b = xp, thumbs_a, thumbs_b
        self.threshold, self.rotations = threshold, codes_of(rotations)
        px = thumbs_a.shape[1]
        self.d = px * px * 3
        cuts = image_cuts(px)
        sizes = np.diff(cuts)
        weights = np.repeat((1.0 / np.outer(sizes, sizes))[:, :, None], 3, axis=2)  # 1 / |G| in (g, g, 3) order
        self.weights = xp.asarray(weights.reshape(-1))
        cells = weights.size
        self.limit = threshold * self.d * (1 + 2.0**-30) + grid_margin(self.d, cells)
        self.cells_a = self._cells(thumbs_a, cells_a, cuts)
        self.cells_b = self.cells_a if thumbs_b is thumbs_a else self._cells(thumbs_b, cells_b, cuts)
        self.channels_a = self.cells_a.sum(axis=(1, 2))  # float64 (n, 3) exact integer sums of each channel
        self.channels_b = self.channels_a if thumbs_b is thumbs_a else self.cells_b.sum(axis=(1, 2))
        self.sums_a = to_host(self.channels_a.sum(axis=1)).astype(np.int64)  # exact integers
        self.sums_b = to_host(self.channels_b.sum(axis=1)).astype(np.int64)
        # the band's half-width: the largest integer gap h with h^2 / d <= limit (the test of `outside_band`)
        # (every gap is at most 255 d: a wider band keeps everything)
        root = float(np.sqrt(self.limit * self.d))
        half = int(root) if root < 255 * self.d else 255 * self.d
        while half < 255 * self.d and (half + 1) ** 2 / self.d <= self.limit:
            half += 1
        while half > 0 and half**2 / self.d > self.limit:
            half -= 1
        self.half_band = half
        # the grid bound's terms, once per block: a's cells weighted by 1 / |G| and b's cells in each symmetry
        # (flattened), and the weighted norms, the same for every symmetry since they keep the cell sizes
        a = self.cells_a.reshape(len(self.cells_a), -1)
        self.weighted_a = a * self.weights
        self.norms_a = (a * self.weighted_a).sum(axis=1)
        m = len(self.cells_b)
        self.rotated_b = xp.stack(
            [xp.ascontiguousarray(transform(xp, self.cells_b, k)).reshape(m, -1) for k in self.rotations]
        )
        self.norms_b = self.norms_a if thumbs_b is thumbs_a else (self.rotated_b[0] ** 2 * self.weights).sum(axis=1)
        self.counts = Counts()
        self.rng = np.random.default_rng(0)  # the probes' pairs (`probe`)

    def _cells(self, thumbs: Any, stored: np.ndarray | None, cuts: np.ndarray) -> Any:
        """float64 (n, g, g, 3) cell sums on xp's device: the batch's stored integers (`image_cells`, computed by the
        thumbnail stage), or computed here for a block without them (one built in memory)."""
        xp = self.xp
        if stored is None:
            return cell_sums(xp, thumbs, cuts)
        g = len(cuts) - 1
        if stored.shape != (len(thumbs), g, g, 3):
            raise ValueError(f"cell sums of shape {stored.shape} for {len(thumbs)} thumbnails and a {g} x {g} grid")
        return xp.asarray(stored).astype(xp.float64)

    def outside_band(self, ia: np.ndarray, ib: np.ndarray) -> bool:
        """Whether no pair of images ia x ib (host indices) can be within the threshold: their sums differ by more
        than the band (exact: Python integers against the float limit)."""
        low_a, high_a = self.sums_a[ia].min(), self.sums_a[ia].max()
        low_b, high_b = self.sums_b[ib].min(), self.sums_b[ib].max()
        gap = int(max(0, low_b - high_a, low_a - high_b))
        return gap * gap > self.limit * self.d

    def tile(self, ia: Any, ib: Any, mask: Any, reverse: Any) -> tuple[Any, tuple[np.ndarray, ...] | None]:
        """The pruned comparison of one tile.

        Parameters
        ----------
        ia, ib : array
            int64 (ta,) and (tb,): images of a and b in the tile (xp's device).
        mask : array
            bool (ta, tb): the allowed pairs.
        reverse : array or None
            bool (ta, tb): pairs whose rotation is seen from b (`kernel.exact_sse`).

        Returns
        -------
        tuple
            (mask, None) when the bounds would leave many pairs (`probe`): the tile goes unchanged to the GEMM filter
            (`kernel.compare_tile`); or (mask, (ri, rj, mse, rotation)) with the exact matches (host arrays: int64
            positions in the tile, float64 MSE, int8 rotation).
        """
        self.counts.pairs += mask.shape[0] * mask.shape[1]
        if self.probe(ia, ib, mask):
            self.counts.dense_tiles += 1
            return mask, None
        ri, rj = self._survivors(ia, ib, mask)
        rev = None if reverse is None else reverse[ri, rj]
        sse, rot = self.exact(ia[ri], ib[rj], rev)
        mse = sse.astype(self.xp.float64) / self.d
        ok = mse <= self.threshold
        return mask, tuple(to_host(v) for v in (ri[ok], rj[ok], mse[ok], rot[ok]))

    def probe(self, ia: Any, ib: Any, mask: Any) -> bool:
        """Whether the bounds would leave more than DENSE of the tile's pairs, estimated on PROBE pairs drawn at
        random (a deterministic stream): then the bounds cost more than they save, and the tile goes to the GEMM
        filter whole (low-contrast data, where nothing prunes, pays only this probe). Only speed depends on it."""
        xp = self.xp
        ta, tb = mask.shape
        if ta * tb < PROBE_MIN:
            return False
        i = xp.asarray(self.rng.integers(0, ta, PROBE))
        j = xp.asarray(self.rng.integers(0, tb, PROBE))
        ok = mask[i, j]
        i, j = ia[i[ok]], ib[j[ok]]
        diff = self.channels_a[i] - self.channels_b[j]
        near = (diff * diff).sum(axis=1) * (3 / self.d) <= self.limit
        i, j = i[near], j[near]
        if len(i) <= DENSE * PROBE:
            return False
        return int(self._grid_keeps(i, j).sum()) > DENSE * PROBE

    def _grid_keeps(self, i: Any, j: Any) -> Any:
        """Whether the grid bound keeps each pair (i[t], j[t]) of images of the blocks: bool (p,). Pair by pair (dot
        products of K values; small matrix products run far slower through BLAS threads)."""
        xp = self.xp
        x = self.weighted_a[i]
        cross = xp.stack([xp.einsum("ij,ij->i", x, b[j]) for b in self.rotated_b]).max(axis=0)
        return self.norms_a[i] + self.norms_b[j] - 2 * cross <= self.limit

    def exact(self, ia: Any, ib: Any, reverse: Any) -> tuple[Any, Any]:
        """Exact min SSE over rotations (int64) and rotation (int8) of the pairs (ia[t], ib[t]) of the blocks, as
        `kernel.exact_sse`, preparing only the images involved (`kernel.exact_sse_auto`: pair by pair, or through
        one exact product for a cluster of near copies)."""
        xp = self.xp
        if len(ia) == 0:
            return xp.zeros(0, xp.int64), xp.zeros(0, xp.int8)
        ua, la = xp.unique(ia, return_inverse=True)
        ub, lb = xp.unique(ib, return_inverse=True)
        side_a = kernel.prepare(xp, self.thumbs_a[ua], 1)
        side_b = kernel.prepare(xp, self.thumbs_b[ub], self.rotations)
        return kernel.exact_sse_auto(xp, side_a, side_b, la.reshape(-1), lb.reshape(-1), reverse)

    def _survivors(self, ia: Any, ib: Any, mask: Any) -> tuple[Any, Any]:
        """Positions (ri, rj) in the tile of the allowed pairs that the band, the channel means and the grid bound
        keep."""
        xp = self.xp
        chan_a, chan_b = self.channels_a[ia], self.channels_b[ib]
        sums_a, sums_b = to_host(chan_a.sum(axis=1)), to_host(chan_b.sum(axis=1))
        # band: the columns sorted by sum (already so unless the tile holds several shapes), each strip of SUB rows
        # meets the range of columns whose sums are within `half_band` of the strip's (exact integers)
        by_sum = np.argsort(sums_b, kind="stable")
        permuted = bool(np.any(by_sum != np.arange(len(by_sum))))
        if permuted:
            by_sum_dev = xp.asarray(by_sum)
            chan_b, mask = chan_b[by_sum_dev], mask[:, by_sum_dev]
        sorted_b = sums_b[by_sum]
        found_i, found_j = [], []
        for r0 in range(0, len(ia), SUB):
            sa = sums_a[r0 : r0 + SUB]
            lo = int(np.searchsorted(sorted_b, sa.min() - self.half_band, "left"))
            hi = int(np.searchsorted(sorted_b, sa.max() + self.half_band, "right"))
            if lo >= hi:
                continue
            sub = mask[r0 : r0 + SUB, lo:hi]
            self.counts.band += sub.size
            # channel means: the partition into the 3 channels, the same for every rotation
            diff = chan_a[r0 : r0 + SUB, None, :] - chan_b[None, lo:hi, :]
            ok = ((diff * diff).sum(axis=2) * (3 / self.d) <= self.limit) & sub
            i, j = xp.nonzero(ok)
            found_i.append(i + r0)
            found_j.append(j + lo)
        if not found_i:
            return xp.zeros(0, xp.int64), xp.zeros(0, xp.int64)
        ri, rj = xp.concatenate(found_i), xp.concatenate(found_j)
        if permuted:
            rj = by_sum_dev[rj]
        self.counts.channels += len(ri)
        # grid: pair by pair, GRID_BATCH pairs at a time
        keep = xp.zeros(len(ri), bool)
        for s in range(0, len(ri), GRID_BATCH):
            keep[s : s + GRID_BATCH] = self._grid_keeps(ia[ri[s : s + GRID_BATCH]], ib[rj[s : s + GRID_BATCH]])
        ri, rj = ri[keep], rj[keep]
        self.counts.grid += len(ri)
        return ri, rj
