from fastdiff._shared.logsetup import logging_to
from fastdiff.core.options import ReportOptions
from fastdiff.run.stages import run_report

with logging_to(snakemake.log[0]):
    options = ReportOptions.from_params(snakemake.params.options)
    run_report(snakemake.input.db, snakemake.input.index, list(snakemake.input.batches), snakemake.output[0], options)
