"""Acting on lower-quality copies safely (fastdiff.actions.safe_files, fastdiff.actions.act): every file checked
against what was
compared at the moment it is moved, a journal from which undo restores exactly what was moved after any
interruption (Ctrl-C, SIGKILL at every point, a torn last line), destinations that cannot hold permission bits or
tell case apart, and the `fastdiff act` command."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synth import make_tiny_set

from fastdiff.actions import journal, safe_files
from fastdiff.actions.file_checks import Comparison, FileState, comparison_of_run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tree(root: Path) -> dict[str, str]:
    """Relative path -> contents of every file below root."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def compared(root: Path, groups: dict[str, list[str]]) -> tuple[Comparison, list[str]]:
    """A Comparison of the files below root as they are now: groups maps a kept copy to its lower-quality copies
    (names relative to root); returns it with the copies' absolute paths."""
    stats = [(str(p), *FileState.read(str(p)).as_json().values()) for p in root.rglob("*") if p.is_file()]
    pairs = [(str(root / c), str(root / k)) for k, cs in groups.items() for c in cs]
    return Comparison.of(stats, pairs, [str(root)]), [c for c, _ in pairs]


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Comparison, list[str]]:
    """photos/keep.png with two copies (a/copy.png, b/copy.png) and other.png with one (c/other_copy.png)."""
    root = tmp_path / "photos"
    for name in ("keep.png", "a/copy.png", "b/copy.png"):
        write(root / name, "keep")
    for name in ("other.png", "c/other_copy.png"):
        write(root / name, "other")
    comparison, copies = compared(root, {"keep.png": ["a/copy.png", "b/copy.png"], "other.png": ["c/other_copy.png"]})
    return root, comparison, copies


# --- check before acting ----------------------------------------------------------------------------------------------


def test_a_file_changed_since_the_comparison_is_skipped(photos, tmp_path, capsys):
    root, comparison, copies = photos
    write(root / "a" / "copy.png", "rewritten by a sync client")
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert [s for s, _ in outcome.skipped] == [str(root / "a" / "copy.png")] and not outcome.ok
    assert "changed since it was compared" in outcome.skipped[0][1]
    assert (root / "a" / "copy.png").read_text() == "rewritten by a sync client"
    assert sorted(os.listdir(tmp_path / "dest")) == ["copy.png", "other_copy.png"]
    out = capsys.readouterr()
    assert f"skipped: {root / 'a' / 'copy.png'}: changed since it was compared" in out.err
    assert "Moved 2 of 3 file(s)" in out.out and "1 skipped" in out.out


def test_a_file_replaced_mid_run_is_skipped(photos, tmp_path, monkeypatch):
    """b/copy.png is replaced (a new inode, same size and text) while a/copy.png is being moved."""
    root, comparison, copies = photos
    real_link = os.link

    def link_and_replace(src, dst, **kwargs):
        if src.endswith("a/copy.png"):
            write(root / "b" / ".tmp", "keep")
            os.replace(root / "b" / ".tmp", root / "b" / "copy.png")
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link_and_replace)
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert [s for s, _ in outcome.skipped] == [str(root / "b" / "copy.png")]
    assert "replaced by another file" in outcome.skipped[0][1]
    assert (root / "b" / "copy.png").exists() and len(outcome.done) == 2


def test_a_kept_copy_edited_mid_run_stops_the_rest_of_its_group(photos, tmp_path, monkeypatch):
    root, comparison, copies = photos
    real_link = os.link

    def link_and_edit_the_keeper(src, dst, **kwargs):
        if src.endswith("a/copy.png"):
            write(root / "keep.png", "edited meanwhile")
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link_and_edit_the_keeper)
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert [s for s, _ in outcome.skipped] == [str(root / "b" / "copy.png")]
    assert outcome.skipped[0][1].startswith(f"its kept copy {root / 'keep.png'} changed since it was compared")


def test_a_file_replaced_between_its_check_and_its_link_is_not_moved(photos, tmp_path, monkeypatch):
    root, comparison, copies = photos
    real_link = os.link
    victim = root / "c" / "other_copy.png"

    def swap_then_link(src, dst, **kwargs):
        if src == str(victim):
            write(root / "c" / ".new", "a new picture")
            os.replace(root / "c" / ".new", victim)
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", swap_then_link)
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert [s for s, _ in outcome.skipped] == [str(victim)] and victim.read_text() == "a new picture"
    assert sorted(os.listdir(tmp_path / "dest")) == ["copy (1).png", "copy.png"]  # no link to the new picture


