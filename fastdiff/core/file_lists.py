"""Partitions given as file lists: a text file with one path per line, or a CSV/TSV file with a path column.

A list is recognised by its extension (LIST_EXTENSIONS). Relative entries are resolved against the list's folder.
Text lists: blank lines and lines starting with '#' are skipped; the bytes of a line are the path (`os.fsdecode`),
surrounding whitespace removed. CSV (comma) and TSV (tab) lists: the first row is a header when one of its cells is a
path column name (PATH_COLUMNS, case-insensitive); the paths are that column. A file with a single column and no such
header holds one path per row. Entries are returned in list order; the index sorts them as it sorts a folder's files.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

TEXT_EXTENSIONS = frozenset({".txt", ".lst"})
DELIMITERS = {".csv": ",", ".tsv": "\t"}
LIST_EXTENSIONS = TEXT_EXTENSIONS | frozenset(DELIMITERS)
# Header names of the path column of a CSV/TSV list, in order of preference.
PATH_COLUMNS = (
    "path",
    "filepath",
    "file_path",
    "fullpath",
    "full_path",
    "image_path",
    "img_path",
    "file",
    "filename",
    "file_name",
    "image",
    "img",
)


class ListError(ValueError):
    """A file list that cannot be read: unreadable, not UTF-8 (CSV), or a CSV without a path column."""


@dataclass(frozen=True)
class ListEntry:
    """One path of a file list.

    Attributes
    ----------
    path : str
        Resolved against the list's folder and normalised (`os.path.normpath`), as `os.fsdecode` text.
    line : int
        Line number in the list, from 1.
    """

    path: str
    line: int


def is_list(path: str | os.PathLike[str]) -> bool:
    """Whether path names a file list: an existing regular file with an extension of LIST_EXTENSIONS."""
    return os.path.splitext(os.fspath(path))[1].lower() in LIST_EXTENSIONS and os.path.isfile(path)


def read_list(list_path: str | os.PathLike[str], base: str | None = None) -> list[ListEntry]:
    """The entries of a file list, in list order (duplicates kept: see `split_duplicates`).

    Parameters
    ----------
    list_path : str or PathLike
        The list file (opened at `base`/`list_path` where base is given).
    base : str or None
        The folder a relative list_path is opened under (difPy-exact mode's base_dir); entries stay relative to it.

    Returns
    -------
    list of ListEntry

    Raises
    ------
    ListError
        If the list cannot be read, a CSV is not UTF-8, or a CSV with several columns names no path column.
    """
    list_path = os.fspath(list_path)
    try:
        with open(os.path.join(base or "", list_path), "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise ListError(f"cannot read the file list {list_path!r}: {err.strerror or err}") from None
    extension = os.path.splitext(list_path)[1].lower()
    rows = _text_rows(data) if extension in TEXT_EXTENSIONS else _table_rows(list_path, data, DELIMITERS[extension])
    folder = os.path.dirname(list_path)
    return [ListEntry(os.path.normpath(os.path.join(folder, p)), n) for n, p in rows]


def split_duplicates(entries: list[ListEntry]) -> tuple[list[ListEntry], list[tuple[ListEntry, ListEntry]]]:
    """The entries without repeats, and each repeat with the entry it repeats.

    Returns
    -------
    unique : list of ListEntry
        The first entry of each path, in list order.
    repeats : list of (ListEntry, ListEntry)
        (repeat, first entry of the same path), in list order.
    """
    first: dict[str, ListEntry] = {}
    repeats = []
    for entry in entries:
        if entry.path in first:
            repeats.append((entry, first[entry.path]))
        else:
            first[entry.path] = entry
    return list(first.values()), repeats


def entry_name(list_path: str, line: int) -> str:
    """How a list's line is named where it has no file of its own (a repeated entry): 'LIST:LINE'."""
    return f"{list_path}:{line}"


def _text_rows(data: bytes) -> list[tuple[int, str]]:
    """(line number, path) of a text list: blank lines and '#' comments skipped."""
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (Windows editors)
        data = data[3:]
    rows = []
    for n, raw in enumerate(data.splitlines(), 1):
        text = os.fsdecode(raw.strip())
        if text and not text.startswith("#"):
            rows.append((n, text))
    return rows


def _table_rows(list_path: str, data: bytes, delimiter: str) -> list[tuple[int, str]]:
    """(line number, path) of a CSV/TSV list's path column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ListError(f"file list {list_path!r} is not UTF-8 text: {err}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0][1]]
    column = next((header.index(name) for name in PATH_COLUMNS if name in header), None)
    if column is not None:
        rows = rows[1:]
    elif len(header) == 1:
        column = 0
    else:
        raise ListError(
            f"file list {list_path!r} has {len(header)} columns and none is named as a path column; name the column "
            f"of the paths one of: {', '.join(PATH_COLUMNS)}"
        )
    found = []
    for n, row in rows:
        cell = row[column].strip() if column < len(row) else ""
        if cell:
            found.append((n, cell))
    return found
