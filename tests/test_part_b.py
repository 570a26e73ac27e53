"""Partition B is the reference: every A image that matches a B image is a lower-quality copy under its best B
match, no B image is ever a copy, and files in both partitions count as B (a complete overlap is refused)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_fastdiff


def _smooth(rng: np.random.Generator, h: int = 40, w: int = 48) -> np.ndarray:
    return cv2.resize(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


def _noisy(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.int16) + rng.integers(-1, 2, img.shape), 0, 255).astype(np.uint8)


def _save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """lib/archive (B) and lib/new (A); A holds copies of B images of every kind of quality."""
    rng = np.random.default_rng(11)
    lib = tmp_path / "lib"
    b = [_smooth(rng) for _ in range(4)]
    for i, img in enumerate(b):
        _save(lib / "archive" / f"b{i}.png", img)
    _save(lib / "archive" / "b2_near.png", _noisy(rng, b[2]))  # a near copy inside B (never compared with b2)
    (lib / "new").mkdir()
    shutil.copy(lib / "archive" / "b0.png", lib / "new" / "n_byte_copy.png")
    _save(lib / "new" / "n_big.png", cv2.resize(b[1], (96, 80), interpolation=cv2.INTER_LINEAR))  # more pixels
    _save(lib / "new" / "n_noisy1.png", _noisy(rng, b[0]))
    _save(lib / "new" / "n_noisy2.png", _noisy(rng, b[0]))
    _save(lib / "new" / "n_bigger_file.png", _noisy(rng, b[3]))  # noise makes the larger file
    _save(lib / "new" / "n_both.png", b[2])  # matches b2 exactly and b2_near closely
    _save(lib / "new" / "n_alone.png", _smooth(rng))
    return lib


def _check_reference_groups(out: Path) -> tuple[dict, list]:
    """The invariants of partition B as the reference, against the pairs in the database; returns the outputs."""
    results = json.loads((out / "results.json").read_text())
    lower = json.loads((out / "lower_quality.json").read_text())
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        part_b = {os.fsdecode(p): b for p, b in con.execute("SELECT path_bytes, part_b FROM directory")}
        pairs = con.execute(
            "SELECT a.path_bytes, b.path_bytes, t.dif FROM dif_table t JOIN directory a ON a.key = t.key_a "
            "JOIN directory b ON b.key = t.key_b WHERE t.success IN (1, 2)"
        ).fetchall()
    best: dict[str, tuple[float, str]] = {}
    for a, b, dif in pairs:
        a, b = os.fsdecode(a), os.fsdecode(b)
        assert part_b[a] == 0 and part_b[b] == 1
        best[a] = min(best.get(a, (dif, b)), (dif, b))
    assert all(part_b[head] == 1 for head in results), "a head is not a B image"
    assert not [p for p in lower if part_b[p] == 1], "a B image is listed as lower quality"
    assert sorted(lower) == sorted(best), "an A image that matches B is not reported"
    grouped = {copy: (dif, head) for head, copies in results.items() for copy, dif in copies}
    assert grouped == best, "an A image is not grouped under its best B match"
    return results, lower


@pytest.mark.parametrize("hash_only", [False, True])
def test_every_matching_new_image_is_a_copy_of_the_archive(tmp_path, library, hash_only):
    out = tmp_path / "out"
    args = ["--config", "do_compare=false"] if hash_only else ["--similarity", "similar", "--no-same-dim"]
    run_fastdiff([library / "new"], out, "--part-b", str(library / "archive"), *args)
    results, lower = _check_reference_groups(out)
    new, archive = library / "new", library / "archive"
    if hash_only:  # exact thumbnails only
        assert results == {
            str(archive / "b0.png"): [[str(new / "n_byte_copy.png"), 0.0]],
            str(archive / "b2.png"): [[str(new / "n_both.png"), 0.0]],
        }
        return
    assert sorted(Path(p).name for p in lower) == [
        "n_big.png",
        "n_bigger_file.png",
        "n_both.png",
        "n_byte_copy.png",
        "n_noisy1.png",
        "n_noisy2.png",
    ]
    assert [p for p, _ in results[str(archive / "b2.png")]] == [str(new / "n_both.png")]  # MSE 0, not b2_near
    assert len(results[str(archive / "b0.png")]) == 3


def test_archive_inside_the_library_counts_as_b(tmp_path, library):
    out = tmp_path / "out"
    proc = run_fastdiff([library], out, "--part-b", str(library / "archive"), "--similarity", "similar")
    results, _ = _check_reference_groups(out)
    assert str(library / "new" / "n_byte_copy.png") in {c for copies in results.values() for c, _ in copies}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["shared_with_part_b"] == 5
    assert "5 files of part_a are also in part_b" in proc.stderr


def test_archive_reached_through_a_symlink_counts_as_b(tmp_path, library):
    link = tmp_path / "link"
    link.symlink_to(library, target_is_directory=True)
    out = tmp_path / "out"
    run_fastdiff([link], out, "--part-b", str(library / "archive"), "--similarity", "similar")
    results, _ = _check_reference_groups(out)
    assert str(link / "new" / "n_byte_copy.png") in results[str(library / "archive" / "b0.png")][0]
    assert json.loads((out / "stats.json").read_text())["shared_with_part_b"] == 5


@pytest.mark.parametrize("same", ["equal", "symlink"])
def test_complete_overlap_is_refused(tmp_path, library, same):
    a = library
    if same == "symlink":
        a = tmp_path / "link"
        a.symlink_to(library, target_is_directory=True)
    proc = run_fastdiff([a], tmp_path / "out", "--part-b", str(library), check=False)
    assert proc.returncode != 0
    assert "part_a and part_b overlap completely" in proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()
