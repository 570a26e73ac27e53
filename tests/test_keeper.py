"""The keeper order (fastdiff.merge.keeper): more pixels, then `prefer`, then a regular file before a link, then the
older file, then the original over its copies, then the shorter path (or the order of the config key `keep`); the
reason stored with each group; in the database's ranks, the best-copy groups and a real run."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fastdiff
from PIL import Image

from fastdiff.core.config import DEFAULT_KEEP, ConfigError, load_config
from fastdiff.core.options import IndexOptions
from fastdiff.index.scan import scan
from fastdiff.merge.db import writer
from fastdiff.merge.grouping import store_best_copy_groups
from fastdiff.merge.keeper import copy_marks, kept_because, preference


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


def _database(files: list[tuple[str, int, int, int, int]], prefer: list[str], keep: Sequence[str] = DEFAULT_KEEP):
    """A result database of (path, pixels side, file size, mtime_ns, link) rows, ranked."""
    con = writer.create(":memory:")
    rows = [
        (k, p, None, 1, side, side, 1, size, 0.0, mtime, link, 0, 0)
        for k, (p, side, size, mtime, link) in enumerate(files)
    ]
    writer.insert_files(con, rows, [])
    writer.finish(con, {}, prefer, keep)
    return con


def _ranked(files: list[tuple[str, int, int, int, int]], prefer: list[str], keep: Sequence[str] = DEFAULT_KEEP):
    """Paths of (path, pixels side, file size, mtime_ns, link) rows in the database's keeper order."""
    con = _database(files, prefer, keep)
    return [p for (p,) in con.execute("SELECT path FROM directory ORDER BY keeper_rank")]


FILES = [
    ("/p/a (1).jpg", 10, 100, 1, 0),  # a copy name, oldest
    ("/p/longer/a.jpg", 10, 100, 5, 0),
    ("/p/b.jpg", 10, 100, 5, 0),  # shorter path than longer/a.jpg, same time
    ("/p/a.jpg", 10, 100, 9, 0),  # the original name, newest
    ("/p/c.jpg", 10, 100, 5, 0),  # as b.jpg but later in byte order
    ("/p/big - Copy.jpg", 10, 999, 9, 0),  # the larger file: no better than a.jpg (size is no criterion)
    ("/p/huge - Copy.jpg", 20, 1, 9, 0),  # more pixels win over everything
    ("/pref/x - Copy.jpg", 10, 100, 9, 0),  # prefer wins over links, times, names and paths
    ("/p/link.jpg", 10, 100, 0, 1),  # a symbolic link: after every regular file, though the oldest
]


def test_keeper_order_in_the_database():
    assert _ranked(FILES, ["/pref"]) == [
        "/p/huge - Copy.jpg",
        "/pref/x - Copy.jpg",
        "/p/a (1).jpg",
        "/p/b.jpg",
        "/p/c.jpg",
        "/p/longer/a.jpg",
        "/p/a.jpg",
        "/p/big - Copy.jpg",
        "/p/link.jpg",
    ]


def test_keep_chooses_the_order():
    keep = ["fewer_copy_marks", "shortest_path", "pixels"]  # prefer, regular and oldest left out
    assert _ranked(FILES, ["/pref"], keep) == [
        "/p/a.jpg",
        "/p/b.jpg",
        "/p/c.jpg",
        "/p/link.jpg",
        "/p/longer/a.jpg",
        "/p/a (1).jpg",
        "/p/big - Copy.jpg",
        "/p/huge - Copy.jpg",  # as long as /pref/x - Copy.jpg: more pixels
        "/pref/x - Copy.jpg",
    ]
    assert _ranked(FILES, [], []) == sorted(p for p, *_ in FILES)  # byte order is always the last tie-break


