"""File records of the index stage: what is decoded, what is rejected, and the sections pairs are formed in.

Two kinds of key number the files: the *index key*, a file's position in this run's index order (partition A, then
B; sorted paths in each section), which is `directory.key` of the database; and the *layout key*, the stable id that
`fastdiff.index.layout` gives a file and keeps across runs, which the shards, thumbnail batches and block outputs use.
The index's order.npy maps layout keys to index keys (`fastdiff.index.scan.read_order`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexedFile:
    """One file that will be decoded.

    Attributes
    ----------
    key : int
        In a `Scan`, the index key (the position in this run's index order); in a shard's records
        (`fastdiff.index.layout.read_shard`) and every later stage output, the layout key (stable across runs).
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
    inode, device : int
        `st_ino` and `st_dev` at indexing, so an action on the file (`fastdiff.actions.safe_files`) detects a file
        replaced since; -1 if unknown.
    link : bool
        The path is a symbolic link (its size and times are those of the file it points to); the keeper order
        keeps a regular file before a link (`fastdiff.merge.keeper`).
    """

    key: int
    path: str
    part: int
    section: int
    size: int
    ctime: float
    dir_index: int
    mtime_ns: int = -1
    inode: int = -1
    device: int = -1
    link: bool = False


@dataclass(frozen=True)
class RejectedFile:
    """A directory entry that is never decoded, with the reason shown in the stats and the database.

    Attributes
    ----------
    path : str
        As scanned (`os.fsdecode` text).
    part : int
        0 for partition A, 1 for partition B.
    reason : str
        The `directory.error` text, e.g. "Unsupported file type", "Permission denied", "same file as PATH".
    kind : str
        'unsupported' (extension filter), 'unreadable' (stat failed, not a regular file), 'alias' (a second path
        of a file already indexed) or 'skipped' (hidden, an ignored name or path: never opened).
    dir_index : int
        Position of the input directory it was found under (part_a, then part_b).
    size : int
        Bytes; -1 where unknown.
    ctime : float
        `st_ctime`, seconds since the epoch; -1 where unknown.
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
    """A set of files compared among themselves: one partition, or one input folder with in_folder.

    Attributes
    ----------
    id : int
        Position among the sections (partition A's first).
    part : int
        0 for partition A, 1 for partition B.
    folder : str
        The input folder with in_folder, else "".
    """

    id: int
    part: int
    folder: str


@dataclass
class Scan:
    """The result of scanning the partitions (`fastdiff.index.scan`).

    Attributes
    ----------
    files : list of IndexedFile
        The files to decode, in index order; their keys are index keys 0..n-1.
    rejected : list of RejectedFile
        Entries never decoded, in the order of the sections.
    sections : list of Section
    shared : int
        Files of partition A that are also in partition B (compared as B only).
    """

    files: list[IndexedFile]
    rejected: list[RejectedFile]
    sections: list[Section]
    shared: int = 0


def as_dict(record: IndexedFile | RejectedFile | Section) -> dict[str, object]:
    """A record's fields as a dict, in field order: what `dataclasses.asdict` gives for these records of plain values,
    without its deep copy of every value (which made writing the index of 7,000 files take 0.8 of its 1.6 s)."""
    return dict(vars(record))
