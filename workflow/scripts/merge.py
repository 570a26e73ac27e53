from pathlib import Path

from fastdiff.config import load_config
from fastdiff.layout import remove_stale
from fastdiff.logsetup import logging_to
from fastdiff.merge import merge

with logging_to(snakemake.log[0]):
    merge(
        load_config(snakemake.config),
        snakemake.input.index,
        list(snakemake.input.shards),
        list(snakemake.input.batches),
        list(snakemake.input.pairs),
        Path(snakemake.output[0]).parent,
    )
    for outputs in (snakemake.input.batches, snakemake.input.pairs):  # left by the layouts of earlier runs
        if outputs:
            remove_stale(Path(outputs[0]).parent, list(outputs))
