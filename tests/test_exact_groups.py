"""Exact-duplicate groups (threshold 0): one byte comparison per member, groups joined over compare jobs, the
database's dif_table view listing every pair as the pair-by-pair path did, and the cost linear in a group's size."""

from __future__ import annotations

import json
import shutil
import sqlite3
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from conftest import brute_force, run_fastdiff
from PIL import Image

from fastdiff.compare import exact_groups, hash_join
from fastdiff.compare.exact_groups import equal_groups
from fastdiff.compare.pairs import Pairs, load_pairs
from fastdiff.core.symmetry import ALL_CODES, codes_of
from fastdiff.core.symmetry_group import COMPOSE, first_rotation
from fastdiff.merge.db import ResultDB, writer
from fastdiff.merge.db.exact import ExactGroupJoin, count_pairs, rotation_rows
from fastdiff.thumbnails.build import rotation_hashes, sha256_hex


def sym(x: np.ndarray, k: int) -> np.ndarray:
    """The documented definition of T_k."""
    return np.rot90(x, k) if k < 4 else np.rot90(np.fliplr(x), k - 4)


def test_composition_is_the_definition():
    x = np.random.default_rng(0).random((5, 5))
    for g in range(8):
        for h in range(8):
            assert np.array_equal(sym(sym(x, h), g), sym(x, int(COMPOSE[g, h])))


def counting_verify(monkeypatch) -> list[int]:
    """Count the thumbnail pairs compared byte for byte by equal_groups."""
    compared = [0]

    def verify(ta, tb, ia, ib, k):
        compared[0] += len(ia)
        return hash_join.verify(ta, tb, ia, ib, k)

    monkeypatch.setattr(exact_groups, "verify", verify)
    return compared


@pytest.mark.parametrize("n", [500, 5000])
def test_one_comparison_per_member(monkeypatch, n):
    """n equal thumbnails in all 8 orientations: n comparisons (quadratic would be n (n - 1) / 2), one group."""
    compared = counting_verify(monkeypatch)
    base = np.random.default_rng(1).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    t = np.stack([sym(base, k % 8) for k in range(n)])
    g = equal_groups(t, ALL_CODES, np.zeros(n, np.int64))
    assert compared[0] == n
    assert g.member.tolist() == list(range(n)) and set(g.group.tolist()) == {0}
    assert all(np.array_equal(t[m], sym(t[0], int(s))) for m, s in zip(g.member, g.symmetry))
    assert g.stabiliser.tolist() == [1]  # only the identity leaves a random image unchanged


def test_collisions_and_rules_never_join(monkeypatch):
    """Every digest equal: the bytes decide; images of another size class or one side only form no group."""
    monkeypatch.setattr(exact_groups, "digests", lambda thumbs, r: np.zeros((len(thumbs), len(codes_of(r))), np.uint64))
    rng = np.random.default_rng(2)
    t = rng.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    t[3], t[5], t[7] = np.rot90(t[1], 3), t[1], t[2]
    g = equal_groups(t, (0, 1, 2, 3), np.zeros(10, np.int64))
    assert sorted(map(sorted, _groups(g))) == [[1, 3, 5], [2, 7]]
    g = equal_groups(t, (0, 1, 2, 3), np.asarray([0, 0, 0, 0, 0, 1, 0, 0, 0, 0]))  # 5 in another size class
    assert sorted(map(sorted, _groups(g))) == [[1, 3], [2, 7]]
    g = equal_groups(t, (0, 1, 2, 3), np.zeros(10, np.int64), side=np.asarray([0] * 6 + [1] * 4))
    assert sorted(map(sorted, _groups(g))) == [[2, 7]]  # 1, 3, 5 all on side 0


@pytest.mark.parametrize("codes", [(0,), (0, 1, 2, 3), ALL_CODES])
def test_the_batches_sha256_hashes_serve_as_digests_only_when_they_are_plain(codes):
    """The rotation hashes the decoding processes stored are used as digests where each is the sha-256 of its
    thumbnail (the default); the groups are the same as with computed digests. A bit shift, a user hash or a
    symmetry not hashed: not used."""
    rng = np.random.default_rng(4)
    t = rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8)
    t[10:20] = np.stack([sym(t[0], k % 4) for k in range(10)])
    t[30:] = t[1]
    hashes = np.asarray([rotation_hashes(x, 0, True, sha256_hex, True) for x in t])
    stored = hash_join.stored_digests(t, hashes, codes)
    assert stored is not None and stored.shape == (40, len(codes))
    with_stored = equal_groups(t, codes, np.zeros(40, np.int64), digests_of=stored)
    computed = equal_groups(t, codes, np.zeros(40, np.int64))
    assert sorted(_groups(with_stored)) == sorted(_groups(computed))  # (numbered in another order)
    assert sorted(zip(with_stored.member, with_stored.symmetry)) == sorted(zip(computed.member, computed.symmetry))
    shifted = np.asarray([rotation_hashes(x, 2, True, sha256_hex, True) for x in t])
    assert hash_join.stored_digests(t, shifted, codes) is None
    users = np.asarray([rotation_hashes(x, 0, True, lambda a: str(a.sum()), True) for x in t])
    assert hash_join.stored_digests(t, users, codes) is None
    if codes != (0,):
        unrotated = np.asarray([rotation_hashes(x, 0, False, sha256_hex, False) for x in t])
        assert hash_join.stored_digests(t, unrotated, codes) is None


