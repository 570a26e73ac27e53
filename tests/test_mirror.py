"""mirror (the 8 symmetries of the square) and grayscale (luma thumbnails): equal to brute force bit for bit."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from test_kernel import _batch, planted
from test_prune import adversarial, natural, rows

from fastdiff.compare import hash_join, kernel, prune
from fastdiff.compare.blocks import _hash_matches, compare_blocks
from fastdiff.compare.pairing import Dims
from fastdiff.core.cells import cell_sums, grid_cuts
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.options import CompareOptions, ThumbnailOptions
from fastdiff.core.symmetry import INVERSE, symmetries, transform
from fastdiff.merge.db import writer
from fastdiff.merge.db.schema import HASH_CLUSTER_ID
from fastdiff.thumbnails.batch import Batch
from fastdiff.thumbnails.build import luma, rotation_hashes, transformed


def sym(y: np.ndarray, k: int) -> np.ndarray:
    """The documented definition: T_k = rot90(y, k) for k < 4, rot90(fliplr(y), k - 4) for k >= 4."""
    return np.rot90(y, k) if k < 4 else np.rot90(np.fliplr(y), k - 4)


def sse_all(x: np.ndarray, y: np.ndarray, codes: tuple[int, ...]) -> list[int]:
    return [int(np.sum((x.astype(np.int64) - sym(y, k)) ** 2)) for k in codes]


def reference(t: np.ndarray, paths: np.ndarray, threshold: float, codes: tuple[int, ...]) -> list[tuple]:
    """Every pair within the threshold, first-by-path, with the MSE and the first code of the second image reaching
    the minimum: the definition, pair by pair."""
    out = []
    for x in range(len(t)):
        for y in range(len(t)):
            if paths[x] < paths[y]:
                sse = sse_all(t[x], t[y], codes)
                mse = min(sse) / t[0].size
                if mse <= threshold:
                    out.append((x, y, mse, codes[int(np.argmin(sse))], 1))
    return sorted(out)


def with_flips(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Plant mirrored copies (every flipped code), a near mirrored copy and ties between codes."""
    t = t.copy()
    for i, k in zip(range(0, 16, 2), range(4, 8)):
        t[i + 1] = sym(t[i], k)
    t[9] = np.clip(sym(t[8], 5).astype(int) + rng.integers(-1, 2, t[8].shape), 0, 255)
    t[10] = np.maximum(t[10], np.fliplr(t[10]))  # symmetric left-right: codes 0 and 4 tie ...
    t[11] = t[10]  # ... for this pair (also 2 and 6 once rotated)
    t[12] = np.maximum(t[12], np.flipud(t[12]))  # symmetric up-down (= code 6): ties between codes ...
    t[13] = np.rot90(np.fliplr(t[12]), 3)  # ... for this pair
    return t


def test_transform_codes():
    y = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    for k in range(8):
        assert np.array_equal(transform(np, y, k, axes=(0, 1)), sym(y, k))
        inverse = INVERSE[k]
        assert np.array_equal(sym(sym(y, k), inverse), y)
    assert symmetries(True, True) == tuple(range(8))
    assert symmetries(False, True) == (0, 4)
    assert symmetries(True, False) == (0, 1, 2, 3)
    assert symmetries(False, False) == (0,)
    assert kernel.stack_order(tuple(range(8))) == (0, 1, 2, 4, 5, 6, 7, 3)
    assert kernel.covering(kernel.stack_order(tuple(range(8)))) == 7
    assert kernel.FROM_B == [0, 3, 2, 1, 4, 5, 6, 7]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
@pytest.mark.parametrize("shape", [(50, 50, 3), (5, 7, 1), (6, 4, 2), (3, 9, 4), (4, 4, 5)])
def test_transformed_thumbnail_is_the_definition(shape, dtype):
    """The hashes' turned copies (OpenCV's flip and rotate for uint8) are T_k's bytes, contiguous, for any input."""
    x = np.random.default_rng(7).integers(0, 256, shape).astype(dtype)
    strided = np.zeros((shape[0], 2 * shape[1], shape[2]), dtype)[:, ::2]
    strided[...] = x
    for y in (x, strided):
        for k in range(8):
            got = transformed(y, k)
            assert got.flags.c_contiguous and got.dtype == dtype
            assert np.array_equal(got, sym(y, k))


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("px, codes", [(10, tuple(range(8))), (37, tuple(range(8))), (12, (0, 4))])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_compare_tile_equals_brute_force(px, codes, symmetric):
    rng = np.random.default_rng(px)
    t = with_flips(rng, planted(rng, 24, px))
    d = px * px * 3
    exact = np.array([[min(sse_all(x, y, codes)) / d for y in t] for x in t])
    allowed = np.triu(np.ones((24, 24), bool), 1)
    for threshold in (0.0, 7 / d, np.nextafter(7 / d, 0), 0.5, 5.0, 1e9):
        side_a, side_b = kernel.prepare(np, t, 1), kernel.prepare(np, t, codes)
        ia, ib, mse, code = kernel.compare_tile(np, side_a, side_b, allowed, threshold, symmetric=symmetric)
        ei, ej = np.nonzero((exact <= threshold) & allowed)
        assert sorted(zip(ia.tolist(), ib.tolist())) == sorted(zip(ei.tolist(), ej.tolist())), threshold
        assert np.array_equal(mse, exact[ia, ib])
        for i, j, k in zip(ia, ib, code):
            sse = sse_all(t[i], t[j], codes)
            assert k == codes[int(np.argmin(sse))]  # the first code reaching the minimum


