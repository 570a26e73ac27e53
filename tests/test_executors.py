"""One plan, two executors: the same scenarios run in process, through Snakemake, and switching between them in
either direction, and behave the same (fastdiff.run.plan, fastdiff.core.made_by).

* a rerun with nothing changed rewrites nothing;
* a run killed after its first thumbnail batch resumes from there, with the same results as a clean run (also when
  the killed run had another px_size);
* an option change reruns exactly the stages that use it;
* added and removed files, a growing collection switching executor, a large local run staying in process;
* a dry run's list of the jobs to run, the same on both executors.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import REPO, run_fastdiff

from fastdiff.core.config import load_config
from fastdiff.core.made_by import FIELD, StaleOutputError
from fastdiff.core.options import STAGE_OPTIONS, stage_params
from fastdiff.index.scan import read_manifest
from fastdiff.run.jobs import run_job
from fastdiff.run.plan import is_current, make_plan
from fastdiff.run.runner import resolve_paths

ARGS = ["--similarity", "similar", "--no-same-dim", "--shard-size", "14", "--config", "block_size=28"]
FAULTS = Path(__file__).parent / "faultinject"
RESULTS = ("results.json", "lower_quality.json", "fastdiff.sqlite")
# (executor of the first run, executor of the second): False in process, True through Snakemake
SWITCHES = [(False, False), (True, True), (False, True), (True, False)]
IDS = ["here-here", "snakemake-snakemake", "here-snakemake", "snakemake-here"]


def _run(dirs: list[Path], out: Path, snakemake: bool, *args: str) -> subprocess.CompletedProcess:
    return run_fastdiff(dirs, out, *ARGS, *args, snakemake=snakemake)


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every output of a job: thumbnail batches, compare outputs, the merge's and report's."""
    files = [*(out / "work").glob("thumbs/*.npz"), *(out / "work").glob("compare/*.npz"), *(out / n for n in RESULTS)]
    files += [out / "stats.json", *(p for p in (out / "report").rglob("*") if p.is_file())]
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files if p.exists()}


def _kinds(before: dict, after: dict) -> set[str]:
    """The kinds of output ('thumbs', 'compare', 'merge', 'report') rewritten, added or removed between two stamps."""
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    kinds = set()
    for p in changed:
        parts = Path(p).parts
        kinds.add(parts[1] if parts[0] == "work" else "report" if parts[0] == "report" else "merge")
    return kinds


def _tables(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("directory", "dif_table", "hash_table", "best_copy_group")
        }


