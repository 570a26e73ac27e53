"""What a comparison saw of each file, and the checks made again the moment a file is moved, deleted or put back.

A file is acted on only while it is still the file that was compared: same size, modification time (ns), inode and
device as the index recorded (`directory.file_size`, `mtime_ns`, `inode`, `device` of the database), and only when
it lies inside the searched folders once every link is resolved. Its kept copy (the file it duplicates) must pass
the same checks, so that a group never loses its last regular file.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fastdiff._shared.special_files import kind_of
from fastdiff.merge.db.reader import ResultDB


@dataclass(frozen=True)
class FileState:
    """The identity of a file's contents as `os.stat` sees it (links followed); -1 for what is unknown.

    Attributes
    ----------
    size : int
        Bytes.
    mtime_ns : int
        Modification time, nanoseconds since the epoch.
    inode, device : int
        `st_ino`, `st_dev`.
    """

    size: int
    mtime_ns: int
    inode: int = -1
    device: int = -1

    @classmethod
    def of(cls, st: os.stat_result) -> FileState:
        """The state of an `os.stat` result."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    @classmethod
    def read(cls, path: str) -> FileState:
        """The state of path now (links followed).

        Raises
        ------
        OSError
            It cannot be read; NotADirectoryError-like errors included.
        ValueError
            It is not a regular file (the message says what it is).
        """
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"is not a regular file ({kind_of(st.st_mode)})")
        return cls.of(st)

    def change(self, now: FileState) -> str | None:
        """How now differs from this state, in words ('was replaced by another file', 'was modified', ...); None
        when it does not (unknown fields are not compared)."""
        if self.inode >= 0 and self.device >= 0 and (now.inode, now.device) != (self.inode, self.device):
            return "was replaced by another file"
        if self.size >= 0 and now.size != self.size:
            return f"changed size ({self.size} -> {now.size} bytes)"
        if self.mtime_ns >= 0 and now.mtime_ns != self.mtime_ns:
            return "was modified (its modification time changed)"
        return None

    def as_json(self) -> dict[str, int]:
        """The state as a JSON object."""
        return dataclasses.asdict(self)


def state_from_json(obj: Mapping[str, int]) -> FileState:
    """A FileState from `FileState.as_json`'s object."""
    return FileState(int(obj["size"]), int(obj["mtime_ns"]), int(obj["inode"]), int(obj["device"]))


def within(path: str, roots: Iterable[str]) -> bool:
    """Whether path (resolved) is one of roots (resolved) or inside one."""
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


@dataclass
class Comparison:
    """What a run compared: the state of each file, the kept copies of each lower-quality copy, the folders searched.

    Attributes
    ----------
    states : dict of str to FileState
        By absolute path (`os.path.abspath`), as the index recorded it.
    kept_of : dict of str to tuple of str
        Absolute path of a lower-quality copy -> the absolute paths of the kept copies it duplicates.
    roots : list of str
        The searched folders, resolved (`os.path.realpath`); empty: no containment check.
    """

    states: dict[str, FileState] = field(default_factory=dict)
    kept_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        stats: Iterable[tuple[str, int, int, int, int]],
        groups: Iterable[tuple[str, str]],
        roots: Iterable[str],
        base: str | None = None,
    ) -> Comparison:
        """A Comparison from the index's records.

        Parameters
        ----------
        stats : iterable of (path, size, mtime_ns, inode, device)
            As the database's directory table holds them (`fastdiff.merge.db.ResultDB.file_states`).
        groups : iterable of (copy, kept)
            Each lower-quality copy with the kept copy it duplicates (a copy may be listed under several).
        roots : iterable of str
            The searched folders.
        base : str, optional
            The folder relative paths are relative to (default: the current one).

        Returns
        -------
        Comparison
        """

        def absolute(path: str) -> str:
            return os.path.abspath(os.path.join(base, path) if base else path)

        kept_of: dict[str, tuple[str, ...]] = {}
        for copy, kept in groups:
            kept_of[absolute(copy)] = (*kept_of.get(absolute(copy), ()), absolute(kept))
        return cls(
            {absolute(p): FileState(*rest) for p, *rest in stats},
            kept_of,
            [os.path.realpath(absolute(r)) for r in roots],
        )

    def why_unsafe(self, path: str, state: FileState) -> str | None:
        """Why acting on path, whose state was just read, is not safe; None when it is.

        Parameters
        ----------
        path : str
            An absolute path, as the comparison listed it.
        state : FileState
            Its state now.

        Returns
        -------
        str or None
            'changed since it was compared: ...', or 'is reached through a link to ..., outside the searched
            folders'.
        """
        recorded = self.states.get(path)
        change = recorded.change(state) if recorded else None
        if change:
            return f"changed since it was compared: it {change}"
        real = os.path.realpath(path)
        if self.roots and not within(real, self.roots):
            return f"is reached through a link to {real}, outside the searched folders"
        return None


def comparison_of_run(database: str | os.PathLike[str]) -> tuple[Comparison, list[str]]:
    """What a finished run compared, and its lower-quality copies, from its database.

    Parameters
    ----------
    database : str or os.PathLike
        The run's output folder OUT or its fastdiff.sqlite.

    Returns
    -------
    comparison : Comparison
        The recorded states, each copy's kept copy, and the run's folders (part_a and part_b) as roots.
    copies : list of str
        The lower-quality copies (lower_quality.json's list), absolute.

    Raises
    ------
    FileNotFoundError
        There is no database.
    sqlite3.DatabaseError
        It is not a fastdiff database.
    """
    with ResultDB(database) as db:
        config = db.config()
        base = config.get("base_dir") or None
        roots = [str(r) for key in ("part_a", "part_b") for r in config.get(key) or []]  # type: ignore[attr-defined]
        groups = list(db.copies())
        comparison = Comparison.of(db.file_states(), groups, roots, str(base) if base else None)
    copies = list(dict.fromkeys(os.path.abspath(os.path.join(str(base or ""), c)) for c, _ in groups))
    return comparison, copies
