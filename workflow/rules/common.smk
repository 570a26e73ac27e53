# The validated configuration, paths, and every input and resource function of the rules. The resource models
# themselves are plain functions of the package (fastdiff.run.resources), unit-tested there.
import os
import sys

# Jobs import the package this workflow ships in (the folder holding workflow/rules, three levels up), also
# inside --use-conda environments; with PYTHONSAFEPATH no job puts its current folder first on sys.path, so a folder
# named fastdiff there (a clone) cannot shadow it.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(workflow.current_basedir))))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
os.environ["PYTHONSAFEPATH"] = "1"
sys.path.insert(0, PACKAGE_ROOT)


envvars:
    "PYTHONPATH",  # set just above; declared so that Snakemake passes them on to remote (SLURM) jobs
    "PYTHONSAFEPATH",


from fastdiff.run import plan


from fastdiff.run import resources


from fastdiff.core import workpaths
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.device import DeviceError
from fastdiff.index.scan import read_manifest, version_path
from fastdiff.merge.results import output_files
from fastdiff.core.options import STAGE_OPTIONS, stage_params
from fastdiff.run.preflight import PreflightError, check_run
from fastdiff.run.runner import resolve_paths, validated_params

# Validated once: by the fastdiff runner that started this process (it passes the stage options it built), else
# here in the main process. A job process (SLURM) does not look at the folders and user functions again, and jobs
# read only their options (params).
PARAMS = validated_params(config)
try:
    # paths resolved as `fastdiff run` resolves them: the same settings give the same options (docs/how-it-works.md, Reruns)
    CFG = load_config(resolve_paths(config), check_environment=workflow.is_main_process and PARAMS is None)
    if workflow.is_main_process and PARAMS is None:  # before any job; the GPU only where jobs run here
        local = workflow.local_exec
        check_run(
            CFG,
            jobs_here=local and not workflow.deployment_settings.deployment_method,
            cores=workflow.resource_settings.cores if local else None,
        )
except (ConfigError, PreflightError, DeviceError) as err:
    raise WorkflowError(str(err)) from None

OUT = CFG.output_dir
WORK = f"{OUT}/work"
INDEX = workpaths.index_dir(WORK)
LAYOUT = workpaths.layout_dir(WORK)  # the shards and blocks of the previous run, kept by the index job
CPU_ENV = "../../envs/cpu.yaml"
GPU_ENV = "../../envs/gpu.yaml"
ON_GPU = CFG.device == "gpu"


wildcard_constraints:
    shard=r"\d+-[0-9a-f]+",
    bi=r"[0-9a-f]+",
    bj=r"[0-9a-f]+",


def params_of(stage):
    """The options of a stage (fastdiff.core.options) as its rule's params: a change reruns that stage."""
    return PARAMS[stage] if PARAMS is not None else stage_params(CFG, stage)


def jobs_of(m):
    """The plan's jobs (fastdiff.run.plan) for a manifest, by (stage, name)."""
    params = {stage: params_of(stage) for stage in STAGE_OPTIONS}
    return {(j.stage, j.name): j for j in plan.make_plan(CFG, m, params)}


# Snakemake's modes that run no job (it does not tell the Snakefile at parse time): they must not remove anything
NO_JOBS = {"--dry-run", "--dryrun", "--unlock", "--lint", "--summary", "--detailed-summary", "--list-rules", "--list"}
NO_JOBS |= {"--touch", "--report", "--cleanup-metadata", "--list-changes", "--delete-all-output", "--dag"}
NO_JOBS |= {"--rulegraph", "--filegraph", "--d3dag", "--archive", "--containerize", "--print-compilation"}


def runs_jobs():
    """Whether this Snakemake process is about to run jobs: not a dry run (also `-n` among short flags), no other mode
    of NO_JOBS."""
    short = [a for a in sys.argv[1:] if a.startswith("-") and not a.startswith("--")]
    return not NO_JOBS & set(sys.argv[1:]) and not any(set(a[1:]) & set("nlt") for a in short)


if workflow.is_main_process and runs_jobs() and os.path.isfile(os.path.join(INDEX, "manifest.json")):
    # outputs of the last run's plan made otherwise than the plan now makes them (other options, other inputs, by
    # whichever executor): removed, so that Snakemake makes them again; the index job may then add more jobs
    plan.remove_stale(list(jobs_of(read_manifest(INDEX)).values()))


def final_outputs():
    return [f"{OUT}/{name}" for name in output_files(CFG.neighbors)]


def report_outputs():
    return [f"{OUT}/report"] if CFG.report else []


