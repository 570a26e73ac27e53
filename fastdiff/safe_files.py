"""Safe moves and deletes of lower-quality copies, recorded in a manifest that `undo` reverses.

* A file is acted on once: paths that resolve to the same file (nested input folders, links) count once.
* A kept copy is never touched, also when it is a lower-quality copy in another group (difPy's groups overlap).
* Nothing in a destination is overwritten: a name already there gets a " (1)", " (2)", ... suffix.
* A delete asks first unless told not to, and refuses when stdin is not interactive; it moves the files into a
  trash folder, so it can be undone like a move (remove the folder to free the space).
* The manifest lists every planned action before any is done, and is rewritten with the outcome of each.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from collections.abc import Iterable
from datetime import datetime

from .atomic import atomic_open
from .paths import display

MANIFEST_VERSION = 1
# link() cannot place the file in the destination: copy it there, then remove the source
_COPY_ERRNOS = frozenset([errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP])


class NotInteractive(RuntimeError):
    """A confirmation is needed but stdin is not a terminal."""


def _free_name(dest: str, name: str, taken: set[str]) -> str:
    stem, ext = os.path.splitext(name)
    n = 0
    while True:
        candidate = os.path.join(dest, f"{stem} ({n}){ext}" if n else name)
        if candidate not in taken and not os.path.lexists(candidate):
            return candidate
        n += 1


def plan(files: Iterable[str], keep: Iterable[str], dest: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(source, target) moves of `files` into `dest`, and (file, reason) for each file left alone."""
    dest = os.path.abspath(dest)
    kept = {os.path.realpath(k) for k in keep}
    seen: set[str] = set()
    taken: set[str] = set()
    moves, skipped = [], []
    for f in files:
        real = os.path.realpath(f)
        if not os.path.lexists(f):
            skipped.append((f, "does not exist"))
        elif real in kept:
            skipped.append((f, "is the kept copy of a group"))
        elif real in seen:
            skipped.append((f, "is the same file as one listed before"))
        else:
            seen.add(real)
            target = _free_name(dest, os.path.basename(f), taken)
            taken.add(target)
            moves.append((os.path.abspath(f), target))
    return moves, skipped


def _move(source: str, target: str) -> None:
    """Move without ever replacing an existing target: a hard link (atomic, fails if the name exists), else an
    exclusive copy; the source is removed only once the target is complete."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _COPY_ERRNOS:
            raise
        with open(source, "rb") as src, open(target, "xb") as dst:  # "x": fails if the target exists
            try:
                shutil.copyfileobj(src, dst)
                shutil.copystat(source, target)
            except BaseException:
                os.unlink(target)  # our own partial copy
                raise
    os.unlink(source)


def _write_manifest(path: str, entries: list[dict[str, object]]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {"fastdiff_manifest": MANIFEST_VERSION, "written": datetime.now().isoformat(), "entries": entries},
            fh,
            indent=1,
        )


def _execute(action: str, moves: list[tuple[str, str]], manifest: str) -> list[tuple[str, str]]:
    """Do the moves, recording them in the manifest first; return the (source, target) pairs done."""
    entries: list[dict[str, object]] = [{"action": action, "source": s, "target": t, "done": False} for s, t in moves]
    _write_manifest(manifest, entries)
    done = []
    for entry in entries:
        source, target = str(entry["source"]), str(entry["target"])
        try:
            _move(source, target)
        except OSError as err:
            entry["error"] = str(err)
            print(f"could not {action} {source}: {err}", file=sys.stderr)
            continue
        entry["done"] = True
        done.append((source, target))
    _write_manifest(manifest, entries)
    return done


def _report(skipped: list[tuple[str, str]], moves: list[tuple[str, str]], dry_run: bool, verb: str) -> None:
    """Print what is left alone and, in a dry run, what would be done (paths as `fastdiff.paths.display`, which any
    terminal can print; the manifest holds the exact paths)."""
    for path, reason in skipped:
        print(f"left alone: {display(path)} ({reason})")
    if dry_run:
        for source, target in moves:
            print(f"would {verb} {display(source)} -> {display(target)}")


def confirm(question: str, assume_yes: bool) -> bool:
    """True if assume_yes or the user answers y; NotInteractive when a question cannot be asked."""
    if assume_yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise NotInteractive(
            "a confirmation is needed but stdin is not interactive: confirm in advance "
            "(silent_del=True, -sd True) or use a dry run"
        )
    return input(question).strip().lower() in ("y", "yes")


def move(
    files: Iterable[str], keep: Iterable[str], dest: str, manifest: str, dry_run: bool = False
) -> list[tuple[str, str]]:
    """Move `files` (not the kept copies) into `dest`; return the (source, target) pairs moved."""
    moves, skipped = plan(files, keep, dest)
    _report(skipped, moves, dry_run, "move")
    if dry_run:
        return []
    done = _execute("move", moves, manifest) if moves else []
    undo_hint = f"; undo: difpy --undo {manifest}" if done else ""
    print(f'Moved {len(done)} file(s) to "{os.path.abspath(dest)}"{undo_hint}')
    return done


def delete(
    files: Iterable[str],
    keep: Iterable[str],
    trash: str,
    manifest: str,
    assume_yes: bool = False,
    dry_run: bool = False,
) -> list[tuple[str, str]]:
    """Delete `files` (not the kept copies) by moving them into `trash`, after a confirmation unless assume_yes."""
    moves, skipped = plan(files, keep, trash)
    _report(skipped, moves, dry_run, "delete (move to trash)")
    if dry_run or not moves:
        if not dry_run:
            print("Deleted 0 file(s)")
        return []
    if not confirm(
        f"Delete {len(moves)} lower quality image(s)? They are moved to {os.path.abspath(trash)} "
        f"(undo: difpy --undo {manifest}). (y/n) ",
        assume_yes,
    ):
        print("Deletion canceled.")
        return []
    done = _execute("delete", moves, manifest)
    print(
        f"Deleted {len(done)} file(s): they are in {os.path.abspath(trash)} until you remove it; "
        f"undo: difpy --undo {manifest}"
    )
    return done


def undo(manifest: str) -> int:
    """Put every file of a manifest back where it was (when its old place is free); return the number restored."""
    with open(manifest, encoding="utf-8") as fh:
        entries = json.load(fh)["entries"]
    restored = 0
    for entry in reversed(entries):
        source, target = entry["source"], entry["target"]
        if not entry.get("done"):
            continue
        if os.path.lexists(source):
            print(f"not restored: {source} exists again")
        elif not os.path.lexists(target):
            print(f"not restored: {target} is gone")
        else:
            _move(target, source)
            restored += 1
    print(f"Restored {restored} file(s)")
    return restored