@pytest.mark.parametrize("how", ["changed", "gone", "link outside"])
def test_a_group_whose_kept_copy_changed_or_went_is_left_alone(photos, tmp_path, how):
    root, comparison, copies = photos
    keep = root / "keep.png"
    if how == "changed":
        write(keep, "edited")
    elif how == "gone":
        keep.unlink()
    else:
        write(tmp_path / "outside" / "keep.png", "keep")
        keep.unlink()
        keep.symlink_to(tmp_path / "outside" / "keep.png")
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert [s for s, _ in outcome.skipped] == [str(root / "a" / "copy.png"), str(root / "b" / "copy.png")]
    assert all(f"its kept copy {keep}" in reason for _, reason in outcome.skipped)
    assert (root / "a" / "copy.png").exists() and (root / "b" / "copy.png").exists()
    assert [os.path.basename(t) for _, t in outcome.done] == ["other_copy.png"]


def test_nothing_is_acted_on_through_a_link_outside_the_searched_folders(tmp_path):
    root, outside = tmp_path / "photos", tmp_path / "outside"
    write(root / "keep.png", "x")
    write(outside / "copy.png", "x")
    (root / "linked").symlink_to(outside)
    comparison, copies = compared(root, {"keep.png": ["linked/copy.png"]})
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"), comparison=comparison)
    assert outcome.skipped == [(copies[0], f"is reached through a link to {outside / 'copy.png'}, outside the "
                                "searched folders")]  # fmt: skip
    assert (outside / "copy.png").exists() and not (tmp_path / "dest").exists()


def test_a_link_inside_the_searched_folders_moves_the_file_itself(tmp_path):
    root = tmp_path / "photos"
    write(root / "keep.png", "x")
    write(root / "real" / "copy.png", "x")
    (root / "linked").symlink_to(root / "real")
    comparison, _ = compared(root, {"keep.png": ["real/copy.png"]})
    listed = [str(root / "linked" / "copy.png")]
    outcome = safe_files.move(listed, [], str(tmp_path / "d"), str(tmp_path / "j"), comparison=comparison)
    assert outcome.done == [(str(root / "real" / "copy.png"), str(tmp_path / "d" / "copy.png"))]
    assert comparison.roots == [str(root)]


def test_undo_leaves_alone_a_file_changed_since_it_was_moved(photos, tmp_path):
    root, comparison, copies = photos
    j = str(tmp_path / "j.jsonl")
    outcome = safe_files.move(copies, [], str(tmp_path / "dest"), j, comparison=comparison)
    write(Path(outcome.done[0][1]), "edited in the destination")
    undone = safe_files.undo(j)
    assert len(undone.done) == 2 and len(undone.failed) == 1 and "changed since it was moved" in undone.failed[0][1]
    assert not (root / "a" / "copy.png").exists()


# --- the journal survives anything -----------------------------------------------------------------------------------

CRASH = textwrap.dedent(
    """
    import os, shutil, sys
    from fastdiff.actions import safe_files
    from fastdiff.actions import journal
    where, n, files, dest, j = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4], sys.argv[5]
    calls = {"link": 0, "unlink": 0, "write": 0}
    real_link, real_unlink, real_write = os.link, os.unlink, journal.Journal.write

    def link(src, dst, **kw):
        calls["link"] += 1
        if where == "mid-copy" and calls["link"] == n:
            with open(src, "rb") as s, open(dst, "xb") as d:
                d.write(s.read()[:3])  # half a copy, then the power goes
            os._exit(9)
        if where == "mid-copy":
            raise OSError(18, "Invalid cross-device link")
        real_link(src, dst, **kw)
        if where == "after-link" and calls["link"] == n:
            os._exit(9)

    def unlink(path):
        real_unlink(path)
        if path in files:
            calls["unlink"] += 1
            if where == "after-unlink" and calls["unlink"] == n:
                os._exit(9)

    def write(self, event, **fields):
        calls["write"] += 1
        if where == "torn" and event == "done" and calls["write"] > 2 * n:
            self._fh.write('{"event": "done", "st')
            self._fh.flush()
            os._exit(9)
        real_write(self, event, **fields)
        if where == "after-intent" and event == "intent" and fields["step"] == n - 1:
            os._exit(9)

    os.link, os.unlink, journal.Journal.write = link, unlink, write
    safe_files.move(files, [], dest, j)
    """
)


