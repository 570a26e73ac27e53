# Configuration (validated before any rule runs), paths, and the input functions that read the index manifest.
import math
import os
import sys
from pathlib import Path

# Jobs import the package from this checkout, also inside --use-conda environments.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")]))
sys.path.insert(0, workflow.basedir)

from fastdiff.compare import CompareOptions, memory_bound_mb
from fastdiff.config import ConfigError, load_config
from fastdiff.device import DeviceError
from fastdiff.preflight import PreflightError, check_run
from fastdiff.index import read_manifest
from fastdiff.merge import OUTPUT_FILES

try:
    CFG = load_config(config)
    if workflow.is_main_process:  # before any job; the GPU only where jobs run in this environment
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
INDEX = f"{WORK}/index"
LAYOUT = f"{WORK}/layout"  # the shards and blocks of the previous run, kept by the index job (fastdiff.layout)
CPU_ENV = "../../envs/cpu.yaml"
GPU_ENV = "../../envs/gpu.yaml"


wildcard_constraints:
    shard=r"\d+-[0-9a-f]+",
    bi=r"[0-9a-f]+",
    bj=r"[0-9a-f]+",


def final_outputs():
    return [f"{OUT}/{name}" for name in OUTPUT_FILES]


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
    return f"{LAYOUT}/{shard}.json"


def batch_path(shard):
    return f"{WORK}/thumbs/{shard}.npz"


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
    return [f"{WORK}/compare/{i}_{j}.npz" for i, j in manifest()["pairs"]]
