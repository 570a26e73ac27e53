"""The pruned compare (fastdiff.compare.prune, fastdiff.compare.hash_join) equals brute force bit for bit: pairs, MSE,
rotations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from group_pairs import with_group_pairs
from test_kernel import _batch, brute, planted

from fastdiff.compare import hash_join, kernel, prune
from fastdiff.compare.blocks import compare_blocks
from fastdiff.core.cells import cell_sums, grid_cuts, image_cells
from fastdiff.core.config import load_config
from fastdiff.core.options import CompareOptions, ThumbnailOptions
from fastdiff.core.symmetry import codes_of, transform
from fastdiff.thumbnails.batch import Batch


def natural(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Smooth images (few random gradients and blobs, like photographs), with near copies, rotations and exact
    copies planted, some of them at the threshold."""
    y, x = np.mgrid[0:px, 0:px] / px
    t = np.empty((n, px, px, 3), np.uint8)
    for i in range(n):
        base = rng.uniform(0, 255, 3) + rng.uniform(-80, 80, 3) * x[..., None] + rng.uniform(-80, 80, 3) * y[..., None]
        cx, cy, r = rng.uniform(0, 1, 3)
        base += rng.uniform(-60, 60, 3) * (((x - cx) ** 2 + (y - cy) ** 2) < r * r / 4)[..., None]
        t[i] = np.clip(base + rng.normal(0, 3, base.shape), 0, 255)
    for i in range(0, n - 1, 5):
        kind = i % 4
        if kind == 0:
            t[i + 1] = np.clip(t[i].astype(int) + rng.integers(-2, 3, t[i].shape), 0, 255)
        elif kind == 1:
            t[i + 1] = np.rot90(t[i], rng.integers(1, 4))
        elif kind == 2:
            t[i + 1] = t[i]
        else:
            t[i + 1] = t[i]
            t[i + 1].reshape(-1)[: rng.integers(1, 40)] ^= 1  # SSE a small integer: at or next to the threshold
    return t


