# fastdiff: index -> thumbnails -> compare -> merge (-> report). Thin on purpose: the logic lives in the fastdiff
# package; rule files hold rules only, their input and resource functions are in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/index.smk"
include: "workflow/rules/thumbnails.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        report_outputs(),


onsuccess:
    remove_stale_outputs()


onerror:
    explain_failure()
