"""Compare stage: all pairs of two blocks of thumbnails at or below the MSE threshold."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import hash_join, kernel, prune
from .atomic import atomic_path
from .batch import Batch, load_batch
from .config import Config
from .device import array_module
from .userfn import DiffFunction, load_diff_fn

log = logging.getLogger(__name__)

COMPUTED, HASH_MATCH, SIZE_MISMATCH = 1, 2, 3  # dif_table.success codes (Fast-Diff-Py's meaning)
CPU_TILE, GPU_TILE = 1024, 8192  # tile_size 'auto': cache-sized products on a CPU, large ones on a GPU
CACHE_BYTES = 512 * 2**20  # prepared tiles kept in host memory by one compare job
DEVICE_CACHE_BYTES = 24 * 2**30  # ... and in GPU memory


@dataclass(frozen=True)
class CompareOptions:
    threshold: float
    rotate: bool = True
    same_dim: bool = True
    match_aspect_by: float | None = None
    skip_matching_hash: bool = False
    keep_non_matching_aspects: bool = False
    tile_size: int = 1024
    diff: DiffFunction | None = None  # a user difference instead of the MSE kernel
    metric: str = "mse"  # 'difpy': difPy 4.2.1's wrap-around metric (compat difpy)
    two_partitions: bool = False  # blocks of partition A against blocks of partition B
    prune: bool = True  # exact pruning by lower bounds (fastdiff.prune); False: brute force, the reference

    @classmethod
    def from_config(cls, config: Config, on_gpu: bool = False) -> CompareOptions:
        """The compare options of a config; tile_size 'auto' is 1024 on the CPU and 8192 on a GPU."""
        tile = config.tile_size if config.tile_size != "auto" else (GPU_TILE if on_gpu else CPU_TILE)
        diff_path = config.gpu_diff if on_gpu else config.cpu_diff
        diff = load_diff_fn(diff_path, probe=not on_gpu) if diff_path else None
        return cls(
            threshold=config.threshold_value,
            rotate=config.rotate,
            same_dim=config.same_dim,
            match_aspect_by=config.match_aspect_by,
            skip_matching_hash=config.skip_matching_hash,
            keep_non_matching_aspects=config.keep_non_matching_aspects,
            tile_size=tile,
            diff=diff,
            metric="difpy" if config.compat == "difpy" else "mse",
            two_partitions=bool(config.part_b),
            prune=config.prune,
        )


@dataclass
class Pairs:
    """Matching pairs (a, b), a before b in the index order (pair_ranks), sorted by (key_a, key_b)."""

    key_a: np.ndarray  # int64
    key_b: np.ndarray  # int64
    mse: np.ndarray  # float64: mean squared error over px*px*3 values, min over rotations
    rotation: np.ndarray  # int8: the first k such that mse = MSE(a, rot90(b, k)); -1 for hash matches
    kind: np.ndarray  # int8: COMPUTED or HASH_MATCH
    started: float = 0.0
    finished: float = 0.0

    def __len__(self) -> int:
        return len(self.key_a)


def compare_setup(config: Config) -> tuple[CompareOptions, ModuleType]:
    """Options and array module of a compare job. A CPU-only user difference (cpu_diff without gpu_diff)
    keeps the job on the CPU."""
    device = "cpu" if config.cpu_diff and not config.gpu_diff else config.device
    xp = array_module(device)
    return CompareOptions.from_config(config, on_gpu=xp is not np), xp


def memory_bound_mb(n_a: int, n_b: int, px_size: int, rotate: bool, tile_size: int) -> int:
    """Upper bound on the memory of one compare job: both blocks (uint8), the cache of prepared tiles of a,
    one prepared tile of b, the product accumulators, the bounds of the pruned compare (fastdiff.prune.memory_bytes)
    and the interpreter (about 200 MB)."""
    d = px_size * px_size * 3
    rotations = 4 if rotate else 1
    tile_a = min(tile_size, n_a)
    tile_b = min(tile_size, n_b)
    blocks = (n_a + n_b) * d
    cache = min(5 * d * n_a, CACHE_BYTES + 5 * d * tile_a)
    side_b = rotations * tile_b * d * 5
    products = 3 * rotations * tile_a * tile_b * 4
    pruning = prune.memory_bytes(n_a, n_b, px_size, rotations, tile_a, tile_b)
    return int((blocks + cache + side_b + products + pruning) / 2**20) + 200


def load_block(paths: list[str], threads: int = 4) -> Batch:
    """Concatenate the valid thumbnails of several shard batches into one block (decompressed in parallel)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        batches = list(pool.map(load_batch, paths))
    cat = np.concatenate
    return Batch(
        keys=cat([b.keys for b in batches]),
        paths=cat([b.paths for b in batches]),
        thumbs=cat([b.thumbs for b in batches]),
        height=cat([b.height for b in batches]),
        width=cat([b.width for b in batches]),
        hashes=cat([b.hashes for b in batches]),
        error_keys=cat([b.error_keys for b in batches]),
        error_messages=cat([b.error_messages for b in batches]),
        started=min(b.started for b in batches),
        finished=max(b.finished for b in batches),
    )


