"""Kill the whole run with SIGKILL at several moments, run the same command again: same bytes, no finished job redone
(but the index, which rescans the folders on every run).

The moments are made observable with tests/faultinject/sitecustomize.py, which holds the outputs of one stage for a
moment after they are written in full and before they are renamed onto their final names: the run is killed while
a job of that stage is writing (its temporary file exists), after other jobs have finished.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_fastdiff

ARGS = ["--similarity", "similar", "--no-same-dim", "--shard-size", "14", "--config", "block_size=28"]
FAULTS = Path(__file__).parent / "faultinject"
# stage -> (outputs held before their rename, the moment to kill at, outputs that must exist by then)
MOMENTS = {
    "index": (r"/work/index$", lambda out: any((out / "work").glob(".index.*.tmp")), None),
    "thumbnails": (r"/work/thumbs/", lambda out: any((out / "work" / "thumbs").glob(".*.tmp")), "thumbs"),
    "compare": (r"/work/compare/", lambda out: any((out / "work" / "compare").glob(".*.tmp")), "compare"),
    "merge": (r"/out/[^/]+$", lambda out: any(out.glob(".results.json.*.tmp")), "compare"),
}
COMPARED = ("results.json", "lower_quality.json", "fastdiff.sqlite")


def _outputs(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "work").glob("*/*.npz")}


def _incomplete(out: Path) -> set[str]:
    """Paths Snakemake has marked as being written (their job started and was not seen finishing)."""
    marks = set()
    root = out / "work" / ".snakemake" / "incomplete"
    for mark in root.rglob("*"):
        if mark.is_file() and mark.name != "migration_underway":
            encoded = "".join(part.lstrip("@") for part in mark.relative_to(root).parts)
            marks.add(base64.urlsafe_b64decode(encoded).decode())
    return marks


def _finished_jobs(out: Path) -> dict[Path, tuple[int, int]]:
    """(inode, mtime) of every job output that exists and that Snakemake saw finishing."""
    incomplete = _incomplete(out)
    found = {}
    for p in [
        *(out / "work").glob("thumbs/*.npz"),
        *(out / "work").glob("compare/*.npz"),
        *(out / name for name in COMPARED),
    ]:  # (the index job runs on every run: it rescans the folders)
        if p.exists() and str(p) not in incomplete:
            st = p.stat()
            found[p] = (st.st_ino, st.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def clean_run(collection, tmp_path_factory):
    """An uninterrupted run; every test then writes to the same output path (the database records it)."""
    root, _ = collection
    base = tmp_path_factory.mktemp("restart")
    run_fastdiff([root], base / "out", *ARGS)
    return root, (base / "out").rename(base / "clean"), base / "out"


@pytest.mark.parametrize("executor", [["--snakemake"], []], ids=["snakemake", "here"])
@pytest.mark.parametrize("stage", list(MOMENTS))
def test_sigkill_during_each_stage_then_rerun_gives_identical_results(clean_run, stage, executor):
    """Through Snakemake, and in process (where compare jobs run side by side in forked processes)."""
    root, clean, out = clean_run
    shutil.rmtree(out, ignore_errors=True)
    held, moment, needed = MOMENTS[stage]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")])),
        "FASTDIFF_SLOW_WRITES": "1.5",
        "FASTDIFF_SLOW_WRITES_MATCH": held,
    }
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(root), "-o", str(out), "--cores", "2", *executor, *ARGS]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while not (moment(out) and (needed is None or any(needed in p.parts for p in _finished_jobs(out)))):
        assert proc.poll() is None, f"the run ended before the {stage} stage could be caught"
        assert time.time() < deadline, f"the {stage} stage was never caught"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # fastdiff, snakemake and every running job, at once
    proc.wait()
    assert not (out / "results.json").exists()
    finished = _finished_jobs(out)

    run_fastdiff([root], out, *ARGS, snakemake=bool(executor))  # the same command again
    redone = [str(p) for p, st in finished.items() if (p.stat().st_ino, p.stat().st_mtime_ns) != st]
    assert not redone, f"finished jobs were run again: {redone}"
    for name in COMPARED:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    assert not list(out.rglob("*.tmp")), "temporary files were left behind"
    assert sorted(p.name for p in (out / "work" / "thumbs").iterdir()) == sorted(
        p.name for p in (clean / "work" / "thumbs").iterdir()
    )


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
