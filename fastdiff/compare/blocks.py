"""Compare stage (default mode): all pairs of two blocks of thumbnails at or below the MSE threshold."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from fastdiff.compare import hash_join, kernel, prune
from fastdiff.compare.exact_groups import ExactGroups, equal_groups
from fastdiff.compare.pairing import Dims, allowed_each, compatible_pairs, ordered_pairs, pair_ranks, shape_key
from fastdiff.compare.pairs import COMPUTED, HASH_MATCH, SIZE_MISMATCH, Pairs
from fastdiff.core.device import to_host
from fastdiff.core.options import CompareOptions
from fastdiff.core.symmetry import INVERSE, symmetries
from fastdiff.core.userfn import DiffFunction, load_diff_fn, load_function
from fastdiff.thumbnails.batch import Batch

log = logging.getLogger(__name__)

CACHE_BYTES = 512 * 2**20  # prepared tiles kept in host memory by one compare job (fastdiff.run.resources)
DEVICE_CACHE_BYTES = 24 * 2**30  # ... and in GPU memory


def user_difference(opts: CompareOptions, on_gpu: bool) -> DiffFunction | None:
    """The configured user difference for the device, imported without probing it again (the config's validation
    found out whether cpu_diff is vectorised; a gpu_diff says so in its `vectorised` attribute)."""
    if on_gpu and opts.gpu_diff:
        return load_diff_fn(opts.gpu_diff, probe=False)
    return DiffFunction(load_function(opts.cpu_diff), opts.diff_vectorised) if opts.cpu_diff else None


def compare_device(opts: CompareOptions) -> str:
    """The device a compare job runs on: a CPU-only user difference (cpu_diff without gpu_diff) keeps it on the
    CPU; otherwise the configured device."""
    return "cpu" if opts.cpu_diff and not opts.gpu_diff else opts.device


def _prunes(opts: CompareOptions, a: Batch, b: Batch, diff: DiffFunction | None) -> bool:
    """Whether the pruned compare applies: the MSE kernel (no user difference) and a finite threshold."""
    return opts.prune and diff is None and np.isfinite(opts.threshold) and len(a.keys) > 0 and len(b.keys) > 0


def _order(block: Batch, opts: CompareOptions, sums: np.ndarray | None) -> np.ndarray:
    """The order of the images in the tiles: by shape (compatible images together), then by sum when pruning."""
    key = shape_key(block, opts)
    return np.argsort(key, kind="stable") if sums is None else np.lexsort((sums, key))


@dataclass
class Found:
    """Pairs of two blocks found by one step of a compare, by the images' positions in the blocks.

    Attributes
    ----------
    ia, ib : numpy.ndarray
        int64 (p,): rows of block a and block b.
    mse : numpy.ndarray
        float64 (p,): the pairs' MSE (exact), or -1 for a pair the size rules skipped.
    rotation : numpy.ndarray
        int8 (p,): the symmetry code reaching it (`fastdiff.core.symmetry`), -1 where none applies.
    kind : int
        What the pairs are: COMPUTED, HASH_MATCH or SIZE_MISMATCH (`fastdiff.compare.pairs`).
    """

    ia: np.ndarray
    ib: np.ndarray
    mse: np.ndarray
    rotation: np.ndarray
    kind: int

    @classmethod
    def without_mse(cls, ia: np.ndarray, ib: np.ndarray, mse: float, kind: int) -> Found:
        """Pairs recorded without computing: a hash match (MSE 0) or a pair the size rules skipped (-1)."""
        return cls(ia, ib, np.full(len(ia), mse), np.full(len(ia), -1, np.int8), kind)


@dataclass
class Tile:
    """One tile of a block pair: images ia of a and ib of b, and which of their pairs are to be compared."""

    ia: np.ndarray  # int64 (ta,) rows of a, on the host; ia_dev the same on the array module's device
    ib: np.ndarray
    ia_dev: Any
    ib_dev: Any
    mask: Any  # bool (ta, tb): ordered, allowed by the size rules, not already a hash match
    reverse: Any  # bool (ta, tb) or None: the pair's rotation is seen from b's side (b first in the index order)
    cache_key: int  # the tile's first row in a's order: prepared tiles of a are reused under it
    diagonal: bool  # a block with itself, and the tile on the diagonal: each pair once


class TileCompare(Protocol):
    """How the pairs of a tile within the threshold are found (one per compare job, `choose_tile_compare`)."""

    def pairs(self, tile: Tile) -> Found:
        """The pairs of the tile's mask within the threshold, with their exact MSE and symmetry code."""
        ...


