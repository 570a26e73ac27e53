"""Kill the whole run with SIGKILL mid-way, run the same command again: same bytes, no finished job redone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import REPO, run_fastdiff


def _outputs(out):
    return {p: p.stat().st_mtime_ns for p in (out / "work").glob("*/*.npz")}


def test_sigkill_mid_run_then_rerun_gives_identical_results(collection, tmp_path):
    root, _ = collection
    args = ["--similarity", "similar", "--no-same-dim", "--shard-size", "6", "--config", "block_size=6"]
    out = tmp_path / "out"  # the same output path for both runs: the database records it
    run_fastdiff([root], out, *args)
    clean = out.rename(tmp_path / "clean")

    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(root), "-o", str(out), "--cores", "2", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while len(list((out / "work" / "compare").glob("*.npz"))) < 8:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake, fastdiff and every running job
    proc.wait()
    assert not (out / "results.json").exists()
    finished = _outputs(out)

    run_fastdiff([root], out, *args)
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items()), "a finished job was run again"
    for name in ("results.json", "lower_quality.json", "fastdiff.sqlite"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_changed_threshold_reruns_compare_not_thumbnails(collection, tmp_path):
    root, _ = collection
    out = tmp_path / "out"
    run_fastdiff([root], out, "--similarity", "duplicates", "--shard-size", "30")
    before = _outputs(out)
    run_fastdiff([root], out, "--similarity", "similar", "--shard-size", "30")
    after = _outputs(out)
    thumbs = [p for p in before if p.parent.name == "thumbs"]
    compares = [p for p in before if p.parent.name == "compare"]
    assert thumbs and all(after[p] == before[p] for p in thumbs)
    assert compares and all(after[p] != before[p] for p in compares)