def _shape_key(block: Batch, opts: CompareOptions) -> np.ndarray:
    """A sort key that puts compatible images next to each other, so that incompatible tiles are skipped."""
    long_side = np.maximum(block.height, block.width)
    short_side = np.minimum(block.height, block.width)
    if opts.same_dim or opts.match_aspect_by == 0:
        return long_side * (1 << 32) + short_side
    if opts.match_aspect_by is not None:
        return long_side / np.maximum(short_side, 1)
    return np.zeros(len(block.keys))


def _prunes(opts: CompareOptions, a: Batch, b: Batch) -> bool:
    """Whether the pruned compare applies: the MSE kernel (no user difference) and a finite threshold."""
    return opts.prune and opts.diff is None and np.isfinite(opts.threshold) and len(a.keys) > 0 and len(b.keys) > 0


def _order(block: Batch, opts: CompareOptions, sums: np.ndarray | None) -> np.ndarray:
    """The order of the images in the tiles: by shape (compatible images together), then by sum when pruning."""
    key = _shape_key(block, opts)
    return np.argsort(key, kind="stable") if sums is None else np.lexsort((sums, key))


def _equal_pairs(
    a: Batch,
    b: Batch,
    rank_a: np.ndarray,
    rank_b: np.ndarray,
    opts: CompareOptions,
    same_block: bool,
    pruner: prune.Pruner,
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The pairs at threshold 0 (fastdiff.hash_join): allowed, not already hash matches (`found`), with the exact
    rotation (kernel.exact_sse's tie rules) as a row of compare_blocks' results."""
    ia, ib = hash_join.equal_pairs(a.thumbs, b.thumbs, 4 if opts.rotate else 1)
    ok = allowed_each(np, Dims.of(np, a, rank_a), ia, Dims.of(np, b, rank_b), ib, opts, same_block)
    for ha, hb, _mse, _rot, kind in found:
        if kind == HASH_MATCH:
            ok &= ~np.isin(ia * len(b.keys) + ib, ha * len(b.keys) + hb)
    ia, ib = ia[ok], ib[ok]
    reverse = None if same_block or opts.two_partitions else pruner.xp.asarray(rank_a[ia] > rank_b[ib])
    sse, rot = (_host(v) for v in pruner.exact(pruner.xp.asarray(ia), pruner.xp.asarray(ib), reverse))
    return ia, ib, sse.astype(np.float64) / pruner.d, rot, COMPUTED


def pair_ranks(a: Batch, b: Batch, same_block: bool, two_partitions: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the images of a and b in the index order of a run from scratch: paths sorted inside a section, and
    partition A before B. Every pair is compared and stored in this order, whatever the keys, so that the pairs of
    an incremental run (fastdiff.layout) equal those of a run from scratch, rotations included."""
    if two_partitions:
        return np.arange(len(a.keys)), len(a.keys) + np.arange(len(b.keys))
    paths = a.paths if same_block else np.concatenate([a.paths, b.paths])
    rank = np.empty(len(paths), np.int64)
    rank[np.argsort(paths, kind="stable")] = np.arange(len(paths))
    return (rank, rank) if same_block else (rank[: len(a.keys)], rank[len(a.keys) :])


@dataclass
class Dims:
    """What the pair filters need of one block, on the host or on the device."""

    rank: Any  # order of the images (pair_ranks)
    long: Any  # longer side of the original image
    short: Any  # shorter side

    @classmethod
    def of(cls, xp: ModuleType, block: Batch, rank: np.ndarray) -> Dims:
        return cls(
            xp.asarray(rank),
            xp.asarray(np.maximum(block.height, block.width)),
            xp.asarray(np.minimum(block.height, block.width)),
        )


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
    """Boolean (len(ia), len(ib)): which pairs are compared."""
    return ordered_pairs(xp, a, ia, b, ib, same_block) & compatible_pairs(xp, a, ia, b, ib, opts)


def allowed_each(xp: ModuleType, a: Dims, ia: Any, b: Dims, ib: Any, opts: CompareOptions, same_block: bool) -> Any:
    """allowed_pairs for the listed pairs (ia[t], ib[t]) instead of all combinations."""
    ok = _compatible(xp, a.long[ia], a.short[ia], b.long[ib], b.short[ib], opts)
    if same_block:
        ok &= a.rank[ia] < b.rank[ib]
    return ok


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


def compare_blocks(a: Batch, b: Batch, opts: CompareOptions, same_block: bool, xp: ModuleType = np) -> Pairs:
    """Every allowed pair of a x b (each pair once when a and b are the same block) with MSE <= threshold, in the
    index order (pair_ranks).

    Images are sorted by shape (with same_dim / match_aspect_by) and processed in tiles of tile_size x tile_size,
    so a tile without any allowed pair is never multiplied and memory is bounded by the tile, not the block.
    With xp = cupy both blocks are copied to the device once and stay there; only matches come back.
    """
    if opts.metric == "difpy":
        from .difpy.exact import compare_blocks_difpy

        return compare_blocks_difpy(a, b, opts, same_block)
    started = time.time()
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []  # (ia, ib, mse, rotation, kind)
    rotations = 4 if opts.rotate else 1
    thumbs_a = xp.asarray(a.thumbs)
    thumbs_b = thumbs_a if b is a else xp.asarray(b.thumbs)
    # pruned compare: images sorted by (shape, sum), so that the band of each image is a few tiles
    pruner = prune.Pruner(xp, thumbs_a, thumbs_b, opts.threshold, rotations) if _prunes(opts, a, b) else None
    order_a = _order(a, opts, None if pruner is None else pruner.sums_a)
    order_b = _order(b, opts, None if pruner is None else pruner.sums_b)
    rank_a, rank_b = pair_ranks(a, b, same_block, opts.two_partitions)
    t = opts.tile_size
    if opts.skip_matching_hash:
        ha, hb = _hash_matches(a, b, Dims.of(np, a, rank_a), Dims.of(np, b, rank_b), opts, same_block)
        found.append((ha, hb, np.zeros(len(ha)), np.full(len(ha), -1, np.int8), HASH_MATCH))
        # tile coordinates of the hash matches, to take them out of the products
        pos_a, pos_b = np.argsort(order_a), np.argsort(order_b)
        hash_tile = (pos_a[ha] // t, pos_b[hb] // t)
        hash_local = (pos_a[ha] % t, pos_b[hb] % t)
    dims_a = Dims.of(xp, a, rank_a)
    dims_b = dims_a if b is a else Dims.of(xp, b, rank_b)
    zero = pruner is not None and opts.threshold == 0  # threshold 0: equal thumbnails, a hash join (no products)
    if zero:
        found.append(_equal_pairs(a, b, rank_a, rank_b, opts, same_block, pruner, found))
    # prepared tiles of `a` are reused for every tile of `b` while they fit in the cache
    cache_bytes = CACHE_BYTES if xp is np else DEVICE_CACHE_BYTES
    cache_a: dict[int, kernel.Side] | None = {} if a.thumbs[0:1].nbytes * 5 * len(order_a) <= cache_bytes else None
    n_tiles = -(-len(order_a) // t) * -(-len(order_b) // t)
    done = 0
    for tb in range(0, len(order_b) if not zero or opts.keep_non_matching_aspects else 0, t):
        ib = order_b[tb : tb + t]
        ib_dev = xp.asarray(ib)
        side_b = None
        for ta in range(0, len(order_a), t):
            ia = order_a[ta : ta + t]
            done += 1
            if pruner is not None and not opts.keep_non_matching_aspects and pruner.outside_band(ia, ib):
                continue
            ia_dev = xp.asarray(ia)
            ordered = ordered_pairs(xp, dims_a, ia_dev, dims_b, ib_dev, same_block)
            compatible = compatible_pairs(xp, dims_a, ia_dev, dims_b, ib_dev, opts)
            if opts.keep_non_matching_aspects:
                ri, rj = (_host(v) for v in xp.nonzero(ordered & ~compatible))
                found.append((ia[ri], ib[rj], np.full(len(ri), -1.0), np.full(len(ri), -1, np.int8), SIZE_MISMATCH))
            mask = ordered & compatible
            if opts.skip_matching_hash:
                here = (hash_tile[0] == ta // t) & (hash_tile[1] == tb // t)
                mask[xp.asarray(hash_local[0][here]), xp.asarray(hash_local[1][here])] = False
            if zero or not bool(mask.any()):
                continue
            # pairs whose image of b comes first in the index order: their rotation is taken from b's side
            # (never inside one block, nor across partitions A and B: pair_ranks puts all of a first there)
            reverse = (
                None
                if same_block or opts.two_partitions
                else dims_a.rank[ia_dev][:, None] > dims_b.rank[ib_dev][None, :]
            )
            if opts.diff is not None:
                ri, rj, mse, rot = (
                    _host(v)
                    for v in opts.diff.tile(xp, thumbs_a[ia_dev], thumbs_b[ib_dev], mask, opts.threshold, rotations)
                )
                if reverse is not None:  # the rotation seen from b's side
                    rot = np.where(_host(reverse)[ri, rj] & (rot > 0), 4 - rot, rot)
                found.append((ia[ri], ib[rj], mse, rot, COMPUTED))
                continue
            if pruner is not None:  # few pairs left by the bounds: computed exactly; many: through the filter below
                mask, exact = pruner.tile(ia_dev, ib_dev, mask, reverse)
                if exact is not None:
                    found.append((ia[exact[0]], ib[exact[1]], exact[2], exact[3], COMPUTED))
                    continue
            if side_b is None:
                side_b = kernel.prepare(xp, thumbs_b[ib_dev], rotations)
            side_a = cache_a.get(ta) if cache_a is not None else None
            if side_a is None:
                side_a = kernel.prepare(xp, thumbs_a[ia_dev], 1)
                if cache_a is not None:
                    cache_a[ta] = side_a
            ri, rj, mse, rot = (
                _host(v)
                for v in kernel.compare_tile(
                    xp, side_a, side_b, mask, opts.threshold, reverse, symmetric=same_block and ta == tb
                )
            )
            found.append((ia[ri], ib[rj], mse, rot, COMPUTED))
            log.info("tile %d/%d: %d matching pairs", done, n_tiles, len(ri))
    if pruner is not None:
        total = len(a.keys) * (len(a.keys) - 1) // 2 if same_block else len(a.keys) * len(b.keys)
        log.info("%s", pruner.counts.line(total, sum(len(f[0]) for f in found if f[4] == COMPUTED)))
    ia = np.concatenate([f[0] for f in found]).astype(np.int64) if found else np.zeros(0, np.int64)
    ib = np.concatenate([f[1] for f in found]).astype(np.int64) if found else np.zeros(0, np.int64)
    flipped = rank_a[ia] > rank_b[ib]
    key_a, key_b = np.where(flipped, b.keys[ib], a.keys[ia]), np.where(flipped, a.keys[ia], b.keys[ib])
    order = np.lexsort((key_b, key_a))

    def column(i: int, dtype: type) -> np.ndarray:
        return np.concatenate([f[i] for f in found]).astype(dtype)[order] if found else np.zeros(0, dtype)

    kinds = np.concatenate([np.full(len(f[0]), f[4], np.int8) for f in found]) if found else np.zeros(0, np.int8)
    return Pairs(
        key_a=key_a[order],
        key_b=key_b[order],
        mse=column(2, np.float64),
        rotation=column(3, np.int8),
        kind=kinds[order],
        started=started,
        finished=time.time(),
    )


def _host(array: object) -> np.ndarray:
    """A device array as a numpy array (no copy for numpy input)."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


def save_pairs(pairs: Pairs, path: str | os.PathLike[str]) -> None:
    """Write a block's matching pairs as .npz, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            key_a=pairs.key_a,
            key_b=pairs.key_b,
            mse=pairs.mse,
            rotation=pairs.rotation,
            kind=pairs.kind,
            timing=np.asarray([pairs.started, pairs.finished]),
        )


def load_pairs(path: str | os.PathLike[str]) -> Pairs:
    with np.load(path, allow_pickle=False) as z:
        timing = z["timing"]
        return Pairs(
            key_a=z["key_a"],
            key_b=z["key_b"],
            mse=z["mse"],
            rotation=z["rotation"],
            kind=z["kind"],
            started=float(timing[0]),
            finished=float(timing[1]),
        )
