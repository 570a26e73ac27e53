# Stage 3: one job per block pair (fastdiff.run.plan); only pairs at or below the threshold are written.


rule compare:
    input:
        a=job_input("compare", "a"),
        b=job_input("compare", "b"),
    output:
        block_output("{bi}", "{bj}"),
    log:
        f"{WORK}/logs/compare/{{bi}}_{{bj}}.log",
    benchmark:
        f"{WORK}/benchmarks/compare/{{bi}}_{{bj}}.tsv"
    conda:
        GPU_ENV if ON_GPU else CPU_ENV
    threads: job_threads("compare")
    resources:
        mem_mb=compare_mem_mb,
        runtime=compare_runtime,
        gpu=1 if ON_GPU else 0,
    params:
        options=params_of("compare"),
        job=job_params("compare"),
    script:
        "../scripts/compare.py"
