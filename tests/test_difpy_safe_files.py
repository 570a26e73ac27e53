"""Safe move and delete (fastdiff.safe_files) and the difpy command around them: name collisions, nested folders,
kept copies, non-interactive stdin, dry runs, and undo from the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synth import make_tiny_set

from fastdiff import safe_files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_collisions_get_a_suffix_and_nothing_is_overwritten(tmp_path, capsys):
    a, b, c = (write(tmp_path / d / "x.png", d) for d in ("one", "two", "three"))
    dest = tmp_path / "dest"
    write(dest / "x.png", "already there")
    manifest = tmp_path / "manifest.json"
    done = safe_files.move([str(a), str(b), str(c)], [], str(dest), str(manifest))
    assert sorted(p.name for p in dest.iterdir()) == ["x (1).png", "x (2).png", "x (3).png", "x.png"]
    assert (dest / "x.png").read_text() == "already there"
    assert {Path(t).read_text() for _, t in done} == {"one", "two", "three"}
    assert not any(p.exists() for p in (a, b, c))
    entries = json.loads(manifest.read_text())["entries"]
    assert [(e["action"], e["done"]) for e in entries] == [("move", True)] * 3
    assert "Moved 3 file(s)" in capsys.readouterr().out


def test_nested_folders_and_kept_copies_are_never_touched(tmp_path):
    """The same file through nested input folders counts once; a file that is kept in one group (difPy's groups
    overlap, and list a file found twice as its own copy) is not moved even if it is lower quality in another."""
    root = tmp_path / "d"
    keep, lower, both = (write(root / "sub" / n, n) for n in ("keep.png", "lower.png", "both.png"))
    os.symlink(keep, root / "link_to_keep.png")
    listed = [str(lower), str(root / "sub" / ".." / "sub" / "lower.png"), str(both), str(root / "link_to_keep.png")]
    moves, skipped = safe_files.plan(listed, [str(keep), str(both)], str(tmp_path / "dest"))
    assert moves == [(str(lower), str(tmp_path / "dest" / "lower.png"))]
    assert [reason for _, reason in skipped] == [
        "is the same file as one listed before",
        "is the kept copy of a group",
        "is the kept copy of a group",
    ]


def test_delete_refuses_without_a_terminal_and_dry_run_changes_nothing(tmp_path, monkeypatch, capsys):
    victim = write(tmp_path / "a" / "copy.png", "copy")
    trash, manifest = tmp_path / "trash", tmp_path / "manifest.json"
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed with the test
    with pytest.raises(safe_files.NotInteractive):
        safe_files.delete([str(victim)], [], str(trash), str(manifest))
    safe_files.delete([str(victim)], [], str(trash), str(manifest), dry_run=True)
    assert "would delete (move to trash) " + str(victim) in capsys.readouterr().out
    assert victim.exists() and not trash.exists() and not manifest.exists()


def test_delete_and_move_undo_from_the_manifest(tmp_path, monkeypatch):
    files = [write(tmp_path / "a" / f"{i}.png", str(i)) for i in range(3)]
    monkeypatch.setattr("builtins.input", lambda _: "y")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    safe_files.delete([str(f) for f in files[:2]], [], str(tmp_path / "trash"), str(tmp_path / "del.json"))
    safe_files.move([str(files[2])], [], str(tmp_path / "moved"), str(tmp_path / "mv.json"))
    assert not any(f.exists() for f in files) and len(list((tmp_path / "trash").iterdir())) == 2
    write(files[0], "a new file took the old name")
    assert safe_files.undo(str(tmp_path / "del.json")) == 1  # the other one is not overwritten
    assert safe_files.undo(str(tmp_path / "mv.json")) == 1
    assert [f.read_text() for f in files] == ["a new file took the old name", "1", "2"]


def difpy(*args: str, cwd: Path, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastdiff.difpy.cli", *args], cwd=cwd, capture_output=True, text=True, stdin=stdin
    )


def test_cli_move_then_undo(tmp_path):
    make_tiny_set(tmp_path / "photos")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "photos").rglob("*"))
    refused = difpy("-D", "photos", "-Z", "out", "-d", "True", cwd=tmp_path)
    assert refused.returncode == 2 and "stdin is not interactive" in refused.stderr and not (tmp_path / "out").exists()
    assert "renamed to" in difpy("-la", "True", cwd=tmp_path).stderr
    moved = difpy("-D", "photos", "-Z", "out", "-mv", "dups", "-s", "similar", "-p", "False", cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr[-3000:]
    out = {p.name.split("_", 2)[-1]: p for p in (tmp_path / "out").iterdir()}
    assert sorted(out) == ["lower_quality.txt", "manifest.json", "results.json", "stats.json"]
    ((head, members),) = json.loads(out["results.json"].read_text()).items()  # paths as given, one group
    assert {head, *(m for m, _ in members)} == {"photos/a.png", "photos/sub/a_copy.png", "photos/a_rot180.png"}
    assert (tmp_path / head).exists() and len(list((tmp_path / "dups").iterdir())) == 2
    undone = difpy("--undo", str(out["manifest.json"]), cwd=tmp_path)
    assert "Restored 2 file(s)" in undone.stdout
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "photos").rglob("*")) == before
