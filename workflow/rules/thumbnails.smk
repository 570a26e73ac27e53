# Stage 2: one compressed thumbnail batch per index shard, decoded by a thread pool inside the job.


def thumbnails_mem_mb(wildcards, threads, attempt):
    """Measured: 137 MB peak for 970 photos (2 threads); the margin is for images near max_pixels (89 Mpx: 270 MB
    decoded per thread, plus conversions). Each retry asks for more (a job killed for memory comes back)."""
    return attempt * (400 + 600 * threads)


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
