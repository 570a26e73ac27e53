"""Safe moves and deletes of lower-quality copies, recorded in a manifest that `undo` reverses.

* A file is acted on once: paths that resolve to the same file (nested input folders, links) count once.
* A kept copy is never touched, also when it is a lower-quality copy in another group (difPy's groups overlap).
* Only regular files are acted on: a named pipe, socket or device is left alone with the reason.
* Nothing in a destination is overwritten: a name already there gets a " (1)", " (2)", ... suffix, and a name
  that would then exceed the file system's limit (NAME_MAX bytes) has its stem shortened, extension kept.
* A move either happens or leaves nothing: the file is linked or copied into place, and if its source cannot be
  removed afterwards (read-only folder or file system, immutable file) the new copy is removed again. A copy that
  cannot be removed either is recorded in the manifest, and `undo` removes it.
* A delete asks first unless told not to, and refuses when stdin is not interactive; it moves the files into a
  trash folder, so it can be undone like a move (remove the folder to free the space).
* The manifest lists every planned action before any is done, and is rewritten with the outcome of each.
* Every failed action is printed, counted in the summary line and in the returned Outcome (the `difpy` command
  then exits non-zero); `undo` never overwrites a file and reports every file it could not put back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import filecmp
import json
import os
import shutil
import sys
from collections.abc import Iterable
from datetime import datetime

from fastdiff._shared.atomic import atomic_open
from fastdiff._shared.paths import display
from fastdiff._shared.special_files import NotRegularFile, check_regular, open_regular

MANIFEST_VERSION = 1
DEFAULT_NAME_MAX = 255  # bytes of one file name on ext4, xfs, btrfs, NTFS, APFS
# link() cannot place the file in the destination: copy it there, then remove the source
_COPY_ERRNOS = frozenset([errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP])


class NotInteractive(RuntimeError):
    """A confirmation is needed but stdin is not a terminal."""


class CopyLeft(OSError):
    """A move failed after its copy was made, and the copy could not be removed either."""


@dataclasses.dataclass
class Outcome:
    """What a move, delete or undo did.

    Attributes
    ----------
    done : list of (str, str)
        (from, to) of every file moved.
    failed : list of (str, str)
        (file, reason) of every file that should have been moved but was not.
    """

    done: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def summary(self, verb: str, where: str = "") -> str:
        """'<Verb> N file(s)<where>', or '<Verb> N of M file(s)<where>; K failed: first and K-1 more' on failures.

        Parameters
        ----------
        verb : str
            The past tense, capitalised: 'Moved', 'Deleted', 'Restored'.
        where : str
            Text after 'file(s)', e.g. ' to "/dest"'.

        Returns
        -------
        str
            The summary line.
        """
        if not self.failed:
            return f"{verb} {len(self.done)} file(s){where}"
        more = f" and {len(self.failed) - 1} more" if len(self.failed) > 1 else ""
        n, total = len(self.failed), len(self.done) + len(self.failed)
        return f"{verb} {len(self.done)} of {total} file(s){where}; {n} failed: {self.failed[0][0]}{more}"


def name_max(dest: str) -> int:
    """The longest file name, in bytes, that the file system of dest (or of its nearest existing parent) allows.

    Parameters
    ----------
    dest : str
        A directory, which need not exist yet.

    Returns
    -------
    int
        os.pathconf(..., 'PC_NAME_MAX') where available, else 255.
    """
    folder = os.path.abspath(dest)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def _shorten(stem: str, limit: int) -> str:
    """stem cut to at most limit bytes of its encoded name, never inside a UTF-8 character."""
    raw = os.fsencode(stem)
    if len(raw) <= limit:
        return stem
    cut = max(0, limit)
    while cut > 0 and raw[cut] & 0xC0 == 0x80:  # raw[cut] continues the character before it
        cut -= 1
    return os.fsdecode(raw[:cut])


def fitting_name(name: str, n: int, limit: int) -> str:
    """name with the collision suffix " (n)" (none for n == 0), its stem shortened to fit limit bytes.

    Parameters
    ----------
    name : str
        A file name (no directory).
    n : int
        The collision number; 0 for the name itself.
    limit : int
        The longest name in bytes (NAME_MAX of the destination).

    Returns
    -------
    str
        A name of at most limit bytes that keeps name's extension when the extension leaves room for a stem.
    """
    stem, ext = os.path.splitext(name)
    suffix = f" ({n})" if n else ""
    room = limit - len(os.fsencode(ext + suffix))
    if room < 1:  # no room for a stem beside the extension: shorten the whole name instead
        stem, ext, room = name, "", limit - len(os.fsencode(suffix))
    return _shorten(stem, room) + suffix + ext


def _free_name(dest: str, name: str, taken: set[str], limit: int) -> str:
    n = 0
    while True:
        candidate = os.path.join(dest, fitting_name(name, n, limit))
        if candidate not in taken and not os.path.lexists(candidate):
            return candidate
        n += 1


def _unusable(path: str, real: str, kept: set[str], seen: set[str]) -> str | None:
    """Why path is left alone, or None."""
    if not os.path.lexists(path):
        return "does not exist"
    if real in kept:
        return "is the kept copy of a group"
    if real in seen:
        return "is the same file as one listed before"
    try:
        check_regular(path)
    except NotRegularFile as err:
        return f"is not a regular file ({err.kind})"
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    return None


def plan(files: Iterable[str], keep: Iterable[str], dest: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Where each file would go in dest, and which files are left alone.

    Parameters
    ----------
    files : iterable of str
        The lower-quality copies.
    keep : iterable of str
        The kept copies: never moved, however they are listed in files.
    dest : str
        The destination folder (need not exist).

    Returns
    -------
    moves : list of (str, str)
        (absolute source, target) pairs; targets are unique, free and within the name length limit.
    skipped : list of (str, str)
        (file, reason) of each file left alone.
    """
    dest = os.path.abspath(dest)
    limit = name_max(dest)
    kept = {os.path.realpath(k) for k in keep}
    seen: set[str] = set()
    taken: set[str] = set()
    moves, skipped = [], []
    for f in files:
        real = os.path.realpath(f)
        reason = _unusable(f, real, kept, seen)
        if reason:
            skipped.append((f, reason))
            continue
        seen.add(real)
        target = _free_name(dest, os.path.basename(f), taken, limit)
        taken.add(target)
        moves.append((os.path.abspath(f), target))
    return moves, skipped