@pytest.mark.parametrize("where", ["after-intent", "after-link", "after-unlink", "mid-copy", "torn"])
def test_undo_restores_exactly_what_was_moved_after_a_kill_at_any_point(tmp_path, where):
    """The process dies (os._exit, as SIGKILL or a power cut) at each point of the third move; undo puts back
    every file that left its place and removes every link or partial copy, and nothing else."""
    files = [write(tmp_path / "in" / f"{i}.png", f"picture {i}") for i in range(5)]
    before = tree(tmp_path / "in")
    dest, j = tmp_path / "dest", tmp_path / "j.jsonl"
    args = [where, "3", ",".join(map(str, files)), str(dest), str(j)]
    died = subprocess.run([sys.executable, "-c", CRASH, *args], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    assert len(os.listdir(dest)) >= 2 and tree(tmp_path / "in") != before  # some files had moved
    undone = safe_files.undo(str(j))
    assert not undone.failed and tree(tmp_path / "in") == before and os.listdir(dest) == []
    assert not safe_files.undo(str(j)).done  # a second undo has nothing left to do


def test_the_journal_is_written_before_and_after_each_file(tmp_path, monkeypatch):
    files = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(2)]
    j = tmp_path / "j.jsonl"
    seen = []
    real_link = os.link

    def link(src, dst, **kwargs):  # the intent is on disk before the file moves
        seen.append([r["event"] for r in journal.read_records(str(j))])
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    safe_files.move([str(f) for f in files], [], str(tmp_path / "dest"), str(j))
    assert seen == [["start", "intent"], ["start", "intent", "done", "intent"]]
    events = [json.loads(line)["event"] for line in j.read_text().splitlines()]
    assert events == ["start", "intent", "done", "intent", "done", "end"]


def test_a_corrupt_journal_is_refused(tmp_path):
    (tmp_path / "j.jsonl").write_text('{"event": "start"}\nnot json\n{"event": "end"}\n')
    with pytest.raises(journal.CorruptJournal):
        safe_files.undo(str(tmp_path / "j.jsonl"))
    (tmp_path / "k.jsonl").write_text('{"fastdiff_manifest": 1, "entries": []}\n')
    with pytest.raises(journal.CorruptJournal):
        safe_files.undo(str(tmp_path / "k.jsonl"))


def interrupt_at_link(monkeypatch, number: int, times: int) -> None:
    """Send SIGINT to this process `times` times while linking the number-th file (1-based)."""
    real_link, calls = os.link, []

    def link(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == number:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)


def test_ctrl_c_finishes_the_file_at_hand_then_stops(tmp_path, monkeypatch):
    files = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(4)]
    before, j = tree(tmp_path / "in"), str(tmp_path / "j.jsonl")
    interrupt_at_link(monkeypatch, 2, 1)
    with pytest.raises(safe_files.Interrupted) as caught:
        safe_files.move([str(f) for f in files], [], str(tmp_path / "dest"), j, undo_command="fastdiff act o --undo")
    assert caught.value.message == f"Move interrupted; 2 done, undo with: fastdiff act o --undo {j}"
    assert sorted(os.listdir(tmp_path / "dest")) == ["0.png", "1.png"] and files[2].exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    monkeypatch.undo()
    assert len(safe_files.undo(j).done) == 2 and tree(tmp_path / "in") == before


