"""Index stage: what is scanned, in which order, and how shards and blocks are planned."""

from __future__ import annotations

import dataclasses
import os

from fastdiff.core.config import load_config
from fastdiff.core.file_counts import HIDDEN, IGNORED_NAME, IGNORED_PATH
from fastdiff.core.options import IndexOptions
from fastdiff.index.layout import read_shard
from fastdiff.index.scan import read_manifest, read_order, read_rejected, scan
from fastdiff.run.stages import run_index


def index_into(options: IndexOptions, out_dir: os.PathLike, layout_dir: os.PathLike) -> dict:
    """The index stage on its options (fastdiff.run.stages.run_index), returning the manifest."""
    return run_index(out_dir, layout_dir, options)


def index_options(raw: dict) -> IndexOptions:
    """The index stage's options of a config mapping."""
    return IndexOptions.from_config(load_config(raw))


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_filters_and_order(tmp_path):
    root = tmp_path / "photos"
    for rel in [
        "b.jpg",
        "a.JPG",
        "sub/c.png",
        ".hidden.jpg",
        ".cache/d.jpg",
        "notes.txt",
        "noext",
        "skip/e.jpg",
        "Thumbs/f.jpg",
        "x y é.webp",
        "image.bmp",
    ]:
        touch(root / rel)
    sibling = tmp_path / "photos2"  # shares a prefix with an ignored path, must stay
    touch(sibling / "g.jpg")
    cfg = index_options(
        {
            "part_a": [str(root), str(sibling)],
            "ignore_names": ["Thumbs"],
            "ignore_paths": [str(root / "skip"), str(tmp_path / "photos2x")],
        }
    )
    result = scan(cfg)
    names = [os.path.relpath(f.path, tmp_path) for f in result.files]
    assert names == sorted(names)
    assert set(names) == {
        "photos/a.JPG",
        "photos/b.jpg",
        "photos/sub/c.png",
        "photos/x y é.webp",
        "photos/image.bmp",
        "photos2/g.jpg",
    }
    assert {os.path.basename(r.path): r.reason for r in result.rejected} == {
        "notes.txt": "Unsupported file type",
        "noext": "Unsupported file type",
        ".hidden.jpg": HIDDEN,  # skipped, but counted (stats.json "files"), as a hidden folder is once
        ".cache": HIDDEN,
        "Thumbs": IGNORED_NAME,
        "skip": IGNORED_PATH,
    }
    assert {r.kind for r in result.rejected if r.reason in (HIDDEN, IGNORED_NAME, IGNORED_PATH)} == {"skipped"}
    assert [f.key for f in result.files] == list(range(len(result.files)))
    hidden = scan(dataclasses.replace(cfg, include_hidden=True))
    searched = {os.path.relpath(f.path, tmp_path) for f in hidden.files} - set(names)
    assert searched == {"photos/.hidden.jpg", "photos/.cache/d.jpg"}


def test_symlinks_loops_and_aliases(tmp_path):
    root = tmp_path / "p"
    touch(root / "real.jpg")
    os.symlink(root / "real.jpg", root / "zlink.jpg")  # the same file twice: compared once
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "missing.jpg", root / "broken.jpg")
    os.symlink(root, root / "cycle")  # a directory cycle is not followed twice
    cfg = index_options({"part_a": [str(root)]})
    result = scan(cfg)
    assert [os.path.basename(f.path) for f in result.files] == ["real.jpg"]
    reasons = {os.path.basename(r.path): r.reason for r in result.rejected}
    assert "symbolic links" in reasons["loop_a.jpg"] and "symbolic links" in reasons["loop_b.jpg"]
    assert "No such file" in reasons["broken.jpg"]
    assert reasons["zlink.jpg"].startswith("same file as")


