"""The one plan of a run: the jobs (stage, inputs, outputs, options, threads) that the index's manifest and the stage
options make, with the digest (`fastdiff.core.made_by`) each job's outputs carry.

Both executors take their jobs from here: the Snakemake rules through their input functions (`rules/common.smk`),
and the in-process executor (`fastdiff.run.in_process`). A job's digest covers its options and the digests of its inputs
(a thumbnail batch: the thumbnail options and its shard's name, which is a digest of the shard's records), so an
output is reused exactly when the job that would make it now is the job that made it, whoever ran it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastdiff._shared.atomic import atomic_open
from fastdiff.core import made_by, workpaths
from fastdiff.core.config import Config
from fastdiff.merge.results import output_files


@dataclass(frozen=True)
class Job:
    """One job of the plan.

    Attributes
    ----------
    stage : str
        'thumbnails', 'compare', 'merge' or 'report' (the index comes before the plan: it makes the manifest).
    name : str
        The shard (thumbnails), ``BI_BJ`` (compare, the two block names), or the stage (merge, report).
    inputs : dict of str to list of str
        Named input files, as the stage's rule names them.
    outputs : list of str
        The files (or folder) it writes, each atomically.
    options : dict
        The stage options as params (`fastdiff.core.options.stage_params`).
    threads : int
        Threads of the job where jobs run side by side (Snakemake's `threads`).
    log : str
        Its log file.
    made_by : str
        The digest its outputs carry (`fastdiff.core.made_by`).
    needs : dict of str to str
        The .npz inputs and the digest each must carry (else it is removed and made again).
    record : str or None
        Where the digest is kept for the jobs whose outputs cannot carry it (merge, report).
    """

    stage: str
    name: str
    inputs: dict[str, list[str]]
    outputs: list[str]
    options: dict[str, Any]
    threads: int
    log: str
    made_by: str
    needs: dict[str, str] = field(default_factory=dict)
    record: str | None = None

    def to_params(self) -> dict[str, Any]:
        """The job as a plain dict (a rule's params)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Job:
        """The job a rule passed as params."""
        return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls)})


def make_plan(config: Config, manifest: dict, params: dict[str, dict[str, Any]]) -> list[Job]:
    """The jobs of a run, in an order they can run in (thumbnails, compare, merge, report).

    Parameters
    ----------
    config : Config
        The validated configuration (output_dir absolute): do_compare (hash-only mode has no compare job), report,
        threads.
    manifest : dict
        The index's manifest (`fastdiff.index.scan.read_manifest`): shards, blocks, pairs, version.
    params : dict
        Each stage's options (`fastdiff.core.options.stage_params`).
    """
    out = config.output_dir
    work = f"{out}/work"
    index = workpaths.index_dir(work)
    jobs = []
    batch, digest = {}, {}
    for s in manifest["shards"]:
        name = s["name"]
        batch[name] = workpaths.batch_path(work, name)
        digest[name] = made_by.digest("thumbnails", params["thumbnails"], name)
        jobs.append(
            Job(
                stage="thumbnails",
                name=name,
                inputs={"shard": [workpaths.shard_path(work, name)]},
                outputs=[batch[name]],
                options=params["thumbnails"],
                threads=config.threads,
                log=workpaths.log_path(work, "thumbnails", name),
                made_by=digest[name],
            )
        )
    blocks = {b["name"]: b["shards"] for b in manifest["blocks"]}
    pairs = [tuple(p) for p in manifest["pairs"]] if config.do_compare else []  # hash-only: no compare job
    compare_threads = config.threads if len(pairs) == 1 else 1  # one job alone may use them all (BLAS)
    for bi, bj in pairs:
        a, b = blocks[bi], blocks[bj]
        jobs.append(
            Job(
                stage="compare",
                name=f"{bi}_{bj}",
                inputs={"a": [batch[s] for s in a], "b": [batch[s] for s in b]},
                outputs=[workpaths.block_output(work, bi, bj)],
                options=params["compare"],
                threads=compare_threads,
                log=workpaths.log_path(work, "compare", f"{bi}_{bj}"),
                made_by=made_by.digest("compare", params["compare"], [digest[s] for s in a], [digest[s] for s in b]),
                needs={batch[s]: digest[s] for s in (*a, *b)},
            )
        )
    compares = [j for j in jobs if j.stage == "compare"]
    batches = {batch[s["name"]]: digest[s["name"]] for s in manifest["shards"]}
    merge = Job(
        stage="merge",
        name="merge",
        inputs={
            "index": [index],
            "shards": [workpaths.shard_path(work, s["name"]) for s in manifest["shards"]],
            "batches": list(batches),
            "pairs": [j.outputs[0] for j in compares],
        },
        outputs=[f"{out}/{name}" for name in output_files(config.neighbors)],
        options=params["merge"],
        threads=1,
        log=workpaths.log_path(work, "merge"),
        made_by=made_by.digest("merge", params["merge"], manifest["version"], batches, [j.made_by for j in compares]),
        needs={**batches, **{j.outputs[0]: j.made_by for j in compares}},
        record=workpaths.record_path(work, "merge"),
    )
    jobs.append(merge)
    if config.report:
        jobs.append(
            Job(
                stage="report",
                name="report",
                inputs={"db": [merge.outputs[0]], "index": [index], "batches": list(batches)},
                outputs=[f"{out}/report"],
                options=params["report"],
                threads=1,
                log=workpaths.log_path(work, "report"),
                made_by=made_by.digest("report", params["report"], merge.made_by),
                needs=batches,
                record=workpaths.record_path(work, "report"),
            )
        )
    return jobs