def _groups(g) -> list[list[int]]:
    return [g.member[g.group == i].tolist() for i in np.unique(g.group)]


def test_groups_joined_over_jobs_give_every_pair_and_rotation():
    """Images of 4 classes (one with a 180-degree symmetry, one blank) in random orientations, split over jobs that
    each see two of three blocks: the joined groups give exactly the equal pairs, each with the first code k with
    a = T_k(b) (the definition, ties included)."""
    rng = np.random.default_rng(3)
    half = rng.integers(0, 256, (6, 3, 3), dtype=np.uint8)
    bases = [rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), np.concatenate([half, np.rot90(half, 2)], axis=1)]
    bases += [np.zeros((6, 6, 3), np.uint8), rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)]
    n = 60
    cls = rng.integers(0, 4, n)
    t = np.stack([sym(bases[c], int(rng.integers(0, 8))) for c in cls])
    blocks = np.array_split(rng.permutation(n), 3)
    join = ExactGroupJoin(n)
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        keys = blocks[i] if i == j else np.concatenate([blocks[i], blocks[j]])
        g = equal_groups(t[keys], ALL_CODES, np.zeros(len(keys), np.int64))
        z = np.zeros(0)
        join.add(Pairs(z, z, z, z, z, 0.0, 0.0, keys[g.member], g.group, g.symmetry, g.stabiliser))
    rows, _ = join.rows()
    by_key = {m: (grp, s, stab) for m, grp, s, stab in rows}
    assert sorted(by_key) == list(range(n))
    for a, b in combinations(range(n), 2):
        codes = [k for k in range(8) if np.array_equal(t[a], sym(t[b], k))]
        (ga, sa, stab), (gb, sb, _) = by_key[a], by_key[b]
        assert (ga == gb) == bool(codes)
        if codes:
            assert first_rotation(sa, sb, stab) == codes[0]
            assert np.array_equal(t[a], sym(t[ga], sa))


def write_collection(root: Path, n: int) -> None:
    """Big exact groups: a blank image in two sizes, an asymmetric, a 180-degree-symmetric and a mirror-symmetric
    image in all 8 orientations, in two folders, and noise."""
    rng = np.random.default_rng(4)
    asym = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    half = rng.integers(0, 256, (16, 8, 3), dtype=np.uint8)
    sym180 = np.concatenate([half, np.rot90(half, 2)], axis=1)
    mirrored = np.concatenate([half, half[:, ::-1]], axis=1)
    for d in ("x", "y"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        d, k = "xy"[i % 2], i % 8
        images = {
            "blank": np.zeros((16, 16, 3), np.uint8),
            "blank24_": np.zeros((24, 24, 3), np.uint8),
            "asym": sym(asym, k),
            "sym": sym(sym180, k),
            "mir": sym(mirrored, k),
            "noise": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
        }
        for name, img in images.items():
            Image.fromarray(np.ascontiguousarray(img)).save(root / d / f"{name}{i:03d}.png")


def tables(out: Path) -> dict[str, list]:
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("directory", "dif_table", "hash_table", "best_copy_group")
        }


