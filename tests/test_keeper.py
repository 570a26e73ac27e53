"""The keeper order (fastdiff.merge.keeper): quality, then `prefer`, then the original over its copies, then the older
file, then the shorter path; in the database's ranks, the best-copy groups and a real run."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fastdiff
from PIL import Image

from fastdiff.merge.db import writer
from fastdiff.merge.grouping import store_best_copy_groups
from fastdiff.merge.keeper import copy_marks, preference


@pytest.mark.parametrize(
    "path, marks",
    [
        ("/a/name.jpg", 0),
        ("/a/name - Copy.jpg", 1),  # Windows Explorer
        ("/a/name - Copy (2).jpg", 1),
        ("/a/name - Copy - Copy.jpg", 2),
        ("/a/name (1).jpg", 1),  # name conflicts, downloads
        ("/a/name(12).jpg", 1),
        ("/a/name copy.jpg", 1),  # macOS Finder
        ("/a/name copy 3.jpg", 1),
        ("/a/name (copy).jpg", 1),  # GNOME Files
        ("/a/name (copy 2).jpg", 1),
        ("/a/name_copy.jpg", 1),
        ("/a/name_Copy1.jpg", 1),
        ("/a/name-Copy(1).jpg", 1),
        ("/a/Copy of name.jpg", 1),  # Windows XP, Google Drive
        ("/a/Copy (2) of name.jpg", 1),
        ("/a/IMG_1234-1.jpg", 1),  # photo managers
        ("/a/name - Kopie.jpg", 1),  # localized
        ("/a/Kopie von name.jpg", 1),
        ("/a/name - Copie (2).jpg", 1),
        ("/a/name - コピー.jpg", 1),
        ("/a/name - Копия.jpg", 1),
        ("/a/album - Copy/name.jpg", 1),  # folder names too
        ("/a/Copy of album/name (1).jpg", 2),
        ("/a/album (1)/Copy of name - Copy.jpg", 3),
        ("/a/Day-1/name.jpg", 0),  # "-1" only in file names
        ("/a/copy.jpg", 0),  # never stripped to nothing
        ("/a/(1).jpg", 0),
        ("/a/photocopy.jpg", 0),
        ("/a/2019-01.jpg", 0),
        ("/a/IMG-20190101-WA0001.jpg", 0),
        ("/a/na\udce4me (1).jpg", 1),  # undecodable bytes
    ],
)
def test_copy_marks(path, marks):
    assert copy_marks(path) == marks


def test_preference_is_the_first_listed_folder(tmp_path):
    prefer = [str(tmp_path / "keep"), str(tmp_path)]
    assert preference(str(tmp_path / "keep" / "x.jpg"), prefer) == 0
    assert preference(str(tmp_path / "keepsake" / "x.jpg"), prefer) == 1  # a folder, not a name prefix
    assert preference("/elsewhere/x.jpg", prefer) == 2
    assert preference(str(tmp_path / "x.jpg"), []) == 0


def _ranked(files: list[tuple[str, int, int, int]], prefer: list[str]) -> list[str]:
    """Paths of (path, pixels side, file size, mtime_ns) rows in the database's keeper order."""
    con = writer.create(":memory:")
    rows = [(k, p, None, 1, side, side, 1, size, 0.0, mtime, 0, 0) for k, (p, side, size, mtime) in enumerate(files)]
    writer.insert_files(con, rows, [])
    writer.finish(con, {}, prefer)
    return [p for (p,) in con.execute("SELECT path FROM directory ORDER BY keeper_rank")]


def test_keeper_order_in_the_database():
    files = [
        ("/p/a (1).jpg", 10, 100, 1),  # a copy name, oldest
        ("/p/longer/a.jpg", 10, 100, 5),
        ("/p/b.jpg", 10, 100, 5),  # shorter path than longer/a.jpg, same time
        ("/p/a.jpg", 10, 100, 9),  # the original name, newest
        ("/p/c.jpg", 10, 100, 5),  # as b.jpg but later in byte order
        ("/p/big - Copy.jpg", 10, 999, 9),  # the larger file wins over any name
        ("/p/huge - Copy.jpg", 20, 1, 9),  # more pixels win over file size
        ("/pref/x - Copy.jpg", 10, 100, 9),  # prefer wins over names, times and paths
    ]
    assert _ranked(files, ["/pref"]) == [
        "/p/huge - Copy.jpg",
        "/p/big - Copy.jpg",
        "/pref/x - Copy.jpg",
        "/p/b.jpg",
        "/p/c.jpg",
        "/p/longer/a.jpg",
        "/p/a.jpg",
        "/p/a (1).jpg",
    ]


def test_groups_keep_the_original_of_exact_copies():
    con = writer.create(":memory:")
    names = ["/p/name - Copy.jpg", "/p/name (1).jpg", "/p/name copy.jpg", "/p/name.jpg", "/p/album - Copy/name.jpg"]
    writer.insert_files(con, [(k, p, None, 1, 10, 10, 1, 50, 0.0, 7, 0, 0) for k, p in enumerate(names)], [])
    writer.insert_pairs(con, [(a, b, 0.0, 1, 0) for a in range(5) for b in range(a + 1, 5)])
    writer.finish(con, {}, [])
    store_best_copy_groups(con)
    heads = {h for (h,) in con.execute("SELECT DISTINCT head FROM best_copy_group")}
    assert heads == {3}


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_run_keeps_the_original_and_the_preferred_folder(tmp_path):
    rng = np.random.default_rng(3)
    photos = tmp_path / "photos"
    first, second, third = (rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) for _ in range(3))
    _save(photos / "name.png", first)
    for copy in ("name - Copy.png", "name (1).png", "name copy.png", "name-Copy(1).png", "Copy of name.png"):
        shutil.copy(photos / "name.png", photos / copy)
    (photos / "album - Copy").mkdir()
    shutil.copy(photos / "name.png", photos / "album - Copy" / "name.png")
    # no copy names: the older file is kept
    _save(photos / "b.png", second)
    shutil.copy(photos / "b.png", photos / "a.png")
    os.utime(photos / "a.png", ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    os.utime(photos / "b.png", ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    # prefer: the copy under the preferred folder is kept
    _save(photos / "z.png", third)
    _save(photos / "keep" / "z (1).png", third)

    out = tmp_path / "out"
    run_fastdiff([photos], out, "--config", f"prefer=[{photos / 'keep'}]")
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {str(photos / "name.png"), str(photos / "b.png"), str(photos / "keep" / "z (1).png")}
    assert len(results[str(photos / "name.png")]) == 6
    lower = json.loads((out / "lower_quality.json").read_text())
    assert str(photos / "name.png") not in lower and str(photos / "a.png") in lower
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        mtimes = dict(con.execute("SELECT path, mtime_ns FROM directory"))
    assert mtimes[str(photos / "b.png")] == 1_000_000_000_000_000_000


def test_prefer_must_name_folders(tmp_path):
    (tmp_path / "in").mkdir()
    proc = run_fastdiff([tmp_path / "in"], tmp_path / "out", "--config", f"prefer=[{tmp_path / 'nope'}]", check=False)
    assert proc.returncode == 2 and "prefer" in proc.stderr and "is not a folder" in proc.stderr
