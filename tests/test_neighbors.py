"""Exact k nearest neighbours (config keys neighbors, outlier_mse) equal a brute-force reference: every image's k
closest admissible images by the MSE (symmetries, size rules, partitions), ties broken by the other image's index
order, whatever the blocks, tiles and pruning; and through the workflow, the database, similarity.csv and stats.json.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fastdiff
from synth import make_collection
from test_prune import natural

from fastdiff.compare.neighbors import block_neighbors
from fastdiff.compare.pairs import Neighbors
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.options import STAGE_OPTIONS, CompareOptions, stage_params
from fastdiff.merge.db import ResultDB
from fastdiff.merge.similarity import top_k
from fastdiff.thumbnails.batch import Batch


def symmetry(t: np.ndarray, k: int) -> np.ndarray:
    """T_k of images (n, px, px, 3): rot90 by k, after a left-right flip for k >= 4."""
    return np.rot90(t[:, :, ::-1] if k >= 4 else t, k % 4, axes=(1, 2))


def sse_matrix(t: np.ndarray, codes: list[int]) -> np.ndarray:
    """min over the codes of the integer SSE(t[i], T_k t[j]), int64 (n, n), by exact integer products."""
    flat = t.reshape(len(t), -1).astype(np.int64)
    norms = (flat * flat).sum(axis=1)
    best = None
    for k in codes:
        other = symmetry(t, k).reshape(len(t), -1).astype(np.int64)
        sse = norms[:, None] + norms[None, :] - 2 * (flat @ other.T)
        best = sse if best is None else np.minimum(best, sse)
    return best


def admissible(dims: np.ndarray, part: np.ndarray, same_dim: bool, aspect: float | None) -> np.ndarray:
    """bool (n, n): the pairs threshold mode compares (itself excluded, A x B only when part has both values)."""
    n = len(dims)
    long, short = dims.max(axis=1), dims.min(axis=1)
    ok = ~np.eye(n, dtype=bool)
    if part.any():
        ok &= part[:, None] != part[None, :]
    if same_dim:
        ok &= (long[:, None] == long[None, :]) & (short[:, None] == short[None, :])
    if aspect:
        ratio = long / np.maximum(short, 1)
        ok &= (ratio[:, None] * aspect >= ratio[None, :]) & (ratio[None, :] >= ratio[:, None] / aspect)
    return ok


def reference(t, paths, part, dims, k, codes, same_dim=False, aspect=None) -> dict[int, list[tuple[int, float]]]:
    """image position -> its k closest images (position, MSE): by MSE, then (partition, path)."""
    d = t[0].size
    mse = sse_matrix(t, codes) / d
    ok = admissible(dims, part, same_dim, aspect)
    index_order = sorted(range(len(t)), key=lambda i: (part[i], paths[i]))
    rank = {j: r for r, j in enumerate(index_order)}
    return {
        i: sorted(((int(j), float(mse[i, j])) for j in np.flatnonzero(ok[i])), key=lambda c: (c[1], rank[c[0]]))[:k]
        for i in range(len(t))
    }


def batch_of(t: np.ndarray, keys: np.ndarray, paths: np.ndarray, dims: np.ndarray) -> Batch:
    n = len(t)
    return Batch(
        keys=keys,
        paths=paths,
        thumbs=t,
        height=dims[:, 0],
        width=dims[:, 1],
        hashes=np.full((n, 8), "", dtype="<U64"),
        error_keys=np.zeros(0, np.int64),
        error_messages=np.zeros(0, str),
        started=0.0,
        finished=0.0,
    )


def blockwise(t, paths, part, dims, keys, opts: CompareOptions, block: int) -> dict[int, list[tuple[int, float]]]:
    """The merged k-NN of every block pair of a layout: blocks of `block` images in each partition (in a shuffled
    order: keys and blocks need not follow the paths), every block pair of one partition, or every A x B pair."""
    blocks = []
    for p in (0, 1):
        members = np.flatnonzero(part == p)
        blocks += [(p, members[s : s + block]) for s in range(0, len(members), block)]
    batches = [batch_of(t[m], keys[m], paths[m], dims[m]) for _, m in blocks]
    found = []
    for i, (pi, _) in enumerate(blocks):
        for j, (pj, _) in enumerate(blocks):
            if (opts.two_partitions and pi == 0 and pj == 1) or (not opts.two_partitions and i <= j):
                found.append(block_neighbors(batches[i], batches[j], opts, same_block=i == j))
    # the merge's index keys: (partition, path) order, not the layout keys
    index_key = np.empty(keys.max() + 1, np.int64)
    index_key[keys[np.lexsort((paths, part))]] = np.arange(len(keys))
    key, other, mse = (np.concatenate([getattr(f, n) for f in found]) for n in ("key", "neighbor", "mse"))
    merged = top_k(Neighbors(index_key[key], index_key[other], mse), opts.neighbors)
    position = {int(index_key[key]): i for i, key in enumerate(keys)}
    out: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(t))}
    for key, other, mse in zip(merged.key.tolist(), merged.neighbor.tolist(), merged.mse.tolist()):
        out[position[key]].append((position[other], mse))
    return out


def adversarial_ties(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Many ties: groups of identical images, images one value apart from a common base (every pair at SSE 2), and
    a few distinct levels of flat grey."""
    t = np.full((n, px, px, 3), 128, np.uint8)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            t[i].reshape(-1)[i % (px * px * 3)] += 1  # all such pairs at SSE 2
        elif kind == 1:
            t[i] = 100 + 10 * (i % 4)  # flat levels: groups of equal images
    return t


