# Stage 2: one compressed thumbnail batch per index shard, decoded by a thread pool inside the job.


rule thumbnails:
    input:
        INDEX,
    output:
        batch_path("{shard}"),
    params:
        options=CFG.stage_options("thumbnails"),
    threads: CFG.threads
    resources:
        mem_mb=1000,
    log:
        f"{WORK}/logs/thumbnails/{{shard}}.log",
    conda:
        CPU_ENV
    script:
        "../scripts/thumbnails.py"
