"""Safe moves and deletes of lower-quality copies, journaled so that `undo` reverses them after any interruption.

* Checked at the moment of acting: a file is moved only while its size, modification time (ns), inode and device
  are those the comparison recorded (or, without records, those read when the action was planned), and while it lies
  inside the searched folders once links are resolved; its kept copies must pass the same checks, so a group never
  loses its last regular file. A file that fails is skipped with a one-line message and counted (exit non-zero).
* A file is acted on once: paths that resolve to the same file (nested input folders, links) count once.
* A kept copy is never touched, also when it is a lower-quality copy in another group (difPy's groups overlap).
* Only regular files are acted on: a named pipe, socket or device is left alone with the reason.
* Nothing in a destination is overwritten: a name already there gets a " (1)", " (2)", ... suffix (names compared
  without case where the destination ignores case), a name that would exceed the file system's limit (NAME_MAX
  bytes) has its stem shortened, extension kept, and a name taken meanwhile (the exclusive create fails) moves on
  to the next free one.
* A move either happens or leaves nothing: the file is linked or copied into place, and if its source cannot be
  removed afterwards (read-only folder or file system, immutable file) the new copy is removed again. A copy that
  cannot be removed either is recorded in the journal, and `undo` removes it. Permission bits and times that the
  destination cannot hold (FAT, exFAT, SMB) are copied as far as it can: never a reason to drop a finished copy.
* A delete asks first unless told not to, and refuses when stdin is not interactive; it moves the files into a
  trash folder, so it can be undone like a move (remove the folder to free the space).
* The journal (`fastdiff.actions.journal`, JSON lines) records each file before (intent) and after (done) it is moved,
  each line on disk before the next step. Ctrl-C (SIGINT, SIGTERM, SIGHUP) finishes the file at hand and stops
  (`Interrupted`); a second one rolls it back. After SIGKILL or a power cut, undo finds each file where it is.
* Every failed action is printed, counted in the summary line and in the returned Outcome (the commands then exit
  non-zero); `undo` never overwrites a file, checks each file is still the one moved, and reports every file it
  could not put back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import filecmp
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from fastdiff._shared.paths import display
from fastdiff._shared.special_files import open_regular
from fastdiff.actions.file_checks import Comparison, FileState, state_from_json
from fastdiff.actions.journal import Journal, JournalError, read_records, steps

DEFAULT_NAME_MAX = 255  # bytes of one file name on ext4, xfs, btrfs, NTFS, APFS
# link() cannot place the file in the destination: copy it there, then remove the source
_COPY_ERRNOS = frozenset([errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP])
# reasons a file is left alone that are no fault: not counted as skipped
KEPT, SAME_FILE = "is the kept copy of a group", "is the same file as one listed before"
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class NotInteractive(RuntimeError):
    """A confirmation is needed but stdin is not a terminal."""


class CopyLeft(OSError):
    """A move failed after its copy was made, and the copy could not be removed either."""


class Changed(OSError):
    """The file was replaced or changed between its check and its move; nothing was moved."""


@dataclasses.dataclass
class Outcome:
    """What a move, delete or undo did.

    Attributes
    ----------
    done : list of (str, str)
        (from, to) of every file moved.
    failed : list of (str, str)
        (file, reason) of every file that should have been moved but could not be.
    skipped : list of (str, str)
        (file, reason) of every file left alone because acting on it was not safe (changed since it was compared,
        gone, outside the searched folders, its kept copy changed or gone).
    notes : list of str
        Metadata that a destination could not hold, once per reason.
    """

    done: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no file failed or was skipped."""
        return not (self.failed or self.skipped)

    def summary(self, verb: str, where: str = "") -> str:
        """'<Verb> N file(s)<where>', or '<Verb> N of M file(s)<where>; K failed: first and K-1 more; J skipped:
        first and J-1 more' when some failed or were skipped.

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
        if self.ok:
            return f"{verb} {len(self.done)} file(s){where}"
        total = len(self.done) + len(self.failed) + len(self.skipped)
        text = f"{verb} {len(self.done)} of {total} file(s){where}"
        for what, items in (("failed", self.failed), ("skipped", self.skipped)):
            if items:
                more = f" and {len(items) - 1} more" if len(items) > 1 else ""
                text += f"; {len(items)} {what}: {items[0][0]}{more}"
        return text


class Interrupted(Exception):
    """An action stopped by a signal (Ctrl-C) after finishing or rolling back the file at hand.

    Attributes
    ----------
    outcome : Outcome
        What was done before it stopped.
    message : str
        One line for the user: what was done and how to undo it.
    """

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP noted instead of raised while files are acted on (in the main thread): the action
    finishes the file at hand, then stops; a second signal raises KeyboardInterrupt, which rolls the file back."""

    def __init__(self) -> None:
        self.caught: int | None = None
        self._old: dict[int, Any] = {}

    def _note(self, signum: int, frame: object) -> None:
        if self.caught is not None:
            raise KeyboardInterrupt
        self.caught = signum

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


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


