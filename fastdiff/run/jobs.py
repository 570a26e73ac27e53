"""Running one job of the plan (`fastdiff.run.plan`), the same way under Snakemake (`workflow/scripts/*.py`) and in
process (`fastdiff.run.in_process`): check that its inputs are the ones the plan expects, run its stage, record it."""

from __future__ import annotations

from pathlib import Path

from fastdiff.core import made_by
from fastdiff.core.options import STAGE_OPTIONS
from fastdiff.run import plan
from fastdiff.run.plan import Job


def run_job(job: Job, threads: int) -> None:
    """Run a job of the plan on `threads` threads; its outputs are written atomically and carry its digest.

    Raises
    ------
    StaleOutputError
        An input was made otherwise than the plan expects (`fastdiff.core.made_by`); it has been removed, so that the
        next run makes it again.
    """
    # imported here: the decoders and kernels are not imported by a run that has nothing to do
    from fastdiff.merge.db.build import MergeInputs
    from fastdiff.run import stages

    made_by.require(list(job.needs), list(job.needs.values()))
    options = STAGE_OPTIONS[job.stage].from_params(job.options)
    plan.forget(job)
    if job.stage == "thumbnails":
        stages.run_thumbnails(job.inputs["shard"][0], job.outputs[0], options, threads, job.made_by)
    elif job.stage == "compare":
        bi, bj = job.name.split("_")
        stages.run_compare(job.inputs["a"], job.inputs["b"], job.outputs[0], options, bi == bj, job.made_by)
    elif job.stage == "merge":
        inputs = MergeInputs(
            Path(job.inputs["index"][0]), job.inputs["shards"], job.inputs["batches"], job.inputs["pairs"]
        )
        stages.run_merge(inputs, Path(job.outputs[0]).parent, options)
    elif job.stage == "report":
        stages.run_report(job.inputs["db"][0], job.inputs["index"][0], job.inputs["batches"], job.outputs[0], options)
    else:
        raise ValueError(f"no stage {job.stage!r}")
    plan.remember(job)
