"""The one convention for file paths in fastdiff's outputs: lossless everywhere a program reads them.

A path is the file system's bytes. Inside fastdiff it is the `str` that `os.fsdecode` makes of them: bytes that are
not UTF-8 become lone surrogates (U+DC80..U+DCFF, PEP 383), so `os.fsencode(path)` gives the exact bytes back.

* JSON files (results.json, lower_quality.json, stats.json, manifests, `fastdiff query --json`) hold that `str`;
  `json.dump` writes a surrogate as the escape ``\\udcXX`` (the files are ASCII), which Python's `json` reads back
  as the same `str`: ``os.fsencode(json.load(f)[...])`` is the file's path.
* SQLite holds the exact bytes in `directory.path_bytes` (a BLOB, unique), and a readable text in `directory.path`.
* Tables, the HTML report and messages show `display(path)`, which is for reading only.
"""

from __future__ import annotations

import os


def path_bytes(path: str) -> bytes:
    """The exact bytes of a path as fastdiff holds it.

    Parameters
    ----------
    path : str
        A path from `os.fsdecode` (or from fastdiff's JSON files).

    Returns
    -------
    bytes
    """
    return os.fsencode(path)


def from_bytes(raw: bytes) -> str:
    """The path as fastdiff holds it, from its exact bytes (the inverse of `path_bytes`).

    Parameters
    ----------
    raw : bytes

    Returns
    -------
    str
    """
    return os.fsdecode(raw)


def display(path: str) -> str:
    """A readable text of a path: itself when its bytes are UTF-8, else the bytes that are not shown as ``\\xNN``.

    Two different paths can have the same display text (a name containing the four characters ``\\xe4``), so this
    is never used to find a file again.

    Parameters
    ----------
    path : str

    Returns
    -------
    str
        Valid UTF-8 text.
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
