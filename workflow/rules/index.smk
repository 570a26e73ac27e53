# Stage 1: scan the partitions into sorted index shards and plan the compare blocks (a checkpoint:
# the number of shards is only known after the scan).


checkpoint index:
    output:
        directory(INDEX),
    params:
        options=CFG.stage_options("index"),
    log:
        f"{WORK}/logs/index.log",
    conda:
        CPU_ENV
    script:
        "../scripts/index.py"
