"""Which copy of a picture is kept: the keeper order of the best-copy groups (default mode).

Images are ranked once, at merge time, into `directory.keeper_rank` (0 = kept first); the best-copy groups, the
heads of `fastdiff query` clusters and the report all follow that rank. The order is the config key `keep`, a list
of the criteria of KEEP_CRITERIA, first difference wins; by default (DEFAULT_KEEP):

1. ``pixels``: more pixels (width x height of the original);
2. ``prefer``: a file under the first-listed folder of the config key `prefer` before one under a later-listed
   folder, and both before files under none of them;
3. ``regular``: a regular file before a symbolic link (`directory.link`);
4. ``oldest``: the older modification time (`st_mtime_ns`): a copy is made after its original;
5. ``fewer_copy_marks``: the original before names that read as its copies (`copy_marks`), in file and folder
   names;
6. ``shortest_path``: the shorter path (in bytes);

and always last the path's bytes in byte order (any two files differ there). The file size is never a criterion:
a re-encode at a higher quality or a lossless PNG of a JPEG holds the same picture in more bytes, and is not the
better copy. Why each group's file was kept (the first criterion that separates it from the other file) is stored
with the group (`best_copy_group.kept_because`, KEEP_REASONS). (With `part_b`, the kept copy of a group is always
the partition B file, see `fastdiff.merge.grouping`.)
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Sequence

from fastdiff._shared.paths import from_bytes
from fastdiff.core.config import DEFAULT_KEEP, KeepCriterion

# Words for "copy" that file managers put into copied names: English, German, French, Spanish/Italian, Portuguese,
# Polish/Swedish, Finnish, Russian, Japanese, Chinese (Windows Explorer, macOS Finder, GNOME Files, Dolphin).
_COPY_WORDS = "copy|kopie|copie|copia|cópia|kopia|kopio|копия|コピー|副本|复制"

COPY_NAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "x - Copy", "x - Copy (2)" (Windows Explorer; " - Kopie", " - Copie", ... localized), "x copy", "x copy 2"
    # (macOS Finder), "x (copy)", "x (copy 2)" (GNOME Files), "x_copy", "x-Copy(1)", "x_copy1" (scripts, editors)
    re.compile(rf"(?:\s*-\s*|[\s_-]+|\s*\()(?:{_COPY_WORDS})(?:\s*\(?\d+\)?)?\)?$", re.IGNORECASE),
    # "Copy of x", "Copy (2) of x" (Windows XP, Google Drive, Outlook), "Kopie von x", "Copie de x", "Copia de/di x"
    re.compile(rf"^(?:{_COPY_WORDS})(?:\s*\(\d+\))?\s+(?:of|von|de|di)\s+", re.IGNORECASE),
    # "x (1)", "x(2)" (Windows name conflicts, browser downloads, Google Photos exports)
    re.compile(r"\s?\(\d+\)$"),
)
"""Copy marks of a file name (without its extension) or a folder name; each match is one mark."""

FILE_ONLY_COPY_NAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "IMG_1234-1" (camera imports and photo managers that number a name taken twice: Lightroom, Shotwell)
    re.compile(r"-[1-9]$"),
)
"""Copy marks only in file names: folder names like "Day-1" are too common to read as copies."""


def _marks(name: str, patterns: Sequence[re.Pattern[str]]) -> int:
    """How many copy marks can be stripped from `name` one after the other ("x - Copy (2) - Copy" has 2)."""
    count = 0
    while name:
        for pattern in patterns:
            stripped = pattern.sub("", name, count=1)
            if stripped != name and stripped.strip():
                name, count = stripped, count + 1
                break
        else:
            return count
    return count


def copy_marks(path: str) -> int:
    """The number of copy marks in a path's file name (without extension) and folder names.

    Parameters
    ----------
    path : str
        The path as scanned.

    Returns
    -------
    int
        0 for a name that does not read as a copy; "a/x - Copy (1).jpg" has 1, "a (1)/Copy of x - Copy.jpg" has 3.
        The patterns (COPY_NAME_PATTERNS, FILE_ONLY_COPY_NAME_PATTERNS) follow the names that Windows Explorer,
        macOS Finder, GNOME Files, browsers and photo managers give to copies; a name is never stripped to nothing.
    """
    *folders, name = path.split(os.sep)
    stem = os.path.splitext(name)[0] or name
    marks = _marks(stem, FILE_ONLY_COPY_NAME_PATTERNS + COPY_NAME_PATTERNS)
    return marks + sum(_folder_marks(folder) for folder in folders if folder)


@functools.lru_cache(maxsize=4096)
def _folder_marks(folder: str) -> int:
    """Copy marks of a folder name; remembered, as the files of a folder share its path."""
    return _marks(folder, COPY_NAME_PATTERNS)


def preference(path: str, prefer: Sequence[str]) -> int:
    """Position of the first folder of `prefer` that holds the path; len(prefer) if none does.

    Parameters
    ----------
    path : str
        The path as scanned; a relative path is taken relative to the current directory, as the scan did.
    prefer : sequence of str
        The config key `prefer`: folders, most preferred first. Paths are compared as given (after
        `os.path.abspath`), symlinks are not resolved.

    Returns
    -------
    int
    """
    path = os.path.abspath(path)
    for i, folder in enumerate(prefer):
        if path.startswith(os.path.join(os.path.abspath(folder), "")):
            return i
    return len(prefer)


"""A name of the config key `keep`."""

KEEP_CRITERIA: dict[KeepCriterion, str] = {
    "pixels": "-({t}.px * {t}.py)",
    "prefer": "{t}.prefer_rank",
    "regular": "{t}.link",
    "oldest": "{t}.mtime_ns",
    "fewer_copy_marks": "{t}.copy_marks",
    "shortest_path": "LENGTH({t}.path_bytes)",
}
"""Each criterion of `keep` as an SQL expression over the `directory` row aliased {t}, smaller first."""

BYTE_ORDER = "byte order"
"""The reason of the final tie-break, the path's bytes (always after the criteria of `keep`)."""

