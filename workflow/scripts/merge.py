from pathlib import Path

from fastdiff._shared.logsetup import logging_to
from fastdiff.core.options import MergeOptions
from fastdiff.merge.db.build import MergeInputs
from fastdiff.run.stages import run_merge

with logging_to(snakemake.log[0]):
    inputs = MergeInputs(
        Path(snakemake.input.index),
        list(snakemake.input.shards),
        list(snakemake.input.batches),
        list(snakemake.input.pairs),
    )
    run_merge(inputs, Path(snakemake.output[0]).parent, MergeOptions.from_params(snakemake.params.options))
