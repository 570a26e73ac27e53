"""Lossless paths (fastdiff._shared.paths): any name the OS allows round-trips through results.json, lower_quality.json,
stats.json, fastdiff.sqlite, ResultDB, `fastdiff query`, the report and `difpy` moves, deletes and undo."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_fastdiff
from PIL import Image

from fastdiff._shared.paths import display
from fastdiff.merge.db import ResultDB

# every name is a copy of one picture, except OTHER (a different picture with a copy of its own)
COPIES = [
    b"keep.png",
    b"copy_\xe4.png",  # Latin-1, not UTF-8
    b"J\xe4rvi/copy.png",  # in a folder whose name is not UTF-8
    b"\xff\xfe.png",
    b"line\nbreak.png",
    b"tab\there.png",
    b" leading space.png",
    "caf\u00e9.png".encode(),  # NFC
    "cafe\u0301.png".encode(),  # NFD: another file, the same text after normalisation
]
OTHER = [b"copy_\\xe4.png", b"other.png"]  # the first one's text is the 4 characters \xe4: its display is copy_\xe4
BROKEN = b"broken_\xe9.png"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    root = os.fsencode(tmp_path / "in")
    for names in (COPIES, OTHER):
        pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        for name in names:
            path = os.path.join(root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                Image.fromarray(pixels).save(fh, format="PNG")
    open(os.path.join(root, BROKEN), "wb").close()
    for kept in (b"keep.png", b"other.png"):  # the older files are kept (names, then times decide)
        os.utime(os.path.join(root, kept), ns=(10**18, 10**18))
    return tmp_path / "in"


def _expected(tree: Path, names: list[bytes]) -> set[bytes]:
    return {os.path.join(os.fsencode(tree), n) for n in names}


def _reported(results: dict) -> set[bytes]:
    return {os.fsencode(p) for head, copies in results.items() for p in [head, *(c for c, _ in copies)]}


def test_paths_round_trip_through_every_output(tmp_path, tree):
    out = tmp_path / "out"
    run_fastdiff([tree], out, "--config", "report=true", "--cores", "1")
    results = json.loads((out / "results.json").read_text(encoding="ascii"))
    lower = json.loads((out / "lower_quality.json").read_text(encoding="ascii"))
    assert _reported(results) == _expected(tree, COPIES + OTHER)
    assert all(os.path.isfile(os.fsencode(p)) for p in lower) and len(lower) == len(COPIES) + len(OTHER) - 2
    assert set(results) == {str(tree / "keep.png"), str(tree / "other.png")}
    stats = json.loads((out / "stats.json").read_text(encoding="ascii"))
    assert {os.fsencode(p) for p in stats["invalid_files"]["logs"]} == _expected(tree, [BROKEN])

    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        stored = [raw for (raw,) in con.execute("SELECT path_bytes FROM directory")]
        texts = dict(con.execute("SELECT path_bytes, path FROM directory"))
    assert len(stored) == len(set(stored)) == len(COPIES) + len(OTHER) + 1
    assert set(stored) == _expected(tree, COPIES + OTHER + [BROKEN])
    latin1, literal = (os.path.join(os.fsencode(tree), n) for n in (b"copy_\xe4.png", b"copy_\\xe4.png"))
    assert texts[latin1] == texts[literal]  # the readable text may collide, the bytes never do

    with ResultDB(out) as db:
        groups = {g.best_copy.path: [[c.image.path, c.mse] for c in g.copies] for g in db.clusters("best_copy")}
        assert groups == results
        assert {os.fsencode(p.path) for p in db.errors()} == _expected(tree, [BROKEN])

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    query = [sys.executable, "-m", "fastdiff.cli", "query", str(out)]
    pairs = json.loads(subprocess.run([*query, "pairs", "--json"], capture_output=True, check=True, env=env).stdout)
    assert {os.fsencode(p[k]) for p in pairs for k in ("path_a", "path_b")} == _expected(tree, COPIES + OTHER)
    table = subprocess.run([*query, "clusters"], capture_output=True, check=True, env=env).stdout.decode("utf-8")
    assert "copy_\\xe4.png" in table and "line\\x0abreak.png" in table

    page = (out / "report" / "page-0001.html").read_text(encoding="utf-8")
    assert "J\\xe4rvi" in page and "line\\nbreak.png" in page


def test_difpy_moves_and_undoes_the_real_files(tmp_path, tree):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"}  # as on a UTF-8 terminal
    z, moved = tmp_path / "z", tmp_path / "moved"
    difpy = [sys.executable, "-m", "fastdiff.difpy.cli", "-D", str(tree), "-Z", str(z)]
    dry = subprocess.run([*difpy, "-mv", str(moved), "--dry-run"], capture_output=True, env=env)
    assert dry.returncode == 0, dry.stderr
    assert b"would move" in dry.stdout and b"J\\xe4rvi" in dry.stdout  # shown as escapes
    proc = subprocess.run([*difpy, "-mv", str(moved)], capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert b"left alone" not in proc.stdout
    left = {p for p in _expected(tree, COPIES + OTHER) if os.path.lexists(p)}
    assert left == _expected(tree, [b"keep.png", b"other.png"])
    assert sorted(os.listdir(os.fsencode(moved))) == sorted(os.path.basename(n) for n in COPIES[1:] + OTHER[:1])
    (manifest,) = z.glob("difPy_*_manifest.json")
    undo = subprocess.run([sys.executable, "-m", "fastdiff.difpy.cli", "--undo", str(manifest)], env=env)
    assert undo.returncode == 0
    assert all(os.path.isfile(p) for p in _expected(tree, COPIES + OTHER))


def test_display_is_utf8_text():
    assert display("a/b.png") == "a/b.png"
    assert display(os.fsdecode(b"J\xe4rvi")) == "J\\xe4rvi"
    assert display(os.fsdecode(b"J\xe4rvi")).encode("utf-8")
