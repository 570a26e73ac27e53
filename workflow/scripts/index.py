from fastdiff.config import load_config
from fastdiff.index import write_index
from fastdiff.logsetup import logging_to

with logging_to(snakemake.log[0]):
    write_index(load_config(snakemake.config), snakemake.output[0], snakemake.params.layout)
