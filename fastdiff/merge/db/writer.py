"""Writing the SQLite result database (`fastdiff.merge.db.schema`): files, hashes and pairs are staged in any order,
then sorted into the tables in key order, so the database is the same whatever order the jobs finished in."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence

from fastdiff._shared.paths import display, path_bytes
from fastdiff.core.config import DEFAULT_KEEP
from fastdiff.merge.db.schema import DIRECTORY_COLUMNS, HASH_COLUMNS, SCHEMA
from fastdiff.merge.keeper import store_keeper_ranks

# hash_table in the order of first occurrence: by image key, then symmetry code
_HASH_POSITIONS = " UNION ALL ".join(
    f"SELECT key * {len(HASH_COLUMNS)} + {i} AS pos, {c} AS h FROM staged_hash" for i, c in enumerate(HASH_COLUMNS)
)
_HASH_KEYS = ",\n            ".join(
    f"{c} = (SELECT t.key FROM staged_hash s JOIN hash_table t ON t.hash = s.{c} WHERE s.key = directory.key)"
    for c in HASH_COLUMNS
)

# Pages SQLite keeps in memory, for the database and for its temporary tables (the staged rows) each, in KiB: its
# default, 2 MiB, re-read and re-wrote every page of a 63 MB database through the kernel (60,500 images: 770,850
# pread64 and 288,162 pwrite64 calls in the merge). Twice this stays within the merge job's memory
# (fastdiff.run.resources.MERGE_MEM_MB) beside its measured 200 MB; the cache grows only as pages are used.
CACHE_KIB = 256 * 1024

FILE_FIELDS = tuple(c for c in DIRECTORY_COLUMNS if c not in ("path_bytes", "filename"))
"""The fields of a file row given to insert_files: DIRECTORY_COLUMNS without the ones derived from the path."""


IDENTITY_FIELDS = ("inode", "device")
"""The last FILE_FIELDS: a row may leave them out (unknown, -1)."""


def _directory_row(row: tuple) -> tuple:
    """A FILE_FIELDS row as a DIRECTORY_COLUMNS row: the path as readable text, exact bytes and file name; inode
    and device -1 where the row leaves them out."""
    key, path, *rest = row
    missing = len(FILE_FIELDS) - len(row)
    if 0 < missing <= len(IDENTITY_FIELDS):
        rest += [-1] * missing
    return (key, display(path), path_bytes(path), display(os.path.basename(path)), *rest)


def create(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A new database with the schema (the file must not exist yet)."""
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
        f"PRAGMA main.cache_size = -{CACHE_KIB}; PRAGMA temp.cache_size = -{CACHE_KIB};" + SCHEMA
    )
    con.execute(f"CREATE TEMP TABLE staged_directory ({', '.join(DIRECTORY_COLUMNS)}, PRIMARY KEY (key))")
    hashes = ", ".join(f"{c} TEXT" for c in HASH_COLUMNS)
    con.execute(f"CREATE TEMP TABLE staged_hash (key INTEGER PRIMARY KEY, {hashes})")
    con.execute(
        "CREATE TEMP TABLE staged_dif (key_a INTEGER, key_b INTEGER, dif REAL, success INTEGER, rotation INTEGER)"
    )
    return con


