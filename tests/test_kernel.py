"""The compare kernel equals the brute-force float64 definition bit for bit, at and around the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from group_pairs import with_group_pairs

from fastdiff.compare import kernel
from fastdiff.compare.blocks import compare_blocks
from fastdiff.core.options import CompareOptions
from fastdiff.thumbnails.batch import Batch


def brute(a: np.ndarray, b: np.ndarray, rotate: bool) -> np.ndarray:
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    return np.min(
        [[[np.mean((x - np.rot90(y, k)) ** 2) for y in fb] for x in fa] for k in (range(4) if rotate else [0])], axis=0
    )


def planted(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Random thumbnails with extreme values and planted pairs whose SSE sits exactly on small integers."""
    t = rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8)
    t[0] = 0
    t[1] = 255  # extreme products: the largest magnitudes the float32 filter sees
    t[2] = 255
    t[2].reshape(-1)[:7] = 254  # SSE 7 to t[1]
    t[4] = np.rot90(t[3], 1)
    t[5] = t[3]
    t[5].reshape(-1)[::97] ^= 1  # tiny noise, MSE well under 1
    t[6] = t[7]
    return t


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("px, rotate", [(10, True), (50, True), (50, False), (37, True)])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_compare_tile_equals_brute_force(px, rotate, symmetric):
    """symmetric (a diagonal tile, 3 rotations multiplied) must still find t[4] = rot90(t[3]), best at rotation 3."""
    rng = np.random.default_rng(px)
    t = planted(rng, 24, px)
    d = px * px * 3
    exact = brute(t, t, rotate)
    allowed = np.triu(np.ones((24, 24), bool), 1)
    for threshold in (0.0, 7 / d, np.nextafter(7 / d, 0), 0.5, 5.0, 1e9):
        ia, ib, mse, rot = kernel.compare_tile(
            np,
            kernel.prepare(np, t, 1),
            kernel.prepare(np, t, 4 if rotate else 1),
            allowed,
            threshold,
            symmetric=symmetric,
        )
        ei, ej = np.nonzero((exact <= threshold) & allowed)
        assert sorted(zip(ia.tolist(), ib.tolist())) == sorted(zip(ei.tolist(), ej.tolist())), threshold
        assert np.array_equal(mse, exact[ia, ib])
        for i, j, m, k in zip(ia, ib, mse, rot):
            assert np.mean((t[i].astype(float) - np.rot90(t[j], k)) ** 2) == m


def test_filter_margin_is_tiny_compared_to_the_scale():
    assert kernel.filter_margin(7500) * 2 / 7500 < 0.2  # in MSE units


def _batch(thumbs: np.ndarray, keys: np.ndarray, dims: np.ndarray) -> Batch:
    hashes = np.array([[f"h{k % 5}", "", "", ""] for k in keys], dtype="<U64")
    return Batch(
        keys=keys,
        paths=np.char.zfill(np.asarray(keys).astype(str), 12),
        thumbs=thumbs,
        height=dims[:, 0],
        width=dims[:, 1],
        hashes=hashes,
        error_keys=np.zeros(0, np.int64),
        error_messages=np.zeros(0, str),
        started=0.0,
        finished=0.0,
    )


@pytest.mark.parametrize("tile", [16, 1024])
@pytest.mark.parametrize("same_dim, aspect", [(False, None), (True, None), (False, 1.2)])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_blocks_and_tiles_give_the_same_pairs(tile, same_dim, aspect):
    rng = np.random.default_rng(1)
    n, px = 70, 12
    base = rng.integers(0, 256, (20, px, px, 3), dtype=np.uint8)
    t = base[rng.integers(0, 20, n)]  # many exact repeats
    t[::3] = np.clip(t[::3].astype(int) + rng.integers(-2, 3, t[::3].shape), 0, 255)
    dims = rng.choice(np.array([[100, 200], [200, 100], [150, 150], [100, 130]]), n)
    keys = np.arange(n, dtype=np.int64)
    opts = CompareOptions(threshold=2.0, same_dim=same_dim, match_aspect_by=aspect, tile_size=tile)
    whole = compare_blocks(_batch(t, keys, dims), _batch(t, keys, dims), opts, same_block=True)
    exact = brute(t, t, True)
    ok = np.triu(exact <= 2.0, 1)
    if same_dim:
        ok &= (np.sort(dims, 1)[:, None, :] == np.sort(dims, 1)[None, :, :]).all(-1)
    if aspect:
        r = dims.max(1) / dims.min(1)
        ok &= (r[:, None] * aspect >= r[None, :]) & (r[None, :] >= r[:, None] / aspect)
    assert sorted(zip(whole.key_a.tolist(), whole.key_b.tolist())) == sorted(zip(*map(list, np.nonzero(ok))))
    # the same pairs when split into two blocks
    h = 33
    parts = [_batch(t[s], keys[s], dims[s]) for s in (slice(0, h), slice(h, n))]
    split = [compare_blocks(parts[i], parts[j], opts, same_block=i == j) for i, j in ((0, 0), (0, 1), (1, 1))]
    got = sorted(p for s in split for p in zip(s.key_a.tolist(), s.key_b.tolist(), s.mse.tolist()))
    assert got == sorted(zip(whole.key_a.tolist(), whole.key_b.tolist(), whole.mse.tolist()))


