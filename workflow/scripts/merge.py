from pathlib import Path

from fastdiff.config import load_config
from fastdiff.logsetup import logging_to
from fastdiff.merge import merge

with logging_to(snakemake.log[0]):
    merge(load_config(snakemake.config), snakemake.input.index, list(snakemake.input.batches),
          list(snakemake.input.pairs), Path(snakemake.output[0]).parent)