def insert_files(con: sqlite3.Connection, rows: Iterable[tuple], hashes: Iterable[tuple]) -> None:
    """Stage file rows and their rotation hashes, in any order; finish() sorts them into the tables.

    Parameters
    ----------
    con : sqlite3.Connection
        From `create`.
    rows : iterable of tuple
        FILE_FIELDS: index key, path (`os.fsdecode` text, `fastdiff._shared.paths`), error (None or why it was not
        compared), success (1 decoded, 0 error, -1 not attempted), px (height), py (width) in pixels or -1, allowed
        (0 or 1), file_size (bytes), created (`st_ctime`, seconds since the epoch), mtime_ns, link (1 for a
        symbolic link, else 0), dir_index, part_b,
        then optionally inode and device (`st_ino`, `st_dev`; -1 when left out).
    hashes : iterable of tuple
        (index key, then one hash per symmetry code 0..7, schema.HASH_COLUMNS): sha-256 hex of the thumbnail's
        rotations and mirrored rotations; '' or None (or missing) for no hash.
    """
    marks = ", ".join("?" * len(DIRECTORY_COLUMNS))
    con.executemany(f"INSERT INTO staged_directory VALUES ({marks})", map(_directory_row, rows))
    con.executemany(
        f"INSERT INTO staged_hash VALUES (?{', ?' * len(HASH_COLUMNS)})",
        ((k, *(h or None for h in hs), *[None] * (len(HASH_COLUMNS) - len(hs))) for k, *hs in hashes),
    )


def insert_pairs(con: sqlite3.Connection, rows: Iterable[tuple[int, int, float, int, int | None]]) -> None:
    """Stage matching pairs, in any order; finish() sorts them into dif_table.

    Parameters
    ----------
    con : sqlite3.Connection
        From `create`.
    rows : iterable of tuple
        (key_a, key_b, mse, success, rotation): index keys with key_a < key_b; MSE on the 0-255 scale over
        px*px*3 values (the `dif` column); success 1 computed, 2 hash match, 3 size mismatch
        (`fastdiff.compare.pairs`); rotation k with mse = MSE(a, rot90(b, k)), None for hash matches.
    """
    con.executemany("INSERT INTO staged_dif VALUES (?, ?, ?, ?, ?)", rows)


def finish(
    con: sqlite3.Connection, config: dict[str, object], prefer: list[str], keep: Sequence[str] = DEFAULT_KEEP
) -> None:
    """Build directory, hash_table and computed_pair (dif_table) from the staged rows in key order (the same database
    whatever order the rows came in), number the images in the keeper order `keep` with the `prefer` folders
    (`fastdiff.merge.keeper`), and store the config; commit.

    hash_table numbers the distinct hashes in the order of their first occurrence (key-major, then rotation), with
    how often each occurs; directory.hash_0..hash_270 refer to it (Fast-Diff-Py's schema).

    Parameters
    ----------
    con : sqlite3.Connection
        From `create`, with files and pairs staged.
    config : dict
        The run's configuration, stored as JSON values in run_config.
    prefer : list of str
        The config key `prefer` (`fastdiff.merge.keeper.store_keeper_ranks`).
    keep : sequence of str
        The config key `keep`, the keeper order (`fastdiff.merge.keeper.keeper_order`).
    """
    columns = ", ".join(DIRECTORY_COLUMNS)
    con.executescript(f"""
        INSERT INTO directory ({columns}) SELECT {columns} FROM staged_directory ORDER BY key;
        DROP TABLE staged_directory;
        INSERT INTO hash_table (hash, count)
            SELECT h, COUNT(*) FROM ({_HASH_POSITIONS})
            WHERE h IS NOT NULL GROUP BY h ORDER BY MIN(pos);
        UPDATE directory SET
            {_HASH_KEYS}
        WHERE key IN (SELECT key FROM staged_hash);
        INSERT INTO computed_pair (key_a, key_b, dif, success, rotation)
            SELECT key_a, key_b, dif, success, rotation FROM staged_dif ORDER BY key_a, key_b;
        DROP TABLE staged_hash;
        DROP TABLE staged_dif;
    """)
    con.executemany(
        "INSERT INTO run_config VALUES (?, ?)", ((k, json.dumps(v, sort_keys=True)) for k, v in sorted(config.items()))
    )
    store_keeper_ranks(con, prefer, keep)  # commits


