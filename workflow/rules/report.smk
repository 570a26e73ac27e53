# Stage 5 (opt-in, config key `report`): HTML pages of the best-copy groups in OUT/report, also shown by
# `snakemake --report OUT/report.zip`.


rule report:
    input:
        db=job_input("report", "db"),
        index=ancient(INDEX),
        batches=job_input("report", "batches"),
    output:
        report(
            directory(f"{OUT}/report"),
            htmlindex="index.html",
            caption="../report/groups.rst",
            category="Duplicate groups",
        ),
    log:
        f"{WORK}/logs/report.log",
    conda:
        CPU_ENV
    params:
        options=params_of("report"),
        job=job_params("report"),
    script:
        "../scripts/report.py"
