"""Exact k nearest neighbours of the images of one block pair (config key `neighbors`).

Every image gets its k closest images among those it is compared with in threshold mode (the same pairs: the size
rules, A x B only with part_b, inside a folder with in_folder), by the same MSE (minimum over the symmetries), ties
broken by the other image's position in the index order (paths sorted inside a section). A block pair yields, for
each image of either block, its k closest images of the other block (of the same block, itself excluded, for a block
with itself); each pair of images lies in exactly one block pair, so the merge's k closest of all those candidates
are the global k closest (`fastdiff.merge.similarity`).

Pruning (`fastdiff.compare.prune`): the k-th smallest upper bound on the SSE of distinct pairs found so far for an image
(an exact SSE, or an approximate one plus its proven margin) is a threshold that only tightens. Rows are taken in
strips, in the order of their sums; the grid lower bound of every pair of a strip is one small product per
symmetry (3 g^2 values per image, with the bound's rounding margin). The k pairs of smallest bound of each row are
computed exactly first; then each chunk of columns (those with the smallest bounds first) is skipped where no bound
is within the rows' thresholds, computed exactly where few are, or through the kernel's float32 products
(`fastdiff.compare.kernel.dot_max`, within `filter_margin` of the exact value) where many are, which raise the lower
bounds
and tighten the thresholds. At the end every pair whose lower bound is within its row's final threshold is computed
exactly (`fastdiff.compare.kernel.exact_sse`: integers), so the result equals brute force, whatever the strip, tile,
device or order.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from fastdiff.compare import kernel, prune
from fastdiff.compare.pairing import Dims, compatible_pairs, shape_key
from fastdiff.compare.pairs import Neighbors
from fastdiff.core.cells import image_cuts
from fastdiff.core.device import to_host
from fastdiff.core.options import CompareOptions
from fastdiff.core.symmetry import symmetries
from fastdiff.thumbnails.batch import Batch

STRIP = 256  # rows of a strip, at most (fewer for wide blocks: the strip's bounds take STRIP x columns floats)
CHUNK = 256  # columns of a strip compared at a time, at most
EXACT_BATCH = 1024  # pairs computed exactly at a time (their images prepared together)
DENSE = 0.05  # candidates per pair of a chunk above which its approximate products are cheaper than exact sums


def path_ranks(block: Batch) -> np.ndarray:
    """The images' positions in the index order inside one block (paths sorted: every block lies in one section),
    the tie rule between neighbours at equal MSE: int64 (n,)."""
    rank = np.empty(len(block.keys), np.int64)
    rank[np.argsort(block.paths, kind="stable")] = np.arange(len(block.keys))
    return rank


def block_neighbors(a: Batch, b: Batch, opts: CompareOptions, same_block: bool, xp: ModuleType = np) -> Neighbors:
    """The k = opts.neighbors closest images of the other block for every image of a and b.

    Parameters
    ----------
    a, b : Batch
        The two blocks (`b is a` for a block with itself).
    opts : CompareOptions
        neighbors (k >= 1), rotate, mirror, same_dim, match_aspect_by, tile_size, prune (False: every allowed pair
        computed exactly, the reference).
    same_block : bool
        A block with itself: each image's neighbours are the other images of the block.
    xp : module
        numpy, or cupy.

    Returns
    -------
    Neighbors
        For each image (layout key) its at most k closest images of the other block, the images of a in their
        block's order, then those of b, each closest first (MSE, then the neighbour's index order); MSE exact
        (float64 SSE / d, as the threshold pairs).
    """
    parts = [directed(a, b, opts, same_block, xp)]
    if not same_block:
        parts.append(directed(b, a, opts, False, xp))
    key, other, mse = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return Neighbors(key=key, neighbor=other, mse=mse)


def directed(
    rows: Batch, cols: Batch, opts: CompareOptions, same_block: bool, xp: ModuleType = np
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each image of `rows`, its k closest images of `cols` (itself excluded when same_block).

    Returns
    -------
    key, neighbor, mse : numpy.ndarray
        int64 layout keys and float64 MSE, sorted by the row's position in the block, then MSE, then the
        neighbour's index order.
    """
    k = opts.neighbors
    n, m = len(rows.keys), len(cols.keys)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if k is None or k < 1 or n == 0 or m == 0:
        return empty
    codes = symmetries(opts.rotate, opts.mirror)
    thumbs_r = xp.asarray(rows.thumbs)
    thumbs_c = thumbs_r if cols is rows else xp.asarray(cols.thumbs)
    search = _Search(xp, rows, cols, thumbs_r, thumbs_c, codes, opts, same_block)
    strip = int(min(STRIP, max(16, opts.tile(on_gpu=xp is not np) ** 2 // m)))
    found = [search.strip(search.row_order[r0 : r0 + strip], k) for r0 in range(0, n, strip)]
    i, j, sse = (np.concatenate([f[c] for f in found]) for c in range(3))
    i, j, sse = _best(i, j, sse, search.rank_c, k)  # rows in the block's order, whatever the strips
    d = rows.thumbs[0].size
    return rows.keys[i].astype(np.int64), cols.keys[j].astype(np.int64), sse.astype(np.float64) / d


class _Search:
    """The exact k-NN search of the rows of one block among the columns of another, strip by strip."""

    def __init__(
        self,
        xp: ModuleType,
        rows: Batch,
        cols: Batch,
        thumbs_r: Any,
        thumbs_c: Any,
        codes: tuple[int, ...],
        opts: CompareOptions,
        same_block: bool,
    ) -> None:
        self.xp, self.thumbs_r, self.thumbs_c, self.codes = xp, thumbs_r, thumbs_c, codes
        self.same_block, self.opts = same_block, opts
        self.rank_c = path_ranks(cols)
        self.dims_r = Dims.of(xp, rows, np.zeros(len(rows.keys), np.int64))
        self.dims_c = self.dims_r if cols is rows else Dims.of(xp, cols, np.zeros(len(cols.keys), np.int64))
        self.m = len(cols.keys)
        self.d = rows.thumbs[0].size
        self.chunk = min(CHUNK, opts.tile(on_gpu=xp is not np))
        # the grid bound's terms (cell sums in every symmetry, weighted norms) and its rounding margin in SSE units
        self.bounds = (
            prune.Pruner(xp, thumbs_r, thumbs_c, np.inf, codes, rows.cells, cols.cells) if opts.prune else None
        )
        self.margin = prune.grid_margin(self.d, 3 * (len(image_cuts(rows.thumbs.shape[1])) - 1) ** 2)
        # |approximate - exact| SSE of the float32 products (kernel.dot_max): twice the dot product's margin
        self.approx_margin = 2 * kernel.filter_margin(self.d)
        # rows and columns by shape (images the size rules let meet together), then by sum (a strip's candidates
        # then lie in few chunks)
        shape_r, shape_c = shape_key(rows, opts), shape_key(cols, opts)
        if self.bounds is None:
            self.row_order, self.col_order = np.argsort(shape_r, kind="stable"), np.argsort(shape_c, kind="stable")
        else:
            self.row_order = np.lexsort((self.bounds.sums_a, shape_r))
            self.col_order = np.lexsort((self.bounds.sums_b, shape_c))
        if self.bounds is not None:  # the columns' cell sums in every symmetry and weighted norms, in col_order
            order = xp.asarray(self.col_order)
            self.rotated_c = [rot[order] for rot in self.bounds.rotated_b]
            self.norms_c = self.bounds.norms_b[order]

    def lower_bounds(self, ri: np.ndarray) -> np.ndarray:
        """float64 (len(ri), m) host array, columns in col_order: the grid lower bound on the SSE of each pair (inf
        where not allowed; zeros without pruning, so that every allowed pair is a candidate)."""
        xp = self.xp
        ri_dev = xp.asarray(ri)
        cj = xp.asarray(self.col_order)
        ok = compatible_pairs(xp, self.dims_r, ri_dev, self.dims_c, cj, self.opts)
        if self.same_block:
            ok &= ri_dev[:, None] != cj[None, :]
        if self.bounds is None:
            return to_host(xp.where(ok, 0.0, xp.inf))
        p = self.bounds
        x = p.weighted_a[ri_dev]
        cross = None
        for rot in self.rotated_c:  # one product per symmetry: 3 g^2 values per image
            part = x @ rot.T
            cross = part if cross is None else xp.maximum(cross, part)
        return to_host(xp.where(ok, p.norms_a[ri_dev][:, None] + self.norms_c[None, :] - 2 * cross, xp.inf))

    def exact(self, side_r: kernel.Side, li: np.ndarray, cj: np.ndarray) -> np.ndarray:
        """Exact min SSE over the symmetries (int64) of the pairs (strip row li[t], column cj[t]): SSE(a, T b) =
        SSE(T^-1 a, b) and the symmetries are a group, so the rows' prepared symmetries (side_r) serve for every
        column."""
        xp = self.xp
        out = []
        for s in range(0, len(li), EXACT_BATCH):
            uc, lc = np.unique(cj[s : s + EXACT_BATCH], return_inverse=True)
            side_c = kernel.prepare(xp, self.thumbs_c[xp.asarray(uc)], 1)
            sse, _ = kernel.exact_sse_auto(
                xp, side_c, side_r, xp.asarray(lc.reshape(-1)), xp.asarray(li[s : s + EXACT_BATCH])
            )
            out.append(to_host(sse).astype(np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def approximate(self, side_r: kernel.Side, li: np.ndarray, cj: np.ndarray) -> np.ndarray:
        """float64 (len(li), len(cj)): the min SSE over the symmetries of the rows li of the strip and the columns
        cj, through float32 products (`kernel.dot_max`), within approx_margin of the exact value."""
        xp = self.xp
        whole = len(li) == side_r.centred.shape[1]
        rows = (
            side_r
            if whole
            else kernel.Side(side_r.centred[:, xp.asarray(li)], side_r.sq_norm[xp.asarray(li)], side_r.codes)
        )
        side_c = kernel.prepare(xp, self.thumbs_c[xp.asarray(cj)], 1)
        dots = kernel.dot_max(xp, side_c, rows).T.astype(xp.float64)
        return to_host(rows.sq_norm[:, None] + side_c.sq_norm[None, :] - 2 * dots)

    def strip(self, ri: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The k closest columns of each row of the strip `ri`: (row, column, sse) sorted by row, sse, column rank.

        Upper bounds on the SSE of distinct pairs (exact values, or approximate ones plus their margin) give each
        row a threshold, the k-th smallest, that only tightens; a pair is computed exactly at the end when its
        lower bound (the grid's, raised by the approximate value) is within it."""
        n = len(ri)
        lb = self.lower_bounds(ri)
        side_r = kernel.prepare(self.xp, self.thumbs_r[self.xp.asarray(ri)], self.codes)
        best = np.full((n, k), np.inf)  # the k smallest upper bounds of distinct pairs of each row
        done = np.zeros(lb.shape, bool)  # pairs computed exactly
        found_i, found_j, found_sse = [], [], []

        def add_exact(li: np.ndarray, pos: np.ndarray) -> np.ndarray:
            sse = self.exact(side_r, li, self.col_order[pos])
            done[li, pos] = True
            found_i.append(li)
            found_j.append(self.col_order[pos])
            found_sse.append(sse)
            return sse

        def tighten(bounds: np.ndarray) -> None:
            both = np.concatenate([best, bounds], axis=1)
            best[:] = np.partition(both, k - 1, axis=1)[:, :k] if both.shape[1] > k else both

        if self.bounds is not None:  # a first threshold from the k smallest bounds of each row, computed exactly
            q = min(k, self.m)
            pick = np.argpartition(lb, q - 1, axis=1)[:, :q]
            li = np.repeat(np.arange(n), q)
            ok = np.isfinite(lb[li, pick.reshape(-1)])
            li, pos = li[ok], pick.reshape(-1)[ok]
            bounds = np.full((n, q), np.inf)
            bounds[li, np.arange(len(li)) - np.searchsorted(li, li)] = add_exact(li, pos)
            tighten(bounds)
        # the chunks of columns, nearest in sum first: the threshold tightens fastest
        starts = list(range(0, self.m, self.chunk))
        if self.bounds is not None:  # the chunks whose bounds are smallest for the strip's rows first
            score = [float(np.median(np.min(lb[:, c0 : c0 + self.chunk], axis=1))) for c0 in starts]
            starts = [starts[i] for i in np.argsort(score, kind="stable")]
        for c0 in starts:
            # the candidates: lower bound within the row's threshold, allowed, not computed yet
            near = lb[:, c0 : c0 + self.chunk]
            cand = (near <= best[:, -1:] + self.margin) & np.isfinite(near) & ~done[:, c0 : c0 + self.chunk]
            li, lj = np.flatnonzero(cand.any(axis=1)), np.flatnonzero(cand.any(axis=0))
            if len(li) == 0:
                continue
            sub, pos = cand[np.ix_(li, lj)], lj + c0  # the rows and columns with candidates
            if sub.sum() < DENSE * sub.size:  # few candidates: exact sums
                i, j = np.nonzero(sub)
                sse = add_exact(li[i], pos[j])
                bounds = np.full(sub.shape, np.inf)
                bounds[i, j] = sse
            else:  # many: approximate products of those rows and columns
                approx = self.approximate(side_r, li, self.col_order[pos])
                lb[np.ix_(li, pos)] = np.maximum(lb[np.ix_(li, pos)], approx - self.approx_margin)
                bounds = np.where(sub, approx + self.approx_margin, np.inf)
            full = np.full((n, len(pos)), np.inf)
            full[li] = bounds
            tighten(full)
        # the pairs whose lower bound is within the final threshold, computed exactly
        within = lb <= best[:, k - 1 : k] + max(self.margin, self.approx_margin)
        li, pos = np.nonzero(within & np.isfinite(lb) & ~done)
        add_exact(li, pos)
        i, j, sse = (np.concatenate(v) if v else np.zeros(0, np.int64) for v in (found_i, found_j, found_sse))
        i, j, sse = _best(i, j, sse, self.rank_c, k)
        return ri[i], j, sse


def _best(
    i: np.ndarray, j: np.ndarray, sse: np.ndarray, rank: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k smallest (sse, rank[j]) of each row i: sorted by i, sse, rank[j]."""
    order = np.lexsort((rank[j], sse, i))
    i, j, sse = i[order], j[order], sse[order]
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]) if len(i) else np.zeros(0, np.int64)
    within = np.arange(len(i)) - np.repeat(starts, np.diff(np.r_[starts, len(i)]))
    keep = within < k
    return i[keep], j[keep], sse[keep]
