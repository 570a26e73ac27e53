# Stage 3: one job per block pair; only pairs at or below the threshold are written.


def compare_inputs(wildcards):
    return {"a": block_batches(wildcards.bi), "b": block_batches(wildcards.bj)}


rule compare:
    input:
        unpack(compare_inputs),
    output:
        f"{WORK}/compare/{{bi}}_{{bj}}.npz",
    params:
        options=CFG.stage_options("compare"),
    threads: 1
    log:
        f"{WORK}/logs/compare/{{bi}}_{{bj}}.log",
    conda:
        CPU_ENV
    script:
        "../scripts/compare.py"