def is_current(job: Job) -> bool:
    """Whether every output of the job exists and was made by this very job (its digest)."""
    if not all(os.path.exists(p) for p in job.outputs):
        return False
    if job.record is None:
        return all(made_by.read(p) == job.made_by for p in job.outputs)
    try:
        return json.loads(Path(job.record).read_text())[made_by.FIELD] == job.made_by
    except (OSError, ValueError, KeyError, TypeError):
        return False


def forget(job: Job) -> None:
    """Before the job runs: remove its record, so that outputs it leaves half-written are never taken as current."""
    if job.record is not None:
        Path(job.record).unlink(missing_ok=True)


def remember(job: Job) -> None:
    """After the job has written its outputs: record its digest where its outputs cannot carry it."""
    if job.record is not None:
        Path(job.record).parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(job.record, "w", encoding="utf-8") as fh:
            json.dump({made_by.FIELD: job.made_by}, fh)


def remove_stale(jobs: list[Job]) -> list[str]:
    """Before a Snakemake run: remove the outputs of the jobs that exist but were made otherwise (other options,
    other inputs, an older fastdiff), and of the jobs after them that use a removed or missing output; return them.

    Snakemake then makes them all again, whoever wrote them (it makes a missing input of a job whose outputs exist
    only when that job's outputs are missing too).
    """
    removed: list[str] = []
    gone: set[str] = set()
    for job in jobs:  # (in the plan's order: a job's inputs come before it)
        present = [p for p in job.outputs if os.path.exists(p)]
        uses_gone = any(p in gone for paths in job.inputs.values() for p in paths)
        stale = bool(present) and (uses_gone or not is_current(job))
        if stale:
            forget(job)
            for p in present:
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            removed += present
        if stale or len(present) < len(job.outputs):
            gone.update(job.outputs)
    return removed


def remove_unused(work: str | os.PathLike[str], jobs: list[Job]) -> int:
    """After a successful run: delete the thumbnail batches and compare outputs no job of this plan uses (left by
    earlier layouts, kept until now so that an interrupted run loses nothing); return how many."""
    wanted = {os.path.abspath(p) for job in jobs for p in job.outputs}
    unused = [p for d in ("thumbs", "compare") for p in Path(work, d).glob("*.npz") if os.path.abspath(p) not in wanted]
    for p in unused:
        p.unlink()
    return len(unused)
