"""Local runs in this process: the jobs of the plan (`fastdiff.run.plan`), the same jobs the Snakemake rules run,
on the same paths and options, writing the same files, without Snakemake's start-up and one Python process per job.

A job runs only when its outputs are missing or stale (made with other options or from other inputs, by either
executor: `fastdiff.core.made_by`); each output is written atomically and carries its digest from the moment it exists,
so an interrupted run (Ctrl-C, SIGKILL) loses only the job it was running, and the next run of either executor
reuses the others. Every local run of the default profile runs here, whatever its size, unless `--snakemake` is
given.

The thumbnail jobs, the merge and a lone compare job run one at a time, each on all the cores (a thumbnail job decodes
on as many processes, the same for every thumbnail job of the run, which start on the next job's files while a job
writes its batch: `fastdiff.thumbnails.build.decode_ahead`). Where the plan gives compare jobs fewer threads than the
cores (several block pairs: 1 each), they run side by side in forked processes, cores / threads at a time, each with
its BLAS limited to its threads, as Snakemake runs them: a pruned compare is mostly single-threaded numpy, and one at
a time left a core idle (60,500 images, 10 block pairs on 2 cores: 1.17 cores busy in a compare job).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from fastdiff._shared.logsetup import logging_to
from fastdiff._shared.words import plural
from fastdiff.core import workpaths
from fastdiff.core.config import Config
from fastdiff.core.made_by import StaleOutputError
from fastdiff.core.options import IndexOptions
from fastdiff.core.records import IndexedFile
from fastdiff.index import layout
from fastdiff.run import plan, stages
from fastdiff.run.jobs import run_job
from fastdiff.thumbnails.batch import CorruptBatchError
from fastdiff.thumbnails.build import decode_ahead, decoding_processes_kept

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
        The cores the run may use: a job that runs alone gets them all, compare jobs of fewer `threads` run side by
        side (module docstring).
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
            with decoding_processes_kept() as end_decoding_processes:  # one set for all thumbnail jobs
                side_by_side: list[plan.Job] = []  # compare jobs, run together before the merge
                for at, job in enumerate(jobs):
                    if plan.is_current(job):
                        if verbose:
                            print(f"fastdiff: {_job_name(job)}: reused (its outputs are current)", file=sys.stderr)
                        on_step()
                        continue
                    if job.stage != "thumbnails":
                        end_decoding_processes()  # (not forked into the compare processes)
                    if job.stage == "compare" and job.threads < cores and FORKS:
                        side_by_side.append(job)
                    else:
                        _run_side_by_side(side_by_side, cores, on_step, verbose)
                        side_by_side = []
                        if job.stage == "thumbnails":
                            decode_ahead(_next_thumbnail_files(jobs[at + 1 :]))
                        _run_one(job, max(cores, 1), verbose)
                        on_step()
                _run_side_by_side(side_by_side, cores, on_step, verbose)
            break
        except (CorruptBatchError, StaleOutputError) as err:  # removed, and logged in the job's log: make it again
            if attempt == MAX_PASSES - 1:
                raise
            log.warning("%s", err)
    plan.remove_unused(work, jobs)


def _next_thumbnail_files(later: list[plan.Job]) -> list[IndexedFile] | None:
    """The files of the first thumbnail job to run among the later jobs (thumbnail jobs come first), or None."""
    for job in itertools.takewhile(lambda job: job.stage == "thumbnails", later):
        if not plan.is_current(job):
            return layout.read_shard(job.inputs["shard"][0])
    return None


FORKS = sys.platform == "linux"  # elsewhere forking a process that has loaded these libraries is unsafe or impossible


def _run_one(job: plan.Job, threads: int, verbose: bool) -> None:
    """Run a job on `threads` threads, its log lines in its log (and on stderr, verbose)."""
    if verbose:
        print(f"fastdiff: {_job_name(job)}: running; log {job.log}", file=sys.stderr, flush=True)
    with logging_to(job.log, echo=verbose):
        run_job(job, threads)


def _run_limited(job: plan.Job, verbose: bool) -> None:
    """In a forked process: run a job with its BLAS (and OpenMP) pools limited to its threads."""
    with threadpool_limits(job.threads):
        _run_one(job, job.threads, verbose)


def _run_side_by_side(jobs: list[plan.Job], cores: int, on_step: Callable[[], None], verbose: bool) -> None:
    """Run jobs of fewer threads than the cores in forked processes, cores // threads at a time; call on_step as each
    ends. The first error (a job's, or Ctrl-C) cancels the jobs not started and is raised; the jobs running then end
    as a Ctrl-C or their error ends them, each leaving no partial output (every output is written atomically)."""
    if not jobs:
        return
    workers = min(len(jobs), max(1, cores // max(job.threads for job in jobs)))
    if workers == 1:
        for job in jobs:
            _run_one(job, max(cores, 1), verbose)
            on_step()
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        for done in as_completed([pool.submit(_run_limited, job, verbose) for job in jobs]):
            done.result()
            on_step()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


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
