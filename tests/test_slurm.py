"""The workflow through a real SLURM cluster (snakemake-executor-plugin-slurm) with the profile in profiles/slurm.

Needs a reachable cluster (`sinfo` works). On a single machine as root, a one-node cluster (slurmctld and slurmd)
starts in about 20 s (.ci/run starts one where it can); without one these tests are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_fastdiff
from synth import make_tiny_set

FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]  # the plugin's first check comes after 40 s
ARGS = ["--shard-size", "3", "--config", "block_size=3"]  # 2 thumbnail jobs, 3 compare jobs
COMPARED = ("results.json", "lower_quality.json", "fastdiff.sqlite")
FAULTS = Path(__file__).parent / "faultinject"


def _sinfo() -> str | None:
    """Why no SLURM cluster can be used, or None when one answers."""
    if shutil.which("sinfo") is None:
        return "sinfo is not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%a %t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    if proc.returncode != 0:
        return f"sinfo failed: {proc.stderr.strip()}"
    if not re.search(r"^up (idle|mix|alloc)", proc.stdout, re.M):
        return f"no partition is up with a usable node: {proc.stdout.strip()!r}"
    return None


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The tiny image set and a local `--cores` run of it; SLURM runs then write to the same output path."""
    why = _sinfo()
    if why:
        pytest.skip(
            f"no SLURM cluster reachable ({why}); start a one-node cluster (slurmctld and slurmd, as .ci/run does "
            "where it can) or run on a cluster's submit host"
        )
    base = tmp_path_factory.mktemp("slurm")
    images = base / "images"
    make_tiny_set(images)
    run_fastdiff([images], base / "out", *ARGS)
    return images, (base / "out").rename(base / "local"), base / "out"


def test_dry_run_of_a_fresh_folder_with_each_profile(tmp_path):
    """Resource functions must not need the index before it exists (a dry run evaluates them all)."""
    images = tmp_path / "images"
    make_tiny_set(images)
    profiles = ["default"] + ([] if _sinfo() else ["slurm"])
    for profile in profiles:
        proc = run_fastdiff([images], tmp_path / profile, "--profile", profile, "-n")
        assert f"profiles/{profile} for setting default" in proc.stderr and "This was a dry-run" in proc.stdout
        assert not (tmp_path / profile / "work" / "index").exists()


def test_unknown_profile_is_a_clear_error(tmp_path):
    proc = run_fastdiff([tmp_path], tmp_path / "out", "--profile", "nope", check=False)
    assert proc.returncode == 2 and "no profile 'nope'" in proc.stderr and "slurm" in proc.stderr


def _same_outputs(out: Path, local: Path) -> None:
    for name in COMPARED:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name


def test_fastdiff_run_with_slurm_profile_equals_local_run(local_run):
    images, local, out = local_run
    shutil.rmtree(out, ignore_errors=True)
    proc = run_fastdiff([images], out, *ARGS, "--profile", "slurm", "--", *FAST_STATUS)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stderr)
    assert len(submitted) == 7, proc.stderr[-3000:]  # index, 2 thumbnails, 3 compare, merge: all through sbatch
    _same_outputs(out, local)


def test_scancelled_job_is_retried_by_plain_snakemake(local_run, tmp_path):
    """`snakemake --workflow-profile profiles/slurm`; one compare job is cancelled while it runs (scancel):
    the profile's retries resubmit it and the run finishes with the same results."""
    images, local, out = local_run
    shutil.rmtree(out, ignore_errors=True)
    work = out / "work"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
                "part_a": [str(images)],
                "output_dir": str(out),
                "shard_size": 3,
                "block_size": 3,
            }
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")])),
        "FASTDIFF_SLOW_WRITES": "5",
        "FASTDIFF_SLOW_WRITES_MATCH": r"/work/compare/([0-9a-f]+)_\1\.npz$",
    }  # a block against itself
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(config),
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        *FAST_STATUS,
    ]
    work.mkdir(parents=True)
    log = open(tmp_path / "snakemake.log", "w+")  # noqa: SIM115 - read back after the run
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        cancelled = None
        deadline = time.time() + 240
        while cancelled is None:
            assert proc.poll() is None, "the run ended before a compare job could be cancelled"
            assert time.time() < deadline, "no running compare job was seen"
            if any(
                re.match(r"\.([0-9a-f]+)_\1\.npz\..*\.tmp$", p.name)  # the job runs and writes its output
                for p in (work / "compare").glob(".*.tmp")
            ):
                jobs = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T|%Z"], capture_output=True, text=True).stdout
                for line in jobs.splitlines():
                    job_id, comment, state, directory = line.split("|", 3)
                    if comment.startswith("rule_compare") and state == "RUNNING" and Path(directory) == work:
                        subprocess.run(["scancel", job_id], check=True)
                        cancelled = job_id
            time.sleep(0.2)
        assert proc.wait(timeout=300) == 0, "the run did not finish after the cancelled job"
    finally:
        if proc.poll() is None:
            proc.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
            proc.wait(timeout=60)
    log.seek(0)
    text = log.read()
    assert re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'", text), text[-3000:]
    assert "Trying to restart job" in text
    _same_outputs(out, local)
