"""Small local runs in this process: the stage functions the rules call (`fastdiff.run.stages.run_*`), on the same
paths and options, writing the same files, without Snakemake's start-up and one Python process per job.

A run of a few thousand images spends half of its time starting Snakemake and one interpreter per job; here it
does not. The files it writes are listed in OUT/work/in_process.json with the options they were
made with: Snakemake keeps no record of them, so before a Snakemake run (`forget_changed`, from the workflow) those
of a stage whose options changed since are removed, and Snakemake makes them again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastdiff._shared.atomic import atomic_open
from fastdiff._shared.logsetup import logging_to
from fastdiff.core import workpaths
from fastdiff.core.config import Config
from fastdiff.core.options import CompareOptions, IndexOptions, MergeOptions, ReportOptions, ThumbnailOptions
from fastdiff.index.layout import remove_stale
from fastdiff.merge.db.build import MergeInputs
from fastdiff.merge.results import output_files
from fastdiff.run import stages

# Runs of at most this many files run in process. Below AUTO_MIN_BLOCK_IMAGES (fastdiff.index.layout) a run has one
# compare block and its thumbnail jobs each take all the cores: Snakemake would run the same work in the same order,
# plus its start-up and one interpreter per job (2,000 images: 5.0 s here against 9.9 s through Snakemake, 2 cores).
# The bound keeps what a Ctrl-C loses small: an in-process run starts again from its index (some 10 s at 2 cores).
MAX_FILES = 5000
RECORD = "in_process.json"


def count_files(config: Config, limit: int = MAX_FILES) -> int:
    """The files under the input folders (not the output folder), counted up to limit + 1."""
    out = os.path.realpath(config.output_dir)
    n = 0
    for top in [*config.part_a, *config.part_b]:
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) != out] if config.recursive else []
            n += len(files)
            if n > limit:
                return n
    return n


def eligible(config: Config) -> bool:
    """Whether a run of this configuration is small enough to run in process."""
    return count_files(config) <= MAX_FILES


def run(config: Config, params: dict[str, dict[str, Any]], cores: int, on_step: Callable[[], None]) -> None:
    """Run every stage in process, as the workflow's rules would; call on_step after each job.

    Parameters
    ----------
    config : Config
        The validated configuration (output_dir absolute).
    params : dict
        Each stage's options as the rules' params (`fastdiff.core.options.stage_params`).
    cores : int
        Decoding threads.
    on_step : callable
        Called after each job (the progress bar).
    """
    work = f"{config.output_dir}/work"
    index, layout = workpaths.index_dir(work), workpaths.layout_dir(work)
    written: dict[str, list[str]] = {}
    with logging_to(workpaths.log_path(work, "index"), echo=False):
        manifest = stages.run_index(index, layout, IndexOptions.from_params(params["index"]))
    on_step()
    shards = [s["name"] for s in manifest["shards"]]
    batches = [workpaths.batch_path(work, s) for s in shards]
    options = ThumbnailOptions.from_params(params["thumbnails"])
    for shard, batch in zip(shards, batches):
        with logging_to(workpaths.log_path(work, "thumbnails", shard), echo=False):
            stages.run_thumbnails(workpaths.shard_path(work, shard), batch, options, max(cores, 1))
        on_step()
    written["thumbnails"] = batches
    blocks = {b["name"]: [workpaths.batch_path(work, s) for s in b["shards"]] for b in manifest["blocks"]}
    pairs = manifest["pairs"] if config.do_compare else []
    outputs = [workpaths.block_output(work, bi, bj) for bi, bj in pairs]
    compare_options = CompareOptions.from_params(params["compare"])
    for (bi, bj), output in zip(pairs, outputs):
        with logging_to(workpaths.log_path(work, "compare", f"{bi}_{bj}"), echo=False):
            stages.run_compare(blocks[bi], blocks[bj], output, compare_options, bi == bj)
        on_step()
    written["compare"] = outputs
    shard_paths = [workpaths.shard_path(work, s) for s in shards]
    with logging_to(workpaths.log_path(work, "merge"), echo=False):
        inputs = MergeInputs(Path(index), shard_paths, batches, outputs)
        stages.run_merge(inputs, config.output_dir, MergeOptions.from_params(params["merge"]))
    written["merge"] = [f"{config.output_dir}/{name}" for name in output_files(config.neighbors)]
    if config.report:
        report = f"{config.output_dir}/report"
        with logging_to(workpaths.log_path(work, "report"), echo=False):
            stages.run_report(written["merge"][0], index, batches, report, ReportOptions.from_params(params["report"]))
        written["report"] = [report]
    remove_stale(f"{work}/thumbs", batches)
    remove_stale(f"{work}/compare", outputs)
    record = {stage: {"params": params[stage], "files": files} for stage, files in written.items()}
    with atomic_open(Path(work) / RECORD, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


def forget_changed(work: str | os.PathLike[str], params: dict[str, dict[str, Any]]) -> None:
    """Before a Snakemake run: remove the files an in-process run made with other options than `params` now has.

    Snakemake holds no record of those files; those whose options are unchanged are kept (and reused), the others
    are removed so that Snakemake makes them again.
    """
    path = Path(work) / RECORD
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    changed = [stage for stage, entry in record.items() if json.loads(json.dumps(params[stage])) != entry["params"]]
    for stage in changed:
        for file in record.pop(stage)["files"]:
            if os.path.isdir(file):
                shutil.rmtree(file, ignore_errors=True)
            else:
                Path(file).unlink(missing_ok=True)
    if changed:
        with atomic_open(path, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