def adversarial(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Low-contrast noise around one grey level: no bound prunes anything."""
    return (128 + rng.integers(-2, 3, (n, px, px, 3))).astype(np.uint8)


def rows(p, a: Batch | None = None, b: Batch | None = None, two_partitions: bool = False) -> list[tuple]:
    """The pairs of compare_blocks(a, b) (with its exact groups as pairs, `group_pairs`), as tuples."""
    p = with_group_pairs(p, a, b, two_partitions)
    return list(zip(p.key_a.tolist(), p.key_b.tolist(), p.mse.tolist(), p.rotation.tolist(), p.kind.tolist()))


def both(a: Batch, b: Batch, opts: CompareOptions, same: bool) -> tuple[list[tuple], list[tuple]]:
    pruned = compare_blocks(a, b, dataclasses.replace(opts, prune=True), same)
    plain = compare_blocks(a, b, dataclasses.replace(opts, prune=False), same)
    return rows(pruned, a, a if same else b, opts.two_partitions), rows(plain)


SETS = {"random": planted, "natural": natural, "adversarial": adversarial}


@pytest.mark.parametrize("px", [50, 37, 10])
@pytest.mark.parametrize("g", [1, 2, 3, 4, 5, 6])
def test_grid_is_rotation_symmetric(px, g):
    """The cell sums of rot90(x) are rot90 of the cell sums of x, with cells of equal size: the bound commutes with
    rotation."""
    cuts = grid_cuts(px, g)
    assert cuts[0] == 0 and cuts[-1] == px and np.all(np.diff(cuts) > 0)
    assert np.array_equal(px - cuts[::-1], cuts)
    t = np.random.default_rng(px).integers(0, 256, (3, px, px, 3), dtype=np.uint8)
    cells = cell_sums(np, t, cuts)
    assert np.array_equal(cells.sum(axis=(1, 2, 3)), t.reshape(3, -1).sum(axis=1))
    for k in range(4):
        assert np.array_equal(cell_sums(np, np.rot90(t, k, axes=(1, 2)).copy(), cuts), np.rot90(cells, k, (1, 2)))


@pytest.mark.parametrize("name", list(SETS))
def test_bounds_never_exceed_the_exact_sse(name):
    rng = np.random.default_rng(3)
    px = 20
    t = SETS[name](rng, 30, px)
    d = px * px * 3
    exact = brute(t, t, True) * d
    p = prune.Pruner(np, t, t, threshold=0.0, rotations=4)
    ia, ib = np.arange(30), np.arange(30)
    p.limit = np.inf  # keep every pair: the survivors are all pairs, then compare the bound itself
    a = p.cells_a.reshape(30, -1)
    for k in range(4):
        b = np.rot90(p.cells_b, k, axes=(1, 2)).reshape(30, -1)
        bound = ((a[:, None, :] - b[None, :, :]) ** 2 * p.weights).sum(axis=2)
        sse_k = np.array([[np.sum((t[i].astype(float) - np.rot90(t[j], k)) ** 2) for j in ib] for i in ia])
        assert np.all(bound <= sse_k + 1e-6)
    channel = ((p.channels_a[:, None] - p.channels_b[None]) ** 2).sum(axis=2) * 3 / d
    assert np.all(channel <= exact + 1e-6)


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("rotate", [True, False])
@pytest.mark.parametrize("tile", [16, 1024])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_pruned_equals_brute_force(name, rotate, tile):
    rng = np.random.default_rng(7)
    n, px = 90, 16
    t = SETS[name](rng, n, px)
    d = px * px * 3
    keys = np.arange(n, dtype=np.int64)
    dims = np.tile([[100, 100]], (n, 1))
    exact = brute(t, t, rotate)
    some = np.unique(exact[np.triu_indices(n, 1)])[:6]
    for threshold in (0.0, *some, 7 / d, 5.0, 30.0):
        opts = CompareOptions(threshold=float(threshold), rotate=rotate, same_dim=False, tile_size=tile)
        pruned, plain = both(_batch(t, keys, dims), _batch(t, keys, dims), opts, True)
        assert pruned == plain, threshold
        ei, ej = np.nonzero(np.triu(exact <= threshold, 1))
        assert [(i, j, m) for i, j, m, _r, _k in pruned] == list(zip(ei.tolist(), ej.tolist(), exact[ei, ej].tolist()))


@pytest.mark.parametrize("path", ["gemm", "pairs", "product"])
@pytest.mark.parametrize("same_dim, aspect, keep", [(True, None, False), (False, 1.2, False), (True, None, True)])
def test_shapes_blocks_and_both_paths(monkeypatch, path, same_dim, aspect, keep):
    """same_dim / match_aspect_by, split blocks, skip_matching_hash, and every path of a tile: the GEMM filter (the
    probe says the bounds would not pay), the survivors' exact sums pair by pair, or through one exact product."""
    monkeypatch.setattr(prune.Pruner, "probe", lambda self, ia, ib, mask: path == "gemm")
    monkeypatch.setattr(kernel, "PRODUCT", 10**9 if path == "product" else 0)
    rng = np.random.default_rng(11)
    n, px = 80, 12
    t = natural(rng, n, px)
    dims = rng.choice(np.array([[100, 200], [200, 100], [150, 150], [100, 130]]), n)
    keys = np.arange(n, dtype=np.int64)
    for threshold in (0.0, 3.0, 40.0):
        for hashes in (False, True):
            opts = CompareOptions(
                threshold=threshold,
                same_dim=same_dim,
                match_aspect_by=aspect,
                keep_non_matching_aspects=keep,
                skip_matching_hash=hashes,
                tile_size=16,
            )
            pruned, plain = both(_batch(t, keys, dims), _batch(t, keys, dims), opts, True)
            assert pruned == plain
            parts = [_batch(t[s], keys[s], dims[s]) for s in (slice(0, 37), slice(37, n))]
            assert both(parts[0], parts[1], opts, False)[0] == both(parts[0], parts[1], opts, False)[1]


def test_incremental_blocks_and_two_partitions():
    """Keys not in path order (an incremental run: rotations seen from b) and partitions A x B."""
    rng = np.random.default_rng(5)
    n, px = 40, 10
    t = natural(rng, n, px)
    t[8] = np.rot90(t[9], 1)
    t[10] = np.maximum(t[10], np.rot90(t[10], 2))
    t[11] = np.rot90(t[10], 1)  # rotations 1 and 3 tie
    dims = np.tile([[100, 100]], (n, 1))
    paths = np.asarray([f"/p/{k:02d}" for k in rng.permutation(n)])
    full = Batch(**{**_batch(t, np.arange(n), dims).__dict__, "paths": paths})
    first, second = (
        Batch(**{**full.__dict__, **{f: getattr(full, f)[s] for f in ("keys", "paths", "thumbs", "height", "width")}})
        for s in (slice(20, n), slice(0, 20))
    )
    for two in (False, True):
        for threshold in (0.0, 4.0, 1e4):
            opts = CompareOptions(threshold=threshold, same_dim=False, two_partitions=two)
            pruned, plain = both(first, second, opts, False)
            assert pruned == plain


def test_hash_join_checks_the_bytes(monkeypatch):
    """A hash collision is never a pair: every thumbnail gets the same digest, the bytes decide."""
    rng = np.random.default_rng(2)
    t = rng.integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    t[3] = np.rot90(t[1], 3)
    t[5] = t[1]
    monkeypatch.setattr(hash_join, "digests", lambda thumbs, r: np.zeros((len(thumbs), len(codes_of(r))), np.uint64))
    ia, ib = hash_join.equal_pairs(t, t, 4)
    same = {(i, j) for i, j in zip(ia.tolist(), ib.tolist()) if i < j}
    assert same == {(1, 3), (1, 5), (3, 5)}
    ia, ib = hash_join.equal_pairs(t, t, 1)
    assert {(i, j) for i, j in zip(ia.tolist(), ib.tolist()) if i < j} == {(1, 5)}


def test_config_key_and_margin(tmp_path):
    options = CompareOptions.from_config(load_config({"part_a": [str(tmp_path)], "prune": False}))
    assert options.prune is False  # the key reaches the compare jobs' options (their params)
    t = natural(np.random.default_rng(0), 20, 10)
    p = prune.Pruner(np, t, t, 5.0, 4)
    assert p.limit >= 5.0 * p.d and p.limit - 5.0 * p.d < 1.0  # the margins are tiny in SSE units
    for threshold in (0.0, 5.0, 1e300):  # the band's half-width: the largest gap the band test keeps
        h, p = prune.Pruner(np, t, t, threshold, 4).half_band, prune.Pruner(np, t, t, threshold, 4)
        assert h * h / p.d <= p.limit and ((h + 1) ** 2 / p.d > p.limit or h == 255 * p.d)


def reference(t: np.ndarray, paths: np.ndarray, threshold: float) -> list[tuple]:
    """Every pair within the threshold, first-by-path, with the MSE and the first rotation of the second image
    reaching the minimum: the definition, pair by pair."""
    out = []
    for x in range(len(t)):
        for y in range(len(t)):
            if paths[x] < paths[y]:
                sse = [np.sum((t[x].astype(np.int64) - np.rot90(t[y], k)) ** 2) for k in range(4)]
                mse = min(sse) / t[0].size
                if mse <= threshold:
                    out.append((x, y, mse, int(np.argmin(sse)), 1))
    return sorted(out)


@pytest.mark.parametrize("prune_on", [True, False])
@pytest.mark.parametrize("tile", [8, 1024])
def test_block_with_itself_out_of_path_order(monkeypatch, prune_on, tile):
    """Inside one block the tiles are visited by position (ta <= tb, i < j on the diagonal) in (shape, sum) order,
    unrelated to the path order: every pair once, stored first-by-path, the rotation seen from that image (ties
    included), on the GEMM filter's symmetric diagonal tiles and on the pruned path."""
    monkeypatch.setattr(prune, "PROBE_MIN", 0)  # the probe runs on the small tiles too
    rng = np.random.default_rng(8)
    n, px = 36, 8
    t = natural(rng, n, px)
    t[8] = np.rot90(t[9], 1)
    t[10] = np.maximum(t[10], np.rot90(t[10], 2))
    t[11] = np.rot90(t[10], 1)  # rotations 1 and 3 tie
    t[20:26] = adversarial(rng, 6, px)
    dims = np.tile([[100, 100]], (n, 1))
    paths = np.asarray([f"/p/{k:02d}" for k in rng.permutation(n)])
    block = Batch(**{**_batch(t, np.arange(n), dims).__dict__, "paths": paths})
    for threshold in (0.0, 3.0, 1e9):
        opts = CompareOptions(threshold=threshold, same_dim=False, tile_size=tile, prune=prune_on)
        assert rows(compare_blocks(block, block, opts, True), block) == reference(t, paths, threshold), threshold


def test_probe_sends_noise_to_the_gemm_filter():
    """Low-contrast noise: the probe sends every large tile to the GEMM filter; smooth images: none."""
    rng = np.random.default_rng(4)
    n, px = 300, 8
    for name, dense in (("adversarial", True), ("natural", False)):
        t = SETS[name](rng, n, px)
        p = prune.Pruner(np, t, t, 5.0, 4)
        ia, ib = np.arange(0, 200), np.arange(100, 300)
        assert p.probe(ia, ib, np.ones((200, 200), bool)) is dense
        assert p.probe(ia[:10], ib[:10], np.ones((10, 10), bool)) is False  # below PROBE_MIN: the bounds run
        keys, dims = np.arange(n), np.tile([[100, 100]], (n, 1))
        opts = CompareOptions(threshold=5.0, same_dim=False, tile_size=256)
        pruned, plain = both(_batch(t, keys, dims), _batch(t, keys, dims), opts, True)
        assert pruned == plain


@pytest.mark.parametrize("small", [0, 10**9])
def test_exact_product_equals_pair_by_pair(monkeypatch, small):
    """kernel.exact_sse_product (chunked float32 products, einsum or BLAS) gives exact_sse's numbers and tie rules."""
    monkeypatch.setattr(kernel, "SMALL_PRODUCT", small)
    rng = np.random.default_rng(6)
    t = natural(rng, 40, 24)  # d = 1728: two chunks
    t[3] = np.maximum(t[3], np.rot90(t[3], 2))
    t[4] = np.rot90(t[3], 1)
    t[0] = 255
    t[1] = 0  # the largest |dot| terms
    a, b = kernel.prepare(np, t, 1), kernel.prepare(np, t, 4)
    ia, ib = rng.integers(0, 40, 500), rng.integers(0, 40, 500)
    ia[:3], ib[:3] = [3, 4, 0], [4, 3, 1]
    reverse = rng.random(500) < 0.5
    for rev in (None, reverse):
        expected = kernel.exact_sse(np, a, b, ia, ib, rev)
        for got in (kernel.exact_sse_product(np, a, b, ia, ib, rev), kernel.exact_sse_auto(np, a, b, ia, ib, rev)):
            assert all(np.array_equal(x, y) for x, y in zip(got, expected))


def test_user_differences_are_never_pruned(monkeypatch):
    """A user difference has no lower bound: prune is ignored and every allowed pair reaches the function."""
    from fastdiff.core.userfn import DiffFunction

    def fail(*args, **kwargs):
        raise AssertionError("a user difference was pruned")

    monkeypatch.setattr(prune, "Pruner", fail)
    t = natural(np.random.default_rng(9), 30, 8)
    keys, dims = np.arange(30), np.tile([[100, 100]], (30, 1))
    seen = []

    def mean_abs(x, y):
        seen.append(1)
        return float(np.mean(np.abs(x.astype(float) - y)))

    opts = CompareOptions(threshold=3.0, same_dim=False, rotate=False)
    block = _batch(t, keys, dims)
    for flag in (True, False):
        got = compare_blocks(
            block, block, dataclasses.replace(opts, prune=flag), True, diff=DiffFunction(mean_abs, False)
        )
        assert len(seen) == 30 * 29 // 2
        seen.clear()
        expected = {(i, j) for i in range(30) for j in range(i + 1, 30) if mean_abs(t[i], t[j]) <= 3.0}
        seen.clear()
        assert set(zip(got.key_a.tolist(), got.key_b.tolist())) == expected


def _thumbnail_batch(t: np.ndarray) -> Batch:
    """t through the thumbnail stage (`fastdiff.thumbnails.build.build_batch`, with the thumbnails given), as a compare
    job reads it back from disk."""
    from fastdiff.core.records import IndexedFile
    from fastdiff.thumbnails.build import build_batch

    files = [IndexedFile(k, f"/p/{k:05d}.png", 0, 0, 1, 0.0, 0) for k in range(len(t))]
    options = ThumbnailOptions(
        px_size=t.shape[1],
        shift_amount=0,
        max_pixels=10**6,
        rotate=True,
        mirror=False,
        grayscale=False,
        hash_fn=None,
        compat="default",
        base_dir=None,
        fast_jpeg=False,
        alpha_background=[255, 255, 255],
    )
    by_key = dict(zip((f.path for f in files), t))
    return build_batch(files, options, 1, thumbnail=lambda f: (by_key[f.path], 100, 100))


@pytest.mark.parametrize("px", [50, 37, 16, 4, 1])
@pytest.mark.parametrize("name", list(SETS))
def test_stored_cell_sums_equal_the_computed_ones(tmp_path, px, name):
    """The thumbnail stage stores exactly the cell sums the compare would compute (the grid depends only on px),
    through save and load_block; they commute with the rotations and mirrors, and a compare with them equals one
    without."""
    from fastdiff.thumbnails.batch import load_block, save_batch

    rng = np.random.default_rng(px)
    t = SETS[name](rng, 23, px)
    t[-3:] = np.array([0, 255, 254], np.uint8)[:, None, None, None]  # the extreme sums
    parts = [_thumbnail_batch(t[:10]), _thumbnail_batch(t[10:])]
    for i, part in enumerate(parts):
        save_batch(part, tmp_path / f"{i}.npz")
    block = load_block([str(tmp_path / "0.npz"), str(tmp_path / "1.npz")])
    assert block.cells.dtype == np.int32 and np.array_equal(block.thumbs, t)
    computed = prune.Pruner(np, t, t, 5.0, 4)  # without stored sums: computed from the pixels
    stored = prune.Pruner(np, block.thumbs, block.thumbs, 5.0, 4, block.cells, block.cells)
    assert np.array_equal(block.cells, computed.cells_a)  # the values (int32 against float64 integers)
    for name_ in ("cells_a", "channels_a", "sums_a", "weighted_a", "norms_a", "rotated_b", "norms_b"):
        assert np.array_equal(getattr(stored, name_), getattr(computed, name_)), name_
    for k in range(8):  # the symmetries (rotations, then mirrored): the stored sums commute with each
        moved = transform(np, t, k).copy()
        assert np.array_equal(image_cells(moved), transform(np, block.cells, k))
    keys, dims = np.arange(len(t)), np.tile([[100, 100]], (len(t), 1))
    opts = CompareOptions(threshold=30.0, same_dim=False, tile_size=8)
    without = rows(compare_blocks(_batch(t, keys, dims), _batch(t, keys, dims), opts, True))
    with_cells = Batch(**{**_batch(t, keys, dims).__dict__, "cells": block.cells})
    assert rows(compare_blocks(with_cells, with_cells, opts, True)) == without
    plain = _batch(t, keys, dims)
    assert without == rows(compare_blocks(plain, plain, dataclasses.replace(opts, prune=False), True))


def test_compare_uses_the_stored_cell_sums(monkeypatch):
    """With the batches' cell sums no compare job sums the pixels' cells again; wrong sums are refused."""
    t = natural(np.random.default_rng(12), 40, 12)
    cells = image_cells(t)
    keys, dims = np.arange(40), np.tile([[100, 100]], (40, 1))
    a = Batch(**{**_batch(t[:25], keys[:25], dims[:25]).__dict__, "cells": cells[:25]})
    b = Batch(**{**_batch(t[25:], keys[25:], dims[25:]).__dict__, "cells": cells[25:]})
    expected = rows(compare_blocks(a, b, CompareOptions(threshold=40.0, same_dim=False, prune=False), False))

    def fail(*args, **kwargs):
        raise AssertionError("cell sums recomputed")

    monkeypatch.setattr(prune, "cell_sums", fail)
    assert rows(compare_blocks(a, b, CompareOptions(threshold=40.0, same_dim=False), False)) == expected
    with pytest.raises(ValueError, match="cell sums of shape"):
        prune.Pruner(np, t, t, 5.0, 4, cells[:, :2], cells[:, :2])