def all_equal(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    return np.full((n, px, px, 3), 77, np.uint8)


def random_set(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    return rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8)


SETS = {"random": random_set, "natural": natural, "ties": adversarial_ties, "equal": all_equal}


def layout(rng: np.random.Generator, n: int, sizes: int = 1, two: bool = False):
    """Keys in a random order unrelated to the paths, shuffled paths, dims from `sizes` shapes, partitions."""
    keys = rng.permutation(n).astype(np.int64) + 1000
    paths = np.asarray([f"/p/{name:04d}.png" for name in rng.permutation(n)])
    shapes = np.asarray([[40, 30], [30, 40], [50, 50], [60, 20]])[:sizes]
    dims = shapes[rng.integers(0, len(shapes), n)]
    part = (rng.random(n) < 0.4).astype(np.int64) if two else np.zeros(n, np.int64)
    return keys, paths, dims, part


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("k", [1, 5, 50])
def test_equals_brute_force(name, k):
    rng = np.random.default_rng(k)
    n, px = 50, 8
    t = SETS[name](rng, n, px)
    keys, paths, dims, part = layout(rng, n)
    want = reference(t, paths, part, dims, k, [0, 1, 2, 3])
    for block, tile, prune in ((50, 1024, True), (23, 16, True), (9, 7, True), (23, 1024, False)):
        opts = CompareOptions(threshold=0.0, neighbors=k, tile_size=tile, prune=prune)
        assert blockwise(t, paths, part, dims, keys, opts, block) == want, (block, tile, prune)
    # a compare job's output does not depend on the pruning or the tiles either
    whole = batch_of(t, keys, paths, dims)
    outputs = [
        block_neighbors(whole, whole, CompareOptions(threshold=0.0, neighbors=k, tile_size=tile, prune=prune), True)
        for tile, prune in ((1024, True), (5, True), (1024, False))
    ]
    for other in outputs[1:]:
        assert all(np.array_equal(getattr(other, f), getattr(outputs[0], f)) for f in ("key", "neighbor", "mse"))


@pytest.mark.parametrize(
    "rotate, mirror, same_dim, aspect, sizes",
    [
        (False, False, True, None, 3),
        (True, True, True, None, 4),
        (True, False, False, 1.4, 4),
        (True, True, False, 0, 4),
    ],
)
def test_symmetries_and_size_rules(rotate, mirror, same_dim, aspect, sizes):
    rng = np.random.default_rng(7)
    n, px = 60, 9  # odd px: the grid's middle cells
    t = natural(rng, n, px)
    t[10] = symmetry(t[11:12], 5)[0]  # a mirrored copy
    keys, paths, dims, part = layout(rng, n, sizes)
    dims[0] = [99, 13]  # a size of its own: no neighbour under the size rules
    codes = [c for c in range(8) if (rotate or c % 4 == 0) and (mirror or c < 4)]
    same = same_dim or aspect == 0
    want = reference(t, paths, part, dims, 5, codes, same, aspect or None)
    for block in (60, 17):
        opts = CompareOptions(
            threshold=0.0, neighbors=5, rotate=rotate, mirror=mirror, same_dim=same_dim, match_aspect_by=aspect
        )
        assert blockwise(t, paths, part, dims, keys, dataclasses.replace(opts, tile_size=8), block) == want
    assert (want[0] == []) == (same or aspect is not None)


@pytest.mark.parametrize("k", [1, 5])
def test_two_partitions_neighbours_across(k):
    """part_b: A images get their neighbours among B, B images among A (the pairs threshold mode compares)."""
    rng = np.random.default_rng(11)
    n, px = 64, 8
    t = natural(rng, n, px)
    keys, paths, dims, part = layout(rng, n, two=True)
    want = reference(t, paths, part, dims, k, [0, 1, 2, 3])
    assert all(part[i] != part[j] for i, found in want.items() for j, _ in found)
    for block in (64, 10):
        opts = CompareOptions(threshold=0.0, neighbors=k, two_partitions=True, tile_size=16)
        assert blockwise(t, paths, part, dims, keys, opts, block) == want


def test_config_keys():
    base = {"part_a": ["."], "output_dir": "x"}
    with pytest.raises(ConfigError, match="neighbors"):
        load_config({**base, "neighbors": 0}, check_environment=False)
    with pytest.raises(ConfigError, match="outlier_mse"):
        load_config({**base, "outlier_mse": -1}, check_environment=False)
    with pytest.raises(ConfigError, match="needs compat 'default'"):
        load_config({**base, "neighbors": 3, "do_compare": False}, check_environment=False)
    only_outliers = load_config({**base, "outlier_mse": 50}, check_environment=False)
    assert CompareOptions.from_config(only_outliers).neighbors == 1  # outliers follow from the nearest neighbour
    # changing neighbors reruns compare and merge only; outlier_mse the merge only (k stays)
    a = load_config({**base, "neighbors": 3}, check_environment=False)
    b = load_config({**base, "neighbors": 4}, check_environment=False)
    c = load_config({**base, "neighbors": 4, "outlier_mse": 9.0}, check_environment=False)
    changed = {s for s in STAGE_OPTIONS if stage_params(a, s) != stage_params(b, s)}
    assert changed == {"compare", "merge"}
    assert {s for s in STAGE_OPTIONS if stage_params(b, s) != stage_params(c, s)} == {"merge"}


def workflow_reference(out: Path, k: int, rotate: bool = True) -> dict[str, list[tuple[str, float]]]:
    """Brute force over the workflow's thumbnails (read with np.load), by path, with same_dim."""
    order = np.load(out / "work" / "index" / "order.npy")
    keys, thumbs, dims = [], [], []
    for f in sorted((out / "work" / "thumbs").glob("*.npz")):
        z = np.load(f)
        keys += order[z["keys"]].tolist()
        thumbs.append(z["thumbs"])
        dims.append(np.stack([z["height"], z["width"]], axis=1))
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        info = {key: (path, part) for key, path, part in con.execute("SELECT key, path, part_b FROM directory")}
    paths = np.asarray([info[key][0] for key in keys])
    part = np.asarray([info[key][1] for key in keys])
    t = np.concatenate(thumbs)
    found = reference(t, paths, part, np.concatenate(dims), k, [0, 1, 2, 3] if rotate else [0], same_dim=True)
    return {paths[i]: [(paths[j], m) for j, m in v] for i, v in found.items() if v}


def similarity_rows(out: Path) -> dict[str, list[tuple[str, float]]]:
    with open(out / "similarity.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["from", "to", "mse"]
    found: dict[str, list[tuple[str, float]]] = {}
    for a, b, mse in rows[1:]:
        found.setdefault(a, []).append((b, float(mse)))
    return found


@pytest.mark.parametrize("snakemake", [True, False])
def test_workflow(tmp_path, snakemake):
    """Through the real workflow (several blocks): the neighbors table, similarity.csv (closest first, paths as in
    results.json), the DataFrame and the outliers equal brute force; the threshold results do not change."""
    root = tmp_path / "imgs"
    make_collection(root, n_base=16, seed=3)
    plain, knn = tmp_path / "plain", tmp_path / "knn"
    common = ["--config", "threshold=5", "block_size=12"]
    run_fastdiff([root], plain, *common, snakemake=False)
    run_fastdiff([root], knn, *common, "--config", "neighbors=3", "outlier_mse=400", snakemake=snakemake)
    want = workflow_reference(knn, 3)
    assert similarity_rows(knn) == want
    for name in ("results.json", "lower_quality.json"):
        assert (plain / name).read_bytes() == (knn / name).read_bytes()
    with sqlite3.connect(plain / "fastdiff.sqlite") as p, sqlite3.connect(knn / "fastdiff.sqlite") as q:
        assert p.execute("SELECT * FROM dif_table").fetchall() == q.execute("SELECT * FROM dif_table").fetchall()
    with ResultDB(knn) as db:
        frame = db.neighbors_frame()
        assert list(frame.columns) == ["key", "path", "rank", "neighbor_key", "neighbor_path", "mse"]
        assert len(frame) == sum(len(v) for v in want.values())
        assert frame.groupby("key")["rank"].apply(list).map(lambda r: r == list(range(1, len(r) + 1))).all()
        outliers = db.outliers_frame()
    nearest = {a: v[0][1] for a, v in want.items()}
    expected = sorted(p for p, m in nearest.items() if m > 400)
    stats = json.loads((knn / "stats.json").read_text())
    with sqlite3.connect(knn / "fastdiff.sqlite") as con:
        lonely = [p for (p,) in con.execute("SELECT path FROM directory WHERE success = 1") if p not in nearest]
    assert sorted(stats["outliers"]["files"]) == sorted(expected + lonely) == sorted(outliers["path"])
    assert stats["outliers"]["count"] == len(outliers) > 0
    assert all(stats["outliers"]["files"][p] is None for p in lonely)


def test_workflow_two_partitions_and_rerun(tmp_path):
    """part_b through the workflow, then k changed: the neighbours follow, and turning them off removes
    similarity.csv."""
    a, b = tmp_path / "a", tmp_path / "b"
    make_collection(a, n_base=10, seed=4, odd_names=False)
    make_collection(b, n_base=10, seed=5, odd_names=False)
    out = tmp_path / "out"
    for k in (2, 4):
        args = ("--config", f"part_b=['{b}']", f"neighbors={k}", "block_size=6", "rotate=false")
        run_fastdiff([a], out, *args, snakemake=False)
        want = workflow_reference(out, k, rotate=False)
        assert similarity_rows(out) == want
        assert all(str(p).startswith(str(b)) != str(q).startswith(str(b)) for p, v in want.items() for q, _ in v)
    run_fastdiff([a], out, "--config", f"part_b=['{b}']", "block_size=6", "rotate=false", snakemake=False)
    assert not (out / "similarity.csv").exists()
    with ResultDB(out) as db:
        assert db.neighbors_frame().empty


def test_frames_of_a_database_without_neighbours(tmp_path):
    """A database of an older fastdiff (no neighbors or outlier table) reads as empty frames, not an error."""
    from fastdiff.merge.db.schema import SCHEMA

    path = tmp_path / "fastdiff.sqlite"
    with sqlite3.connect(path) as con:
        tables = SCHEMA.replace("CREATE TABLE neighbors", "CREATE TABLE other_a").replace(
            "CREATE TABLE outlier", "CREATE TABLE other_b"
        )
        con.executescript(tables)
    with ResultDB(path) as db:
        assert db.neighbors_frame().empty and list(db.outliers_frame().columns) == ["key", "path", "nearest_mse"]
