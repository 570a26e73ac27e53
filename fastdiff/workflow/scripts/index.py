from fastdiff.logsetup import logging_to
from fastdiff.options import IndexOptions
from fastdiff.stages import run_index

with logging_to(snakemake.log[0]):
    run_index(snakemake.output[0], snakemake.params.layout, IndexOptions.from_params(snakemake.params.options))