def _copy(source: str, target: str) -> None:
    """An exclusive copy of source at target, on disk (fsync) before it returns; a partial copy is removed."""
    with open_regular(source) as src:
        dst = open(target, "xb", buffering=0)  # noqa: SIM115 - closed below; "x": fails if the target exists
        try:
            with dst:  # unbuffered: a full disk fails in a write or the fsync, never later in close()
                shutil.copyfileobj(src, dst)
                os.fsync(dst.fileno())
            shutil.copystat(source, target)
        except BaseException:
            os.unlink(target)  # our own partial copy
            raise


def _place(source: str, target: str) -> None:
    """source also at target, never replacing a file there: a hard link (atomic, fails if the name exists), else
    an exclusive copy."""
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _COPY_ERRNOS:
            raise
        _copy(source, target)


def _move(source: str, target: str) -> None:
    """Move source to target, which must not exist: the source is removed only once the target is complete, and
    if it cannot be removed the target is removed again (CopyLeft if that fails too)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _place(source, target)
    try:
        os.unlink(source)
    except OSError as err:
        try:
            os.unlink(target)
        except OSError as err2:
            raise CopyLeft(
                err.errno, f"{err.strerror}; its copy {target} could not be removed either ({err2.strerror})"
            ) from err
        raise


def _write_manifest(path: str, entries: list[dict[str, object]]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {"fastdiff_manifest": MANIFEST_VERSION, "written": datetime.now().isoformat(), "entries": entries},
            fh,
            indent=1,
        )


def _execute(action: str, moves: list[tuple[str, str]], manifest: str) -> Outcome:
    """Do the moves, recording them in the manifest first; a copy that could not be removed is recorded as
    copy_left, so that `undo` removes it."""
    entries: list[dict[str, object]] = [{"action": action, "source": s, "target": t, "done": False} for s, t in moves]
    _write_manifest(manifest, entries)
    outcome = Outcome()
    for entry in entries:
        source, target = str(entry["source"]), str(entry["target"])
        try:
            _move(source, target)
        except OSError as err:
            entry["error"] = str(err.strerror or err)
            entry["copy_left"] = isinstance(err, CopyLeft)
            print(f"could not {action} {source}: {entry['error']}", file=sys.stderr)
            outcome.failed.append((source, str(entry["error"])))
            continue
        entry["done"] = True
        outcome.done.append((source, target))
    _write_manifest(manifest, entries)
    return outcome


def _report(skipped: list[tuple[str, str]], moves: list[tuple[str, str]], dry_run: bool, verb: str) -> None:
    """Print what is left alone and, in a dry run, what would be done (paths as `fastdiff._shared.paths.display`, which
    any terminal can print; the manifest holds the exact paths)."""
    for path, reason in skipped:
        print(f"left alone: {display(path)} ({reason})")
    if dry_run:
        for source, target in moves:
            print(f"would {verb} {display(source)} -> {display(target)}")


def _remove_if_created_empty(folder: str, existed: bool) -> None:
    """Remove folder when this run created it and left nothing in it."""
    if not existed:
        with contextlib.suppress(OSError):  # not empty (or already gone): keep it
            os.rmdir(folder)


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask a yes/no question on the terminal.

    Parameters
    ----------
    question : str
        The question, ending in '(y/n) '.
    assume_yes : bool
        Answer yes without asking.

    Returns
    -------
    bool
        True if assume_yes or the user answers y / yes.

    Raises
    ------
    NotInteractive
        A question is needed but stdin is not a terminal.
    """
    if assume_yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise NotInteractive(
            "a confirmation is needed but stdin is not interactive: confirm in advance "
            "(silent_del=True, -sd True) or use a dry run"
        )
    return input(question).strip().lower() in ("y", "yes")


