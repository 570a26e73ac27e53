"""Safe move and delete (fastdiff.actions.safe_files) and the difpy command around them: name collisions, nested
folders, kept copies, non-interactive stdin, dry runs, undo from the manifest; names at the file-system limit, and every
failure of a move (EXDEV, EPERM, EACCES, EROFS, ENAMETOOLONG, ENOSPC, an undeletable copy) injected."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synth import make_tiny_set

from fastdiff.actions import safe_files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_collisions_get_a_suffix_and_nothing_is_overwritten(tmp_path, capsys):
    a, b, c = (write(tmp_path / d / "x.png", d) for d in ("one", "two", "three"))
    dest = tmp_path / "dest"
    write(dest / "x.png", "already there")
    manifest = tmp_path / "manifest.json"
    done = safe_files.move([str(a), str(b), str(c)], [], str(dest), str(manifest)).done
    assert sorted(p.name for p in dest.iterdir()) == ["x (1).png", "x (2).png", "x (3).png", "x.png"]
    assert (dest / "x.png").read_text() == "already there"
    assert {Path(t).read_text() for _, t in done} == {"one", "two", "three"}
    assert not any(p.exists() for p in (a, b, c))
    entries = safe_files.read_journal(str(manifest))
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
    undone = safe_files.undo(str(tmp_path / "del.json"))  # the other one is not overwritten
    assert len(undone.done) == 1 and [reason for _, reason in undone.failed] == [f"{files[0]} exists again"]
    assert len(safe_files.undo(str(tmp_path / "mv.json")).done) == 1
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


# --- names near the file-system limit --------------------------------------------------------------------------------


def test_fitting_name_shortens_the_stem_by_bytes_and_keeps_the_extension():
    assert safe_files.fitting_name("a.png", 0, 255) == "a.png"
    assert safe_files.fitting_name("a.png", 2, 255) == "a (2).png"
    long = "x" * 251 + ".png"
    assert safe_files.fitting_name(long, 0, 255) == long
    assert safe_files.fitting_name(long, 1, 255) == "x" * 247 + " (1).png"
    assert safe_files.fitting_name(long, 12, 255) == "x" * 246 + " (12).png"
    wide = "é" * 126 + ".png"  # 252 + 4 bytes: a 2-byte character is never split
    for n in range(12):
        name = safe_files.fitting_name(wide, n, 255)
        assert len(name.encode()) <= 255 and name.endswith(".png")
        assert name.encode().decode("utf-8") == name  # still valid UTF-8
    assert safe_files.fitting_name("€€€.jpg", 1, 13) == "€ (1).jpg"  # 3-byte characters: 5 bytes of room
    assert safe_files.fitting_name("x." + "e" * 20, 1, 16) == "x.eeeeeeeeee (1)"  # no room beside the extension


def test_names_at_the_limit_collide_into_short_unique_names(tmp_path):
    name = "holiday-" + "x" * 243 + ".png"
    sources = [write(tmp_path / d / name, d) for d in "abc"]
    outcome = safe_files.move([str(s) for s in sources], [], str(tmp_path / "dest"), str(tmp_path / "m.json"))
    assert not outcome.failed and not any(s.exists() for s in sources)
    names = sorted(os.listdir(tmp_path / "dest"))
    assert len(set(names)) == 3 and all(len(n.encode()) <= 255 and n.endswith(".png") for n in names)
    assert sorted((tmp_path / "dest" / n).read_text() for n in names) == ["a", "b", "c"]


def test_the_destination_name_limit_is_asked_of_the_file_system(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "pathconf", lambda path, key: 12 if key == "PC_NAME_MAX" else 0)
    sources = [write(tmp_path / d / "longname.png", d) for d in "ab"]
    outcome = safe_files.move([str(s) for s in sources], [], str(tmp_path / "new" / "dest"), str(tmp_path / "m.json"))
    assert [os.path.basename(t) for _, t in outcome.done] == ["longname.png", "long (1).png"]
    assert safe_files.name_max(str(tmp_path / "does" / "not" / "exist")) == 12  # its nearest existing parent's
    monkeypatch.setattr(os, "pathconf", lambda path, key: (_ for _ in ()).throw(OSError(errno.EINVAL, "no")))
    assert safe_files.name_max(str(tmp_path)) == safe_files.DEFAULT_NAME_MAX


# --- failure injection: a move either happens or leaves nothing ------------------------------------------------------


def fail_for(monkeypatch, module: object, name: str, code: int, path: Path) -> None:
    """Make module.name raise OSError(code) when its first argument is `path`; other calls go through."""
    real = getattr(module, name)

    def fake(*args, **kwargs):
        if os.fspath(args[0]) == str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, fake)


@pytest.fixture
def one_copy(tmp_path):
    """(source, dest, manifest): a lower-quality copy, and where it goes."""
    return write(tmp_path / "in" / "copy.png", "pixels"), tmp_path / "dest", tmp_path / "m.json"


def move_one(source: Path, dest: Path, manifest: Path) -> safe_files.Outcome:
    return safe_files.move([str(source)], [], str(dest), str(manifest))


def assert_nothing_left(source: Path, dest: Path, manifest: Path, outcome: safe_files.Outcome, capsys) -> None:
    """The source is untouched, the destination holds nothing, the failure is reported and recorded."""
    assert source.read_text() == "pixels"
    assert not dest.exists() or not any(dest.iterdir())
    assert not outcome.done and [s for s, _ in outcome.failed] == [str(source)]
    (entry,) = safe_files.read_journal(str(manifest))
    assert entry["done"] is False and entry["copy_left"] is False and entry["error"]
    out = capsys.readouterr()
    assert f"could not move {source}" in out.err
    assert f'Moved 0 of 1 file(s) to "{dest}"; 1 failed: {source}' in out.out


def test_cross_device_move_copies_then_removes_the_source(one_copy, monkeypatch):
    source, dest, manifest = one_copy
    fail_for(monkeypatch, os, "link", errno.EXDEV, source)
    outcome = move_one(source, dest, manifest)
    assert not source.exists() and (dest / "copy.png").read_text() == "pixels" and not outcome.failed


@pytest.mark.parametrize("link_errno", [None, errno.EXDEV, errno.EPERM])
@pytest.mark.parametrize("unlink_errno", [errno.EPERM, errno.EACCES, errno.EROFS])
def test_a_source_that_cannot_be_removed_leaves_no_copy(one_copy, monkeypatch, capsys, link_errno, unlink_errno):
    """Immutable file (EPERM), folder without write permission (EACCES), read-only file system (EROFS); the copy
    was a hard link or, across devices or when linking is not permitted, a full copy."""
    source, dest, manifest = one_copy
    if link_errno:
        fail_for(monkeypatch, os, "link", link_errno, source)
    fail_for(monkeypatch, os, "unlink", unlink_errno, source)
    assert_nothing_left(source, dest, manifest, move_one(source, dest, manifest), capsys)
    again = move_one(source, dest, manifest)  # a rerun does not multiply copies
    assert again.failed and (not dest.exists() or not any(dest.iterdir()))


@pytest.mark.parametrize(
    ("module", "name", "code"),
    [
        (os, "link", errno.ENAMETOOLONG),
        (os, "link", errno.ENOSPC),
        (os, "link", errno.EROFS),
        (shutil, "copyfileobj", errno.ENOSPC),
        (os, "fsync", errno.ENOSPC),
    ],
)
def test_a_failed_link_or_copy_leaves_nothing(one_copy, monkeypatch, capsys, module, name, code):
    source, dest, manifest = one_copy
    if name != "link":  # the copy path: linking across devices is impossible
        fail_for(monkeypatch, os, "link", errno.EXDEV, source)
        real = getattr(module, name)

        def ours(first: object) -> bool:
            """The call is on our file: fsync(fd of the copy), copyfileobj(...)."""
            if name == "fsync":
                return os.readlink(f"/proc/self/fd/{first}") == str(dest / "copy.png")
            return True

        def fake(*args, **kwargs):
            if ours(args[0]):
                raise OSError(code, os.strerror(code))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, fake)
    else:
        fail_for(monkeypatch, module, name, code, source)
    assert_nothing_left(source, dest, manifest, move_one(source, dest, manifest), capsys)


def test_a_copy_that_cannot_be_removed_is_recorded_and_undo_removes_it(one_copy, monkeypatch, capsys):
    source, dest, manifest = one_copy
    target = dest / "copy.png"
    fail_for(monkeypatch, os, "unlink", errno.EPERM, source)
    fail_for(monkeypatch, os, "unlink", errno.EIO, target)
    outcome = move_one(source, dest, manifest)
    assert outcome.failed and "could not be removed either" in outcome.failed[0][1] and target.exists()
    (entry,) = safe_files.read_journal(str(manifest))
    assert entry["done"] is False and entry["copy_left"] is True
    monkeypatch.undo()
    undone = safe_files.undo(str(manifest))
    assert not undone.failed and not target.exists() and source.read_text() == "pixels"
    assert not safe_files.undo(str(manifest)).failed  # already undone: nothing to report


def test_undo_removes_a_left_copy_only_while_it_equals_its_source(one_copy, monkeypatch):
    source, dest, manifest = one_copy
    target = dest / "copy.png"
    fail_for(monkeypatch, os, "unlink", errno.EPERM, source)
    fail_for(monkeypatch, os, "unlink", errno.EIO, target)
    fail_for(monkeypatch, os, "link", errno.EXDEV, source)  # a real copy, not a second name of the same file
    move_one(source, dest, manifest)
    monkeypatch.undo()
    target.write_text("changed since")
    undone = safe_files.undo(str(manifest))
    assert undone.failed and target.read_text() == "changed since" and source.read_text() == "pixels"


def test_some_fail_some_succeed_and_the_summary_counts_both(tmp_path, monkeypatch, capsys):
    sources = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(3)]
    fail_for(monkeypatch, os, "unlink", errno.EPERM, sources[1])
    outcome = safe_files.move([str(s) for s in sources], [], str(tmp_path / "dest"), str(tmp_path / "m.json"))
    assert len(outcome.done) == 2 and outcome.failed == [(str(sources[1]), "Operation not permitted")]
    assert f'Moved 2 of 3 file(s) to "{tmp_path / "dest"}"; 1 failed: {sources[1]}' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "dest")) == ["0.png", "2.png"]


def test_delete_counts_failures(tmp_path, monkeypatch, capsys):
    sources = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(2)]
    fail_for(monkeypatch, os, "unlink", errno.EROFS, sources[0])
    outcome = safe_files.delete([str(s) for s in sources], [], str(tmp_path / "trash"), str(tmp_path / "m.json"), True)
    assert len(outcome.done) == 1 and len(outcome.failed) == 1
    assert f"Deleted 1 of 2 file(s); 1 failed: {sources[0]}" in capsys.readouterr().out
    assert os.listdir(tmp_path / "trash") == ["1.png"]


# --- undo: never overwrites, and says when it could not put a file back ----------------------------------------------


def test_undo_that_cannot_move_back_fails_and_overwrites_nothing(tmp_path, monkeypatch):
    source = write(tmp_path / "in" / "copy.png", "pixels")
    move_one(source, tmp_path / "dest", tmp_path / "m.json")
    target = tmp_path / "dest" / "copy.png"
    fail_for(monkeypatch, os, "link", errno.EXDEV, target)
    monkeypatch.setattr(shutil, "copyfileobj", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    undone = safe_files.undo(str(tmp_path / "m.json"))
    assert undone.failed and "cannot be moved back" in undone.failed[0][1]
    assert target.read_text() == "pixels" and not source.exists()  # no partial file at the old place
    monkeypatch.undo()
    assert len(safe_files.undo(str(tmp_path / "m.json")).done) == 1 and source.read_text() == "pixels"


def test_undo_never_overwrites_a_file_that_appears_meanwhile(tmp_path, monkeypatch):
    source = write(tmp_path / "in" / "copy.png", "pixels")
    move_one(source, tmp_path / "dest", tmp_path / "m.json")
    real_link = os.link

    def racing_link(src, dst, **kwargs):  # the old name is taken between undo's check and its link
        Path(dst).write_text("new file")
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", racing_link)
    undone = safe_files.undo(str(tmp_path / "m.json"))
    assert undone.failed and source.read_text() == "new file"
    assert (tmp_path / "dest" / "copy.png").read_text() == "pixels"


def test_cli_exit_status_reports_failed_moves_and_failed_undo(tmp_path, monkeypatch, capsys):
    from fastdiff.difpy import cli

    make_tiny_set(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    real_unlink = os.unlink

    def no_unlink_in_sub(path, *args, **kwargs):
        if "/photos/sub/" in os.fspath(path):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), path)
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", no_unlink_in_sub)
    code = cli.main(["-D", "photos", "-Z", "out", "-mv", "dups", "-s", "similar", "-p", "False"])
    out = capsys.readouterr()
    assert code == 1, out
    assert "Moved 1 of 2 file(s)" in out.out and "could not move" in out.err
    (moved,) = os.listdir(tmp_path / "dups")  # the other one is in photos/sub, which refuses removals
    monkeypatch.undo()
    (manifest,) = (tmp_path / "out").glob("*_manifest.json")
    write(tmp_path / "photos" / moved, "took the old name")
    assert cli.main(["--undo", str(manifest)]) == 1
    (tmp_path / "photos" / moved).unlink()
    assert cli.main(["--undo", str(manifest)]) == 0
    assert cli.main(["--undo", str(tmp_path / "missing.json")]) == 2


def test_special_files_are_left_alone(tmp_path, capsys):
    fifo = tmp_path / "in" / "pipe.png"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    os.symlink(fifo, tmp_path / "in" / "link.png")
    os.symlink("/dev/null", tmp_path / "in" / "null.png")
    listed = [str(fifo), str(tmp_path / "in" / "link.png"), str(tmp_path / "in" / "null.png")]
    moves, skipped = safe_files.plan(listed, [], str(tmp_path / "dest"))
    assert not moves
    assert [r for _, r in skipped] == [
        "is not a regular file (named pipe)",
        "is not a regular file (named pipe)",
        "is not a regular file (character device)",
    ]