_MANIFEST = {}


def manifest():
    """The index manifest, with `block` (name -> shard names) and `size` (shard name -> files) added; asking for it
    makes the caller wait for the index checkpoint.

    Read once per version of the file: input functions ask for it several times per job, and parsing it for each
    call made building a DAG of N jobs cost O(N^2) (68 s for 3,000 jobs)."""
    index = checkpoints.index.get().output[0]
    st = os.stat(os.path.join(index, "manifest.json"))
    key = (index, st.st_mtime_ns, st.st_size, st.st_ino)
    if key not in _MANIFEST:
        _MANIFEST.clear()
        m = read_manifest(index)
        m["block"] = {b["name"]: b["shards"] for b in m["blocks"]}
        m["size"] = {s["name"]: s["n"] for s in m["shards"]}
        m["jobs"] = jobs_of(m)
        _MANIFEST[key] = m
    return _MANIFEST[key]


def batch_path(shard):
    return workpaths.batch_path(WORK, shard)


def block_output(bi, bj):
    return workpaths.block_output(WORK, bi, bj)


def block_images(block):
    m = manifest()
    return sum(m["size"][s] for s in m["block"][block])


def job_of(stage, wildcards):
    """The plan's job of a rule's wildcards (fastdiff.run.plan): its inputs, options, threads and digest."""
    if stage == "thumbnails":
        name = wildcards.shard
    elif stage == "compare":
        name = f"{wildcards.bi}_{wildcards.bj}"
    else:
        name = stage
    return manifest()["jobs"][(stage, name)]


def job_input(stage, name):
    """A rule's input function: the inputs of that name of its job (the index folder, which rescanning rewrites,
    each rule names itself, as ancient())."""
    return lambda wildcards: job_of(stage, wildcards).inputs[name]


def job_params(stage):
    """A rule's params function: its job, as the rule's script runs it (fastdiff.run.jobs.run_job)."""
    return lambda wildcards: job_of(stage, wildcards).to_params()


def job_threads(stage):
    """A rule's threads: its job's."""
    return lambda wildcards: job_of(stage, wildcards).threads


def index_version(wildcards):
    """The marker of this index's content (fastdiff.index.scan.write_index): the merge reruns when it changes only."""
    return str(version_path(LAYOUT, manifest()["version"]))


# --- resources (models and their measurements: fastdiff.run.resources)


def index_mem_mb(wildcards, attempt):
    return resources.index_mem_mb(attempt)


def index_runtime(wildcards, attempt):
    return resources.index_runtime(attempt)


def thumbnails_mem_mb(wildcards, threads, attempt):
    return resources.thumbnails_mem_mb(threads, CFG.max_pixels, CFG.shard_size, CFG.px_size, attempt)


def thumbnails_runtime(wildcards, threads, attempt):
    return resources.thumbnails_runtime(CFG.shard_size, threads, attempt)


def compare_mem_mb(wildcards, attempt):
    n_a, n_b = (block_images(b) for b in (wildcards.bi, wildcards.bj))
    tile = None if CFG.tile_size == "auto" else CFG.tile_size
    return resources.compare_mem_mb(n_a, n_b, CFG.px_size, CFG.rotate, tile, attempt, CFG.mirror)


def compare_runtime(wildcards, attempt):
    n_a, n_b = (block_images(b) for b in (wildcards.bi, wildcards.bj))
    same = wildcards.bi == wildcards.bj
    return resources.compare_runtime(n_a, n_b, same, CFG.px_size, CFG.rotate, ON_GPU, CFG.prune, attempt, CFG.mirror)


def merge_mem_mb(wildcards, attempt):
    return resources.merge_mem_mb(attempt)


def merge_runtime(wildcards, input, attempt):
    """(No manifest() here: a resource function must not wait for the index checkpoint.)"""
    return resources.merge_runtime(len(input.batches), CFG.shard_size, attempt)


# --- the end of a run


def remove_stale_outputs():
    """After a successful run: remove the thumbnail batches and block outputs that no layout uses any more (left by
    earlier runs' layouts; kept until now so that an interrupted run loses nothing)."""
    if not os.path.isfile(os.path.join(INDEX, "manifest.json")):
        return
    plan.remove_unused(WORK, list(jobs_of(read_manifest(INDEX)).values()))


def explain_failure():
    print(
        f"fastdiff: a job failed; its log is in {WORK}/logs (Snakemake's own log: {WORK}/.snakemake/log). "
        "Finished jobs are kept: run the same command again to resume.",
        file=sys.stderr,
    )