def _run(action: str, moves: list[tuple[str, str]], dest: str, manifest: str) -> Outcome:
    existed = os.path.isdir(dest)
    outcome = _execute(action, moves, manifest)
    _remove_if_created_empty(dest, existed)
    return outcome


def move(files: Iterable[str], keep: Iterable[str], dest: str, manifest: str, dry_run: bool = False) -> Outcome:
    """Move the lower-quality copies into dest.

    Parameters
    ----------
    files : iterable of str
        The lower-quality copies.
    keep : iterable of str
        The kept copies: never moved.
    dest : str
        The destination folder, created if needed.
    manifest : str
        The JSON file that records the moves, for `undo`.
    dry_run : bool
        Only print what would be moved.

    Returns
    -------
    Outcome
        The files moved and the files that could not be; empty for a dry run.
    """
    moves, skipped = plan(files, keep, dest)
    _report(skipped, moves, dry_run, "move")
    if dry_run:
        return Outcome()
    outcome = _run("move", moves, dest, manifest) if moves else Outcome()
    undo_hint = f"; undo: difpy --undo {manifest}" if outcome.done else ""
    print(outcome.summary("Moved", f' to "{os.path.abspath(dest)}"') + undo_hint)
    return outcome


def delete(
    files: Iterable[str],
    keep: Iterable[str],
    trash: str,
    manifest: str,
    assume_yes: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Delete the lower-quality copies by moving them into a trash folder, after a confirmation.

    Parameters
    ----------
    files : iterable of str
        The lower-quality copies.
    keep : iterable of str
        The kept copies: never deleted.
    trash : str
        The folder that receives the deleted files, created if needed.
    manifest : str
        The JSON file that records the deletes, for `undo`.
    assume_yes : bool
        Do not ask for a confirmation.
    dry_run : bool
        Only print what would be deleted.

    Returns
    -------
    Outcome
        The files deleted and the files that could not be; empty for a dry run or a cancel.

    Raises
    ------
    NotInteractive
        A confirmation is needed but stdin is not a terminal.
    """
    moves, skipped = plan(files, keep, trash)
    _report(skipped, moves, dry_run, "delete (move to trash)")
    if dry_run or not moves:
        if not dry_run:
            print("Deleted 0 file(s)")
        return Outcome()
    if not confirm(
        f"Delete {len(moves)} lower quality image(s)? They are moved to {os.path.abspath(trash)} "
        f"(undo: difpy --undo {manifest}). (y/n) ",
        assume_yes,
    ):
        print("Deletion canceled.")
        return Outcome()
    outcome = _run("delete", moves, trash, manifest)
    where = f": they are in {os.path.abspath(trash)} until you remove it; undo: difpy --undo {manifest}"
    print(outcome.summary("Deleted") + (where if outcome.done else ""))
    return outcome


def _remove_left_copy(source: str, target: str) -> str | None:
    """Remove the copy a failed move left at target when it still equals source; the reason otherwise."""
    if not os.path.lexists(target):
        return None
    if not (os.path.isfile(source) and os.path.isfile(target) and filecmp.cmp(source, target, shallow=False)):
        return f"the copy {target} differs from {source} or one of them is gone; kept"
    try:
        os.unlink(target)
    except OSError as err:
        return f"the copy {target} cannot be removed: {err.strerror or err}"
    return None


def _undo_entry(entry: dict[str, object]) -> str | None:
    """Reverse one manifest entry; the reason it could not be, or None."""
    source, target = str(entry["source"]), str(entry["target"])
    if entry.get("copy_left"):
        return _remove_left_copy(source, target)
    if os.path.lexists(source):
        return f"{source} exists again"
    if not os.path.lexists(target):
        return f"{target} is gone"
    try:
        _move(target, source)  # link or exclusive copy: never replaces a file
    except OSError as err:
        return f"{target} cannot be moved back: {err.strerror or err}"
    return None


def undo(manifest: str) -> Outcome:
    """Put every file of a manifest back where it was, and remove the copies that failed moves left behind.

    A file is put back only when its old place is free; nothing is ever overwritten. Entries undone are marked in
    the manifest, so a second undo does not report them again.

    Parameters
    ----------
    manifest : str
        A manifest written by move or delete.

    Returns
    -------
    Outcome
        done: (target, source) of each file put back; failed: (path, reason) of each that could not be.

    Raises
    ------
    OSError, ValueError
        The manifest cannot be read or is not JSON.
    """
    with open(manifest, encoding="utf-8") as fh:
        entries = json.load(fh)["entries"]
    outcome = Outcome()
    for entry in reversed(entries):
        if entry.get("undone") or not (entry.get("done") or entry.get("copy_left")):
            continue
        reason = _undo_entry(entry)
        if reason:
            print(f"not restored: {reason}", file=sys.stderr)
            outcome.failed.append((str(entry["source"]), reason))
            continue
        entry["undone"] = True
        if entry.get("done"):
            outcome.done.append((str(entry["target"]), str(entry["source"])))
    _write_manifest(manifest, entries)
    print(outcome.summary("Restored"))
    return outcome