@dataclass
class UserDifferenceTiles:
    """A user difference (`fastdiff.core.userfn.DiffFunction`) over each tile."""

    xp: ModuleType
    diff: DiffFunction
    thumbs_a: Any
    thumbs_b: Any
    threshold: float
    codes: tuple[int, ...]

    def pairs(self, tile: Tile) -> Found:
        ri, rj, mse, rot = (
            to_host(v)
            for v in self.diff.tile(
                self.xp, self.thumbs_a[tile.ia_dev], self.thumbs_b[tile.ib_dev], tile.mask, self.threshold, self.codes
            )
        )
        if tile.reverse is not None:  # the symmetry seen from b's side (its inverse)
            rot = np.where(to_host(tile.reverse)[ri, rj], np.asarray(INVERSE, np.int8)[rot], rot)
        return Found(tile.ia[ri], tile.ib[rj], mse, rot, COMPUTED)


@dataclass
class KernelTiles:
    """The MSE kernel's matrix products over each tile (`fastdiff.compare.kernel.compare_tile`), the prepared tiles
    of a kept while they fit in `cache` (None: never kept)."""

    xp: ModuleType
    thumbs_a: Any
    thumbs_b: Any
    threshold: float
    codes: tuple[int, ...]
    cache: dict[int, kernel.Side] | None
    side_b: tuple[int, kernel.Side] | None = None  # the prepared tile of b in use, by its first row

    def pairs(self, tile: Tile) -> Found:
        xp = self.xp
        first_b = int(tile.ib[0])
        if self.side_b is None or self.side_b[0] != first_b:
            self.side_b = (first_b, kernel.prepare(xp, self.thumbs_b[tile.ib_dev], self.codes))
        side_a = self.cache.get(tile.cache_key) if self.cache is not None else None
        if side_a is None:
            side_a = kernel.prepare(xp, self.thumbs_a[tile.ia_dev], 1)
            if self.cache is not None:
                self.cache[tile.cache_key] = side_a
        ri, rj, mse, rot = (
            to_host(v)
            for v in kernel.compare_tile(
                xp, side_a, self.side_b[1], tile.mask, self.threshold, tile.reverse, symmetric=tile.diagonal
            )
        )
        return Found(tile.ia[ri], tile.ib[rj], mse, rot, COMPUTED)


@dataclass
class PrunedTiles:
    """Lower bounds first (`fastdiff.compare.prune.Pruner`): few pairs left are computed exactly, many go through
    the kernel's products restricted to them."""

    pruner: prune.Pruner
    kernel: KernelTiles

    def pairs(self, tile: Tile) -> Found:
        mask, exact = self.pruner.tile(tile.ia_dev, tile.ib_dev, tile.mask, tile.reverse)
        if exact is not None:
            return Found(tile.ia[exact[0]], tile.ib[exact[1]], exact[2], exact[3], COMPUTED)
        return self.kernel.pairs(replace(tile, mask=mask))


