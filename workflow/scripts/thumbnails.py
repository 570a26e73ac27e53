from fastdiff.batch import save_batch
from fastdiff.config import load_config
from fastdiff.layout import read_shard
from fastdiff.logsetup import logging_to
from fastdiff.thumbnails import build_batch, sha256_hex
from fastdiff.userfn import load_hash_fn

with logging_to(snakemake.log[0]):
    cfg = load_config(snakemake.config)
    files = read_shard(snakemake.input[0])
    hash_fn = load_hash_fn(cfg.hash_fn) if cfg.hash_fn else sha256_hex
    batch = build_batch(
        files,
        cfg.px_size,
        cfg.shift_amount,
        cfg.rotate,
        cfg.max_pixels,
        snakemake.threads,
        hash_fn,
        cfg.compat,
        cfg.base_dir,
        cfg.fast_jpeg,
        cfg.alpha_background,
    )
    save_batch(batch, snakemake.output[0])