@pytest.mark.parametrize("small", [0, 10**9])
def test_exact_sums_and_ties_seen_from_either_side(monkeypatch, small):
    """exact_sse, exact_sse_product and exact_sse_auto agree, and seen from b a pair gets the first code k with
    SSE(b, T_k a) minimal (FROM_B: the inverses)."""
    monkeypatch.setattr(kernel, "SMALL_PRODUCT", small)
    rng = np.random.default_rng(6)
    t = with_flips(rng, natural(rng, 40, 24))
    codes = tuple(range(8))
    a, b = kernel.prepare(np, t, 1), kernel.prepare(np, t, codes)
    ia, ib = rng.integers(0, 40, 400), rng.integers(0, 40, 400)
    ia[:6], ib[:6] = [0, 1, 10, 11, 12, 13], [1, 0, 11, 10, 13, 12]
    reverse = rng.random(400) < 0.5
    for rev in (None, reverse):
        expected = kernel.exact_sse(np, a, b, ia, ib, rev)
        for got in (kernel.exact_sse_product(np, a, b, ia, ib, rev), kernel.exact_sse_auto(np, a, b, ia, ib, rev)):
            assert all(np.array_equal(x, y) for x, y in zip(got, expected))
        for p in range(len(ia)):
            i, j = int(ia[p]), int(ib[p])
            seen_from_b = rev is not None and rev[p]
            sse = sse_all(t[j], t[i], codes) if seen_from_b else sse_all(t[i], t[j], codes)
            assert expected[0][p] == min(sse) and expected[1][p] == int(np.argmin(sse))


@pytest.mark.parametrize("px", [50, 37, 10])
@pytest.mark.parametrize("g", [1, 2, 4, 5])
def test_grid_is_symmetric_under_flips(px, g):
    cuts = grid_cuts(px, g)
    t = np.random.default_rng(px).integers(0, 256, (3, px, px, 3), dtype=np.uint8)
    cells = cell_sums(np, t, cuts)
    for k in range(8):
        flipped = transform(np, t, k).copy()
        assert np.array_equal(cell_sums(np, flipped, cuts), transform(np, cells, k))


@pytest.mark.parametrize("name", ["random", "natural", "adversarial"])
def test_bounds_never_exceed_the_exact_sse_over_eight(name):
    rng = np.random.default_rng(3)
    px = 20
    base = {"random": planted, "natural": natural, "adversarial": adversarial}[name](rng, 30, px)
    t = with_flips(rng, base)
    codes = tuple(range(8))
    p = prune.Pruner(np, t, t, 5.0, codes)
    ia = np.repeat(np.arange(30), 30)
    ib = np.tile(np.arange(30), 30)
    ri, rj = p._survivors(np.arange(30), np.arange(30), np.ones((30, 30), bool))
    kept = set(zip(ri.tolist(), rj.tolist()))
    for i, j in zip(ia.tolist(), ib.tolist()):
        if min(sse_all(t[i], t[j], codes)) <= 5.0 * p.d:
            assert (i, j) in kept  # a pair within the threshold is never pruned