def test_hash_matches_are_recorded_without_computing():
    t = np.zeros((4, 8, 8, 3), np.uint8)
    t[1] = 200
    dims = np.array([[10, 10]] * 4)
    keys = np.arange(4, dtype=np.int64)
    b = _batch(t, keys, dims)
    b.hashes[:] = [["x", "", "", ""], ["x", "", "", ""], ["y", "", "", ""], ["z", "", "", ""]]
    pairs = compare_blocks(b, b, CompareOptions(threshold=0.0, skip_matching_hash=True), same_block=True)
    rows = set(zip(pairs.key_a.tolist(), pairs.key_b.tolist(), pairs.kind.tolist()))
    assert (0, 1, 2) in rows  # hash match, recorded as Fast-Diff-Py's success=2 with dif 0
    assert (0, 2, 1) in rows and (0, 3, 1) in rows and (2, 3, 1) in rows  # computed


def test_size_mismatches_are_kept_for_debugging_only_when_asked():
    t = np.zeros((3, 8, 8, 3), np.uint8)
    dims = np.array([[10, 20], [20, 10], [10, 30]])
    b = _batch(t, np.arange(3, dtype=np.int64), dims)
    plain = with_group_pairs(compare_blocks(b, b, CompareOptions(threshold=0.0, same_dim=True), same_block=True), b)
    assert list(zip(plain.key_a, plain.key_b)) == [(0, 1)]  # transposed sizes are the same dimensions
    kept = compare_blocks(
        b, b, CompareOptions(threshold=0.0, same_dim=True, keep_non_matching_aspects=True), same_block=True
    )
    rows = set(zip(kept.key_a.tolist(), kept.key_b.tolist(), kept.kind.tolist(), kept.mse.tolist()))
    assert rows == {(0, 1, 1, 0.0), (0, 2, 3, -1.0), (1, 2, 3, -1.0)}


@pytest.mark.parametrize("skip_matching_hash", [False, True])
def test_pairs_do_not_depend_on_which_block_holds_an_image(skip_matching_hash):
    """Keys of an incremental run are not in path order: every pair is stored first-by-path, with the rotation seen
    from that image (ties included), whichever block each image came from."""
    rng = np.random.default_rng(5)
    t = planted(rng, 24, 10)
    t[8] = np.rot90(t[9], 1)  # a unique best rotation: 1 seen from 8, 3 seen from 9
    t[10] = np.maximum(t[10], np.rot90(t[10], 2))  # unchanged by a half turn ...
    t[11] = np.rot90(t[10], 1)  # ... so rotations 1 and 3 tie for this pair
    keys = np.arange(24)
    dims = np.tile([[100, 100]], (24, 1))
    paths = np.asarray([f"/p/{n:02d}" for n in rng.permutation(24)])  # path order unrelated to the keys
    batch = Batch(
        keys=keys,
        paths=paths,
        thumbs=t,
        height=dims[:, 0],
        width=dims[:, 1],
        hashes=np.asarray([[f"h{k % 5}", "", "", ""] for k in keys], dtype="<U64"),
        error_keys=np.zeros(0, np.int64),
        error_messages=np.zeros(0, str),
        started=0.0,
        finished=0.0,
    )
    opts = CompareOptions(threshold=1e9, same_dim=False, skip_matching_hash=skip_matching_hash)
    whole = compare_blocks(batch, batch, opts, same_block=True)
    first, second = (
        Batch(
            **{
                **batch.__dict__,
                **{f: getattr(batch, f)[part] for f in ("keys", "paths", "thumbs", "height", "width", "hashes")},
            }
        )
        for part in (slice(12, 24), slice(0, 12))
    )
    split = [
        compare_blocks(first, first, opts, True),
        compare_blocks(first, second, opts, False),
        compare_blocks(second, second, opts, True),
    ]
    rows = sorted(
        (a, b, m, r, k)
        for p in split
        for a, b, m, r, k in zip(
            p.key_a.tolist(), p.key_b.tolist(), p.mse.tolist(), p.rotation.tolist(), p.kind.tolist()
        )
    )
    assert rows == list(
        zip(
            whole.key_a.tolist(), whole.key_b.tolist(), whole.mse.tolist(), whole.rotation.tolist(), whole.kind.tolist()
        )
    )
    assert all(paths[a] < paths[b] for a, b in zip(whole.key_a, whole.key_b))
    assert len(whole) == 24 * 23 // 2 and {0, 1, 2, 3} <= set(whole.rotation.tolist())
