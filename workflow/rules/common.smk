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


from fastdiff.run import resources


from fastdiff.run import small_run


from fastdiff.core import workpaths
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.device import DeviceError
from fastdiff.index.scan import read_manifest, version_path
from fastdiff.index.layout import remove_stale
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


if workflow.is_main_process:  # files an in-process small run made with other options than these: made again
    small_run.forget_changed(WORK, {stage: params_of(stage) for stage in STAGE_OPTIONS})


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
        _MANIFEST[key] = m
    return _MANIFEST[key]


def shard_path(shard):
    return workpaths.shard_path(WORK, shard)


def batch_path(shard):
    return workpaths.batch_path(WORK, shard)


def block_output(bi, bj):
    return workpaths.block_output(WORK, bi, bj)


def block_batches(block):
    return [batch_path(s) for s in manifest()["block"][block]]


def block_images(block):
    m = manifest()
    return sum(m["size"][s] for s in m["block"][block])


def all_shards(wildcards):
    return [shard_path(s["name"]) for s in manifest()["shards"]]


def all_batches(wildcards):
    return [batch_path(s["name"]) for s in manifest()["shards"]]


def all_block_outputs(wildcards):
    if not CFG.do_compare:  # hash-only mode: the merge finds equal hashes, no block pair is compared
        return []
    return [block_output(i, j) for i, j in manifest()["pairs"]]


def index_version(wildcards):
    """The marker of this index's content (fastdiff.index.scan.write_index): the merge reruns when it changes only."""
    return str(version_path(LAYOUT, manifest()["version"]))


def compare_inputs(wildcards):
    return {"a": block_batches(wildcards.bi), "b": block_batches(wildcards.bj)}


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


def compare_threads(wildcards):
    """BLAS threads: `threads` for a single block pair (a small collection: one job would leave cores idle), else 1,
    so that the block pairs run side by side and their single-threaded steps (tile preparation, filtering) too."""
    return CFG.threads if len(manifest()["pairs"]) == 1 else 1


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
    m = read_manifest(INDEX)
    remove_stale(f"{WORK}/thumbs", [batch_path(s["name"]) for s in m["shards"]])
    remove_stale(f"{WORK}/compare", [block_output(i, j) for i, j in m["pairs"]])


def explain_failure():
    print(
        f"fastdiff: a job failed; its log is in {WORK}/logs (Snakemake's own log: {WORK}/.snakemake/log). "
        "Finished jobs are kept: run the same command again to resume.",
        file=sys.stderr,
    )
