"""The journal of a move or delete: one JSON object per line, each appended and flushed to disk (fsync) before the
step it records goes on, so that an interruption at any point (Ctrl-C, SIGKILL, a power cut) leaves a record of
every file that may have moved.

Records (the `event` field): a `start` line (the action, the destination); for each file an `intent` (source,
target, the source's state) before anything happens, then `done` (with the new file's state) or `failed` (with the
error, and `copy_left` when a copy could not be removed); `skipped` for a file left alone; `undone` when undo put a
file back; `end` with the counts. A torn last line (a power cut during its write) is ignored.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

JOURNAL_VERSION = 2


class CorruptJournal(ValueError):
    """A line before the last of a journal is not a JSON object, or the file is not a fastdiff journal."""


def _drop_torn_line(path: str) -> None:
    """Cut a last line without its newline (torn by an interruption during its write) off the file, so that what
    is appended next starts on a line of its own."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)
            os.fsync(fh.fileno())


class JournalError(OSError):
    """A record could not be written: the action must stop, as its next step could not be undone."""


class Journal:
    """A journal open for appending (a context manager that closes it).

    Parameters
    ----------
    path : str
        The journal file, created (with its folder) if needed; appended to otherwise (after cutting off a torn
        last line).

    Raises
    ------
    JournalError
        It cannot be created or opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        created = not os.path.exists(path)
        try:
            os.makedirs(folder, exist_ok=True)
            if not created:
                _drop_torn_line(path)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
            if created:  # the new name itself on disk
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as err:
            raise JournalError(err.errno, f"cannot write the journal {path}: {err.strerror or err}") from err

    def write(self, event: str, **fields: Any) -> None:
        """Append one record and flush it to disk before returning.

        Parameters
        ----------
        event : str
            The record's kind: start, intent, done, failed, skipped, undone, end.
        **fields
            Its JSON-ready fields.

        Raises
        ------
        JournalError
            It could not be written and flushed to disk (a full disk, ...).
        """
        try:
            self._fh.write(json.dumps({"event": event, **fields}) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as err:
            raise JournalError(err.errno, f"cannot write the journal {self.path}: {err.strerror or err}") from err

    def start(self, action: str, dest: str) -> None:
        """Write the start record of an action into dest."""
        self.write(
            "start", journal=JOURNAL_VERSION, action=action, dest=dest, time=datetime.now().isoformat(), pid=os.getpid()
        )

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str) -> list[dict[str, Any]]:
    """Every record of a journal, in order; a torn last line is left out.

    Parameters
    ----------
    path : str
        A journal written by `Journal`.

    Returns
    -------
    list of dict

    Raises
    ------
    OSError
        It cannot be read.
    CorruptJournal
        A line other than the last is not a JSON object, or the first record is not a journal's start.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        lines = fh.read().split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if not any(rest.strip() for rest in lines[i + 1 :]):
                break  # the last line, torn by an interruption during its write
            raise CorruptJournal(f"{path}: line {i + 1} is not JSON") from None
        if not isinstance(record, dict) or "event" not in record:
            raise CorruptJournal(f"{path}: line {i + 1} is not a journal record")
        records.append(record)
    if not records or records[0].get("event") != "start":
        raise CorruptJournal(f"{path} is not a fastdiff journal (no start record)")
    return records


def steps(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The files of a journal, each merged from its records, in the order first intended: `of` ([run, step]: the
    journal may hold several runs, each from its start record), action, source, target, state and mode of its last
    intent, `done` (bool) with `target_state`, `error` and `copy_left` of a failure, `undone` (bool).

    Parameters
    ----------
    records : list of dict
        From `read_records`.

    Returns
    -------
    list of dict
    """
    by_step: dict[tuple[int, int], dict[str, Any]] = {}
    action, run = "move", -1
    for record in records:
        event = record["event"]
        if event == "start":
            action, run = record.get("action", action), run + 1
            continue
        if event == "undone":
            if tuple(record["of"]) in by_step:
                by_step[tuple(record["of"])]["undone"] = True
            continue
        if "step" not in record:
            continue
        key = (run, int(record["step"]))
        step = by_step.setdefault(key, {"of": list(key), "action": action, "done": False, "undone": False})
        if event == "intent":
            step.update(source=record["source"], target=record["target"], state=record.get("state"))
            step.update(mode=record.get("mode"), done=False, error=None, copy_left=False)
        elif event == "done":
            step.update(done=True, target_state=record.get("target_state"))
        elif event == "failed":
            step.update(error=record.get("error"), copy_left=bool(record.get("copy_left")))
    return [s for s in by_step.values() if "source" in s]
