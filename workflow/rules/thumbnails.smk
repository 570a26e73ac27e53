# Stage 2: one compressed thumbnail batch per index shard, decoded by a thread pool inside the job.
from fastdiff.resources import thumbnails_mem_mb as decode_mem_mb


def thumbnails_mem_mb(wildcards, threads, attempt):
    """Every thread may decode an image of max_pixels at once: fastdiff.resources.thumbnails_mem_mb."""
    return decode_mem_mb(threads, CFG.max_pixels, attempt)


def thumbnails_runtime(wildcards, threads, attempt):
    """Minutes: start-up plus shard_size files at 5 files/s per thread (measured: 38 files/s with 2 threads on
    photos, busy machine); each retry gets more."""
    return attempt * (10 + math.ceil(CFG.shard_size / (5 * threads) / 60))


rule thumbnails:
    input:
        shard_path("{shard}"),
        ancient(INDEX),  # written by the index job (which runs first); rescanning alone changes no batch
    output:
        batch_path("{shard}"),
    log:
        f"{WORK}/logs/thumbnails/{{shard}}.log",
    conda:
        CPU_ENV
    threads: CFG.threads
    resources:
        mem_mb=thumbnails_mem_mb,
        runtime=thumbnails_runtime,
    params:
        options=CFG.stage_options("thumbnails"),
    script:
        "../scripts/thumbnails.py"