def test_shards_blocks_and_pairs(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(23):
        touch(a / f"{i:02d}.jpg")
    for i in range(5):
        touch(b / f"{i}.png")
    out = tmp_path / "index"
    manifest = index_into(
        index_options({"part_a": [str(a)], "part_b": [str(b)], "shard_size": 10, "block_size": 10}),
        out,
        tmp_path / "layout",
    )
    assert [s["n"] for s in manifest["shards"]] == [10, 10, 3, 5]  # a shard never spans partitions
    assert [s["part"] for s in manifest["shards"]] == [0, 0, 0, 1]
    names = [blk["name"] for blk in manifest["blocks"]]
    assert manifest["pairs"] == [[names[0], names[3]], [names[1], names[3]], [names[2], names[3]]]  # A x B only
    assert read_manifest(out) == manifest and read_rejected(out) == []
    last = manifest["shards"][3]["name"]
    assert [f.key for f in read_shard(tmp_path / "layout" / f"{last}.json")] == list(range(23, 28))
    assert read_order(out).tolist() == list(range(28))  # from scratch, keys are the index order

    auto = index_into(
        index_options({"part_a": [str(a)], "part_b": [str(b)], "shard_size": 10}), tmp_path / "i1", tmp_path / "l1"
    )
    shards = [s["name"] for s in auto["shards"]]
    assert [blk["shards"] for blk in auto["blocks"]] == [shards[:3], shards[3:]]  # small: one block per partition
    monkeypatch.setattr("fastdiff.index.layout.AUTO_MIN_BLOCK_IMAGES", 1)
    one = index_into(
        index_options({"part_a": [str(a)], "shard_size": 2, "max_compare_jobs": 10}), tmp_path / "i2", tmp_path / "l2"
    )
    assert len(one["blocks"]) > 1 and len(one["pairs"]) <= 10
    assert [s for blk in one["blocks"] for s in blk["shards"]] == [s["name"] for s in one["shards"]]

    folders = index_into(
        index_options({"part_a": [str(a), str(b)], "in_folder": True, "shard_size": 100}),
        tmp_path / "i3",
        tmp_path / "l3",
    )
    assert [s["section"] for s in folders["shards"]] == [0, 1]
    names = [blk["name"] for blk in folders["blocks"]]
    assert folders["pairs"] == [[names[0], names[0]], [names[1], names[1]]]  # never across folders


def test_layout_is_kept_across_runs_and_made_afresh_when_unusable(tmp_path):
    a, layout = tmp_path / "a", tmp_path / "layout"
    for i in range(0, 50, 2):
        touch(a / f"{i:02d}.jpg")
    cfg = {"part_a": [str(a)], "shard_size": 10, "block_size": 10}
    first = index_into(index_options(cfg), tmp_path / "i0", layout)
    for i in (1, 13, 51):  # new files, two of them in the middle of the path order
        touch(a / f"{i:02d}.jpg")
    again = index_into(index_options(cfg), tmp_path / "i1", layout)
    assert again["shards"][:3] == first["shards"] and again["blocks"][:3] == first["blocks"]
    new = read_shard(layout / f"{again['shards'][3]['name']}.json")
    assert [(f.key, os.path.basename(f.path)) for f in new] == [(25, "01.jpg"), (26, "13.jpg"), (27, "51.jpg")]
    order = read_order(tmp_path / "i1")  # keys -> positions in path order
    assert order[25] == 1 and order[26] == 8 and order[27] == 27 and sorted(order) == list(range(28))

    (layout / f"{again['shards'][1]['name']}.json").write_text("[]")  # a damaged layout is not trusted
    fresh = index_into(index_options(cfg), tmp_path / "i2", layout)
    assert read_order(tmp_path / "i2").tolist() == list(range(28)) and len(fresh["shards"]) == 3
    resized = index_into(index_options({**cfg, "shard_size": 7}), tmp_path / "i3", layout)  # other settings
    assert [s["n"] for s in resized["shards"]] == [7, 7, 7, 7]
    assert sorted(p.name for p in layout.iterdir()) == sorted(
        [f"{s['name']}.json" for s in resized["shards"]] + ["layout.json", f"index-{resized['version']}.version"]
    )
