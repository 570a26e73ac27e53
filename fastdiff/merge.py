"""Merge stage: all block outputs into the SQLite database and difPy's results / lower_quality / stats files."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np

from . import database, index, layout
from .atomic import atomic_open, atomic_path
from .batch import load_batch
from .compare import COMPUTED, Pairs, load_pairs
from .config import NAMED_THRESHOLDS, Config
from .grouping import best_copy_groups

log = logging.getLogger(__name__)

OUTPUT_FILES = ("fastdiff.sqlite", "results.json", "lower_quality.json", "stats.json")
PAIR_CHUNK = 65536  # result pairs turned into Python tuples at a time


def _file_rows(
    index_dir: Path, shard_paths: list[str], batch_paths: list[str], order: np.ndarray, spans: list[tuple[float, float]]
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Per shard: directory rows and hash rows for the indexed files, then one chunk for rejected entries; keys are
    the index order of this run (`order` of the layout's keys).

    The (start, end) time of each thumbnail job is appended to `spans`.
    """
    for shard_path, batch_path in zip(shard_paths, batch_paths):
        batch = load_batch(batch_path, thumbs=False)
        spans.append((batch.started, batch.finished))
        ok = {
            int(k): (int(h), int(w), list(hs))
            for k, h, w, hs in zip(batch.keys, batch.height, batch.width, batch.hashes)
        }
        errors = {int(k): str(m) for k, m in zip(batch.error_keys, batch.error_messages)}
        rows, hashes = [], []
        for f in layout.read_shard(shard_path):
            key = int(order[f.key])
            h, w, hs = ok.get(f.key, (-1, -1, None))
            rows.append(
                (
                    key,
                    f.path,
                    os.path.basename(f.path),
                    errors.get(f.key),
                    0 if hs is None else 1,
                    h,
                    w,
                    1,
                    f.size,
                    f.ctime,
                    f.dir_index,
                    f.part,
                )
            )
            if hs is not None:
                hashes.append((key, *hs))
        yield rows, hashes
    first = index.read_manifest(index_dir)["n_files"]
    yield (
        [
            (
                first + i,
                r.path,
                os.path.basename(r.path),
                r.reason,
                0 if r.kind == "unreadable" else -1,
                -1,
                -1,
                0,
                r.size,
                r.ctime,
                r.dir_index,
                r.part,
            )
            for i, r in enumerate(index.read_rejected(index_dir))
        ],
        [],
    )


def load_pairs_in_order(path: str, order: np.ndarray) -> Pairs:
    """A block output with the layout's keys replaced by this run's index order (each pair stays first < second)."""
    p = load_pairs(path)
    p.key_a, p.key_b = order[p.key_a], order[p.key_b]
    if len(p) and not ((p.key_a >= 0) & (p.key_a < p.key_b)).all():
        raise RuntimeError(f"{path}: a pair is not in index order or names a file that is no longer indexed")
    return p


def _pair_rows(
    pair_paths: list[str], order: np.ndarray, spans: list[tuple[float, float]]
) -> Iterator[tuple[int, int, float, int, int | None]]:
    """dif_table rows of every block output; the (start, end) time of each compare job is appended to `spans`."""
    for path in pair_paths:
        p = load_pairs_in_order(path, order)
        spans.append((p.started, p.finished))
        for s in range(0, len(p), PAIR_CHUNK):  # Python objects for one chunk at a time, not for a whole output
            for a, b, mse, rot, kind in zip(
                p.key_a[s : s + PAIR_CHUNK].tolist(),
                p.key_b[s : s + PAIR_CHUNK].tolist(),
                p.mse[s : s + PAIR_CHUNK].tolist(),
                p.rotation[s : s + PAIR_CHUNK].tolist(),
                p.kind[s : s + PAIR_CHUNK].tolist(),
            ):
                yield a, b, mse, kind, rot if kind == COMPUTED else None


def _duration(spans: list[tuple[float, float]]) -> dict[str, object]:
    """difPy's duration record from (start, end) spans of the jobs of a stage."""
    start, end = (min(s for s, _ in spans), max(e for _, e in spans)) if spans else (time.time(),) * 2
    return {
        "start": datetime.fromtimestamp(start).isoformat(),
        "end": datetime.fromtimestamp(end).isoformat(),
        "seconds_elapsed": round(end - start, 4),
    }


def _stats(con: sqlite3.Connection, config: Config, build: list, search: list) -> dict[str, object]:
    """difPy 4.2.1's stats of the run in the database."""
    invalid = con.execute(
        "SELECT path, error FROM directory WHERE error IS NOT NULL AND error NOT LIKE 'same file as %' "
        "ORDER BY allowed DESC, key"
    ).fetchall()
    searched = con.execute("SELECT COUNT(*) FROM directory WHERE success = 1").fetchone()[0]
    duplicates, similar = con.execute(
        "SELECT COALESCE(SUM(dif = 0), 0), COALESCE(SUM(dif != 0), 0) FROM best_copy_group"
    ).fetchone()
    return stats_record(
        config, config.part_a + config.part_b, searched, dict(invalid), duplicates, similar, build, search
    )


