"""Hash-only mode (do_compare: false): exact-thumbnail duplicates from the hash columns, no compare job."""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
import time

import numpy as np
import pytest
from conftest import read_json, run_fastdiff
from PIL import Image
from synth import make_tiny_set, photo_like

from fastdiff.merge.db import writer as database


def _make_set(root):
    """The tiny set plus: a square image with an exact copy, a rot90 copy and a 2x upscale (equal thumbnail,
    other size), and two empty files (no hashes: they must not match each other)."""
    make_tiny_set(root)
    sq = photo_like(np.random.default_rng(7), 50, 50)  # the thumbnail size: its thumbnail is itself
    Image.fromarray(sq).save(root / "sq.png")
    shutil.copyfile(root / "sq.png", root / "sub" / "sq_copy.png")
    Image.fromarray(np.ascontiguousarray(np.rot90(sq))).save(root / "sq_rot90.png")
    Image.fromarray(sq.repeat(2, axis=0).repeat(2, axis=1)).save(root / "sq_big.png")
    (root / "empty1.png").write_bytes(b"")
    (root / "empty2.png").write_bytes(b"")


def _equal_thumbnail_pairs(out, rotate: bool, same_dim: bool) -> set[tuple[str, str]]:
    """Brute force over the thumbnail batches: path pairs whose thumbnails are identical up to a rotation."""
    keys, thumbs, dims = [], [], []
    for f in sorted((out / "work" / "thumbs").glob("*.npz")):
        z = np.load(f)
        keys += z["keys"].tolist()
        thumbs += list(z["thumbs"])
        dims += [tuple(sorted(hw)) for hw in zip(z["height"].tolist(), z["width"].tolist())]
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        path = dict(con.execute("SELECT key, path FROM directory"))
    found = set()
    for i, j in itertools.combinations(range(len(keys)), 2):
        if same_dim and dims[i] != dims[j]:
            continue
        if any(np.array_equal(thumbs[i], np.rot90(thumbs[j], k)) for k in (range(4) if rotate else [0])):
            found.add(tuple(sorted((path[keys[i]], path[keys[j]]))))
    return found


@pytest.mark.parametrize("rotate, same_dim", [(True, True), (False, False)])
def test_hash_only_runs_no_compare_job_and_groups_equal_thumbnails(tmp_path, rotate, same_dim):
    data = tmp_path / "data"
    _make_set(data)
    out = tmp_path / "out"
    proc = run_fastdiff(
        [data],
        out,
        "--config",
        "do_compare=false",
        "--rotate" if rotate else "--no-rotate",
        "--same-dim" if same_dim else "--no-same-dim",
        "--shard-size",
        "3",
    )
    jobs = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))
    assert "thumbnails" in jobs and "merge" in jobs and "compare" not in jobs
    assert not (out / "work" / "compare").exists() and not (out / "work" / "logs" / "compare").exists()

    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        rows = con.execute(
            "SELECT a.path, b.path, t.dif, t.success FROM dif_table t "
            "JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b"
        ).fetchall()
    assert {(d, s) for *_, d, s in rows} <= {(0.0, 2)}
    got = {tuple(sorted((a, b))) for a, b, *_ in rows}
    expected = _equal_thumbnail_pairs(out, rotate, same_dim)
    assert got == expected

    p = {
        name: str(data / name)
        for name in (
            "a.png",
            "sub/a_copy.png",
            "sq.png",
            "sub/sq_copy.png",
            "sq_rot90.png",
            "sq_big.png",
            "empty1.png",
            "empty2.png",
        )
    }
    assert (p["a.png"], p["sub/a_copy.png"]) in got
    assert ((p["sq.png"], p["sq_rot90.png"]) in got) == rotate
    assert ((p["sq.png"], p["sq_big.png"]) in got) == (not same_dim)
    assert not any(p["empty1.png"] in pair for pair in got)

    # equal-thumbnail classes are cliques, so the groups are exactly the classes, best copy first
    results = read_json(out / "results.json")
    groups = {frozenset([head, *(m for m, _ in members)]) for head, members in results.items()}
    adjacency: dict[str, set[str]] = {}
    for a, b in got:
        adjacency.setdefault(a, {a}).add(b)
        adjacency.setdefault(b, {b}).add(a)
    assert groups == {frozenset(s) for s in adjacency.values()}
    if not same_dim:
        assert p["sq_big.png"] in results  # the larger image is kept
    assert all(mse == 0 for members in results.values() for _, mse in members)