def _assert_same_results(a: Path, b: Path) -> None:
    for name in ("results.json", "lower_quality.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _tables(a / "fastdiff.sqlite") == _tables(b / "fastdiff.sqlite")


def _assert_same_as_from_scratch(dirs: list[Path], out: Path, snakemake: bool, *args: str) -> None:
    """A run from scratch into the same output folder (the database records it) gives the same results."""
    kept = out.rename(out.with_name(out.name + ".kept"))
    _run(dirs, out, snakemake, *args)
    _assert_same_results(kept, out)
    shutil.rmtree(out)
    kept.rename(out)


def _ran_snakemake(out: Path, since: float) -> bool:
    """Whether Snakemake ran in `out` since then (its output is kept in work/logs/snakemake.log)."""
    log = out / "work" / "logs" / "snakemake.log"
    return log.exists() and log.stat().st_mtime > since


@pytest.mark.parametrize(("first", "second"), SWITCHES, ids=IDS)
def test_a_rerun_with_nothing_changed_rewrites_nothing(collection, tmp_path, first, second):
    root, _ = collection
    out = tmp_path / "out"
    _run([root], out, first)
    before = _stamps(out)
    assert any("thumbs" in p for p in before) and any("compare" in p for p in before)
    _run([root], out, second)
    assert _stamps(out) == before


@pytest.fixture(scope="module")
def clean_run(collection, tmp_path_factory):
    """An uninterrupted run; each test then writes to the same output path (the database records it)."""
    root, _ = collection
    base = tmp_path_factory.mktemp("executors")
    _run([root], base / "out", False)
    return root, (base / "out").rename(base / "clean"), base / "out"


def _kill_after_first_batch(root: Path, out: Path, snakemake: bool, *args: str) -> dict[str, tuple[int, int]]:
    """Start a run, SIGKILL it (and all its processes) while it writes its second thumbnail batch; return the
    stamps of what it finished."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")])),
        "FASTDIFF_SLOW_WRITES": "1.5",
        "FASTDIFF_SLOW_WRITES_MATCH": r"/work/thumbs/",
    }
    how = ["--snakemake"] if snakemake else []
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(root), "-o", str(out), "--cores", "2", *how, *ARGS, *args]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    thumbs = out / "work" / "thumbs"
    deadline = time.time() + 120
    while not (list(thumbs.glob("*.npz")) and list(thumbs.glob(".*.tmp"))):
        assert proc.poll() is None, "the run ended before its second batch"
        assert time.time() < deadline, "the second batch was never caught"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    return {p: s for p, s in _stamps(out).items() if "thumbs" in p}


@pytest.mark.parametrize(("first", "second"), SWITCHES, ids=IDS)
def test_killed_after_the_first_batch_resumes_from_there(clean_run, first, second):
    root, clean, out = clean_run
    shutil.rmtree(out, ignore_errors=True)
    finished = _kill_after_first_batch(root, out, first)
    assert finished
    _run([root], out, second)
    after = _stamps(out)
    assert {p: after.get(p) for p in finished} == finished, "finished batches were made again"
    for name in RESULTS:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("second", [True, False], ids=["snakemake", "here"])
def test_killed_at_another_px_size_then_resumed_is_a_clean_run(clean_run, second):
    """The issue's case: interrupted in process at px_size 32, then run at 50: no 32-pixel batch is reused."""
    root, clean, out = clean_run
    shutil.rmtree(out, ignore_errors=True)
    stale = _kill_after_first_batch(root, out, False, "--px-size", "32")
    _run([root], out, second)
    after = _stamps(out)
    assert all(after.get(p) != s for p, s in stale.items())
    for name in RESULTS:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    for batch in (out / "work" / "thumbs").glob("*.npz"):
        with np.load(batch) as z:
            assert z["thumbs"].shape[1] == 50
            assert str(z[FIELD]) == str(np.load(clean / "work" / "thumbs" / batch.name)[FIELD])


CHANGES = {  # (args of the first run, args of the second, the kinds of output made again)
    "threshold": ([], ["--similarity", "duplicates"], {"compare", "merge"}),
    "px_size": ([], ["--px-size", "32"], {"thumbs", "compare", "merge"}),
    "report on": ([], ["--config", "report=true"], {"report"}),
    "report_page_size": (["--config", "report=true"], ["--config", "report=true", "report_page_size=3"], {"report"}),
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize(("first", "second"), SWITCHES, ids=IDS)
def test_an_option_change_reruns_exactly_the_stages_that_use_it(collection, tmp_path, first, second, change):
    root, _ = collection
    out = tmp_path / "out"
    args_first, args_second, kinds = CHANGES[change]
    _run([root], out, first, *args_first)
    before = _stamps(out)
    _run([root], out, second, *args_second)
    assert _kinds(before, _stamps(out)) == kinds
    _assert_same_as_from_scratch([root], out, not second, *args_second)


@pytest.mark.parametrize(("first", "second"), SWITCHES, ids=IDS)
def test_added_and_removed_files(collection, tmp_path, first, second):
    root, _ = collection
    images, later = tmp_path / "images", tmp_path / "later"
    shutil.copytree(root, images)
    files = sorted(p for p in images.rglob("*") if p.is_file())
    for p in files[::4]:
        (later / p.relative_to(images)).parent.mkdir(parents=True, exist_ok=True)
        p.rename(later / p.relative_to(images))
    out = tmp_path / "out"
    _run([images], out, first)
    before = {p: s for p, s in _stamps(out).items() if "thumbs" in p}
    for p in sorted(q for q in later.rglob("*") if q.is_file()):
        p.rename(images / p.relative_to(later))
    removed = files[1]  # not held back: in a shard of the first run
    removed.unlink()
    _run([images], out, second)
    after = _stamps(out)
    kept = [p for p in before if p in after]
    assert kept and all(after[p] == before[p] for p in kept)  # the untouched shards' batches are reused
    assert len(kept) == len(before) - 1  # the removed file's shard is made again
    _assert_same_as_from_scratch([images], out, not second)


def test_a_growing_collection_switching_executor_reuses_everything(collection, tmp_path):
    """A collection grows and the next run goes through Snakemake (as a switch to a cluster does): it reuses what the
    in-process runs made; shrinking back and running in process again reuses Snakemake's."""
    root, _ = collection
    images, later = tmp_path / "images", tmp_path / "later"
    shutil.copytree(root, images)
    held = sorted(p for p in images.rglob("*") if p.is_file())[-6:]
    later.mkdir()
    for i, p in enumerate(held):
        p.rename(later / f"zz_new_{i}{p.suffix}")
    out = tmp_path / "out"
    _run([images], out, False)
    before = _stamps(out)

    for p in later.iterdir():
        p.rename(images / p.name)
    _run([images], out, True)
    grown = _stamps(out)
    assert all(grown[p] == s for p, s in before.items() if "thumbs" in p)
    assert {p for p in grown if "thumbs" in p} - set(before)  # the new files' batch

    for p in images.glob("zz_new_*"):
        p.unlink()
    started = time.time()
    _run([images], out, False)
    assert not _ran_snakemake(out, started)
    back = _stamps(out)
    assert all(back[p] == s for p, s in before.items() if "thumbs" in p or "compare" in p)
    _assert_same_as_from_scratch([images], out, False)


def test_a_large_local_run_stays_in_process(tmp_path):
    """No size switches a local run to Snakemake (runs above 5,000 files once did, at the cost of its start-up and an
    interpreter per job): 5,001 files run in process, and `-v` names each job."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5001):
        _, png = cv2.imencode(".png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        (images / f"{i:05d}.png").write_bytes(png.tobytes())
    out = tmp_path / "out"
    started = time.time()
    proc = run_fastdiff([images], out, "--shard-size", "2000", "-v", snakemake=False)
    assert not _ran_snakemake(out, started) and not (out / "work" / ".snakemake").exists()
    assert proc.stderr.count("fastdiff: thumbnails ") == 3 and "fastdiff: merge: running" in proc.stderr
    assert "decoded 2000/2000 files" in proc.stderr  # the jobs' log lines
    assert proc.stderr.count("files handed to the decoding processes ahead") == 2  # jobs 2 and 3, during 1 and 2
    assert json.loads((out / "stats.json").read_text())  # finished
    proc = run_fastdiff([images], out, "--shard-size", "2000", "-v", snakemake=False)
    assert proc.stderr.count(": reused (its outputs are current)") == 5  # 3 thumbnail jobs, compare, merge


def test_a_stale_batch_is_removed_before_snakemake_and_by_its_reader(collection, tmp_path):
    """A batch that claims another job (here: rewritten by hand under another digest) is never used: a Snakemake
    run removes it before it starts and makes it again; a job that finds it among its inputs removes it, with one
    log line."""
    root, _ = collection
    out = tmp_path / "out"
    _run([root], out, False)
    batch = sorted((out / "work" / "thumbs").glob("*.npz"))[0]
    with np.load(batch) as z:
        arrays = {k: z[k] for k in z.files}
    good = str(arrays[FIELD])
    clean = {name: (out / name).read_bytes() for name in ("results.json", "lower_quality.json")}

    np.savez_compressed(batch, **{**arrays, FIELD: np.asarray("another job")})
    _run([root], out, True)
    with np.load(batch) as z:
        assert str(z[FIELD]) == good
    assert {name: (out / name).read_bytes() for name in clean} == clean

    raw = resolve_paths(yaml.safe_load((out / "work" / "config.yaml").read_text()))
    config = load_config(raw)
    params = {stage: stage_params(config, stage) for stage in STAGE_OPTIONS}
    jobs = make_plan(config, read_manifest(out / "work" / "index"), params)
    compare = next(j for j in jobs if j.stage == "compare" and str(batch) in j.needs)
    np.savez_compressed(batch, **{**arrays, FIELD: np.asarray("another job")})
    with pytest.raises(StaleOutputError, match=f"stale output {batch}"):
        run_job(compare, 1)
    assert not batch.exists()
    assert is_current(next(j for j in jobs if j.stage == "merge"))  # (nothing recorded the failed job)
    run_fastdiff([root], out, *ARGS, snakemake=False)
    assert all(is_current(j) for j in jobs)


@pytest.mark.parametrize("snakemake", [False, True], ids=["here", "snakemake"])
def test_a_dry_run_says_what_would_run_and_removes_nothing(collection, tmp_path, snakemake):
    """A dry run shows, per stage, the jobs a run would run and why, the same on both executors, and leaves every
    output, stale or not, and the layout as they were."""
    root = tmp_path / "images"
    shutil.copytree(collection[0], root)
    out = tmp_path / "out"
    _run([root], out, False)
    before = _stamps(out)
    layout = {p: p.read_bytes() for p in (out / "work" / "layout").rglob("*") if p.is_file()}
    proc = _run([root], out, snakemake, "--dry-run")
    assert "  total       0 of " in proc.stdout
    proc = _run([root], out, snakemake, "--px-size", "32", "--dry-run")
    n_batches = len(list((out / "work" / "thumbs").glob("*.npz")))
    assert f"  thumbnails  {n_batches} jobs: {n_batches} to run (stale), 0 reused" in proc.stdout
    assert "  merge       1 job: 1 to run (stale), 0 reused" in proc.stdout
    shutil.copy(sorted(root.rglob("*.png"))[0], root / "zz_added.png")
    proc = _run([root], out, snakemake, "--dry-run")
    table = proc.stdout.split("a run would do this:\n")[1].split("  total")[0]
    lines = {line.split()[0]: line for line in table.splitlines()}
    assert f"jobs: 1 to run (missing), {n_batches} reused" in lines["thumbnails"]  # the new file's shard
    assert "(missing)" in lines["compare"] and "1 to run (stale)" in lines["merge"]  # its block pairs, the merge
    assert _stamps(out) == before
    assert {p: p.read_bytes() for p in (out / "work" / "layout").rglob("*") if p.is_file()} == layout
