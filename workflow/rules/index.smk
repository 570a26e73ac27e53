# Stage 1: scan the partitions and lay the files out in shards and compare blocks (a checkpoint: the shards are only
# known after the scan). It runs on every invocation (`forcerun: [index]` in the profiles) so that added, removed
# and changed files are seen; the layout of the previous run in LAYOUT is kept, so only outputs whose shards changed
# are made again (fastdiff.layout).


# Measured (benchmarks/scale.py index): about 1.1 kB per file (272 MB for 200k files, 1.17 GB for 1M, 27 s);
# 4 GB is enough for about 3.5M files, and each retry asks for more.
INDEX_MEM_MB = 4000


def index_mem_mb(wildcards, attempt):
    return attempt * INDEX_MEM_MB


def index_runtime(wildcards, attempt):
    return attempt * 60


checkpoint index:
    output:
        directory(INDEX),
    log:
        f"{WORK}/logs/index.log",
    conda:
        CPU_ENV
    resources:
        mem_mb=index_mem_mb,
        runtime=index_runtime,
    params:
        options=CFG.stage_options("index"),
        layout=LAYOUT,
    script:
        "../scripts/index.py"
