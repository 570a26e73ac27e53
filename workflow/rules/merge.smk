# Stage 4: every block output into the SQLite database and difPy's results / lower_quality / stats files. It reruns
# when the index's content changed (index_version), not each time the index is rescanned.


rule merge:
    input:
        index=ancient(INDEX),
        version=index_version,
        shards=all_shards,
        batches=all_batches,
        pairs=all_block_outputs,
    output:
        final_outputs(),
    log:
        f"{WORK}/logs/merge.log",
    benchmark:
        f"{WORK}/benchmarks/merge.tsv"
    conda:
        CPU_ENV
    resources:
        mem_mb=merge_mem_mb,
        runtime=merge_runtime,
    params:
        options=params_of("merge"),
    script:
        "../scripts/merge.py"
