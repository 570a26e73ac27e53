"""Bad and odd input never stops a run: each bad file is reported in stats.json and the database."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from bad_inputs import make_bad_inputs, make_odd_valid_inputs
from conftest import read_json, run_fastdiff
from synth import make_tiny_set


def test_bad_and_odd_files(tmp_path):
    data = tmp_path / "data"
    bad = make_bad_inputs(data / "bad")
    odd = make_odd_valid_inputs(data / "odd")
    out = tmp_path / "out"
    run_fastdiff([data], out, "--similarity", "similar", "--shard-size", "4")
    logs = read_json(out / "stats.json")["invalid_files"]["logs"]
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        errors = dict(con.execute("SELECT path, error FROM directory WHERE error IS NOT NULL"))
        decoded = {p for (p,) in con.execute("SELECT path FROM directory WHERE success = 1")}
    for rel, expected in bad.items():
        path = str(data / "bad" / rel)
        assert expected.lower() in logs[path].lower(), (rel, logs[path])
        assert errors[path] == logs[path]
    assert {str(data / "odd" / rel) for rel in odd} <= decoded


@pytest.mark.parametrize("content", ["empty", "single", "only_invalid"])
def test_degenerate_folders_give_valid_empty_outputs(tmp_path, content):
    data = tmp_path / "data"
    data.mkdir()
    if content == "single":
        make_tiny_set(tmp_path / "tiny")
        shutil.copy(tmp_path / "tiny" / "a.png", data / "a.png")
    elif content == "only_invalid":
        (data / "zero.jpg").write_bytes(b"")
        (data / "text.png").write_text("not an image")
    out = tmp_path / "out"
    run_fastdiff([data], out)
    assert read_json(out / "results.json") == {}
    assert read_json(out / "lower_quality.json") == []
    stats = read_json(out / "stats.json")
    assert stats["process"]["search"]["files_searched"] == (1 if content == "single" else 0)
    assert stats["invalid_files"]["count"] == (2 if content == "only_invalid" else 0)
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM dif_table").fetchone() == (0,)
