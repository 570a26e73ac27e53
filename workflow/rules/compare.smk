# Stage 3: one job per block pair; only pairs at or below the threshold are written.


def compare_inputs(wildcards):
    return {"a": block_batches(wildcards.bi), "b": block_batches(wildcards.bj)}


def compare_mem_mb(wildcards):
    n_a, n_b = (block_images(b) for b in (wildcards.bi, wildcards.bj))
    return memory_bound_mb(n_a, n_b, CFG.px_size, CFG.rotate, CompareOptions.from_config(CFG).tile_size)


rule compare:
    input:
        unpack(compare_inputs),
    output:
        f"{WORK}/compare/{{bi}}_{{bj}}.npz",
    params:
        options=CFG.stage_options("compare"),
    threads: 1
    resources:
        mem_mb=compare_mem_mb,
        gpu=1 if CFG.device == "gpu" else 0,
    log:
        f"{WORK}/logs/compare/{{bi}}_{{bj}}.log",
    conda:
        GPU_ENV if CFG.device == "gpu" else CPU_ENV
    script:
        "../scripts/compare.py"
