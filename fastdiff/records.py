"""File records of the index stage: what is decoded, what is rejected, and the sections pairs are formed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexedFile:
    """One file that will be decoded.

    Attributes
    ----------
    key : int
        Stable id of the file in every output of the stages after the index (kept across runs, see
        `fastdiff.layout`); `order.npy` of the index maps it to the file's position in this run's index order.
    path : str
        The path as scanned (file-system text; undecodable bytes are surrogate escapes, `os.fsdecode`).
    part : int
        0 for partition A, 1 for partition B.
    section : int
        Pairs are only formed inside a section (or across the A and B sections).
    size : int
        File size in bytes at indexing.
    ctime : float
        `st_ctime` at indexing, seconds since the epoch.
    dir_index : int
        Position of the input directory it was found under (part_a, then part_b).
    mtime_ns : int
        `st_mtime_ns` at indexing, so the thumbnail job detects a file changed since; -1 if unknown.
    """

    key: int
    path: str
    part: int
    section: int
    size: int
    ctime: float
    dir_index: int
    mtime_ns: int = -1


@dataclass(frozen=True)
class RejectedFile:
    """A directory entry that is never decoded, with the reason shown in the stats and the database.

    `kind` is 'unsupported' (extension filter), 'unreadable' (stat failed, not a regular file) or 'alias' (a second
    path of a file already indexed); `size` and `ctime` are -1 where unknown.
    """

    path: str
    part: int
    reason: str
    kind: str
    dir_index: int
    size: int = -1
    ctime: float = -1.0


@dataclass(frozen=True)
class Section:
    """A set of files compared among themselves: one partition, or one input folder with in_folder."""

    id: int
    part: int
    folder: str


@dataclass
class Scan:
    """The result of scanning the partitions: files to decode in index order, rejected entries, sections, and the
    number of files of partition A that are also in partition B (compared as B only)."""

    files: list[IndexedFile]
    rejected: list[RejectedFile]
    sections: list[Section]
    shared: int = 0