def _hash_only_db(rows: list[tuple], hashes: list[tuple]) -> sqlite3.Connection:
    con = database.create(":memory:")
    database.insert_files(con, rows, hashes)
    database.finish(con, {}, [])
    return con


@pytest.mark.parametrize(
    "two_partitions, per_folder, same_dims, factor",
    [(False, False, False, None), (False, True, True, None), (True, False, False, 1.5), (True, False, True, None)],
)
def test_hash_pairs_equal_a_python_reference(two_partitions, per_folder, same_dims, factor):
    rng = np.random.default_rng(1)
    n = 300
    dims = [(100, 100), (100, 150), (150, 100), (120, 160), (90, 300)]
    orbits = [[f"{o}r{k}" for k in range(4)] for o in range(40)]  # rotation hashes of 40 distinct thumbnails
    rows, hashes, info = [], [], []
    for key in range(n):
        h, w = dims[rng.integers(len(dims))]
        part = int(key >= n // 2) if two_partitions else 0
        folder = int(rng.integers(3))
        ok = rng.random() > 0.05
        orbit, k = int(rng.integers(len(orbits))), int(rng.integers(4))
        hs = orbits[orbit][k:] + orbits[orbit][:k]  # the rotations of a rotated copy: the same set, shifted
        rows.append((key, f"/x/{key}.png", None if ok else "bad", int(ok), h, w, 1, 1, 0.0, -1, 0, folder, part))
        if ok:
            hashes.append((key, *hs))
        info.append((ok, orbit, h, w, part, folder))
    con = _hash_only_db(rows, hashes)
    database.insert_hash_pairs(con, two_partitions, per_folder, same_dims, factor)
    got = set(con.execute("SELECT key_a, key_b FROM dif_table WHERE success = 2 AND dif = 0"))

    def ratio(h: int, w: int) -> float:
        return max(h, w) / min(h, w)

    expected = set()
    for a, b in itertools.combinations(range(n), 2):
        (ok_a, o_a, h_a, w_a, p_a, f_a), (ok_b, o_b, h_b, w_b, p_b, f_b) = info[a], info[b]
        if not (ok_a and ok_b and o_a == o_b) or (two_partitions and not (p_a == 0 and p_b == 1)):
            continue
        if (per_folder and f_a != f_b) or (same_dims and sorted((h_a, w_a)) != sorted((h_b, w_b))):
            continue
        if factor and not (ratio(h_a, w_a) * factor >= ratio(h_b, w_b) >= ratio(h_a, w_a) / factor):
            continue
        expected.add((a, b))
    assert got == expected and expected


@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_hash_pairs_scale_linearly():
    """20,000 images in two partitions: index lookups, not a nested loop over A x B (seconds per 10^8 rows)."""
    n = 20_000
    rows = [(k, f"/x/{k}.png", None, 1, 10, 10, 1, 1, 0.0, -1, 0, 0, int(k >= n // 2)) for k in range(n)]
    hashes = [(k, f"h{k % (n // 2)}", "", "", "") for k in range(n)]  # k and k + n/2 are equal
    con = _hash_only_db(rows, hashes)
    started = time.perf_counter()
    database.insert_hash_pairs(con, True, False, True, None)
    elapsed = time.perf_counter() - started
    assert con.execute("SELECT COUNT(*), MIN(key_b - key_a), MAX(key_b - key_a) FROM dif_table").fetchone() == (
        n // 2,
        n // 2,
        n // 2,
    )
    assert elapsed < 2.0, f"{elapsed:.2f} s"