@pytest.mark.parametrize("prune_on", [True, False])
@pytest.mark.parametrize("tile", [8, 1024])
@pytest.mark.parametrize("rotate", [True, False])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_blocks_equal_the_definition_over_eight_symmetries(monkeypatch, prune_on, tile, rotate):
    """compare_blocks with mirror: a block with itself out of path order, and split in two blocks, gives the
    reference's pairs, MSE and codes (ties included), pruned or not, at threshold 0 (hash join), 3 and 1e9."""
    monkeypatch.setattr(prune, "PROBE_MIN", 0)
    rng = np.random.default_rng(8)
    n, px = 36, 8
    t = with_flips(rng, natural(rng, n, px))
    t[20:26] = adversarial(rng, 6, px)
    codes = symmetries(rotate, True)
    dims = np.tile([[100, 100]], (n, 1))
    paths = np.asarray([f"/p/{k:02d}" for k in rng.permutation(n)])
    block = Batch(**{**_batch(t, np.arange(n), dims).__dict__, "paths": paths})
    first, second = (
        Batch(**{**block.__dict__, **{f: getattr(block, f)[s] for f in ("keys", "paths", "thumbs", "height", "width")}})
        for s in (slice(15, n), slice(0, 15))
    )
    for threshold in (0.0, 3.0, 1e9):
        opts = CompareOptions(
            threshold=threshold, same_dim=False, tile_size=tile, prune=prune_on, rotate=rotate, mirror=True
        )
        expected = reference(t, paths, threshold, codes)
        assert rows(compare_blocks(block, block, opts, True), block) == expected, threshold
        split = sorted(
            r
            for x, y, same in ((first, first, True), (first, second, False), (second, second, True))
            for r in rows(compare_blocks(x, y, opts, same), x, y)
        )
        assert split == expected, threshold
    if rotate:
        assert {4, 5, 6, 7} <= {r[3] for r in expected}


def test_mirror_off_is_unchanged():
    """Defaults: mirrored copies do not match, codes stay 0-3."""
    rng = np.random.default_rng(1)
    t = natural(rng, 20, 10)
    t[1] = np.fliplr(t[0])
    block = _batch(t, np.arange(20), np.tile([[100, 100]], (20, 1)))
    got = rows(compare_blocks(block, block, CompareOptions(threshold=0.0, same_dim=False), True), block)
    assert (0, 1) not in {(a, b) for a, b, *_ in got}
    got = rows(compare_blocks(block, block, CompareOptions(threshold=0.0, same_dim=False, mirror=True), True), block)
    assert (0, 1, 0.0, 4, 1) in got


def test_hashes_cover_the_flips():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    t[1] = sym(t[0], 6)
    t[2] = t[0]
    hashes = [rotation_hashes(x, 0, True, mirror=True) for x in t]
    plain = [rotation_hashes(x, 0, True) for x in t]
    assert all(len(h) == 8 for h in hashes + plain) and plain[0][4:] == [""] * 4 and plain[0][:4] == hashes[0][:4]
    assert set(hashes[0]) == set(hashes[1])  # one orbit: the same 8 hashes
    assert not set(plain[0][:4]) & set(plain[1][:4])
    block = _batch(t, np.arange(6), np.tile([[10, 10]], (6, 1)))
    block.hashes = np.asarray(hashes, dtype="<U64")
    dims = Dims.of(np, block, np.arange(6))
    opts = CompareOptions(threshold=0.0, same_dim=False, mirror=True)
    ia, ib = _hash_matches(block, block, dims, dims, opts, True)
    assert {(0, 1), (0, 2), (1, 2)} <= set(zip(ia.tolist(), ib.tolist()))
    # hash join at threshold 0
    ia, ib = hash_join.equal_pairs(t, t, symmetries(True, True))
    assert {(0, 1), (0, 2), (1, 2)} <= {(i, j) for i, j in zip(ia.tolist(), ib.tolist()) if i < j}


def test_hash_only_sql_covers_flips(tmp_path):
    """Hash-only mode: the flipped hashes join (mirror only), and a mirrored copy is in its original's hash
    cluster."""
    rng = np.random.default_rng(3)
    t = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    t[1] = sym(t[0], 5)
    files = [(k, f"/{k}", None, 1, 10, 10, 1, 1, 0.0, -1, 0, 0, 0) for k in range(3)]
    for mirror, expected in ((False, []), (True, [(0, 1)])):
        con = writer.create(tmp_path / f"{mirror}.sqlite")
        writer.insert_files(con, files, [(k, *rotation_hashes(x, 0, True, mirror=mirror)) for k, x in enumerate(t)])
        writer.finish(con, {}, [])
        writer.insert_hash_pairs(con, False, False, False, None)
        assert con.execute("SELECT key_a, key_b FROM dif_table").fetchall() == expected
        clusters = con.execute(f"SELECT COUNT(DISTINCT {HASH_CLUSTER_ID}) FROM directory").fetchone()[0]
        assert clusters == (2 if mirror else 3)
        con.close()


