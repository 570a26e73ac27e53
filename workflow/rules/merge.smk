# Stage 4: every block output into the SQLite database and difPy's results / lower_quality / stats files. It reruns
# when the index's content changed (index_version), not each time the index is rescanned.


rule merge:
    input:
        index=ancient(INDEX),
        version=index_version,
        shards=job_input("merge", "shards"),
        batches=job_input("merge", "batches"),
        pairs=job_input("merge", "pairs"),
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
        job=job_params("merge"),
    script:
        "../scripts/merge.py"