def choose_tile_compare(
    xp: ModuleType,
    thumbs_a: Any,
    thumbs_b: Any,
    opts: CompareOptions,
    diff: DiffFunction | None,
    pruner: prune.Pruner | None,
) -> TileCompare:
    """The one place where a compare job picks how the pairs of its tiles are found: a user difference, the pruned
    compare, or the kernel's products alone (prune false, the brute-force reference). thumbs_a, thumbs_b: uint8
    (n, px, px, 3) on xp's device."""
    codes = symmetries(opts.rotate, opts.mirror)
    if diff is not None:
        return UserDifferenceTiles(xp, diff, thumbs_a, thumbs_b, opts.threshold, codes)
    # prepared tiles of `a` are reused for every tile of `b` while they fit in the cache
    cache_bytes = CACHE_BYTES if xp is np else DEVICE_CACHE_BYTES
    cache = {} if thumbs_a[0:1].nbytes * 5 * len(thumbs_a) <= cache_bytes else None
    products = KernelTiles(xp, thumbs_a, thumbs_b, opts.threshold, codes, cache)
    return products if pruner is None else PrunedTiles(pruner, products)


def _equal_pairs(
    a: Batch,
    b: Batch,
    rank_a: np.ndarray,
    rank_b: np.ndarray,
    opts: CompareOptions,
    same_block: bool,
    pruner: prune.Pruner,
    hash_matches: Found | None,
) -> Found:
    """The pairs at threshold 0 (fastdiff.compare.hash_join): allowed, not already hash matches, with the exact
    rotation (kernel.exact_sse's tie rules)."""
    ia, ib = hash_join.equal_pairs(a.thumbs, b.thumbs, symmetries(opts.rotate, opts.mirror))
    ok = allowed_each(np, Dims.of(np, a, rank_a), ia, Dims.of(np, b, rank_b), ib, opts, same_block)
    if hash_matches is not None:
        ok &= ~np.isin(ia * len(b.keys) + ib, hash_matches.ia * len(b.keys) + hash_matches.ib)
    ia, ib = ia[ok], ib[ok]
    reverse = None if same_block or opts.two_partitions else pruner.xp.asarray(rank_a[ia] > rank_b[ib])
    sse, rot = (to_host(v) for v in pruner.exact(pruner.xp.asarray(ia), pruner.xp.asarray(ib), reverse))
    return Found(ia, ib, sse.astype(np.float64) / pruner.d, rot, COMPUTED)


def _groups_apply(opts: CompareOptions) -> bool:
    """Whether the pairs at threshold 0 are written as groups (`fastdiff.compare.exact_groups`): the size rules then
    make
    every pair of equal images in one size class allowed (same_dim, match_aspect_by 0, or neither), and no pair is
    recorded otherwise (skip_matching_hash, keep_non_matching_aspects)."""
    return opts.match_aspect_by in (None, 0) and not opts.skip_matching_hash and not opts.keep_non_matching_aspects


def _exact_groups(a: Batch, b: Batch, opts: CompareOptions, same_block: bool) -> tuple[np.ndarray, ExactGroups]:
    """The groups of equal thumbnails of a block pair, as the members' layout keys and `ExactGroups`."""
    keys = a.keys if same_block else np.concatenate([a.keys, b.keys])
    thumbs = a.thumbs if same_block else np.concatenate([a.thumbs, b.thumbs])
    sized = opts.same_dim or opts.match_aspect_by == 0
    rule = (
        np.concatenate([shape_key(a, opts)] + ([] if same_block else [shape_key(b, opts)])).astype(np.int64)
        if sized
        else np.zeros(len(keys), np.int64)
    )
    side = np.concatenate([np.zeros(len(a.keys)), np.ones(len(b.keys))]) if opts.two_partitions else None
    codes = symmetries(opts.rotate, opts.mirror)
    hashes = a.hashes if same_block else np.concatenate([a.hashes, b.hashes])
    groups = equal_groups(thumbs, codes, rule, side, hash_join.stored_digests(thumbs, hashes, codes))
    return np.asarray(keys, np.int64)[groups.member], groups


