"""The SQLite result database: Fast-Diff-Py's tables (directory, hash_table, dif_table) plus groups."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator

# The smallest hash key of an image's rotations: equal for exactly the images whose thumbnails are equal up to a
# rotation (the rotation hashes of such images are the same set), NULL for images without hashes.
HASH_CLUSTER_ID = "MIN(hash_0, COALESCE(hash_90, hash_0), COALESCE(hash_180, hash_0), COALESCE(hash_270, hash_0))"

SCHEMA = f"""
CREATE TABLE directory (
    key INTEGER PRIMARY KEY,             -- index order; rejected entries follow the indexed files
    path TEXT NOT NULL,
    filename TEXT NOT NULL,
    error TEXT,                          -- why the file was not compared (NULL when it was)
    success INTEGER NOT NULL DEFAULT -1 CHECK (success IN (-1, 0, 1)),  -- 1 decoded, 0 error, -1 not attempted
    px INTEGER NOT NULL DEFAULT -1,      -- original height (EXIF-oriented), as Fast-Diff-Py
    py INTEGER NOT NULL DEFAULT -1,      -- original width
    allowed INTEGER NOT NULL CHECK (allowed IN (0, 1)),  -- passed the extension filter and is not an alias
    file_size INTEGER NOT NULL DEFAULT -1,
    created REAL NOT NULL DEFAULT -1,    -- st_ctime
    dir_index INTEGER NOT NULL DEFAULT -1,  -- position of its input directory (part_a then part_b)
    part_b INTEGER NOT NULL DEFAULT 0 CHECK (part_b IN (0, 1)),
    hash_0 INTEGER REFERENCES hash_table (key),
    hash_90 INTEGER REFERENCES hash_table (key),
    hash_180 INTEGER REFERENCES hash_table (key),
    hash_270 INTEGER REFERENCES hash_table (key),
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (path, part_b)
);
CREATE TABLE hash_table (
    key INTEGER PRIMARY KEY,
    hash TEXT UNIQUE NOT NULL,           -- sha-256 of a thumbnail rotation after shift_amount
    count INTEGER NOT NULL CHECK (count >= 0)  -- occurrences in directory.hash_0..hash_270
);
CREATE TABLE dif_table (
    key INTEGER PRIMARY KEY,
    key_a INTEGER NOT NULL REFERENCES directory (key),
    key_b INTEGER NOT NULL REFERENCES directory (key),
    dif REAL NOT NULL CHECK (dif >= -1), -- MSE over px*px*3 values (0..255 scale), min over rotations
    success INTEGER NOT NULL CHECK (success IN (0, 1, 2, 3)),  -- 1 computed, 2 hash match, 3 size/aspect mismatch
    error TEXT,
    rotation INTEGER,                    -- k: dif = MSE(a, rot90(b, k)); NULL for hash matches
    UNIQUE (key_a, key_b)
);
CREATE TABLE best_copy_group (
    member INTEGER PRIMARY KEY REFERENCES directory (key),  -- a lower-quality copy
    head INTEGER NOT NULL REFERENCES directory (key),       -- the best copy it matched
    dif REAL NOT NULL
);
CREATE TABLE run_config (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX directory_part_b ON directory (part_b);
CREATE INDEX directory_success ON directory (success);
CREATE INDEX directory_size ON directory (file_size, created);
CREATE INDEX directory_hash_0 ON directory (hash_0);
CREATE INDEX directory_hash_90 ON directory (hash_90);
CREATE INDEX directory_hash_180 ON directory (hash_180);
CREATE INDEX directory_hash_270 ON directory (hash_270);
CREATE INDEX directory_hash_cluster ON directory ({HASH_CLUSTER_ID}, key);
CREATE INDEX dif_table_key_b ON dif_table (key_b);
CREATE INDEX best_copy_group_head ON best_copy_group (head);
"""

DIRECTORY_COLUMNS = (
    "key",
    "path",
    "filename",
    "error",
    "success",
    "px",
    "py",
    "allowed",
    "file_size",
    "created",
    "dir_index",
    "part_b",
)


def db_text(text: str) -> str:
    """Text SQLite can store: undecodable file-name bytes (surrogate escapes) are shown as backslash escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def create(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A new database with the schema (the file must not exist yet)."""
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
    con.execute(f"CREATE TEMP TABLE staged_directory ({', '.join(DIRECTORY_COLUMNS)}, PRIMARY KEY (key))")
    con.execute("CREATE TEMP TABLE staged_hash (key INTEGER PRIMARY KEY, h0 TEXT, h90 TEXT, h180 TEXT, h270 TEXT)")
    con.execute(
        "CREATE TEMP TABLE staged_dif (key_a INTEGER, key_b INTEGER, dif REAL, success INTEGER, rotation INTEGER)"
    )
    return con


def insert_files(con: sqlite3.Connection, rows: Iterable[tuple], hashes: Iterable[tuple]) -> None:
    """Stage directory rows (DIRECTORY_COLUMNS order) and their rotation hashes (key, h0, h90, h180, h270), in any
    order; finish() sorts them into the tables."""
    marks = ", ".join("?" * len(DIRECTORY_COLUMNS))
    con.executemany(
        f"INSERT INTO staged_directory VALUES ({marks})", ((*r[:1], db_text(r[1]), db_text(r[2]), *r[3:]) for r in rows)
    )
    con.executemany(
        "INSERT INTO staged_hash VALUES (?, ?, ?, ?, ?)", ((k, *(h or None for h in hs)) for k, *hs in hashes)
    )


def insert_pairs(con: sqlite3.Connection, rows: Iterable[tuple[int, int, float, int, int | None]]) -> None:
    """Stage matching pairs (key_a, key_b, dif, success, rotation); finish() sorts them into dif_table."""
    con.executemany("INSERT INTO staged_dif VALUES (?, ?, ?, ?, ?)", rows)


def finish(con: sqlite3.Connection, config: dict[str, object]) -> None:
    """Build directory, hash_table and dif_table from the staged rows in key order (the same database whatever order
    the rows came in), and store the config."""
    columns = ", ".join(DIRECTORY_COLUMNS)
    con.executescript(f"""
        INSERT INTO directory ({columns}) SELECT {columns} FROM staged_directory ORDER BY key;
        DROP TABLE staged_directory;
        INSERT INTO hash_table (hash, count)
            SELECT h, COUNT(*) FROM (
                SELECT key * 4 AS pos, h0 AS h FROM staged_hash UNION ALL SELECT key * 4 + 1, h90 FROM staged_hash
                UNION ALL SELECT key * 4 + 2, h180 FROM staged_hash UNION ALL SELECT key * 4 + 3, h270 FROM staged_hash)
            WHERE h IS NOT NULL GROUP BY h ORDER BY MIN(pos);
        UPDATE directory SET
            hash_0 = (SELECT t.key FROM staged_hash s JOIN hash_table t ON t.hash = s.h0
                      WHERE s.key = directory.key),
            hash_90 = (SELECT t.key FROM staged_hash s JOIN hash_table t ON t.hash = s.h90
                       WHERE s.key = directory.key),
            hash_180 = (SELECT t.key FROM staged_hash s JOIN hash_table t ON t.hash = s.h180
                        WHERE s.key = directory.key),
            hash_270 = (SELECT t.key FROM staged_hash s JOIN hash_table t ON t.hash = s.h270
                        WHERE s.key = directory.key)
        WHERE key IN (SELECT key FROM staged_hash);
        INSERT INTO dif_table (key_a, key_b, dif, success, rotation)
            SELECT key_a, key_b, dif, success, rotation FROM staged_dif ORDER BY key_a, key_b;
        DROP TABLE staged_hash;
        DROP TABLE staged_dif;
    """)
    con.executemany(
        "INSERT INTO run_config VALUES (?, ?)", ((k, json.dumps(v, sort_keys=True)) for k, v in sorted(config.items()))
    )
    con.commit()


def insert_hash_pairs(
    con: sqlite3.Connection, two_partitions: bool, per_folder: bool, same_dims: bool, aspect_factor: float | None
) -> None:
    """Hash-only mode: every allowed pair whose thumbnails are equal up to a rotation (hash_0 of one is a rotation
    hash of the other) goes into dif_table as a hash match (success 2, dif 0).

    One index lookup per image and hash column, so the time is O(n log n + pairs); no pair is compared.
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
        INSERT INTO dif_table (key_a, key_b, dif, success)
        SELECT a.key, b.key, 0, 2 FROM directory b CROSS JOIN directory a
            ON a.hash_0 IN (b.hash_0, b.hash_90, b.hash_180, b.hash_270)
        WHERE {" AND ".join(where)} ORDER BY a.key, b.key""",
        {"factor": aspect_factor},
    )
    con.commit()


def matched_keys_by_quality(con: sqlite3.Connection) -> Iterator[int]:
    """Keys of every image with at least one match, best copy first: pixels, then file size, then index order."""
    yield from (
        k
        for (k,) in con.execute("""
        SELECT key FROM directory WHERE key IN (
            SELECT key_a FROM dif_table WHERE success IN (1, 2)
            UNION SELECT key_b FROM dif_table WHERE success IN (1, 2))
        ORDER BY px * py DESC, file_size DESC, key ASC""")
    )


def matches_of(con: sqlite3.Connection, key: int) -> list[tuple[int, float]]:
    """(other key, dif) of every pair that contains `key`, in key order."""
    return con.execute(
        """
        SELECT key_b, dif FROM dif_table WHERE key_a = ?1 AND success IN (1, 2)
        UNION ALL SELECT key_a, dif FROM dif_table WHERE key_b = ?1 AND success IN (1, 2) ORDER BY 1""",
        (key,),
    ).fetchall()
