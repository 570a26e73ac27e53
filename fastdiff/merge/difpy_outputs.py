"""difPy 4.2.1's output files, written by both modes' merge: results.json ({best copy: [[copy, mse], ...]}),
lower_quality.json (the copies) and stats.json (difPy's stats structure, field names and order)."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from fastdiff._shared.atomic import atomic_open
from fastdiff._shared.paths import from_bytes
from fastdiff.core.options import MergeOptions

RESULTS, LOWER_QUALITY, STATS = "results.json", "lower_quality.json", "stats.json"


def write_json(out_dir: Path, name: str, obj: Any) -> None:
    """out_dir/name as ASCII JSON, atomically."""
    with atomic_open(out_dir / name, "w", encoding="ascii") as fh:
        json.dump(obj, fh)


def duration(spans: list[tuple[float, float]]) -> dict[str, object]:
    """difPy's duration record (ISO start and end, seconds) of a stage from the (start, end) spans of its jobs,
    seconds since the epoch."""
    start, end = (min(s for s, _ in spans), max(e for _, e in spans)) if spans else (time.time(),) * 2
    return {
        "start": datetime.fromtimestamp(start).isoformat(),
        "end": datetime.fromtimestamp(end).isoformat(),
        "seconds_elapsed": round(end - start, 4),
    }


def stats_record(
    options: MergeOptions,
    directory: list[str],
    searched: int,
    invalid: dict[str, str],
    duplicates: int,
    similar: int,
    build: list[tuple[float, float]],
    search: list[tuple[float, float]],
) -> dict[str, object]:
    """difPy 4.2.1's stats structure (dif.py L748-805) from its figures and the job spans of both stages.

    Parameters
    ----------
    options : MergeOptions
        The parameters difPy reports (px_size, threshold, rotate, ...; threads as processes).
    directory : list of str
        The input folders (part_a, then part_b).
    searched : int
        Images decoded and compared (files_searched).
    invalid : dict of str to str
        path -> reason of every file that was not compared (invalid_files.logs).
    duplicates, similar : int
        Lower-quality copies with MSE 0 and with MSE > 0 (matches_found).
    build, search : list of (float, float)
        (start, end) of the thumbnail and of the compare jobs, seconds since the epoch.

    Returns
    -------
    dict
        JSON-able, with difPy's field names and order.
    """
    threshold = options.threshold
    return {
        "directory": directory,
        "total_files": searched + len(invalid),
        "invalid_files": {"count": len(invalid), "logs": invalid},
        "process": {
            "build": {
                "duration": duration(build),
                "parameters": {
                    "recursive": options.recursive,
                    "in_folder": options.in_folder,
                    "limit_extensions": options.limit_extensions,
                    "px_size": options.px_size,
                    "processes": options.threads,
                },
            },
            "search": {
                "duration": duration(search),
                "parameters": {
                    "similarity_mse": int(options.threshold_value) if isinstance(threshold, str) else float(threshold),
                    "rotate": options.rotate,
                    "same_dim": options.same_dim,
                    "processes": options.threads,
                    "chunksize": None,
                },
                "files_searched": searched,
                "matches_found": {"duplicates": duplicates, "similar": similar},
            },
        },
    }


def write_results(con: sqlite3.Connection, options: MergeOptions, results: IO[str], lower: IO[str]) -> int:
    """Stream difPy's result mapping {best copy: [[copy, mse], ...]} (nested per folder with in_folder) and the
    lower_quality list from the database's best_copy_group table; return the number of lower-quality copies.

    Paths are written losslessly (`fastdiff._shared.paths`): `os.fsencode` of a path read back with `json` is the
    file's.

    Parameters
    ----------
    con : sqlite3.Connection
        A database with its best_copy_group table.
    options : MergeOptions
        in_folder and part_a (the folder keys of the nested form).
    results, lower : text files
        Receive results.json and lower_quality.json (ASCII).

    Returns
    -------
    int
        The number of lower-quality copies.
    """
    rows = con.execute("""
        SELECT h.path_bytes, m.path_bytes, g.dif, h.dir_index FROM best_copy_group g
        JOIN directory h ON h.key = g.head JOIN directory m ON m.key = g.member ORDER BY g.head, g.member""")
    dump = json.dumps
    folder = best = None
    count = 0
    results.write("{")
    lower.write("[")
    for best_raw, copy_raw, mse, dir_index in rows:
        best_path, copy = from_bytes(best_raw), from_bytes(copy_raw)
        if options.in_folder and options.part_a[dir_index] != folder:
            results.write(("]}, " if folder is not None else "") + dump(options.part_a[dir_index]) + ": {")
            folder, best = options.part_a[dir_index], None
        if best_path != best:
            results.write(("], " if best is not None else "") + dump(best_path) + ": [")
        else:
            results.write(", ")
        best = best_path
        results.write(dump([copy, mse]))
        lower.write((", " if count else "") + dump(copy))
        count += 1
    results.write(("]" if best is not None else "") + ("}" if folder is not None else "") + "}")
    lower.write("]")
    return count
