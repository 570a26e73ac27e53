# Stage 4: every block output into the SQLite database and difPy's results / lower_quality / stats files.


rule merge:
    input:
        index=INDEX,
        batches=all_batches,
        pairs=all_block_outputs,
    output:
        final_outputs(),
    params:
        options=CFG.stage_options("merge"),
    log:
        f"{WORK}/logs/merge.log",
    conda:
        CPU_ENV
    script:
        "../scripts/merge.py"
