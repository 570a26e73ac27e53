# Stage 2: one compressed thumbnail batch per index shard, decoded on the job's threads (fastdiff.thumbnails.build.decoded).

rule thumbnails:
    input:
        shard_path("{shard}"),
        ancient(INDEX),  # written by the index job (which runs first); rescanning alone changes no batch
    output:
        batch_path("{shard}"),
    log:
        f"{WORK}/logs/thumbnails/{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/thumbnails/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: CFG.threads
    resources:
        mem_mb=thumbnails_mem_mb,
        runtime=thumbnails_runtime,
    params:
        options=params_of("thumbnails"),
    script:
        "../scripts/thumbnails.py"
