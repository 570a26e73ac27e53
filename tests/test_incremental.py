"""Incremental runs: after files are added, removed or changed, a run in the same output folder computes only what
the changes touch (new x all, the shards of removed or changed files) and its outputs equal a run from scratch."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import brute_force, dif_rows, run_fastdiff

from fastdiff.core.config import NAMED_THRESHOLDS

ARGS = ["--similarity", "similar", "--no-same-dim", "--shard-size", "8", "--config", "block_size=16"]


def _image(path: Path, turns: int = 0, symmetric: bool = False) -> None:
    """A 100 x 100 PNG (its 50 x 50 thumbnail is an exact 2 x 2 average, so rotating the image rotates the
    thumbnail exactly), turned `turns` quarter turns. symmetric: stripes unchanged by a half turn (rotations 1 and 3
    then tie), else a pattern with no symmetry."""
    y, x = np.mgrid[0:100, 0:100].astype(np.float64)
    if symmetric:
        img = np.stack([np.full_like(y, 60), np.cos(np.abs(y - 49.5) / 3) * 100 + 128, 128 + 0 * y], axis=2)
    else:
        img = np.stack([x * 2.5, y * 1.5 + 40 * (x > 70), (x * y) % 97 + 60], axis=2)
    img = np.ascontiguousarray(np.rot90(img.astype(np.uint8), turns))
    if symmetric and turns % 2:
        img = img // 2 * 2 + 1  # near the turned stripes, not equal: MSE about 0.3
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def _outputs(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every thumbnail batch and block output."""
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "work").glob("*/*.npz")}


def assert_same_as_from_scratch(dirs: list[Path], out: Path, *args: str) -> None:
    """A run from scratch into the same output folder (the database records it) gives the same bytes."""
    incremental = out.rename(out.with_name(out.name + ".incremental"))
    run_fastdiff(dirs, out, *args)
    for name in ("results.json", "lower_quality.json", "fastdiff.sqlite"):
        assert (incremental / name).read_bytes() == (out / name).read_bytes(), name
    stats = [json.loads((o / "stats.json").read_text()) for o in (incremental, out)]
    for s in stats:
        for stage in ("build", "search"):
            del s["process"][stage]["duration"]
    assert stats[0] == stats[1]


@pytest.fixture
def tree(collection, tmp_path):
    """A writable copy of the synthetic collection, with every third file moved out to `later/`; and two pairs of an
    image and its quarter turn, one image of each in the tree (late in path order), one held back (early in path
    order), so that the new images come second in their block pairs but first in the index order."""
    root, _ = collection
    images, later = tmp_path / "images", tmp_path / "later"
    shutil.copytree(root, images)
    files = sorted(p for p in images.rglob("*") if p.is_file())
    held = files[::3]
    for p in held:
        target = later / p.relative_to(images)
        target.parent.mkdir(parents=True, exist_ok=True)
        p.rename(target)
    _image(images / "zz_shape.png")
    _image(later / "aa_shape.png", turns=1)
    _image(images / "zz_stripes.png", symmetric=True)
    _image(later / "aa_stripes.png", turns=1, symmetric=True)
    return images, later


def _add_back(images: Path, later: Path) -> None:
    for p in sorted(q for q in later.rglob("*") if q.is_file()):
        p.rename(images / p.relative_to(later))


def test_added_files_are_compared_new_against_all(tree, tmp_path):
    images, later = tree
    out = tmp_path / "out"
    run_fastdiff([images], out, *ARGS)
    first = _outputs(out)
    n_pairs_first = len(json.loads((out / "work" / "index" / "manifest.json").read_text())["pairs"])
    _add_back(images, later)

    run_fastdiff([images], out, *ARGS)
    second = _outputs(out)
    manifest = json.loads((out / "work" / "index" / "manifest.json").read_text())
    assert {p: v for p, v in second.items() if p in first} == first  # nothing computed before is computed again
    old_blocks = {name for p in first if "/compare/" in p for name in Path(p).stem.split("_")}
    new_blocks = {b["name"] for b in manifest["blocks"]} - old_blocks
    computed = [p for p in second if p not in first and "/compare/" in p]
    assert new_blocks and len(computed) == len(manifest["pairs"]) - n_pairs_first
    assert all(set(Path(p).stem.split("_")) & new_blocks for p in computed)  # each involves a new block

    assert dif_rows(out) == brute_force(out, NAMED_THRESHOLDS["similar"], True, False)
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        rotations = dict(
            con.execute("""SELECT a.filename, rotation FROM dif_table JOIN directory a ON a.key = key_a
            JOIN directory b ON b.key = key_b
            WHERE a.filename LIKE 'aa_%' AND b.filename = 'zz' || substr(a.filename, 3)
            """)
        )
    # aa = rot90(zz): MSE(aa, rot90(zz, k)) is 0 for k = 1 only; for the stripes, 1 and 3 tie and the first counts
    assert rotations == {"aa_shape.png": 1, "aa_stripes.png": 1}
    assert_same_as_from_scratch([images], out, *ARGS)


def test_removed_and_changed_files_invalidate_only_their_shards(tree, tmp_path):
    images, later = tree
    _add_back(images, later)
    out = tmp_path / "out"
    run_fastdiff([images], out, *ARGS)
    first = _outputs(out)
    manifest = json.loads((out / "work" / "index" / "manifest.json").read_text())
    shard_of = {}
    for s in manifest["shards"]:
        for f in json.loads((out / "work" / "layout" / f"{s['name']}.json").read_text()):
            shard_of[f["path"]] = s["name"]
    files = sorted(shard_of)
    removed, changed = files[3], files[-5]
    assert shard_of[removed] != shard_of[changed]
    Path(removed).unlink()
    _image(Path(changed), turns=2)  # another image under the same name

    run_fastdiff([images], out, *ARGS)
    second = _outputs(out)
    batches_before = {p for p in first if "/thumbs/" in p}
    batches_after = {p for p in second if "/thumbs/" in p}
    gone = {f"work/thumbs/{shard_of[removed]}.npz", f"work/thumbs/{shard_of[changed]}.npz"}
    assert batches_before - batches_after == gone  # exactly the two affected shards are replaced ...
    assert len(batches_after - batches_before) == 2
    assert all(second[p] == first[p] for p in batches_after & batches_before)  # ... and no other is rebuilt
    assert_same_as_from_scratch([images], out, *ARGS)


def test_two_partitions_incremental(collection, tmp_path):
    root, _ = collection
    a, b = tmp_path / "a", tmp_path / "b"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for i, p in enumerate(files):
        target = (a if i % 2 else b) / p.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    held = [p for p in sorted(a.rglob("*")) + sorted(b.rglob("*")) if p.is_file()][::4]
    for p in held:
        p.rename(p.with_name(p.name + ".held"))
    args = [*ARGS, "--config", "limit_extensions=true"]  # '.held' files are not indexed until renamed back
    out = tmp_path / "out"
    run_fastdiff([a], out, *args, "--part-b", str(b))
    first = _outputs(out)
    for p in held:
        p.with_name(p.name + ".held").rename(p)
    run_fastdiff([a], out, *args, "--part-b", str(b))
    assert {p: v for p, v in _outputs(out).items() if p in first} == first
    assert_same_as_from_scratch([a], out, *args, "--part-b", str(b))
