"""Local runs in this process: the jobs of the plan (`fastdiff.run.plan`), the same jobs the Snakemake rules run,
on the same paths and options, writing the same files, without Snakemake's start-up and one Python process per job.

A job runs only when its outputs are missing or stale (made with other options or from other inputs, by either
executor: `fastdiff.core.made_by`); each output is written atomically and carries its digest from the moment it exists,
so an interrupted run (Ctrl-C, SIGKILL) loses only the job it was running, and the next run of either executor
reuses the others. The jobs run one at a time, each on all the cores (under Snakemake: `threads` each, side by side);
every local run of the default profile runs here, whatever its size, unless `--snakemake` is given.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastdiff._shared.logsetup import logging_to
from fastdiff._shared.words import plural
from fastdiff.core import workpaths
from fastdiff.core.config import Config
from fastdiff.core.made_by import StaleOutputError
from fastdiff.core.options import IndexOptions
from fastdiff.run import plan, stages
from fastdiff.run.jobs import run_job
from fastdiff.thumbnails.batch import CorruptBatchError

log = logging.getLogger(__name__)

# A job that finds an input corrupt or stale removes it; the plan then runs again to make it (as many times at most)
MAX_PASSES = 4


@dataclass(frozen=True)
class PlannedJob:
    """A job of the plan and what a run would do with it: `why` is '' for a job whose outputs are current (reused),
    else why it would run ('missing', 'stale': made with other options or inputs, 'input remade')."""

    job: plan.Job
    why: str


def run_here(
    config: Config, params: dict[str, dict[str, Any]], cores: int, on_step: Callable[[], None], verbose: bool = False
) -> None:
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
    verbose : bool
        Say on stderr which job runs or is reused, and show its log lines there too (`fastdiff run -v`).
    """
    work = f"{config.output_dir}/work"
    with logging_to(workpaths.log_path(work, "index"), echo=verbose):
        manifest = stages.run_index(
            workpaths.index_dir(work), workpaths.layout_dir(work), IndexOptions.from_params(params["index"])
        )
    on_step()
    jobs = plan.make_plan(config, manifest, params)
    for attempt in range(MAX_PASSES):
        try:
            for job in jobs:
                if plan.is_current(job):
                    if verbose:
                        print(f"fastdiff: {_job_name(job)}: reused (its outputs are current)", file=sys.stderr)
                else:
                    if verbose:
                        print(f"fastdiff: {_job_name(job)}: running; log {job.log}", file=sys.stderr, flush=True)
                    with logging_to(job.log, echo=verbose):
                        run_job(job, max(cores, 1))
                on_step()
            break
        except (CorruptBatchError, StaleOutputError) as err:  # removed, and logged in the job's log: make it again
            if attempt == MAX_PASSES - 1:
                raise
            log.warning("%s", err)
    plan.remove_unused(work, jobs)


def planned_jobs(config: Config, params: dict[str, dict[str, Any]]) -> list[PlannedJob]:
    """The jobs a run would run, and why, without writing to the output folder.

    The folders are scanned as a run scans them, into a temporary copy of the layout kept in OUT/work (so a dry run
    changes nothing there); each job of the plan made from that index is then reused (its outputs exist and carry
    its digest, `fastdiff.run.plan.is_current`) or would run, and so would every job that uses its outputs. Both
    executors run exactly these jobs: this is what `fastdiff run --dry-run` shows, whichever runs them.

    Returns
    -------
    list of PlannedJob
        In the plan's order.
    """
    work = f"{config.output_dir}/work"
    with tempfile.TemporaryDirectory(prefix="fastdiff-dry-run-") as tmp:
        layout_dir = Path(tmp) / "layout"
        if Path(workpaths.layout_dir(work)).is_dir():
            shutil.copytree(workpaths.layout_dir(work), layout_dir)
        with logging_to(Path(tmp) / "index.log", echo=False):
            manifest = stages.run_index(Path(tmp) / "index", layout_dir, IndexOptions.from_params(params["index"]))
    remade: set[str] = set()
    planned = []
    for job in plan.make_plan(config, manifest, params):
        if not all(Path(p).exists() for p in job.outputs):
            why = "missing"
        elif not plan.is_current(job):
            why = "stale"
        elif any(p in remade for paths in job.inputs.values() for p in paths):
            why = "input remade"
        else:
            why = ""
        if why:
            remade.update(job.outputs)
        planned.append(PlannedJob(job, why))
    return planned


def dry_run_lines(planned: list[PlannedJob]) -> list[str]:
    """What `fastdiff run --dry-run` prints: a line per stage (jobs to run, reused) and the total."""
    lines = ["fastdiff: dry run: nothing is run or written; a run would do this:"]
    for stage in dict.fromkeys(p.job.stage for p in planned):
        jobs = [p for p in planned if p.job.stage == stage]
        why = sorted({p.why for p in jobs if p.why})
        run = sum(bool(p.why) for p in jobs)
        reasons = f" ({', '.join(why)})" if why else ""
        lines.append(f"  {stage:<11} {plural(len(jobs), 'job')}: {run} to run{reasons}, {len(jobs) - run} reused")
    lines.append(f"  total       {sum(bool(p.why) for p in planned)} of {plural(len(planned), 'job')} to run")
    return lines


def _job_name(job: plan.Job) -> str:
    return job.stage if job.name == job.stage else f"{job.stage} {job.name}"
