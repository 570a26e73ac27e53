"""Merge stage (default mode): all block outputs into the result database, then difPy's results / lower_quality /
stats files from it."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from fastdiff._shared.atomic import atomic_open
from fastdiff._shared.paths import from_bytes
from fastdiff.core.file_counts import SAME_FILE_PREFIX, SKIPPED_PREFIX, count_files
from fastdiff.core.options import MergeOptions, search_k
from fastdiff.core.symmetry import symmetries
from fastdiff.index.scan import read_manifest
from fastdiff.merge import similarity
from fastdiff.merge.db import writer
from fastdiff.merge.db.build import DATABASE, MergeInputs, file_rows, new_database, pair_rows
from fastdiff.merge.db.exact import ExactGroupJoin, rotation_rows
from fastdiff.merge.difpy_outputs import LOWER_QUALITY, RESULTS, STATS, stats_record, write_json, write_results
from fastdiff.merge.grouping import store_best_copy_groups
from fastdiff.thumbnails.frames import demote_partial_matches, frames_by_key

log = logging.getLogger(__name__)

OUTPUT_FILES = (DATABASE, RESULTS, LOWER_QUALITY, STATS)


def output_files(neighbors: int | None) -> tuple[str, ...]:
    """The files the merge writes into OUT: OUTPUT_FILES, and similarity.csv with the config key `neighbors`."""
    return OUTPUT_FILES + ((similarity.SIMILARITY,) if neighbors else ())


def merge(inputs: MergeInputs, out_dir: Path, options: MergeOptions) -> None:
    """Write the files of `output_files` into out_dir, each atomically (a similarity.csv of an earlier run with
    neighbors is removed when this one has none, as it no longer matches the database).

    The outputs use index keys (this run's index order), so they are the same as those of a run from scratch.

    Parameters
    ----------
    inputs : MergeInputs
        The index folder, shard records, thumbnail batches and block outputs.
    out_dir : Path
        The run's OUT.
    options : MergeOptions

    Raises
    ------
    CorruptBatchError, RuntimeError
        For a corrupt thumbnail batch or a stale block output (`fastdiff.merge.db.build`).
    """
    order = inputs.order
    build: list[tuple[float, float]] = []
    search: list[tuple[float, float]] = []
    with new_database(out_dir) as con:
        for rows, hashes in file_rows(inputs, order, build):
            writer.insert_files(con, rows, hashes)
        groups = ExactGroupJoin(int(order.max(initial=-1)) + 1)
        writer.insert_pairs(con, pair_rows(inputs.pair_paths, order, search, groups.add))
        writer.finish(con, options.run_config, options.prefer, options.keep)
        rows, stabilisers = groups.rows()
        if rows:
            writer.insert_exact_groups(con, rows, rotation_rows(stabilisers), bool(options.part_b))
        del groups, rows
        if not options.do_compare:
            writer.insert_hash_pairs(
                con,
                bool(options.part_b),
                options.in_folder,
                options.same_dim or options.match_aspect_by == 0,
                options.match_aspect_by or None,
            )
        # later frames by the run's MSE threshold; equal frames in hash-only mode and under a user difference (whose
        # threshold is not an MSE): a multi-frame pair is then a copy only when every later frame is the same
        user_diff = options.cpu_diff or options.gpu_diff
        threshold = options.threshold_value if options.do_compare and not user_diff else 0.0
        codes = symmetries(options.rotate, options.mirror)
        related = demote_partial_matches(con, frames_by_key(inputs.batch_paths, order), threshold, codes)
        if related:
            log.info("%d pairs share their first frame only: recorded as related, not as copies", related)
        n_groups = store_best_copy_groups(con)
        k = search_k(options.neighbors, options.outlier_mse)
        if k:
            similarity.store(con, similarity.collect(inputs.pair_paths, order, k), options.outlier_mse)
        with (
            atomic_open(out_dir / RESULTS, "w", encoding="ascii") as results,
            atomic_open(out_dir / LOWER_QUALITY, "w", encoding="ascii") as lower,
        ):
            n_lower = write_results(con, options, results, lower)
        stats = _stats(con, options, build, search)
        # not in difPy's stats: what became of every entry found, by class (fastdiff.core.file_counts)
        stats["files"] = count_files(con).to_json()
        skipped = con.execute(
            "SELECT path_bytes, error FROM directory WHERE substr(error, 1, ?) = ? OR substr(error, 1, ?) = ? "
            "ORDER BY key",
            (len(SAME_FILE_PREFIX), SAME_FILE_PREFIX, len(SKIPPED_PREFIX), SKIPPED_PREFIX),
        )
        stats["skipped_files"] = {from_bytes(raw): error for raw, error in skipped}
        if options.outlier_mse is not None:  # not in difPy's stats: images far from all others
            stats["outliers"] = similarity.outlier_stats(con, options.outlier_mse)
        if options.neighbors:
            similarity.write_csv(con, out_dir / similarity.SIMILARITY)
        else:
            (out_dir / similarity.SIMILARITY).unlink(missing_ok=True)
        if options.part_b:  # not in difPy's stats: files of part_a compared as part_b only (fastdiff.index.scan)
            stats["shared_with_part_b"] = read_manifest(inputs.index_dir)["n_shared"]
        write_json(out_dir, STATS, stats)
    log.info("%d groups, %d lower-quality copies written to %s", n_groups, n_lower, out_dir)


def _stats(con: sqlite3.Connection, options: MergeOptions, build: list, search: list) -> dict[str, object]:
    """difPy 4.2.1's stats of the run in the database."""
    invalid = con.execute(
        "SELECT path_bytes, error FROM directory WHERE error IS NOT NULL AND substr(error, 1, ?) != ? "
        "AND substr(error, 1, ?) != ? ORDER BY allowed DESC, key",
        (len(SAME_FILE_PREFIX), SAME_FILE_PREFIX, len(SKIPPED_PREFIX), SKIPPED_PREFIX),
    ).fetchall()
    searched = con.execute("SELECT COUNT(*) FROM directory WHERE success = 1").fetchone()[0]
    duplicates, similar = con.execute(
        "SELECT COALESCE(SUM(dif = 0), 0), COALESCE(SUM(dif != 0), 0) FROM best_copy_group"
    ).fetchone()
    directory = options.part_a + options.part_b
    logs = {from_bytes(raw): error for raw, error in invalid}
    return stats_record(options, directory, searched, logs, duplicates, similar, build, search)