KEEP_REASONS: dict[str, str] = {
    "pixels": "more pixels",
    "prefer": "in preferred folder",
    "regular": "regular file",
    "oldest": "older",
    "fewer_copy_marks": "fewer copy marks",
    "shortest_path": "shorter path",
}
"""Why a file was kept, by the criterion that decided (`best_copy_group.kept_because`); else BYTE_ORDER."""

PART_B_REASON = "in part_b (the reference)"
"""Why a group's file was kept with part_b: the partition B file is always kept (`fastdiff.merge.grouping`)."""

DIFPY_REASON = "first in difPy's order"
"""Why a group's file was kept with compat 'difpy': difPy 4.2.1 keeps the first file of its own order."""


def keeper_order(keep: Sequence[str]) -> str:
    """The keeper order as an SQL ORDER BY over `directory` (the columns `store_keeper_ranks` fills).

    Parameters
    ----------
    keep : sequence of str
        The config key `keep`: names of KEEP_CRITERIA, most important first.

    Returns
    -------
    str
        The criteria's expressions, each ascending, then ``path_bytes``.

    Raises
    ------
    KeyError
        For a name not in KEEP_CRITERIA (the config validates it before).
    """
    return ", ".join([*(KEEP_CRITERIA[name].format(t="directory") + " ASC" for name in keep), "path_bytes ASC"])


def store_keeper_ranks(con: sqlite3.Connection, prefer: Sequence[str], keep: Sequence[str] = DEFAULT_KEEP) -> None:
    """Fill `prefer_rank` and `copy_marks` of the decoded images of `directory`, number them in the keeper order
    into `keeper_rank` (0 first), and store `keep` in the table `keeper`; commit.

    Parameters
    ----------
    con : sqlite3.Connection
        A writable result database.
    prefer : sequence of str
        The config key `prefer`.
    keep : sequence of str
        The config key `keep` (`keeper_order`).
    """
    con.create_function("keeper_copy_marks", 1, lambda raw: copy_marks(from_bytes(raw)), deterministic=True)
    con.create_function("keeper_preference", 1, lambda raw: preference(from_bytes(raw), prefer), deterministic=True)
    con.execute(
        "UPDATE directory SET prefer_rank = keeper_preference(path_bytes), copy_marks = keeper_copy_marks(path_bytes) "
        "WHERE success = 1"
    )
    con.execute(f"""
        UPDATE directory SET keeper_rank = ranked.rank FROM (
            SELECT key, ROW_NUMBER() OVER (ORDER BY {keeper_order(keep)}) - 1 AS rank FROM directory WHERE success = 1
        ) AS ranked WHERE directory.key = ranked.key""")
    con.execute("DELETE FROM keeper")
    con.executemany("INSERT INTO keeper VALUES (?, ?)", enumerate(keep))
    con.commit()


def stored_keep(con: sqlite3.Connection) -> list[str]:
    """The `keep` order a database was ranked with (`store_keeper_ranks`)."""
    return [name for (name,) in con.execute("SELECT criterion FROM keeper ORDER BY position")]


def reason_sql(keep: Sequence[str], kept: str = "h", other: str = "m") -> str:
    """An SQL expression for why the `directory` row aliased `kept` comes before the one aliased `other`: the reason
    (KEEP_REASONS) of the first criterion of `keep` on which they differ, else BYTE_ORDER.

    Parameters
    ----------
    keep : sequence of str
        The order the rows were ranked in (`stored_keep`).
    kept, other : str
        The table aliases of the two rows in the query.

    Returns
    -------
    str
    """
    cases = [
        f"WHEN {KEEP_CRITERIA[name].format(t=kept)} IS NOT {KEEP_CRITERIA[name].format(t=other)} "
        f"THEN '{KEEP_REASONS[name]}'"
        for name in keep
    ]
    return f"CASE {' '.join(cases)} ELSE '{BYTE_ORDER}' END" if cases else f"'{BYTE_ORDER}'"


def kept_because(con: sqlite3.Connection, kept: int, other: int) -> str:
    """Why `kept` comes before `other` in the keeper order the database was ranked in (`reason_sql`).

    Parameters
    ----------
    con : sqlite3.Connection
        A result database ranked by `store_keeper_ranks`.
    kept, other : int
        Index keys (`directory.key`) of two decoded images, `kept` first in the keeper order.

    Returns
    -------
    str
        A value of KEEP_REASONS, or BYTE_ORDER.
    """
    query = f"SELECT {reason_sql(stored_keep(con))} FROM directory h, directory m WHERE h.key = ? AND m.key = ?"
    return con.execute(query, (kept, other)).fetchone()[0]
