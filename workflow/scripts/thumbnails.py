from fastdiff._shared.logsetup import logging_to
from fastdiff.run.jobs import run_job
from fastdiff.run.plan import Job

with logging_to(snakemake.log[0]):
    run_job(Job.from_params(snakemake.params.job), snakemake.threads)
