# Stage 3: one job per block pair; only pairs at or below the threshold are written.


def compare_inputs(wildcards):
    return {"a": block_batches(wildcards.bi), "b": block_batches(wildcards.bj)}


def compare_mem_mb(wildcards, attempt):
    """The job's proven memory bound (fastdiff.compare.memory_bound_mb); more on each retry."""
    n_a, n_b = (block_images(b) for b in (wildcards.bi, wildcards.bj))
    bound = memory_bound_mb(n_a, n_b, CFG.px_size, CFG.rotate, CompareOptions.from_config(CFG).tile_size)
    return bound + (attempt - 1) * bound // 2


# Pairs x rotations per second of one compare job at px_size 50, with a margin of 2.5: measured 3.8M on one CPU
# core (a 4,000 x 4,000 block pair in 17 s, loading included; benchmarks/scale.py compare). The GPU figure is an
# assumption, not measured here (no GPU on the reference machine): a few percent of a data-centre GPU's TF32 rate.
# A job that runs out of time is retried with twice the limit.
COMPARE_RATE = {"cpu": 1.5e6, "gpu": 2e8}
# With prune (the default) the bounds leave a few candidates in a thousand pairs on real images: measured 2.9e7
# pairs per second equivalent on one 10,000-image block (benchmarks/prune.py run), taken with a margin of 3. Data
# where nothing prunes (low-contrast noise) runs at the brute-force rate: such a job runs out of time and is retried
# with a limit that grows with each attempt.
PRUNED_RATE = {"cpu": 1e7, "gpu": 2e9}


def compare_runtime(wildcards, attempt):
    """Minutes: start-up and loading, plus the block pair's pairs at PRUNED_RATE (COMPARE_RATE without prune);
    each retry gets more."""
    n_a, n_b = (block_images(b) for b in (wildcards.bi, wildcards.bj))
    pairs = n_a * (n_a - 1) // 2 if wildcards.bi == wildcards.bj else n_a * n_b
    work = pairs * (4 if CFG.rotate else 1) * (CFG.px_size / 50) ** 2
    rate = (PRUNED_RATE if CFG.prune else COMPARE_RATE)["gpu" if CFG.device == "gpu" else "cpu"]
    return attempt * (10 + math.ceil(work / rate / 60))


def compare_threads(wildcards):
    """BLAS threads: `threads` for a single block pair (a small collection: one job would leave cores idle), else 1,
    so that the block pairs run side by side and their single-threaded steps (tile preparation, filtering) too."""
    return CFG.threads if len(manifest()["pairs"]) == 1 else 1


rule compare:
    input:
        unpack(compare_inputs),
    output:
        f"{WORK}/compare/{{bi}}_{{bj}}.npz",
    log:
        f"{WORK}/logs/compare/{{bi}}_{{bj}}.log",
    benchmark:
        f"{WORK}/benchmarks/compare/{{bi}}_{{bj}}.tsv"
    conda:
        GPU_ENV if CFG.device == "gpu" else CPU_ENV
    threads: compare_threads
    resources:
        mem_mb=compare_mem_mb,
        runtime=compare_runtime,
        gpu=1 if CFG.device == "gpu" else 0,
    params:
        options=CFG.stage_options("compare"),
    script:
        "../scripts/compare.py"
