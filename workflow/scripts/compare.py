import numpy as np

from fastdiff.compare import CompareOptions, compare_blocks, load_block, save_pairs
from fastdiff.config import load_config
from fastdiff.device import array_module
from fastdiff.logsetup import logging_to

with logging_to(snakemake.log[0]):
    cfg = load_config(snakemake.config)
    xp = array_module(cfg.device)
    same_block = snakemake.wildcards.bi == snakemake.wildcards.bj
    a = load_block(list(snakemake.input.a))
    b = a if same_block else load_block(list(snakemake.input.b))
    pairs = compare_blocks(a, b, CompareOptions.from_config(cfg, on_gpu=xp is not np), same_block, xp)
    save_pairs(pairs, snakemake.output[0])
