from fastdiff.compare import compare_blocks, compare_setup, load_block, save_pairs
from fastdiff.config import load_config
from fastdiff.logsetup import logging_to

with logging_to(snakemake.log[0]):
    opts, xp = compare_setup(load_config(snakemake.config))
    same_block = snakemake.wildcards.bi == snakemake.wildcards.bj
    a = load_block(list(snakemake.input.a))
    b = a if same_block else load_block(list(snakemake.input.b))
    save_pairs(compare_blocks(a, b, opts, same_block, xp), snakemake.output[0])