def _hash_matches(
    a: Batch, b: Batch, dims_a: Dims, dims_b: Dims, opts: CompareOptions, same_block: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) whose rotation hashes intersect, restricted to allowed pairs."""
    by_hash: dict[str, list[int]] = {}
    for i, row in enumerate(a.hashes):
        for h in set(row) - {""}:
            by_hash.setdefault(h, []).append(i)
    found: set[tuple[int, int]] = set()
    for j, row in enumerate(b.hashes):
        for h in set(row) - {""}:
            found.update((i, j) for i in by_hash.get(h, ()))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ia, ib = (np.asarray(v, dtype=np.int64) for v in zip(*sorted(found)))
    ok = allowed_each(np, dims_a, ia, dims_b, ib, opts, same_block)
    return ia[ok], ib[ok]


def compare_blocks(
    a: Batch,
    b: Batch,
    opts: CompareOptions,
    same_block: bool,
    xp: ModuleType = np,
    diff: DiffFunction | None = None,
) -> Pairs:
    """Every allowed pair of two blocks with MSE <= threshold, in the index order
    (`fastdiff.compare.pairing.pair_ranks`).

    Images are sorted by shape (with same_dim / match_aspect_by) and processed in tiles of tile_size x tile_size,
    so a tile without any allowed pair is never multiplied and memory is bounded by the tile, not the block
    (`fastdiff.run.resources.compare_mem_mb`). With xp = cupy both blocks are copied to the device once and stay
    there; only matches come back.

    Parameters
    ----------
    a, b : Batch
        The two blocks (thumbnails uint8 (n, px, px, 3)); `b is a` (and same_block) for a block against itself.
    opts : CompareOptions
    same_block : bool
        a and b are the same block: each pair is compared once.
    xp : module
        numpy, or cupy (`fastdiff.core.device.array_module`).
    diff : DiffFunction, optional
        A user difference replacing the MSE kernel (`fastdiff.core.userfn`).

    Returns
    -------
    Pairs
        mse is exact: it equals the float64 brute-force value bit for bit (`fastdiff.compare.kernel`).
    """
    started = time.time()
    found: list[Found] = []
    thumbs_a = xp.asarray(a.thumbs)
    thumbs_b = thumbs_a if b is a else xp.asarray(b.thumbs)
    # pruned compare: images sorted by (shape, sum), so that the band of each image is a few tiles
    # (the cell sums stored with the batches by the thumbnail stage, `fastdiff.core.cells.image_cells`)
    codes = symmetries(opts.rotate, opts.mirror)
    pruner = (
        prune.Pruner(xp, thumbs_a, thumbs_b, opts.threshold, codes, a.cells, b.cells)
        if _prunes(opts, a, b, diff)
        else None
    )
    order_a = _order(a, opts, None if pruner is None else pruner.sums_a)
    order_b = _order(b, opts, None if pruner is None else pruner.sums_b)
    rank_a, rank_b = pair_ranks(a, b, same_block, opts.two_partitions)
    t = opts.tile(on_gpu=xp is not np)
    # a block with itself and the MSE kernel: each pair once by position, tiles ta <= tb and i < j inside a diagonal
    # tile, whatever the path order (the rotation is then seen from the image first in path order, `reverse`, and
    # the keys are put in path order at the end); a user difference keeps the pairs in path order (i before j)
    by_position = same_block and diff is None
    hash_matches = None
    if opts.skip_matching_hash:
        ha, hb = _hash_matches(a, b, Dims.of(np, a, rank_a), Dims.of(np, b, rank_b), opts, same_block)
        hash_matches = Found.without_mse(ha, hb, 0.0, HASH_MATCH)
        found.append(hash_matches)
        # tile coordinates of the hash matches, to take them out of the products
        pos_a, pos_b = np.argsort(order_a)[ha], np.argsort(order_b)[hb]
        if by_position:
            pos_a, pos_b = np.minimum(pos_a, pos_b), np.maximum(pos_a, pos_b)
        hash_tile = (pos_a // t, pos_b // t)
        hash_local = (pos_a % t, pos_b % t)
    dims_a = Dims.of(xp, a, rank_a)
    dims_b = dims_a if b is a else Dims.of(xp, b, rank_b)
    # threshold 0: equal thumbnails, found without products, as groups or as a hash join of pairs
    zero = pruner is not None and opts.threshold == 0
    group_keys, groups = np.zeros(0, np.int64), ExactGroups.empty()
    if zero and _groups_apply(opts):
        group_keys, groups = _exact_groups(a, b, opts, same_block)
        log.info("%d images in %d groups of equal thumbnails", len(group_keys), len(groups.stabiliser))
    elif zero:
        found.append(_equal_pairs(a, b, rank_a, rank_b, opts, same_block, pruner, hash_matches))
    compare_tile = choose_tile_compare(xp, thumbs_a, thumbs_b, opts, diff, pruner)
    n_tiles = -(-len(order_a) // t) * -(-len(order_b) // t)
    done = 0
    for tb in range(0, len(order_b) if not zero or opts.keep_non_matching_aspects else 0, t):
        ib = order_b[tb : tb + t]
        ib_dev = xp.asarray(ib)
        for ta in range(0, tb + 1 if by_position else len(order_a), t):
            ia = order_a[ta : ta + t]
            done += 1
            if pruner is not None and not opts.keep_non_matching_aspects and pruner.outside_band(ia, ib):
                continue
            ia_dev = xp.asarray(ia)
            if by_position:
                ordered = xp.ones((len(ia), len(ib)), bool)
                ordered = xp.triu(ordered, 1) if ta == tb else ordered
            else:
                ordered = ordered_pairs(xp, dims_a, ia_dev, dims_b, ib_dev, same_block)
            compatible = compatible_pairs(xp, dims_a, ia_dev, dims_b, ib_dev, opts)
            if opts.keep_non_matching_aspects:
                ri, rj = (to_host(v) for v in xp.nonzero(ordered & ~compatible))
                found.append(Found.without_mse(ia[ri], ib[rj], -1.0, SIZE_MISMATCH))
            mask = ordered & compatible
            if opts.skip_matching_hash:
                here = (hash_tile[0] == ta // t) & (hash_tile[1] == tb // t)
                mask[xp.asarray(hash_local[0][here]), xp.asarray(hash_local[1][here])] = False
            if zero or not bool(mask.any()):
                continue
            # pairs whose image of b comes first in the index order: their rotation is taken from b's side
            # (never across partitions A and B, where pair_ranks puts all of a first, nor in path order inside a block)
            reverse = (
                None
                if (same_block and not by_position) or opts.two_partitions
                else dims_a.rank[ia_dev][:, None] > dims_b.rank[ib_dev][None, :]
            )
            tile = Tile(ia, ib, ia_dev, ib_dev, mask, reverse, ta, same_block and ta == tb)
            found.append(compare_tile.pairs(tile))
            log.info("tile %d/%d: %d matching pairs", done, n_tiles, len(found[-1].ia))
    if pruner is not None:
        total = len(a.keys) * (len(a.keys) - 1) // 2 if same_block else len(a.keys) * len(b.keys)
        log.info("%s", pruner.counts.line(total, sum(len(f.ia) for f in found if f.kind == COMPUTED)))
    ia = np.concatenate([f.ia for f in found]).astype(np.int64) if found else np.zeros(0, np.int64)
    ib = np.concatenate([f.ib for f in found]).astype(np.int64) if found else np.zeros(0, np.int64)
    flipped = rank_a[ia] > rank_b[ib]
    key_a, key_b = np.where(flipped, b.keys[ib], a.keys[ia]), np.where(flipped, a.keys[ia], b.keys[ib])
    order = np.lexsort((key_b, key_a))

    def column(field: str, dtype: type) -> np.ndarray:
        return np.concatenate([getattr(f, field) for f in found]).astype(dtype)[order] if found else np.zeros(0, dtype)

    kinds = np.concatenate([np.full(len(f.ia), f.kind, np.int8) for f in found]) if found else np.zeros(0, np.int8)
    return Pairs(
        key_a=key_a[order],
        key_b=key_b[order],
        mse=column("mse", np.float64),
        rotation=column("rotation", np.int8),
        kind=kinds[order],
        started=started,
        finished=time.time(),
        group_key=group_keys,
        group=groups.group,
        group_symmetry=groups.symmetry,
        group_stabiliser=groups.stabiliser,
    )
