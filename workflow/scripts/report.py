from fastdiff.config import load_config
from fastdiff.logsetup import logging_to
from fastdiff.report import write_report

with logging_to(snakemake.log[0]):
    write_report(
        snakemake.input.db,
        snakemake.input.index,
        list(snakemake.input.batches),
        snakemake.output[0],
        load_config(snakemake.config).report_page_size,
    )
