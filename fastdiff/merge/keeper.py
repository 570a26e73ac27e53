"""Which copy of a picture is kept: the keeper order of the best-copy groups (default mode).

Images are ranked once, at merge time, into `directory.keeper_rank` (0 = kept first); the best-copy groups, the
heads of `fastdiff query` clusters and the report all follow that rank. The order is, first difference wins:

1. more pixels (width x height of the original);
2. the larger file;
3. `prefer`: a file under the first-listed folder of the config key `prefer` before one under a later-listed
   folder, and both before files under none of them;
4. fewer copy marks: the original before names that read as its copies (`copy_marks`), in file and folder names;
5. the older modification time (`st_mtime_ns`);
6. the shorter path (in bytes);
7. the path's bytes in byte order (any two files differ here).

Quality comes first, so a sharper or larger picture is kept whatever its name or folder; 3 to 7 only decide
between copies of equal quality. (With `part_b`, the kept copy of a group is always the partition B file, see
`fastdiff.merge.grouping`.)
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence

from fastdiff._shared.paths import from_bytes

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
    return marks + sum(_marks(folder, COPY_NAME_PATTERNS) for folder in folders if folder)


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


KEEPER_ORDER = (
    "px * py DESC, file_size DESC, keeper_preference(path_bytes) ASC, keeper_copy_marks(path_bytes) ASC, "
    "mtime_ns ASC, LENGTH(path_bytes) ASC, path_bytes ASC"
)
"""The keeper order as an SQL ORDER BY over `directory` (the functions are those `store_keeper_ranks` defines)."""


def store_keeper_ranks(con: sqlite3.Connection, prefer: Sequence[str]) -> None:
    """Number the decoded images of `directory` in the keeper order into `keeper_rank` (0 first); commit.

    Parameters
    ----------
    con : sqlite3.Connection
        A writable result database.
    prefer : sequence of str
        The config key `prefer`.
    """
    con.create_function("keeper_copy_marks", 1, lambda raw: copy_marks(from_bytes(raw)), deterministic=True)
    con.create_function("keeper_preference", 1, lambda raw: preference(from_bytes(raw), prefer), deterministic=True)
    con.execute(f"""
        UPDATE directory SET keeper_rank = ranked.rank FROM (
            SELECT key, ROW_NUMBER() OVER (ORDER BY {KEEPER_ORDER}) - 1 AS rank FROM directory WHERE success = 1
        ) AS ranked WHERE directory.key = ranked.key""")
    con.commit()
