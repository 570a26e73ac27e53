# Stage 4: every block output into the SQLite database and difPy's results / lower_quality / stats files.


# Measured (benchmarks/scale.py merge): the merge streams into SQLite; 124 MB peak for 1M images and 1M result
# pairs, 202 MB with 5M; the largest single compare output adds 26 bytes per pair (337 MB with 5M pairs in one).
MERGE_MEM_MB = 2000


def merge_mem_mb(wildcards, attempt):
    return attempt * MERGE_MEM_MB


def merge_runtime(wildcards, input, attempt):
    """Minutes: measured 1.5 to 6 minutes for 1M images with 1M to 5M result pairs; pairs are unknown before the
    compare jobs ran, so a generous share per image (one batch per shard_size images). Each retry gets more.
    (No manifest() here: a resource function must not wait for the index checkpoint.)"""
    return attempt * (30 + math.ceil(len(input.batches) * CFG.shard_size / 20_000))


rule merge:
    input:
        index=INDEX,
        shards=all_shards,
        batches=all_batches,
        pairs=all_block_outputs,
    output:
        final_outputs(),
    log:
        f"{WORK}/logs/merge.log",
    conda:
        CPU_ENV
    resources:
        mem_mb=merge_mem_mb,
        runtime=merge_runtime,
    params:
        options=CFG.stage_options("merge"),
    script:
        "../scripts/merge.py"
