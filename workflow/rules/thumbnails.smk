# Stage 2: one compressed thumbnail batch per index shard, decoded on the job's threads (fastdiff.thumbnails.build.decoded).


rule thumbnails:
    input:
        shard=job_input("thumbnails", "shard"),
        index=ancient(INDEX),  # written by the index job (which runs first); rescanning alone changes no batch
    output:
        batch_path("{shard}"),
    log:
        f"{WORK}/logs/thumbnails/{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/thumbnails/{{shard}}.tsv"
    conda:
        CPU_ENV
    threads: job_threads("thumbnails")
    resources:
        mem_mb=thumbnails_mem_mb,
        runtime=thumbnails_runtime,
    params:
        options=params_of("thumbnails"),
        job=job_params("thumbnails"),
    script:
        "../scripts/thumbnails.py"
