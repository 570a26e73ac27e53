"""The database API (fastdiff.merge.db) and `fastdiff query` on a small database with a known structure."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import pytest

from fastdiff.cli import main
from fastdiff.merge.db import ResultDB
from fastdiff.merge.db import writer as database
from fastdiff.merge.grouping import store_best_copy_groups

A = ["A0", "A90", "A180", "A270"]
E = ["E0", "E90", "E180", "E270"]
# key, path, error, success, height, width, allowed, file size, rotation hashes
FILES = [
    (0, "/p/a.png", None, 1, 100, 100, 1, 1000, A),
    (1, "/p/b.png", None, 1, 200, 200, 1, 500, ["B0", "B90", "B180", "B270"]),  # the most pixels
    (2, "/p/c.png", None, 1, 100, 100, 1, 2000, A[1:] + A[:1]),  # a rotated copy of a.png
    (3, "/p/d.png", None, 1, 100, 100, 1, 100, ["D0", "", "", ""]),
    (4, "/p/e.png", None, 1, 50, 50, 1, 10, E),
    (5, "/p/broken.jpg", "truncated image data", 0, -1, -1, 1, 300, None),
    (6, "/p/notes.txt", "Unsupported file type", -1, -1, -1, 0, 20, None),
    (7, "/p/locked.png", "Permission denied", 0, -1, -1, 0, -1, None),
    (8, "/p/f\nnew.png", None, 1, 50, 50, 1, 20, E),
]
# a chain 0-1-2-3 (one component; the best-copy group of b.png cannot take d.png), a hash match 4-8, an aspect mismatch
PAIRS = [(0, 1, 1.0, 1, 0), (1, 2, 2.0, 1, 0), (2, 3, 4.0, 1, 0), (4, 8, 0.0, 2, None), (0, 3, -1.0, 3, None)]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "fastdiff.sqlite"
    con = database.create(path)
    database.insert_files(
        con,
        [(k, p, e, s, h, w, a, size, 0.0, -1, 0, 0, 0) for k, p, e, s, h, w, a, size, _ in FILES],
        [(k, *hs) for k, *_, hs in FILES if hs],
    )
    database.insert_pairs(con, PAIRS)
    database.finish(con, {"threshold": 5.0}, [])
    store_best_copy_groups(con)
    con.close()
    return path


def _shape(cluster):
    return cluster.best_copy.key, [(c.image.key, c.mse) for c in cluster.copies]


def test_queries(db_path):
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with ResultDB(db_path.parent) as db:
        assert db.config() == {"threshold": 5.0}
        assert (db.pair_count(), db.pair_count(2.0), db.pair_count(0)) == (4, 3, 1)
        assert [(p.key_a, p.key_b, p.mse, p.hash_match) for p in db.pairs(max_mse=1.0)] == [
            (0, 1, 1.0, False),
            (4, 8, 0.0, True),
        ]
        assert [(p.key_a, p.key_b) for p in db.pairs(hash_matches=False)] == [(0, 1), (1, 2), (2, 3)]

        # connected components: the first in the keeper order is the best copy; d.png did not match b.png directly
        # (e.png and f\nnew.png: the same pixels, the file size is no criterion, the shorter path is kept)
        assert [_shape(c) for c in db.clusters()] == [(1, [(0, 1.0), (2, 2.0), (3, None)]), (4, [(8, 0.0)])]
        assert db.cluster_count() == 2 and _shape(db.cluster(1)) == (4, [(8, 0.0)])
        assert [c.kept_because for c in db.clusters()] == ["more pixels", "shorter path"]
        assert [_shape(c) for c in db.clusters(max_mse=2.0)] == [(1, [(0, 1.0), (2, 2.0)]), (4, [(8, 0.0)])]
        assert db.cluster_count(max_mse=0.5) == 1 and _shape(db.cluster(0, max_mse=0.5)) == (4, [(8, 0.0)])
        # best-copy groups: results.json's groups, every copy matched its best copy
        assert [_shape(c) for c in db.clusters("best_copy")] == [(1, [(0, 1.0), (2, 2.0)]), (4, [(8, 0.0)])]
        assert [c.kept_because for c in db.clusters("best_copy")] == ["more pixels", "shorter path"]
        assert db.cluster_count("best_copy") == 2 and db.cluster(1, "best_copy").copies[0].image.path == "/p/f\nnew.png"
        for kind in ("components", "best_copy"):
            keys = [i.key for c in db.clusters(kind) for i in (c.best_copy, *(m.image for m in c.copies))]
            assert len(keys) == len(set(keys)), f"an image is in two {kind} clusters"
            for i in (2, -1):
                with pytest.raises(IndexError):
                    db.cluster(i, kind)
        with pytest.raises(ValueError):
            db.cluster_count("best_copy", max_mse=1.0)

        assert db.hash_cluster_count() == 2
        assert [(h.hash, [i.key for i in h.images]) for h in db.hash_clusters()] == [("A0", [0, 2]), ("E0", [4, 8])]
        assert db.hash_cluster(1).images[1].path == "/p/f\nnew.png"
        with pytest.raises(IndexError):
            db.hash_cluster(2)

        assert [(p.key, p.stage, p.reason) for p in db.errors()] == [
            (5, "decode", "truncated image data"),
            (7, "index", "Permission denied"),
        ]
        assert [(p.key, p.path, p.reason) for p in db.disallowed()] == [(6, "/p/notes.txt", "Unsupported file type")]
        assert db.image(1).width == 200 and db.image(1).file_size == 500
        assert db.summary() == {
            "files": 9,
            "compared": 6,
            "errors": 2,
            "disallowed": 1,
            "pairs": 4,
            "clusters": 2,
            "best_copy_groups": 2,
            "hash_clusters": 2,
            "lower_quality": 3,
            "images_compared": 6,
            "not_images": 1,
            "unreadable_images": 2,
            "skipped": 0,
            "related": 0,
        }
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before, "a query wrote to the database"


def test_drop_diff_deletes_pairs_and_regroups(db_path):
    with ResultDB(db_path) as db:
        assert db.cluster_count() == 2
        assert db.drop_diff(1.5) == 2
        assert db.pair_count() == 2
        assert [_shape(c) for c in db.clusters()] == [(1, [(0, 1.0)]), (4, [(8, 0.0)])]
        assert [_shape(c) for c in db.clusters("best_copy")] == [(1, [(0, 1.0)]), (4, [(8, 0.0)])]
        assert [c.kept_because for c in db.clusters("best_copy")] == ["more pixels", "shorter path"]  # regrouped
        with pytest.raises(ValueError):
            db.drop_diff(-1)
    with ResultDB(db_path) as db:  # the change is in the file
        assert db.summary()["lower_quality"] == 2


@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_components_stream_pairs_in_memory_of_the_images(tmp_path):
    """100,000 images, 50,000 pairs: the union-find holds about 9 bytes per image, no list of pairs."""
    n = 100_000
    con = database.create(tmp_path / "big.sqlite")
    database.insert_files(con, ((k, f"/{k}", None, 1, 10, 10, 1, 1, 0.0, -1, 0, 0, 0) for k in range(n)), [])
    database.insert_pairs(con, ((k, k + 1, 0.5, 1, 0) for k in range(0, n, 2)))
    database.finish(con, {}, [])
    con.close()
    with ResultDB(tmp_path / "big.sqlite") as db:
        tracemalloc.start()
        count = db.cluster_count()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == n // 2
        assert peak < 3 * 2**20, f"{peak / 2**20:.1f} MiB"  # the 50,000 pairs as a list of tuples: 6 MiB
        assert sum(1 for _ in db.pairs()) == n // 2


def _query(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["query", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_query_cli(db_path, capsys):
    out_dir = str(db_path.parent)
    rc, out, _ = _query(capsys, out_dir, "summary", "--json")
    assert rc == 0 and json.loads(out)["pairs"] == 4
    rc, out, _ = _query(capsys, out_dir, "pairs", "--max-dif", "1", "--json")
    assert [(p["key_a"], p["key_b"], p["hash_match"]) for p in json.loads(out)] == [(0, 1, False), (4, 8, True)]
    rc, out, _ = _query(capsys, str(db_path), "clusters", "--json")
    clusters = [[c["best_copy"]["key"], [m["key"] for m in c["copies"]]] for c in json.loads(out)]
    assert clusters == [[1, [0, 2, 3]], [4, [8]]]
    assert [c["kept_because"] for c in json.loads(out)] == ["more pixels", "shorter path"]
    rc, out, _ = _query(capsys, out_dir, "clusters", "--kind", "best_copy")
    assert rc == 0 and out.splitlines()[:3] == [
        "cluster 0: 3 images, kept because: more pixels",
        "  kept     200x200        500 B                 /p/b.png",
        "  copy     100x100       1000 B  mse 1          /p/a.png",
    ]
    assert "/p/f\\x0anew.png" in out  # one line per image, control characters escaped
    rc, out, _ = _query(capsys, out_dir, "cluster", "1", "--kind", "best_copy", "--json")
    assert json.loads(out)["copies"][0]["path"] == "/p/f\nnew.png"
    rc, out, _ = _query(capsys, out_dir, "hash-clusters", "--json")
    assert [h["hash"] for h in json.loads(out)] == ["A0", "E0"]
    rc, out, _ = _query(capsys, out_dir, "errors")
    assert out.splitlines()[1:] == [
        "decode  truncated image data  /p/broken.jpg",
        "index   Permission denied  /p/locked.png",
    ]
    rc, out, _ = _query(capsys, out_dir, "disallowed", "--json")
    assert json.loads(out) == [{"key": 6, "path": "/p/notes.txt", "stage": "index", "reason": "Unsupported file type"}]
    assert _query(capsys, out_dir, "cluster", "5")[0] == 1
    assert _query(capsys, out_dir, "clusters", "--kind", "best_copy", "--max-dif", "1")[0] == 2
    assert _query(capsys, str(db_path.parent / "missing"), "summary")[0] == 2
    rc, out, _ = _query(capsys, out_dir, "drop-diff", "1.5")
    assert rc == 0 and out == "deleted 2 pairs; 2 pairs in 2 groups left\n"
