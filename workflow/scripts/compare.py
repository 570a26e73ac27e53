from fastdiff._shared.logsetup import logging_to
from fastdiff.core.options import CompareOptions
from fastdiff.run.stages import run_compare

with logging_to(snakemake.log[0]):
    options = CompareOptions.from_params(snakemake.params.options)
    same_block = snakemake.wildcards.bi == snakemake.wildcards.bj
    run_compare(list(snakemake.input.a), list(snakemake.input.b), snakemake.output[0], options, same_block)