def stats_record(
    config: Config,
    directory: list[str],
    searched: int,
    invalid: dict[str, str],
    duplicates: int,
    similar: int,
    build: list,
    search: list,
) -> dict[str, object]:
    """difPy 4.2.1's stats structure (field names and order) from its figures and the job spans of both stages."""
    threshold = config.threshold
    return {
        "directory": directory,
        "total_files": searched + len(invalid),
        "invalid_files": {"count": len(invalid), "logs": invalid},
        "process": {
            "build": {
                "duration": _duration(build),
                "parameters": {
                    "recursive": config.recursive,
                    "in_folder": config.in_folder,
                    "limit_extensions": config.limit_extensions,
                    "px_size": config.px_size,
                    "processes": config.threads,
                },
            },
            "search": {
                "duration": _duration(search),
                "parameters": {
                    "similarity_mse": NAMED_THRESHOLDS.get(threshold, threshold)
                    if isinstance(threshold, str)
                    else float(threshold),
                    "rotate": config.rotate,
                    "same_dim": config.same_dim,
                    "processes": config.threads,
                    "chunksize": None,
                },
                "files_searched": searched,
                "matches_found": {"duplicates": duplicates, "similar": similar},
            },
        },
    }


def _write_results(con: sqlite3.Connection, config: Config, results: IO[str], lower: IO[str]) -> int:
    """Stream difPy's result mapping {best copy: [[copy, mse], ...]} (nested per folder with in_folder) and the
    lower_quality list from the database; return the number of lower-quality copies."""
    rows = con.execute("""
        SELECT h.path, m.path, g.dif, h.dir_index FROM best_copy_group g
        JOIN directory h ON h.key = g.head JOIN directory m ON m.key = g.member ORDER BY g.head, g.member""")
    dump = json.dumps
    folder = head = None
    count = 0
    results.write("{")
    lower.write("[")
    for head_path, member, dif, dir_index in rows:
        if config.in_folder and config.part_a[dir_index] != folder:
            results.write(("]}, " if folder is not None else "") + dump(config.part_a[dir_index]) + ": {")
            folder, head = config.part_a[dir_index], None
        if head_path != head:
            results.write(("], " if head is not None else "") + dump(head_path) + ": [")
        else:
            results.write(", ")
        head = head_path
        results.write(dump([member, dif]))
        lower.write((", " if count else "") + dump(member))
        count += 1
    results.write(("]" if head is not None else "") + ("}" if folder is not None else "") + "}")
    lower.write("]")
    return count


def store_best_copy_groups(con: sqlite3.Connection) -> int:
    """Write the best-copy groups of dif_table into the empty best_copy_group table; return their number."""
    n_groups = 0
    for group in best_copy_groups(con):
        con.executemany(
            "INSERT INTO best_copy_group VALUES (?, ?, ?)", ((k, group.head, dif) for k, dif in group.members)
        )
        n_groups += 1
    con.commit()
    return n_groups


def merge(
    config: Config,
    index_dir: str | os.PathLike[str],
    shard_paths: list[str],
    batch_paths: list[str],
    pair_paths: list[str],
    out_dir: str | os.PathLike[str],
) -> None:
    """Write fastdiff.sqlite, results.json, lower_quality.json and stats.json into out_dir, each atomically.

    The outputs use this run's index order as keys, so they are the same as those of a run from scratch."""
    if config.compat == "difpy":
        from .difpy.exact import merge_difpy

        return merge_difpy(config, index_dir, shard_paths, batch_paths, pair_paths, out_dir)
    index_dir, out_dir = Path(index_dir), Path(out_dir)
    order = index.read_order(index_dir)
    build: list[tuple[float, float]] = []
    search: list[tuple[float, float]] = []
    with atomic_path(out_dir / "fastdiff.sqlite") as db_path:
        db_path.unlink()
        con = database.create(db_path)
        for rows, hashes in _file_rows(index_dir, shard_paths, batch_paths, order, build):
            database.insert_files(con, rows, hashes)
        database.insert_pairs(con, _pair_rows(pair_paths, order, search))
        database.finish(con, config.model_dump())
        if not config.do_compare:
            database.insert_hash_pairs(
                con,
                bool(config.part_b),
                config.in_folder,
                config.same_dim or config.match_aspect_by == 0,
                config.match_aspect_by or None,
            )
        n_groups = store_best_copy_groups(con)
        with (
            atomic_open(out_dir / "results.json", "w", encoding="ascii") as results,
            atomic_open(out_dir / "lower_quality.json", "w", encoding="ascii") as lower,
        ):
            n_lower = _write_results(con, config, results, lower)
        with atomic_open(out_dir / "stats.json", "w", encoding="ascii") as fh:
            json.dump(_stats(con, config, build, search), fh)
        con.close()
    log.info("%d groups, %d lower-quality copies written to %s", n_groups, n_lower, out_dir)
