"""The contract of each stage, and the one place where the mode picks its implementation.

A stage is a function `run_STAGE(inputs..., outputs..., options)` over files: the Snakemake rules call exactly these
(`workflow/scripts/*.py`), and so could any other driver. Each mode (`compat` in the config) is one row of
IMPLEMENTATIONS: the default mode, and difPy 4.2.1 reproduced exactly (`fastdiff.difpy_exact`), as imagededup
picks its search strategies in one place.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastdiff.compare import blocks, neighbors
from fastdiff.compare.pairs import Pairs, save_pairs
from fastdiff.core.device import array_module
from fastdiff.core.options import CompareOptions, IndexOptions, MergeOptions, ReportOptions, ThumbnailOptions
from fastdiff.core.records import Scan
from fastdiff.core.userfn import load_function
from fastdiff.difpy_exact import compare as difpy_compare
from fastdiff.difpy_exact import index as difpy_index
from fastdiff.difpy_exact import merge as difpy_merge
from fastdiff.difpy_exact import thumbnails as difpy_thumbnails
from fastdiff.index import layout, scan
from fastdiff.merge import report, results
from fastdiff.merge.db.build import MergeInputs
from fastdiff.thumbnails import build
from fastdiff.thumbnails.batch import Batch, load_block, save_batch
from fastdiff.thumbnails.progress import DecodeProgress

log = logging.getLogger(__name__)

HashFunction = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class Implementation:
    """The stage functions of one mode.

    Attributes
    ----------
    scan : callable
        IndexOptions -> Scan: the files to decode, in index order.
    build_batch : callable
        (files of one shard, ThumbnailOptions, threads, hash function, progress=callback) -> Batch.
    compare_blocks : callable
        (block a, block b, CompareOptions, same_block, xp, user difference) -> Pairs.
    merge : callable
        (MergeInputs, output folder, MergeOptions) -> None: the database and difPy's files.
    """

    scan: Callable[[IndexOptions], Scan]
    build_batch: Callable[..., Batch]
    compare_blocks: Callable[..., Pairs]
    merge: Callable[[MergeInputs, Path, MergeOptions], None]
    on_gpu: bool  # whether compare_blocks can run on a GPU (array module)


IMPLEMENTATIONS: dict[str, Implementation] = {
    "default": Implementation(scan.scan, build.build_batch, blocks.compare_blocks, results.merge, True),
    "difpy": Implementation(
        difpy_index.scan, difpy_thumbnails.build_batch, difpy_compare.compare_blocks, difpy_merge.merge, False
    ),
}


def implementation(compat: str) -> Implementation:
    """The stage functions of a mode ('default' or 'difpy').

    Raises
    ------
    KeyError
        For another mode (the config only admits these two).
    """
    return IMPLEMENTATIONS[compat]


def run_index(out_dir: str | os.PathLike[str], layout_dir: str | os.PathLike[str], options: IndexOptions) -> dict:
    """Index stage: scan the partitions and write the index folder and the layout kept across runs.

    Returns
    -------
    dict
        The manifest (shards, blocks, block pairs) also written to out_dir/manifest.json.
    """
    scanned = scan.first_images(implementation(options.compat).scan(options), options.num_images)
    return scan.write_index(scanned, options, out_dir, layout_dir)


def run_thumbnails(
    shard_path: str | os.PathLike[str],
    batch_path: str | os.PathLike[str],
    options: ThumbnailOptions,
    threads: int,
    made_by: str = "",
) -> None:
    """Thumbnail stage: decode the files of one shard into a thumbnail batch (`fastdiff.thumbnails.batch`) that
    carries `made_by`, the digest of its job (`fastdiff.run.plan`)."""
    hash_fn = load_function(options.hash_fn) if options.hash_fn else build.sha256_hex
    files = layout.read_shard(shard_path)
    progress = DecodeProgress(batch_path)  # for the bar (fastdiff.run.screen)
    batch = implementation(options.compat).build_batch(files, options, threads, hash_fn, progress=progress)
    save_batch(batch, batch_path, made_by)
    progress.path.unlink(missing_ok=True)  # the batch supersedes it


def run_compare(
    batches_a: list[str],
    batches_b: list[str],
    output: str | os.PathLike[str],
    options: CompareOptions,
    same_block: bool,
    made_by: str = "",
) -> None:
    """Compare stage: the matching pairs of one block pair (`fastdiff.compare.pairs`), and the nearest-neighbour
    candidates
    when options.neighbors is set (`fastdiff.compare.neighbors`).

    Parameters
    ----------
    batches_a, batches_b : list of str
        The thumbnail batches of the two blocks (the same list when same_block).
    made_by : str
        The digest of the job (`fastdiff.run.plan`), stored in the output.
    """
    started = time.time()
    impl = implementation(options.compat)
    xp: Any = array_module(blocks.compare_device(options)) if impl.on_gpu else np
    a = load_block(batches_a)
    b = a if same_block else load_block(batches_b)
    diff = blocks.user_difference(options, on_gpu=xp is not np)
    pairs = impl.compare_blocks(a, b, options, same_block, xp, diff)
    if options.neighbors:
        found = time.time()
        pairs.neighbors = neighbors.block_neighbors(a, b, options, same_block, xp)
        pairs.finished = time.time()
        log.info("%d nearest-neighbour candidates, %.1f s", len(pairs.neighbors), pairs.finished - found)
    save_pairs(pairs, output, made_by)
    n = len(a.keys) * (len(a.keys) - 1) // 2 if same_block else len(a.keys) * len(b.keys)
    log.info(
        "%d x %d images: %d pairs, %d matching, %.1f s", len(a.keys), len(b.keys), n, len(pairs), time.time() - started
    )


def run_merge(inputs: MergeInputs, out_dir: str | os.PathLike[str], options: MergeOptions) -> None:
    """Merge stage: the result database and difPy's results / lower_quality / stats files in out_dir."""
    implementation(options.compat).merge(inputs, Path(out_dir), options)


def run_report(
    db_path: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    batch_paths: list[str],
    out_dir: str | os.PathLike[str],
    options: ReportOptions,
) -> int:
    """Report stage: the HTML pages of the best-copy groups; returns the number of pages."""
    return report.write_report(db_path, index_dir, batch_paths, out_dir, options.report_page_size)