@pytest.mark.parametrize(
    "kept, other, reason",
    [
        ("/p/huge - Copy.jpg", "/p/a.jpg", "more pixels"),
        ("/pref/x - Copy.jpg", "/p/a.jpg", "in preferred folder"),
        ("/p/a.jpg", "/p/link.jpg", "regular file"),
        ("/p/a (1).jpg", "/p/a.jpg", "older"),
        ("/p/a.jpg", "/p/big - Copy.jpg", "fewer copy marks"),
        ("/p/b.jpg", "/p/longer/a.jpg", "shorter path"),
        ("/p/b.jpg", "/p/c.jpg", "byte order"),
    ],
)
def test_the_reason_is_the_first_criterion_that_differs(kept, other, reason):
    con = _database(FILES, ["/pref"])
    key = dict(con.execute("SELECT path, key FROM directory"))
    assert kept_because(con, key[kept], key[other]) == reason
    con.execute(
        "INSERT INTO computed_pair (key_a, key_b, dif, success) VALUES (?, ?, 0, 1)", sorted((key[kept], key[other]))
    )
    store_best_copy_groups(con)
    assert con.execute("SELECT head, kept_because FROM best_copy_group").fetchall() == [(key[kept], reason)]


def test_groups_keep_the_original_of_exact_copies():
    con = writer.create(":memory:")
    names = ["/p/name - Copy.jpg", "/p/name (1).jpg", "/p/name copy.jpg", "/p/name.jpg", "/p/album - Copy/name.jpg"]
    writer.insert_files(con, [(k, p, None, 1, 10, 10, 1, 50, 0.0, 7, 0, 0, 0) for k, p in enumerate(names)], [])
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


@pytest.mark.parametrize(
    "keep, message",
    [
        (["pixels", "oldset"], "unknown criterion 'oldset' (did you mean 'oldest'?)"),
        (["size"], "unknown criterion 'size'; the criteria are pixels, prefer, regular, oldest"),
        (["oldest", "oldest"], "a criterion is given twice"),
        ("oldest", "keep"),
    ],
)
def test_keep_is_validated(tmp_path, keep, message):
    with pytest.raises(ConfigError, match="keep") as err:
        load_config({"part_a": [str(tmp_path)], "keep": keep})
    assert message in str(err.value)


def test_keep_defaults_and_difpy_mode(tmp_path):
    assert load_config({"part_a": [str(tmp_path)]}).keep == list(DEFAULT_KEEP)
    assert load_config({"part_a": [str(tmp_path)], "keep": []}).keep == []  # byte order alone
    with pytest.raises(ConfigError, match="prefer and keep are not allowed"):
        load_config({"part_a": [str(tmp_path)], "compat": "difpy", "keep": ["oldest"]})


def test_bundled_examples_keep_the_originals(tmp_path):
    """examples/images: the base files are kept over their rotated, resaved and re-encoded copies (with the larger
    file first, `coffee_rot180.png` was kept over `coffee.png`). All files get one modification time, as a copy of
    a checkout may give them, so the names decide."""
    images = tmp_path / "images"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "images", images)
    for path in images.rglob("*"):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    out = tmp_path / "out"
    run_fastdiff([images], out, "--config", "threshold=10")
    kept = {os.path.relpath(p, images) for p in json.loads((out / "results.json").read_text())}
    assert {"coffee.png", "rocket.jpg", "astronaut.jpg"} <= kept
    lower = {os.path.relpath(p, images) for p in json.loads((out / "lower_quality.json").read_text())}
    assert {"coffee_rot90.png", "coffee_rot180.png", "sub/coffee_rot270.png", "rocket_resaved.png"} <= lower


def test_a_link_to_a_file_found_under_its_own_name_is_the_alias(tmp_path):
    """The regular file is indexed, the link (though first in path order) is the second path of it."""
    photos = tmp_path / "photos"
    _save(photos / "z.png", np.zeros((4, 4, 3), np.uint8))
    (photos / "a_link.png").symlink_to(photos / "z.png")
    found = scan(IndexOptions.from_config(load_config({"part_a": [str(photos)]})))
    assert [(f.path, f.link) for f in found.files] == [(str(photos / "z.png"), False)]
    assert [(r.path, r.kind) for r in found.rejected] == [(str(photos / "a_link.png"), "alias")]
    (photos / "b_link.png").symlink_to(tmp_path / "outside.png")  # a link to a file outside: indexed, as a link
    _save(tmp_path / "outside.png", np.ones((4, 4, 3), np.uint8))
    found = scan(IndexOptions.from_config(load_config({"part_a": [str(photos)]})))
    assert [(os.path.basename(f.path), f.link) for f in found.files] == [("b_link.png", True), ("z.png", False)]