def test_luma_is_opencv_bt601():
    rng = np.random.default_rng(4)
    t = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    y = luma(t)
    assert y.dtype == np.uint8 and y.shape == t.shape
    assert np.array_equal(y[..., 0], cv2.cvtColor(t, cv2.COLOR_RGB2GRAY))
    assert np.array_equal(y[..., 0], y[..., 1]) and np.array_equal(y[..., 0], y[..., 2])
    exact = t.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(y[..., 0] - exact).max() <= 0.5 + 1e-9  # BT.601, rounded
    grey = np.repeat(y[..., :1], 3, axis=2)
    assert np.array_equal(luma(grey), grey)  # a grey thumbnail is its own luma
    # the MSE over px*px*3 values of such thumbnails is the MSE over the px*px luma values, exactly
    z = luma(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    a, b = y.astype(np.float64), z.astype(np.float64)
    assert np.mean((a - b) ** 2) == np.mean((a[..., 0] - b[..., 0]) ** 2)


def test_grayscale_thumbnails_match_grey_copies(tmp_path):
    """build_batch with grayscale: a grey copy (its luma saved as a grey PNG) matches its colour original at MSE
    well under 'similar'; without grayscale it does not."""
    from fastdiff.core.records import IndexedFile
    from fastdiff.thumbnails.build import build_batch

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:300, 0:400] / 300
    rgb = np.clip(
        np.stack([200 * x, 255 * y, 120 + 60 * np.sin(8 * x)], axis=2) + rng.normal(0, 4, (300, 400, 3)), 0, 255
    ).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "colour.png"), rgb[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    files = []
    for key, name in enumerate(("colour.png", "grey.png")):
        st = (tmp_path / name).stat()
        files.append(IndexedFile(key, str(tmp_path / name), 0, 0, st.st_size, st.st_ctime, 0, st.st_mtime_ns))
    config = load_config({"part_a": [str(tmp_path)], "grayscale": True})
    options = ThumbnailOptions.from_config(config)
    assert options.grayscale and not options.mirror
    grey = build_batch(files, options)
    colour = build_batch(files, dataclasses.replace(options, grayscale=False))
    mse = [np.mean((b.thumbs[0].astype(float) - b.thumbs[1]) ** 2) for b in (grey, colour)]
    assert mse[0] < 1.0 < 5.0 < mse[1]
    assert set(grey.hashes[0]) - {""} != set(colour.hashes[0]) - {""}  # hashes of the luma thumbnails


def test_config_keys(tmp_path):
    part = {"part_a": [str(tmp_path)]}
    config = load_config(part)
    assert config.mirror is False and config.grayscale is False
    assert CompareOptions.from_config(load_config({**part, "mirror": True})).mirror is True
    thumbs = ThumbnailOptions.from_config(load_config({**part, "mirror": True, "grayscale": True}))
    assert thumbs.mirror and thumbs.grayscale  # changing either reruns the thumbnails (their hashes, their pixels)
    for key in ("mirror", "grayscale"):
        with pytest.raises(ConfigError, match=r"compat 'difpy'.*mirror and grayscale"):
            load_config({**part, "compat": "difpy", key: True})


def test_difpy_flags(tmp_path, capsys):
    """`difpy --mirror --grayscale` finds a mirrored grey copy; with --difpy-exact both are refused."""
    from fastdiff.difpy import build, search
    from fastdiff.difpy.cli import main

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:120, 0:160] / 120
    rgb = np.clip(np.stack([200 * x, 255 * y, 90 + 0 * x], axis=2) + rng.normal(0, 3, (120, 160, 3)), 0, 255)
    rgb = rgb.astype(np.uint8)
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), rgb[:, :, ::-1])
    cv2.imwrite(str(images / "b.png"), np.fliplr(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))
    for flags, found in (([], 0), (["--mirror"], 0), (["--mirror", "--grayscale"], 1)):
        out = tmp_path / f"out{len(flags)}"
        assert main(["-D", str(images), "-Z", str(out), "-s", "similar", "-p", "False", *flags]) == 0
        (results,) = [p for p in out.iterdir() if p.name.endswith("_results.json")]
        assert len(__import__("json").loads(results.read_text())) == found, flags
    assert main(["-D", str(images), "-Z", str(tmp_path / "x"), "--difpy-exact", "--mirror"]) == 2
    assert "mirror is fastdiff's extension" in capsys.readouterr().err
    with pytest.raises(ValueError, match="grayscale is fastdiff's extension"):
        build(str(images), exact=True, grayscale=True)
    with pytest.raises(ValueError, match="mirror is fastdiff's extension"):
        search(build(str(images), exact=True), mirror=True)
