from fastdiff._shared.logsetup import logging_to
from fastdiff.core.options import IndexOptions
from fastdiff.run.stages import run_index

with logging_to(snakemake.log[0]):
    run_index(snakemake.output[0], snakemake.params.layout, IndexOptions.from_params(snakemake.params.options))