def test_a_second_ctrl_c_rolls_the_file_at_hand_back(tmp_path, monkeypatch):
    files = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(3)]
    interrupt_at_link(monkeypatch, 2, 2)
    with pytest.raises(safe_files.Interrupted) as caught:
        safe_files.move([str(f) for f in files], [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"))
    assert caught.value.message.startswith("Move interrupted; 1 done")
    assert os.listdir(tmp_path / "dest") == ["0.png"] and files[1].read_text() == "1"


# --- any destination -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP])
def test_permission_bits_a_destination_cannot_hold_never_drop_the_copy(tmp_path, monkeypatch, capsys, code):
    """FAT, exFAT, SMB: chmod fails (vfat EPERM, fusefat ENOSYS); the finished copy stays and the times are kept."""
    source = write(tmp_path / "in" / "copy.png", "pixels")
    os.utime(source, ns=(1_000_000_000, 1_234_567_891_000))
    real_link, real_chmod = os.link, os.chmod
    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EXDEV, "cross-device")))

    def chmod(path, *args, **kwargs):
        if "dest" in os.fspath(path):
            raise OSError(code, os.strerror(code))
        return real_chmod(path, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", chmod)
    outcome = safe_files.move([str(source)], [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"))
    target = tmp_path / "dest" / "copy.png"
    assert outcome.ok and not source.exists() and target.read_text() == "pixels"
    assert target.stat().st_mtime_ns == 1_234_567_891_000
    assert f"permission bits or times not kept ({os.strerror(code)})" in capsys.readouterr().err
    monkeypatch.setattr(os, "link", real_link)
    assert len(safe_files.undo(str(tmp_path / "j.jsonl")).done) == 1 and source.read_text() == "pixels"


def test_collision_names_ignore_case_where_the_destination_does(tmp_path, monkeypatch):
    sources = [write(tmp_path / d / n, d) for d, n in (("a", "IMG.png"), ("b", "img.png"), ("c", "Img.PNG"))]
    monkeypatch.setattr(safe_files, "case_insensitive", lambda folder, probe=True: True)
    outcome = safe_files.move([str(s) for s in sources], [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"))
    assert [os.path.basename(t) for _, t in outcome.done] == ["IMG.png", "img (1).png", "Img (2).PNG"]


def test_case_insensitivity_is_asked_of_the_destination(tmp_path, monkeypatch):
    assert safe_files.case_insensitive(str(tmp_path)) is False  # empty: a probe file, removed again
    assert os.listdir(tmp_path) == []
    write(tmp_path / "Photo.png", "x")
    assert safe_files.case_insensitive(str(tmp_path)) is False  # from the entry: photo.PNG is not the same file
    real_lstat = os.lstat

    def folding_lstat(path, *args, **kwargs):  # a file system that ignores case
        return real_lstat(os.path.join(os.path.dirname(path), "Photo.png"), *args, **kwargs)

    monkeypatch.setattr(os, "lstat", folding_lstat)
    assert safe_files.case_insensitive(str(tmp_path / "not" / "yet")) is True  # its nearest existing parent


def test_an_exclusive_create_that_fails_moves_on_to_the_next_free_name(tmp_path, monkeypatch):
    source = write(tmp_path / "in" / "x.png", "mine")
    real_link = os.link

    def racing_link(src, dst, **kwargs):  # another program takes the name between the check and the link
        if dst.endswith("/x.png"):
            write(Path(dst), "theirs")
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", racing_link)
    outcome = safe_files.move([str(source)], [], str(tmp_path / "dest"), str(tmp_path / "j.jsonl"))
    assert outcome.ok and tree(tmp_path / "dest") == {"x (1).png": "mine", "x.png": "theirs"}
    monkeypatch.undo()
    assert len(safe_files.undo(str(tmp_path / "j.jsonl")).done) == 1 and source.read_text() == "mine"


# --- fastdiff act ----------------------------------------------------------------------------------------------------


def fastdiff(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastdiff.cli", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished `fastdiff run` on the tiny set (similar: a.png kept, two copies); each test leaves it as it was."""
    base = tmp_path_factory.mktemp("run")
    make_tiny_set(base / "photos")
    done = fastdiff("run", "photos", "-o", "out", "--similarity", "similar", cwd=base)
    assert done.returncode == 0, done.stderr[-2000:]
    return base


def test_act_dry_run_move_and_undo(finished_run):
    base = finished_run
    before = tree_bytes(base / "photos")
    _, copies = comparison_of_run(base / "out")
    assert len(copies) == 2
    refused = fastdiff("act", "out", "--move-to", "dups", cwd=base)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    dry = fastdiff("act", "out", "--move-to", "dups", "--dry-run", cwd=base)
    assert dry.returncode == 0 and dry.stdout.count("would move") == 2 and not (base / "dups").exists()
    moved = fastdiff("act", "out", "--move-to", "dups", "--yes", cwd=base)
    assert moved.returncode == 0, moved.stderr
    assert "Moved 2 file(s)" in moved.stdout and "fastdiff act out --undo out/journal/" in moved.stdout
    assert len(os.listdir(base / "dups")) == 2 and not any(os.path.exists(c) for c in copies)
    undone = fastdiff("act", "out", "--undo", cwd=base)
    assert undone.returncode == 0 and "Restored 2 file(s)" in undone.stdout
    assert tree_bytes(base / "photos") == before
    again = fastdiff("act", "out", "--undo", cwd=base)
    assert again.returncode == 0 and "nothing to undo" in again.stdout
    shutil.rmtree(base / "out" / "journal")


def test_act_delete_into_the_trash_skips_a_changed_file_and_exits_1(finished_run):
    base = finished_run
    _, copies = comparison_of_run(base / "out")
    original = Path(copies[0]).read_bytes()
    Path(copies[0]).write_bytes(original + b"edited")
    try:
        deleted = fastdiff("act", "out", "--delete", "--yes", cwd=base)
        assert deleted.returncode == 1, deleted.stderr
        assert f"skipped: {copies[0]}: changed since it was compared" in deleted.stderr
        assert "Deleted 1 of 2 file(s)" in deleted.stdout
        (trash,) = (base / "out" / "trash").iterdir()
        assert os.listdir(trash) == [os.path.basename(copies[1])] and os.path.exists(copies[0])
        (journal_file,) = (base / "out" / "journal").glob("*-delete.jsonl")
        undone = fastdiff("act", "out", "--undo", str(journal_file), cwd=base)
        assert undone.returncode == 0 and os.path.exists(copies[1])
    finally:
        Path(copies[0]).write_bytes(original)
        shutil.rmtree(base / "out" / "trash", ignore_errors=True)
        shutil.rmtree(base / "out" / "journal", ignore_errors=True)


def test_act_without_a_database_is_a_clear_error(tmp_path):
    missing = fastdiff("act", "nowhere", "--delete", "--yes", cwd=tmp_path)
    assert missing.returncode == 2 and "no fastdiff database" in missing.stderr and "Traceback" not in missing.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_journal_that_cannot_be_written_stops_the_action_and_undo_still_works(tmp_path, monkeypatch, capsys):
    files = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(3)]
    before, j = tree(tmp_path / "in"), str(tmp_path / "j.jsonl")
    real_write, dones = journal.Journal.write, []

    def full_disk_at_the_second_done(self, event, **fields):
        if event == "done":
            dones.append(fields)
            if len(dones) == 2:
                raise journal.JournalError(errno.ENOSPC, "cannot write the journal: No space left on device")
        return real_write(self, event, **fields)

    monkeypatch.setattr(journal.Journal, "write", full_disk_at_the_second_done)
    outcome = safe_files.move([str(f) for f in files], [], str(tmp_path / "dest"), j)
    assert len(outcome.done) == 1 and outcome.failed[0][0] == j and files[2].exists()  # stopped before the third
    assert "stopped: cannot write the journal" in capsys.readouterr().err
    monkeypatch.undo()
    assert len(safe_files.undo(j).done) == 2 and tree(tmp_path / "in") == before


def test_no_journal_no_action(tmp_path):
    source = write(tmp_path / "in" / "x.png", "x")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "journal").write_text("a file where the journal folder should be")
    with pytest.raises(journal.JournalError):
        safe_files.move([str(source)], [], str(tmp_path / "dest"), str(tmp_path / "ro" / "journal" / "j.jsonl"))
    assert source.exists() and not (tmp_path / "dest").exists()


def test_ctrl_c_during_undo_stops_after_the_file_at_hand_and_a_rerun_finishes(tmp_path, monkeypatch):
    files = [write(tmp_path / "in" / f"{i}.png", str(i)) for i in range(4)]
    before, j = tree(tmp_path / "in"), str(tmp_path / "j.jsonl")
    safe_files.move([str(f) for f in files], [], str(tmp_path / "dest"), j)
    interrupt_at_link(monkeypatch, 2, 1)
    with pytest.raises(safe_files.Interrupted) as caught:
        safe_files.undo(j, undo_command="difpy --undo")
    assert caught.value.message == f"Undo interrupted; 2 restored, finish with: difpy --undo {j}"
    monkeypatch.undo()
    assert len(safe_files.undo(j).done) == 2 and tree(tmp_path / "in") == before


def test_difpy_checks_each_file_against_its_comparison(tmp_path, monkeypatch, capsys):
    from fastdiff.difpy import build, search

    make_tiny_set(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    se = search(build("photos", show_progress=False, processes=1), show_progress=False, processes=1)
    (copy,) = se.lower_quality
    assert se.comparison.states[str(tmp_path / copy)].inode == (tmp_path / copy).stat().st_ino
    (tmp_path / copy).write_bytes((tmp_path / copy).read_bytes() + b"!")  # rewritten after the comparison
    outcome = se.move_to(str(tmp_path / "dups"), manifest=str(tmp_path / "j.jsonl"))
    assert not outcome.done and outcome.skipped[0][0] == str(tmp_path / copy)
    assert "changed since it was compared: it changed size" in capsys.readouterr().err
    assert se.lower_quality == [str(tmp_path / copy)]
