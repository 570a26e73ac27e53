"""Small local runs in this process: the jobs of the plan (`fastdiff.run.plan`), the same jobs the Snakemake rules run,
on the same paths and options, writing the same files, without Snakemake's start-up and one Python process per job.

A job runs only when its outputs are missing or stale (made with other options or from other inputs, by either
executor: `fastdiff.core.made_by`); each output is written atomically and carries its digest from the moment it exists,
so an interrupted run (Ctrl-C, SIGKILL) loses only the job it was running, and the next run of either executor
reuses the others.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from fastdiff._shared.logsetup import logging_to
from fastdiff.core import workpaths
from fastdiff.core.config import Config
from fastdiff.core.made_by import StaleOutputError
from fastdiff.core.options import IndexOptions
from fastdiff.run import plan, stages
from fastdiff.run.jobs import run_job
from fastdiff.thumbnails.batch import CorruptBatchError

log = logging.getLogger(__name__)

# Runs of at most this many files run in process. Below AUTO_MIN_BLOCK_IMAGES (fastdiff.index.layout) a run has one
# compare block and its thumbnail jobs each take all the cores: Snakemake would run the same work in the same order,
# plus its start-up and one interpreter per job (2,000 images: 5.0 s here against 9.9 s through Snakemake, 2 cores).
# MAX_FILES_ENV overrides it (tests cross it with a handful of files).
MAX_FILES = 5000
MAX_FILES_ENV = "FASTDIFF_IN_PROCESS_MAX_FILES"
# A job that finds an input corrupt or stale removes it; the plan then runs again to make it (as many times at most)
MAX_PASSES = 4


def max_files() -> int:
    """The most files a run may have to run in process: MAX_FILES, or the value of MAX_FILES_ENV."""
    value = os.environ.get(MAX_FILES_ENV, "")
    return int(value) if value.strip().isdigit() else MAX_FILES


def count_files(config: Config, limit: int) -> int:
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
    limit = max_files()
    return count_files(config, limit) <= limit


def run(config: Config, params: dict[str, dict[str, Any]], cores: int, on_step: Callable[[], None]) -> None:
    """Index, then run the jobs of the plan that are not current; call on_step after each job (run or reused).

    Parameters
    ----------
    config : Config
        The validated configuration (output_dir absolute).
    params : dict
        Each stage's options as the rules' params (`fastdiff.core.options.stage_params`).
    cores : int
        Threads of each job: the jobs run one at a time here, each on all the cores (under Snakemake, `threads`
        each, side by side).
    on_step : callable
        Called after each job (the progress bar).
    """
    work = f"{config.output_dir}/work"
    with logging_to(workpaths.log_path(work, "index"), echo=False):
        manifest = stages.run_index(
            workpaths.index_dir(work), workpaths.layout_dir(work), IndexOptions.from_params(params["index"])
        )
    on_step()
    jobs = plan.make_plan(config, manifest, params)
    for attempt in range(MAX_PASSES):
        try:
            for job in jobs:
                if not plan.is_current(job):
                    with logging_to(job.log, echo=False):
                        run_job(job, max(cores, 1))
                on_step()
            break
        except (CorruptBatchError, StaleOutputError) as err:  # removed, and logged in the job's log: make it again
            if attempt == MAX_PASSES - 1:
                raise
            log.warning("%s", err)
    plan.remove_unused(work, jobs)