def name_key(name: str, folded: bool) -> str:
    """The key under which a destination tells names apart: the name itself, or (folded: a destination that ignores
    case, as FAT, exFAT, SMB and macOS do) its NFC form case-folded.

    Parameters
    ----------
    name : str
        A file name or path.
    folded : bool
        The destination ignores case.

    Returns
    -------
    str
    """
    return unicodedata.normalize("NFC", name).casefold() if folded else name


def _nearest_folder(path: str) -> str:
    folder = os.path.abspath(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def case_insensitive(folder: str, probe: bool = True) -> bool:
    """Whether the file system of folder (or of its nearest existing parent) treats names that differ only in case
    as one name.

    Asked of an entry already there whose name has letters (its name with the case swapped names the same file),
    else, with probe, of a probe file created and removed in folder.

    Parameters
    ----------
    folder : str
        A directory, which need not exist.
    probe : bool
        May create a probe file; without it (a dry run), an answer that needs one is True (the safe guess).

    Returns
    -------
    bool
    """
    folder = _nearest_folder(folder)
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            other = entry.name.swapcase()
            if other != entry.name:
                try:
                    return os.path.samestat(entry.stat(follow_symlinks=False), os.lstat(os.path.join(folder, other)))
                except OSError:
                    return False
    if not probe:
        return True
    try:
        fd, path = tempfile.mkstemp(prefix=".fastdiff-case-probe-", dir=folder)
    except OSError:
        return True
    try:
        return os.path.lexists(os.path.join(folder, os.path.basename(path).upper()))
    finally:
        os.close(fd)
        os.unlink(path)


def _free_name(dest: str, name: str, taken: set[str], limit: int, folded: bool) -> str:
    """The first of name, "name (1)", ... that is free in dest and not taken (keys: `name_key`)."""
    n = 0
    while True:
        candidate = os.path.join(dest, fitting_name(name, n, limit))
        if name_key(candidate, folded) not in taken and not os.path.lexists(candidate):
            return candidate
        n += 1


@dataclasses.dataclass(frozen=True)
class Step:
    """One file to move, with what must still hold when it is moved.

    Attributes
    ----------
    source : str
        The file: an absolute path without links (`os.path.realpath`).
    target : str
        Where a dry run says it goes (the move takes the first free name when it happens).
    state : FileState
        The source's state as compared (or as read when planned).
    kept : tuple of (str, FileState)
        Its kept copies with their states: each must be unchanged for the source to be moved.
    """

    source: str
    target: str
    state: FileState
    kept: tuple[tuple[str, FileState], ...] = ()


def _read_state(path: str) -> tuple[FileState | None, str | None]:
    """(state, None), or (None, why it cannot be read)."""
    try:
        return FileState.read(path), None
    except FileNotFoundError:
        return None, "does not exist"
    except ValueError as err:
        return None, str(err)
    except OSError as err:
        return None, f"cannot be read: {err.strerror or err}"


def _kept_problem(path: str, comparison: Comparison) -> tuple[FileState | None, str | None]:
    """The state of a kept copy, or why its group must be left alone."""
    state, reason = _read_state(path)
    if state is None:
        return None, f"its kept copy {display(path)} {'is gone' if reason == 'does not exist' else reason}"
    why = comparison.why_unsafe(path, state)
    if why:
        return None, f"its kept copy {display(path)} {why}"
    return state, None


def _check(path: str, kept: set[str], seen: set[str], comparison: Comparison) -> Step | tuple[str, bool]:
    """The step for path, or (why it is left alone, whether that is a fault). A file that is gone or not a regular
    file is a fault when the comparison recorded it (it changed since), else only left alone."""
    recorded = path in comparison.states
    if not os.path.lexists(path):
        return "does not exist", recorded
    real = os.path.realpath(path)
    if real in kept:
        return KEPT, False
    if real in seen:
        return SAME_FILE, False
    state, reason = _read_state(path)
    if state is None:
        return str(reason), recorded
    why = comparison.why_unsafe(path, state)
    if why:
        return why, True
    kept_states = []
    for k in comparison.kept_of.get(path, ()):
        kept_state, problem = _kept_problem(k, comparison)
        if kept_state is None:
            return f"{problem}: its group is left alone", True
        kept_states.append((k, kept_state))
    return Step(real, "", state, tuple(kept_states))


def _steps(
    files: Iterable[str], keep: Iterable[str], dest: str, comparison: Comparison | None, probe: bool
) -> tuple[list[Step], list[tuple[str, str, bool]]]:
    """The steps of an action, and (file, reason, is a fault) of each file left alone."""
    comparison = comparison or Comparison()
    dest = os.path.abspath(dest)
    limit, folded = name_max(dest), case_insensitive(dest, probe)
    kept = {os.path.realpath(k) for k in keep} | {os.path.realpath(k) for ks in comparison.kept_of.values() for k in ks}
    seen: set[str] = set()
    taken: set[str] = set()
    planned, left = [], []
    for f in files:
        checked = _check(os.path.abspath(f), kept, seen, comparison)
        if not isinstance(checked, Step):
            left.append((f, *checked))
            continue
        seen.add(checked.source)
        target = _free_name(dest, os.path.basename(checked.source), taken, limit, folded)
        taken.add(name_key(target, folded))
        planned.append(dataclasses.replace(checked, target=target))
    return planned, left


def plan(
    files: Iterable[str], keep: Iterable[str], dest: str, comparison: Comparison | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Where each file would go in dest, and which files are left alone (nothing is written).

    Parameters
    ----------
    files : iterable of str
        The lower-quality copies.
    keep : iterable of str
        The kept copies: never moved, however they are listed in files.
    dest : str
        The destination folder (need not exist).
    comparison : Comparison, optional
        What the comparison recorded: files that changed since, lie outside its folders, or whose kept copy
        changed, are left alone.

    Returns
    -------
    moves : list of (str, str)
        (source, target) pairs: the source without links; targets are unique, free and within the name limit.
    skipped : list of (str, str)
        (file, reason) of each file left alone.
    """
    planned, left = _steps(files, keep, dest, comparison, probe=False)
    return [(s.source, s.target) for s in planned], [(f, reason) for f, reason, _ in left]


def _recheck(step: Step) -> str | None:
    """Why step must not happen now (its file or a kept copy changed since it was planned), or None."""
    if os.path.realpath(step.source) != step.source:
        return "a folder on its path was replaced by a link since it was compared"
    state, reason = _read_state(step.source)
    if state is None:
        return f"{reason} any more" if reason == "does not exist" else reason
    change = step.state.change(state)
    if change:
        return f"changed since it was compared: it {change}"
    for k, kept_state in step.kept:
        now, reason = _read_state(k)
        if now is None:
            return f"its kept copy {display(k)} {'is gone' if reason == 'does not exist' else reason}"
        change = kept_state.change(now)
        if change:
            return f"its kept copy {display(k)} changed since it was compared: it {change}"
    return None


def _copy_metadata(source_stat: os.stat_result, source: str, target: str) -> str | None:
    """Times, permission bits and extended attributes of source onto target, as far as its file system holds them;
    what it could not hold, or None."""
    try:
        shutil.copystat(source, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.utime(target, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
        return f"permission bits or times not kept ({err.strerror or err})"
    return None


def _copy(source: str, target: str, expected: FileState | None) -> str | None:
    """An exclusive copy of source at target, on disk (fsync) before it returns; a partial copy is removed. Returns
    the metadata the destination could not hold.

    Raises
    ------
    Changed
        The file opened is not the expected one.
    """
    with open_regular(source) as src:
        st = os.fstat(src.fileno())
        if expected is not None and expected.change(FileState.of(st)):
            raise Changed(errno.ESTALE, "changed while it was being moved")
        dst = open(target, "xb", buffering=0)  # noqa: SIM115 - closed below; "x": fails if the target exists
        try:
            with dst:  # unbuffered: a full disk fails in a write or the fsync, never later in close()
                shutil.copyfileobj(src, dst)
                os.fsync(dst.fileno())
        except BaseException:
            os.unlink(target)  # our own partial copy
            raise
    return _copy_metadata(st, source, target)


def _place(source: str, target: str, expected: FileState | None) -> str | None:
    """source also at target, never replacing a file there: a hard link (atomic, fails if the name exists), else
    an exclusive copy. Returns the metadata the destination could not hold.

    Raises
    ------
    Changed
        The file linked or copied is not the expected one (it was replaced after its check): nothing is left.
    """
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _COPY_ERRNOS:
            raise
        return _copy(source, target, expected)
    if expected is not None and expected.inode >= 0:
        st = os.lstat(target)
        if (st.st_ino, st.st_dev) != (expected.inode, expected.device):
            os.unlink(target)
            raise Changed(errno.ESTALE, "changed while it was being moved")
    return None


def _move(source: str, target: str, expected: FileState | None = None) -> str | None:
    """Move source to target, which must not exist: the source is removed only once the target is complete, and if
    it cannot be removed (or an interruption comes first) the target is removed again (CopyLeft if that fails too).
    Returns the metadata the destination could not hold."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    note = _place(source, target, expected)
    try:
        os.unlink(source)
    except BaseException as err:
        if not os.path.lexists(source):  # removed after all (an interruption just after it): the move is complete
            raise
        try:
            os.unlink(target)
        except OSError as err2:
            raise CopyLeft(
                getattr(err, "errno", None) or errno.EINTR,
                f"{getattr(err, 'strerror', None) or err or 'interrupted'}; its copy {target} could not be "
                f"removed either ({err2.strerror})",
            ) from err
        raise
    return note


class _Run:
    """One move or delete being carried out: its journal, its destination's naming rules, its Outcome."""

    def __init__(self, action: str, dest: str, journal: Journal) -> None:
        self.action, self.dest, self.journal = action, dest, journal
        self.limit, self.folded = name_max(dest), case_insensitive(dest)
        self.taken: set[str] = set()
        self.outcome = Outcome()

    def _skip(self, source: str, reason: str) -> None:
        print(f"skipped: {display(source)}: {reason}", file=sys.stderr)
        self.outcome.skipped.append((source, reason))
        self.journal.write("skipped", source=source, reason=reason)

    def _fail(self, number: int, source: str, err: OSError) -> None:
        error = str(err.strerror or err)
        self.journal.write("failed", step=number, error=error, copy_left=isinstance(err, CopyLeft))
        print(f"could not {self.action} {source}: {error}", file=sys.stderr)
        self.outcome.failed.append((source, error))

    def _done(self, number: int, source: str, target: str, note: str | None) -> None:
        target_state, _ = _read_state(target)
        self.journal.write("done", step=number, target_state=target_state and target_state.as_json())
        self.taken.add(name_key(target, self.folded))
        self.outcome.done.append((source, target))
        if note and note not in self.outcome.notes:
            self.outcome.notes.append(note)

    def step(self, number: int, step: Step) -> None:
        """Check the file again, then move it to the first free name, journaled before and after."""
        reason = _recheck(step)
        if reason:
            self._skip(step.source, reason)
            return
        try:
            mode: int | None = stat.S_IMODE(os.stat(step.source).st_mode)
        except OSError:
            mode = None
        target = _free_name(self.dest, os.path.basename(step.source), self.taken, self.limit, self.folded)
        while True:
            self.journal.write(
                "intent", step=number, source=step.source, target=target, state=step.state.as_json(), mode=mode
            )
            try:
                note = _move(step.source, target, step.state)
            except FileExistsError:  # taken since it was found free (or equal without case): the next free name
                self.taken.add(name_key(target, self.folded))
                target = _free_name(self.dest, os.path.basename(step.source), self.taken, self.limit, self.folded)
                continue
            except Changed as err:
                self.journal.write("failed", step=number, error=err.strerror, copy_left=False)
                self._skip(step.source, str(err.strerror))
                return
            except OSError as err:
                self._fail(number, step.source, err)
                return
            except KeyboardInterrupt:  # a second Ctrl-C: the file was rolled back, or its move had completed
                if os.path.lexists(target) and not os.path.lexists(step.source):
                    self._done(number, step.source, target, None)
                elif not os.path.lexists(target):
                    self.journal.write("failed", step=number, error="interrupted", copy_left=False)
                raise
            self._done(number, step.source, target, note)
            return


def _execute(action: str, planned: list[Step], dest: str, journal_path: str, undo_hint: str) -> Outcome:
    """Carry out the steps into dest (created if needed, removed again if left empty), journaled in journal_path.

    Raises
    ------
    Interrupted
        A signal stopped it; the file at hand was finished (or, on a second signal, rolled back).
    JournalError
        The journal cannot be created: nothing was done.
    """
    existed = os.path.isdir(dest)
    interrupted = False
    with Journal(journal_path) as journal, _StopSignals() as signals:
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as err:
            raise JournalError(err.errno, f"cannot create {dest}: {err.strerror or err}") from err
        run = _Run(action, dest, journal)
        try:
            journal.start(action, dest)
            for number, step in enumerate(planned):
                if signals.caught is not None:
                    interrupted = True
                    break
                run.step(number, step)
        except KeyboardInterrupt:
            interrupted = True
        except JournalError as err:  # no record, no safe next step: stop (undo settles the file at hand)
            print(f"stopped: {err.strerror}", file=sys.stderr)
            run.outcome.failed.append((journal_path, str(err.strerror)))
        interrupted = interrupted or signals.caught is not None
        outcome = run.outcome
        with contextlib.suppress(JournalError):
            journal.write(
                "end",
                done=len(outcome.done),
                failed=len(outcome.failed),
                skipped=len(outcome.skipped),
                interrupted=interrupted,
            )
    _remove_if_created_empty(dest, existed)
    for note in outcome.notes:
        print(f"note: {display(dest)}: {note}; the files are complete", file=sys.stderr)
    if interrupted:
        verb = "Move" if action == "move" else "Delete"
        raise Interrupted(outcome, f"{verb} interrupted; {len(outcome.done)} done, undo with: {undo_hint}")
    return outcome


def _report(left: list[tuple[str, str, bool]], planned: list[Step], dry_run: bool, verb: str) -> list[tuple[str, str]]:
    """Print what is left alone and, in a dry run, what would be done (paths as `fastdiff._shared.paths.display`, which
    any
    terminal can print; the journal holds the exact paths). Returns the files skipped as unsafe."""
    unsafe = []
    for path, reason, fault in left:
        if fault:
            print(f"skipped: {display(path)}: {reason}", file=sys.stderr)
            unsafe.append((path, reason))
        else:
            print(f"left alone: {display(path)} ({reason})")
    if dry_run:
        for step in planned:
            print(f"would {verb} {display(step.source)} -> {display(step.target)}")
    return unsafe


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


def move(
    files: Iterable[str],
    keep: Iterable[str],
    dest: str,
    manifest: str,
    dry_run: bool = False,
    comparison: Comparison | None = None,
    undo_command: str = "difpy --undo",
) -> Outcome:
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
        The journal (JSON lines, `fastdiff.actions.journal`) that records the moves, for `undo`; appended to if it
        exists.
    dry_run : bool
        Only print what would be moved.
    comparison : Comparison, optional
        What the comparison recorded, checked again before each move.
    undo_command : str
        The command shown to undo (the journal's path follows it).

    Returns
    -------
    Outcome
        The files moved, the files that could not be and the files skipped; a dry run reports only the skipped.

    Raises
    ------
    Interrupted
        Ctrl-C (or SIGTERM, SIGHUP) stopped it after the file at hand.
    JournalError
        The journal or the destination cannot be created: nothing was done.
    """
    planned, left = _steps(files, keep, dest, comparison, probe=False)
    unsafe = _report(left, planned, dry_run, "move")
    if dry_run:
        return Outcome(skipped=unsafe)
    hint = f"{undo_command} {manifest}"
    outcome = _execute("move", planned, os.path.abspath(dest), manifest, hint) if planned else Outcome()
    outcome.skipped[:0] = unsafe
    undo_hint = f"; undo: {hint}" if outcome.done else ""
    print(outcome.summary("Moved", f' to "{os.path.abspath(dest)}"') + undo_hint)
    return outcome


def delete(
    files: Iterable[str],
    keep: Iterable[str],
    trash: str,
    manifest: str,
    assume_yes: bool = False,
    dry_run: bool = False,
    comparison: Comparison | None = None,
    undo_command: str = "difpy --undo",
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
        The journal that records the deletes, for `undo`.
    assume_yes : bool
        Do not ask for a confirmation.
    dry_run : bool
        Only print what would be deleted.
    comparison : Comparison, optional
        What the comparison recorded, checked again before each delete (after the confirmation).
    undo_command : str
        The command shown to undo (the journal's path follows it).

    Returns
    -------
    Outcome
        The files deleted, the files that could not be and the files skipped; a dry run or a cancel reports only
        the skipped.

    Raises
    ------
    NotInteractive
        A confirmation is needed but stdin is not a terminal.
    Interrupted
        Ctrl-C (or SIGTERM, SIGHUP) stopped it after the file at hand.
    JournalError
        The journal or the destination cannot be created: nothing was done.
    """
    planned, left = _steps(files, keep, trash, comparison, probe=False)
    unsafe = _report(left, planned, dry_run, "delete (move to trash)")
    if dry_run or not planned:
        if not dry_run:
            print(Outcome(skipped=unsafe).summary("Deleted"))
        return Outcome(skipped=unsafe)
    hint = f"{undo_command} {manifest}"
    if not confirm(
        f"Delete {len(planned)} lower quality image(s)? They are moved to {os.path.abspath(trash)} "
        f"(undo: {hint}). (y/n) ",
        assume_yes,
    ):
        print("Deletion canceled.")
        return Outcome(skipped=unsafe)
    outcome = _execute("delete", planned, os.path.abspath(trash), manifest, hint)
    outcome.skipped[:0] = unsafe
    where = f": they are in {os.path.abspath(trash)} until you remove it; undo: {hint}"
    print(outcome.summary("Deleted") + (where if outcome.done else ""))
    return outcome


def read_journal(manifest: str) -> list[dict[str, Any]]:
    """The files of a journal as `fastdiff.actions.journal.steps` merges them (source, target, done, error, copy_left,
    undone, ...).

    Parameters
    ----------
    manifest : str
        A journal written by move or delete.

    Returns
    -------
    list of dict
    """
    return steps(read_records(manifest))


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


def _chunks(path: str) -> Iterator[bytes]:
    with open_regular(path) as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def _is_start_of(part: str, whole: str) -> bool:
    """Whether the bytes of file part are the first bytes of file whole (a copy cut short, or a whole copy)."""
    if os.path.getsize(part) > os.path.getsize(whole):
        return False
    rest = _chunks(whole)
    buffer = b""
    for chunk in _chunks(part):
        while len(buffer) < len(chunk):
            more = next(rest, b"")
            if not more:
                return False
            buffer += more
        if buffer[: len(chunk)] != chunk:
            return False
        buffer = buffer[len(chunk) :]
    return True


def _restore_metadata(path: str, item: dict[str, Any]) -> None:
    """The modification time and permission bits the file had before it was moved, where its copy lost them."""
    with contextlib.suppress(OSError, KeyError, TypeError, ValueError):
        st = os.stat(path)
        mtime = int(item["state"]["mtime_ns"])
        if st.st_mtime_ns != mtime:
            os.utime(path, ns=(st.st_atime_ns, mtime))
        if item.get("mode") is not None and stat.S_IMODE(st.st_mode) != item["mode"]:
            os.chmod(path, item["mode"])


def _put_back(item: dict[str, Any], now: FileState) -> str | None:
    """Move the file at the item's target back to its source; the reason it could not be, or None."""
    source, target = item["source"], item["target"]
    try:
        _move(target, source, now)  # link or exclusive copy: never replaces a file
    except FileExistsError:
        return f"{source} exists again"
    except OSError as err:
        return f"{target} cannot be moved back: {err.strerror or err}"
    _restore_metadata(source, item)
    return None


def _undo_unfinished(item: dict[str, Any]) -> tuple[bool, str | None]:
    """Settle a file whose move was interrupted before its outcome was journaled: (put back?, reason it failed)."""
    source, target = item["source"], item["target"]
    state = state_from_json(item["state"]) if item.get("state") else None
    if not os.path.lexists(target):
        return False, None if os.path.lexists(source) else f"neither {source} nor {target} exists"
    now, reason = _read_state(target)
    if now is None:
        return False, f"{target} {reason}"
    if os.path.lexists(source):  # the move stopped before removing its source: drop our link or copy
        try:
            ours = os.path.samefile(source, target) or _is_start_of(target, source)
            if ours:
                os.unlink(target)
        except OSError as err:
            return False, f"{target} cannot be removed: {err.strerror or err}"
        return False, None if ours else f"{source} exists again"
    if state is not None and now.size != state.size:
        return False, f"{target} is not the file that was moved (size {now.size}, was {state.size})"
    reason = _put_back(item, now)
    return reason is None, reason


def _undo_done(item: dict[str, Any]) -> str | None:
    """Put back a file whose move was journaled as done; the reason it could not be, or None."""
    source, target = item["source"], item["target"]
    if not os.path.lexists(target):
        if os.path.lexists(source) and item.get("state"):  # put back by an undo that was interrupted
            before, now = state_from_json(item["state"]), _read_state(source)[0]
            if now is not None and (now.size, now.mtime_ns) == (before.size, before.mtime_ns):
                return None
        return f"{target} is gone"
    now, reason = _read_state(target)
    if now is None:
        return f"{target} {reason}"
    moved = state_from_json(item["target_state"]) if item.get("target_state") else None
    change = moved.change(now) if moved else None
    if change:
        return f"{target} changed since it was moved: it {change}; left where it is"
    if os.path.lexists(source):
        if os.path.samefile(source, target):  # an undo interrupted between its link and its unlink
            try:
                os.unlink(target)
            except OSError as err:
                return f"{target} cannot be removed: {err.strerror or err}"
            return None
        return f"{source} exists again"
    return _put_back(item, now)


def undo(manifest: str, undo_command: str = "difpy --undo") -> Outcome:
    """Put every file of a journal back where it was, and remove the copies that failed moves left behind.

    Each file is checked first: it is put back only while it is the file that was moved (size, modification time,
    inode as journaled) and its old place is free; nothing is ever overwritten. A file whose move was interrupted
    before its outcome was journaled is looked for where it actually is. Files put back are journaled as undone, so
    a second undo does not report them again, and an interrupted undo can be run again.

    Parameters
    ----------
    manifest : str
        A journal written by move or delete.
    undo_command : str
        The command shown to run the undo again after an interruption.

    Returns
    -------
    Outcome
        done: (target, source) of each file put back; failed: (path, reason) of each that could not be.

    Raises
    ------
    OSError, ValueError
        The journal cannot be read or is not a fastdiff journal (`fastdiff.actions.journal.CorruptJournal`).
    Interrupted
        Ctrl-C stopped it after the file at hand.
    """
    items = read_journal(manifest)
    outcome = Outcome()
    with Journal(manifest) as journal, _StopSignals() as signals:
        try:
            for item in reversed(items):
                if signals.caught is not None:
                    break
                if item["undone"] or (item["error"] is not None and not item["copy_left"]):
                    continue  # put back already, or a failed move that left nothing
                restored, reason = _undo_item(item)
                if reason:
                    print(f"not restored: {reason}", file=sys.stderr)
                    outcome.failed.append((item["source"], reason))
                    continue
                journal.write("undone", of=item["of"])
                if restored:
                    outcome.done.append((item["target"], item["source"]))
        except KeyboardInterrupt:  # a second Ctrl-C: the file at hand stays where it was; a rerun finishes
            signals.caught = signal.SIGINT
    if signals.caught is not None:
        raise Interrupted(
            outcome, f"Undo interrupted; {len(outcome.done)} restored, finish with: {undo_command} {manifest}"
        )
    print(outcome.summary("Restored"))
    return outcome


def _undo_item(item: dict[str, Any]) -> tuple[bool, str | None]:
    """Reverse one file of a journal: (whether it was put back, the reason it could not be)."""
    if item["copy_left"]:
        return False, _remove_left_copy(item["source"], item["target"])
    if item["done"]:
        reason = _undo_done(item)
        return reason is None, reason
    return _undo_unfinished(item)