@pytest.fixture(scope="module")
def groups_collection(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("groups")
    write_collection(root, 24)
    return root


CASES = {  # folders, options, config
    "default": lambda r: ([r], [], []),
    "mirror": lambda r: ([r], [], ["mirror=true"]),
    "any size": lambda r: ([r], [], ["same_dim=false"]),
    "in folder": lambda r: ([r / "x", r / "y"], ["--in-folder"], []),
    "part b": lambda r: ([r / "x"], ["--part-b", str(r / "y")], []),
    "no rotation": lambda r: ([r], [], ["rotate=false", "mirror=true"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_equal_the_pair_by_pair_compare(groups_collection, tmp_path, case):
    """The run with exact groups writes the same results, lower-quality list and database rows (dif_table through
    its view, rotations included) as the brute-force compare (prune: false), which lists every pair; blocks of 50
    images, so that groups span several compare jobs."""
    dirs, options, config = CASES[case](groups_collection)
    outs = {}
    for name, extra in (("groups", []), ("pairs", ["prune=false"])):
        outs[name] = tmp_path / name
        args = [*options, "--shard-size", "60", "--config", "block_size=50", *config, *extra]
        run_fastdiff(dirs, outs[name], *args, cores=1, snakemake=False)
    for f in ("results.json", "lower_quality.json"):
        assert (outs["groups"] / f).read_bytes() == (outs["pairs"] / f).read_bytes(), f
    got, expected = tables(outs["groups"]), tables(outs["pairs"])
    assert got == expected
    with sqlite3.connect(outs["groups"] / "fastdiff.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM computed_pair").fetchone() == (0,)
        assert con.execute("SELECT COUNT(*) FROM exact_group").fetchone()[0] > 0
        assert count_pairs(con) == len(expected["dif_table"]) > 100
    if case == "default":
        assert {(a, b): d for _, a, b, d, *_ in got["dif_table"]} == brute_force(outs["groups"], 0, True, True)


def test_a_big_group_is_stored_as_a_group(tmp_path):
    """2,000 identical files: no compare job writes a pair, the database stores one row per member, and the
    outputs list every member (results.json) and every pair (dif_table's view, counted without listing)."""
    n = 2000
    (tmp_path / "in").mkdir()
    first = tmp_path / "in" / "0000.png"
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(first)
    for i in range(1, n):
        shutil.copyfile(first, tmp_path / "in" / f"{i:04d}.png")
    out = tmp_path / "out"
    run_fastdiff([tmp_path / "in"], out, "--shard-size", "700", "--config", "block_size=700", cores=1, snakemake=False)
    outputs = [load_pairs(p) for p in (out / "work").rglob("*.npz") if "thumbs" not in p.parts]
    assert len(outputs) == 6  # 3 blocks: 3 with themselves, 3 across
    assert sum(len(p) for p in outputs) == 0
    sizes = (700, 700, 600)  # each image once in each of its jobs
    assert sum(len(p.group_key) for p in outputs) == sum(sizes) + sum(a + b for a, b in combinations(sizes, 2))
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT grp) FROM exact_group").fetchone() == (n, 1)
        assert con.execute("SELECT COUNT(*) FROM computed_pair").fetchone() == (0,)
        assert count_pairs(con) == n * (n - 1) // 2
        assert con.execute("SELECT COUNT(*) FROM dif_pair WHERE key_a = 5").fetchone() == (n - 6,)
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 1 and len(next(iter(results.values()))) == n - 1


def test_a_database_written_before_exact_groups_is_still_read(groups_collection, tmp_path):
    """The reader on the older schema (dif_table a table, no exact groups): the same pairs, count, clusters, and
    drop_diff deletes from it."""
    out = tmp_path / "out"
    run_fastdiff([groups_collection], out, "--config", "prune=false", cores=1, snakemake=False)
    with ResultDB(out) as db:
        pairs, count, clusters = list(db.pairs()), db.pair_count(), db.cluster_count()
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        con.executescript("""
            DROP VIEW matching_pairs; DROP VIEW dif_table; DROP VIEW dif_pair;
            DROP TABLE exact_group; DROP TABLE exact_rotation; ALTER TABLE computed_pair RENAME TO dif_table;""")
    with ResultDB(out) as db:
        assert (list(db.pairs()), db.pair_count(), db.cluster_count()) == (pairs, count, clusters)
        assert db.drop_diff(0.0) == 0 and db.pair_count() == count


def test_a_pair_stored_and_in_a_group_is_listed_once(tmp_path):
    """An incremental run may reuse a compare output that lists a pair of a group (written before groups existed):
    dif_table lists it once, and the count agrees."""
    con = writer.create(tmp_path / "db.sqlite")
    writer.insert_files(con, [(k, f"/{k}", None, 1, 10, 10, 1, 1, 0.0, -1, 0, 0, 0) for k in range(4)], [])
    writer.insert_pairs(con, [(0, 1, 0.0, 1, 0), (2, 3, 4.0, 1, 0)])
    writer.finish(con, {}, [])
    writer.insert_exact_groups(con, [(0, 0, 0, 1), (1, 0, 0, 1), (2, 0, 0, 1)], rotation_rows({1}), False)
    rows = con.execute("SELECT key_a, key_b, dif, rotation FROM dif_table").fetchall()
    assert rows == [(0, 1, 0.0, 0), (0, 2, 0.0, 0), (1, 2, 0.0, 0), (2, 3, 4.0, 0)]
    assert count_pairs(con) == 4
    con.close()