def insert_exact_groups(
    con: sqlite3.Connection,
    rows: Iterable[tuple[int, int, int, int]],
    rotations: Iterable[tuple[int, int, int, int]],
    two_partitions: bool,
) -> None:
    """Store the exact groups (`fastdiff.merge.db.exact`) into a finished database (`finish`); commit.

    Parameters
    ----------
    con : sqlite3.Connection
    rows : iterable of tuple
        (member, group, symmetry, stabiliser), index keys.
    rotations : iterable of tuple
        (stabiliser, symmetry_a, symmetry_b, rotation) for the exact_rotation table.
    two_partitions : bool
        The run has a partition B: exact_group.part_b is the member's, so that the view lists A x B pairs only.
    """
    con.execute("CREATE TEMP TABLE staged_exact (member INTEGER PRIMARY KEY, grp, symmetry, stabiliser)")
    con.executemany("INSERT INTO staged_exact VALUES (?, ?, ?, ?)", rows)
    con.execute(
        "INSERT INTO exact_group SELECT s.member, s.grp, s.symmetry, s.stabiliser, CASE WHEN ? THEN d.part_b END "
        "FROM staged_exact s JOIN directory d ON d.key = s.member ORDER BY s.member",
        (two_partitions,),
    )
    con.execute("DROP TABLE staged_exact")
    con.executemany("INSERT INTO exact_rotation VALUES (?, ?, ?, ?)", rotations)
    # a pair stored by a compare output written before groups existed (reused by an incremental run) is listed by
    # the view already: keep one row per pair
    con.execute("""
        DELETE FROM computed_pair WHERE EXISTS (
            SELECT 1 FROM exact_group a JOIN exact_group b ON b.grp = a.grp
            WHERE a.member = computed_pair.key_a AND b.member = computed_pair.key_b)""")
    con.commit()


def insert_hash_pairs(
    con: sqlite3.Connection, two_partitions: bool, per_folder: bool, same_dims: bool, aspect_factor: float | None
) -> None:
    """Hash-only mode: every allowed pair whose thumbnails are equal up to a rotation, or a symmetry with mirror
    (hash_0 of one is a hash of the other's rotations or mirrored rotations, schema.HASH_COLUMNS) goes
    into dif_table as a hash match (success 2, dif 0).

    One index lookup per image and hash column, so the time is O(n log n + pairs); no pair is compared (measured:
    0.14 s for 20,000 images, 0.96 s for 200,000, docs/how-it-works.md, "Hash-only mode").

    Parameters
    ----------
    con : sqlite3.Connection
        A finished database (`finish`).
    two_partitions : bool
        Only A x B pairs (part_b).
    per_folder : bool
        Only pairs of the same input folder (in_folder).
    same_dims : bool
        Only pairs of the same dimensions, or transposed (same_dim, or match_aspect_by 0).
    aspect_factor : float or None
        Only pairs whose aspect ratios are within this factor (match_aspect_by).
    """
    # b is the outer loop and a is found through its hash_0 index; unary + keeps the planner off other indexes
    where = ["+a.part_b = 0 AND b.part_b = 1" if two_partitions else "a.key < b.key"]
    if per_folder:
        where.append("+a.dir_index = b.dir_index")
    if same_dims:
        where.append("MIN(a.px, a.py) = MIN(b.px, b.py) AND MAX(a.px, a.py) = MAX(b.px, b.py)")
    if aspect_factor:
        ra, rb = (f"(MAX({t}.px, {t}.py) * 1.0 / MAX(MIN({t}.px, {t}.py), 1))" for t in "ab")
        where.append(f"{ra} * :factor >= {rb} AND {rb} >= {ra} / :factor")
    con.execute(
        f"""
        INSERT INTO computed_pair (key_a, key_b, dif, success)
        SELECT a.key, b.key, 0, 2 FROM directory b CROSS JOIN directory a
            ON a.hash_0 IN ({", ".join(f"b.{c}" for c in HASH_COLUMNS)})
        WHERE {" AND ".join(where)} ORDER BY a.key, b.key""",
        {"factor": aspect_factor},
    )
    con.commit()
