# Stage 1: scan the partitions and lay the files out in shards and compare blocks (a checkpoint: the shards are only
# known after the scan). It runs on every invocation (`forcerun: [index]` in the profiles) so that added, removed
# and changed files are seen; the layout of the previous run in LAYOUT is kept, so only outputs whose shards changed
# are made again (fastdiff.index.layout), and later rules read the index as ancient() input.


checkpoint index:
    output:
        directory(INDEX),
    log:
        f"{WORK}/logs/index.log",
    benchmark:
        f"{WORK}/benchmarks/index.tsv"
    conda:
        CPU_ENV
    resources:
        mem_mb=index_mem_mb,
        runtime=index_runtime,
    params:
        options=params_of("index"),
        layout=LAYOUT,
    script:
        "../scripts/index.py"
