"""End to end: the workflow's pairs equal a brute-force reference, for any shard/block size and partition mode."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import brute_force, dif_rows, path_pairs, read_json, run_fastdiff


@pytest.mark.parametrize(
    "similarity, rotate, same_dim, extra",
    [
        ("similar", True, False, ["--shard-size", "7", "--config", "block_size=14"]),
        ("similar", True, True, ["--shard-size", "1000"]),
        ("100", False, False, ["--shard-size", "5", "--config", "block_size=10", "--config", "tile_size=16"]),
        ("duplicates", True, False, ["--shard-size", "9", "--config", "skip_matching_hash=true"]),
    ],
)
def test_pairs_equal_brute_force(collection, tmp_path, similarity, rotate, same_dim, extra):
    root, planted = collection
    out = tmp_path / "out"
    run_fastdiff(
        [root],
        out,
        "--similarity",
        similarity,
        "--rotate" if rotate else "--no-rotate",
        "--same-dim" if same_dim else "--no-same-dim",
        *extra,
    )
    threshold = (
        {"duplicates": 0.0, "similar": 5.0}[similarity]
        if similarity in ("duplicates", "similar")
        else float(similarity)
    )
    expected = brute_force(out, threshold, rotate, same_dim)
    got = dif_rows(out)
    assert set(got) == set(expected)
    assert all(got[p] == expected[p] for p in expected), "MSE values must equal the float64 definition exactly"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["fastdiff.sqlite", "results.json", "lower_quality.json", "stats.json", "work"]
    )
    # every compare job leaves its benchmark file and logs what the bounds left
    assert list((out / "work" / "benchmarks" / "compare").glob("*.tsv"))
    logs = [p.read_text() for p in (out / "work" / "logs" / "compare").glob("*.log")]
    assert logs and all("pruned compare: " in text for text in logs)
    if similarity == "similar" and not same_dim:  # the planted near-copies are all found
        paths = {(a, b) for a, b in path_pairs(out)} | {(b, a) for a, b in path_pairs(out)}
        missing = [
            p for p in planted if p.kind != "brighten" and (str(root / p.original), str(root / p.copy)) not in paths
        ]
        assert not missing


def test_two_partitions_compare_only_across(collection, tmp_path):
    root, _ = collection
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    part_a, part_b = subdirs[0], subdirs[1:]
    out = tmp_path / "out"
    run_fastdiff(
        [part_a],
        out,
        *(arg for b in part_b for arg in ("--part-b", str(b))),
        "--similarity",
        "similar",
        "--no-same-dim",
        "--shard-size",
        "4",
        "--config",
        "block_size=8",
    )
    expected = brute_force(out, 5.0, True, False)
    assert dif_rows(out) == expected
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        sides = con.execute(
            "SELECT DISTINCT a.part_b, b.part_b FROM dif_table JOIN directory a ON a.key = key_a "
            "JOIN directory b ON b.key = key_b"
        ).fetchall()
    assert sides in ([(0, 1)], [])


def test_results_independent_of_shard_and_block_size(collection, tmp_path):
    root, _ = collection
    outs = []
    for i, extra in enumerate((["--shard-size", "1000"], ["--shard-size", "3", "--config", "block_size=6"])):
        out = tmp_path / f"out{i}"
        run_fastdiff([root], out, "--similarity", "similar", "--no-same-dim", *extra)
        outs.append(out)
    first, second = outs
    assert path_pairs(first) == path_pairs(second)
    for name in ("results.json", "lower_quality.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_groups_keep_the_best_copy_once(collection, tmp_path):
    root, _ = collection
    out = tmp_path / "out"
    run_fastdiff([root], out, "--similarity", "similar", "--no-same-dim")
    results = read_json(out / "results.json")
    lower = read_json(out / "lower_quality.json")
    pairs = path_pairs(out)
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        info = {p: (h * w, -r) for p, h, w, r in con.execute("SELECT path, px, py, keeper_rank FROM directory")}
    seen = []
    for head, members in results.items():
        seen += [head] + [m for m, _ in members]
        for member, mse in members:
            assert pairs.get((head, member), pairs.get((member, head))) == mse
            assert info[head] > info[member], f"{member} is a better copy than its group key {head}"
            assert info[head][0] >= info[member][0], "the keeper rank is not pixels first (the file size is none)"
    assert len(seen) == len(set(seen)), "an image appears in two groups"
    assert sorted(lower) == sorted(m for ms in results.values() for m, _ in ms)
    stats = read_json(out / "stats.json")
    assert stats["process"]["search"]["matches_found"]["duplicates"] + stats["process"]["search"]["matches_found"][
        "similar"
    ] == len(lower)
    assert list(stats) == ["directory", "total_files", "invalid_files", "process", "files", "skipped_files"]
    assert stats["files"]["images_compared"] == stats["process"]["search"]["files_searched"]


def test_in_folder_compares_inside_each_folder_only(tmp_path):
    from synth import make_tiny_set

    for name in ("one", "two"):
        make_tiny_set(tmp_path / "data" / name)
    dirs = [tmp_path / "data" / "two", tmp_path / "data" / "one"]
    out = tmp_path / "out"
    run_fastdiff(dirs, out, "--in-folder", "--similarity", "similar")
    results = read_json(out / "results.json")
    assert sorted(results) == sorted(map(str, dirs))
    for folder, groups in results.items():
        for head, members in groups.items():
            assert head.startswith(folder + "/") and all(m.startswith(folder + "/") for m, _ in members)
    assert sum(len(ms) for g in results.values() for ms in g.values()) == len(read_json(out / "lower_quality.json"))
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        crossing = con.execute(
            "SELECT COUNT(*) FROM dif_table JOIN directory a ON a.key = key_a "
            "JOIN directory b ON b.key = key_b WHERE a.dir_index != b.dir_index"
        ).fetchone()
    assert crossing == (0,)
