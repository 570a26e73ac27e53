"""An everyday tool: installs and runs from any folder, a short screen, a clean Ctrl-C, small runs in process with
the same outputs as Snakemake's, plain snakemake reusing a `fastdiff run`, quiet difPy flags, errors with a
did-you-mean, pandas frames, report links."""

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

import numpy as np
import pytest
from conftest import REPO, run_fastdiff

from fastdiff.merge.db import ResultDB

FAULTS = REPO / "tests" / "faultinject"


def _tables(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("directory", "dif_table", "hash_table", "best_copy_group")
        }


def test_in_process_run_writes_what_snakemake_writes(collection, tmp_path):
    root, _ = collection
    here = run_fastdiff([root], tmp_path / "here", "--similarity", "similar", snakemake=False)
    assert "rule " not in here.stdout + here.stderr  # no Snakemake ran
    run_fastdiff([root], tmp_path / "snake", "--similarity", "similar")
    a, b = tmp_path / "here", tmp_path / "snake"
    for name in ("results.json", "lower_quality.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    stats = [json.loads((d / "stats.json").read_text()) for d in (a, b)]
    for s in stats:
        for step in s["process"].values():
            step.pop("duration")
    assert stats[0] == stats[1]
    assert _tables(a / "fastdiff.sqlite") == _tables(b / "fastdiff.sqlite")
    for sub in ("thumbs", "compare"):
        names = sorted(p.name for p in (a / "work" / sub).iterdir())
        assert names == sorted(p.name for p in (b / "work" / sub).iterdir()) and names
        for name in names:
            za, zb = np.load(a / "work" / sub / name), np.load(b / "work" / sub / name)
            assert sorted(za.files) == sorted(zb.files)
            assert all(np.array_equal(za[k], zb[k]) for k in za.files if k not in ("timing", "sha256_meta")), (
                name
            )  # when decoded


def test_default_screen_is_short_and_names_the_outputs(collection, tmp_path):
    root, _ = collection
    out = tmp_path / "out"
    for how in ([], ["--snakemake"]):
        proc = subprocess.run(
            [sys.executable, "-m", "fastdiff.cli", "run", str(root), "-o", str(out), "--cores", "2", *how],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        lines = (proc.stdout + proc.stderr).splitlines()
        assert len(lines) <= 7, lines
        assert lines[0].startswith("fastdiff: searching")
        for name in ("results.json", "lower_quality.json", "fastdiff.sqlite"):
            assert any(line.strip().endswith(str(out / name)) for line in lines), name
        assert any(" groups, " in line and " lower-quality cop" in line for line in lines)
    assert (out / "work" / "logs" / "snakemake.log").is_file()  # Snakemake's output is kept, not shown


@pytest.mark.parametrize("how", [["--snakemake"], []])
def test_ctrl_c_prints_one_line_exits_130_and_resumes(collection, tmp_path, how):
    root, _ = collection
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")])),
        "FASTDIFF_SLOW_WRITES": "3",
        "FASTDIFF_SLOW_WRITES_MATCH": "thumbs",
    }
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(root), "-o", str(out), "--cores", "2", *how]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.time() + 120
    while not list((out / "work").rglob("thumbs/.*.tmp")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to fastdiff, Snakemake and the jobs
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert stderr.strip().splitlines() == [
        "fastdiff: interrupted; run the same command to resume (finished jobs are kept)"
    ], stderr
    assert len(stdout.splitlines()) == 1  # the start line
    assert not (out / "results.json").exists()
    time.sleep(0.5)
    assert not list(out.rglob("*.tmp")), "half-written files were left"
    run_fastdiff([root], out, *(["-v"] if how else []), snakemake=bool(how))
    assert (out / "results.json").exists()


def test_plain_snakemake_reuses_a_fastdiff_run(tmp_path):
    """The same settings: the checkout's config (examples, output folder `results`) run from the checkout."""
    work = tmp_path / "checkout"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(".git", "results", ".snakemake", "build", "*.egg-info"))
    env = {**os.environ, "PYTHONPATH": str(work)}
    for how in (["--snakemake"], []):
        shutil.rmtree(work / "results", ignore_errors=True)
        subprocess.run([sys.executable, "-m", "fastdiff.cli", "run", *how], cwd=work, env=env, check=True)
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=work, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "1 of 1 steps (100%) done" in proc.stderr, proc.stderr[-3000:]  # the (always rescanned) index only


def test_output_folder_inside_the_input_folder_is_not_indexed(collection, tmp_path):
    root, _ = collection
    images = tmp_path / "images"
    shutil.copytree(root, images)
    for _ in range(2):
        run_fastdiff([images], images / "dedup", snakemake=False)
    stats = json.loads((images / "dedup" / "stats.json").read_text())
    assert not any("/dedup/" in p for p in stats["invalid_files"]["logs"])
    with ResultDB(images / "dedup") as db:
        assert not any("/dedup/" in p for p in db.files_frame()["path"])


def test_errors_say_what_was_meant(collection, tmp_path):
    root, _ = collection

    def fastdiff(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fastdiff.cli", *args], capture_output=True, text=True, cwd=REPO)

    out = str(tmp_path / "out")
    assert "did you mean 'similar'?" in fastdiff("run", str(root), "-o", out, "--similarity", "simlar").stderr
    assert "did you mean 'threshold'?" in fastdiff("run", str(root), "-o", out, "--config", "treshold=3").stderr
    assert "did you mean '--rotate'?" in fastdiff("run", str(root), "-o", out, "--rotte").stderr
    for proc in (
        fastdiff("run", str(root), "-o", out, "--similarity", "simlar"),
        fastdiff("run", "-o", out, "--config", "treshold=3"),
    ):
        assert "_similarity" not in proc.stderr and "Extra inputs" not in proc.stderr
    from fastdiff import __version__

    assert fastdiff("--version").stdout.strip() == f"fastdiff {__version__}"
    ok = fastdiff("run", str(root), "-o", out, "--config", "threads=1", "px_size=20")
    assert ok.returncode == 0, ok.stderr
    with ResultDB(out) as db:
        assert db.config()["px_size"] == 20 and db.config()["threads"] == 1


def test_pandas_frames(collection, tmp_path):
    root, _ = collection
    out = tmp_path / "out"
    run_fastdiff([root], out, "--similarity", "similar", snakemake=False)
    with ResultDB(out) as db:
        pairs, files, groups = db.pairs_frame(), db.files_frame(), db.groups_frame()
        assert len(pairs) == db.pair_count() > 0
        assert list(pairs.columns[:4]) == ["key_a", "path_a", "key_b", "path_b"]
        assert {"width", "height"} <= set(files.columns) and "px" not in files.columns
        first = db.image(int(files["key"][files["compared"]].iloc[0]))
        row = files.set_index("key").loc[first.key]
        assert (row["width"], row["height"]) == (first.width, first.height)
        lower = json.loads((out / "lower_quality.json").read_text())
        assert sorted(groups.loc[~groups["best_copy"], "path"]) == sorted(lower)
        assert groups.groupby("group")["best_copy"].sum().eq(1).all()
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM matching_pairs").fetchone()[0] == len(pairs)


def test_report_links_the_originals(collection, tmp_path):
    root, _ = collection
    out = tmp_path / "out"
    run_fastdiff([root], out, "--config", "report=true", snakemake=False)
    page = (out / "report" / "page-0001.html").read_text()
    with ResultDB(out) as db:
        kept = db.groups_frame()["path"].iloc[0]
    assert f'href="{Path(kept).as_uri()}"'.replace("&", "&amp;") in page
    index = (out / "report" / "index.html").read_text()
    assert "1 pages" not in index


def test_difpy_quiet_flags_are_quiet(collection, tmp_path):
    root, _ = collection
    proc = subprocess.run(
        [sys.executable, "-m", "fastdiff.difpy.cli", "-D", str(root), "-Z", str(tmp_path), "-p", "False"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout.strip().splitlines()[-1] == f"saved in '{tmp_path}'."
    assert len(proc.stdout.strip().splitlines()) == 5
    api = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fastdiff.difpy import build, search; "
            f"search(build({str(root)!r}, show_progress=False), show_progress=False)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert api.returncode == 0 and api.stdout == "" and api.stderr == "", api.stderr


def test_wheel_runs_from_a_folder_holding_a_clone_named_fastdiff(collection, tmp_path):
    """pip install of a wheel (not editable): the workflow and the compiled INTER_AREA kernel ship in the package; a
    folder named fastdiff in the current folder (the clone) shadows nothing, for the command, the jobs and
    `import fastdiff` in a script."""
    root, _ = collection
    checkout = sorted(p.name for p in REPO.iterdir())
    here = tmp_path / "here"  # the clone: the wheel is built from it, so that the checkout stays as it is
    clone = here / "fastdiff"
    ignore = shutil.ignore_patterns(
        ".git", "results", ".snakemake", "build", "*.egg-info", "__pycache__", ".venv", "_kernels*"
    )  # the kernel too: the wheel must compile its own
    shutil.copytree(REPO, clone, ignore=ignore)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, clone], check=True)
    # A venv that sees this interpreter's dependencies but not its fastdiff (an editable install, a .pth): the folders
    # of sys.path named site-packages, without their .pth files. (`--system-site-packages` would give the base
    # interpreter's folders, which lack the dependencies when this suite itself runs in a venv.)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a checkout on it would look installed to pip
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=env)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", next(wheels.glob("*.whl"))],
        check=True,
        env=env,
    )
    outer = [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    (Path(purelib) / "outer_dependencies.pth").write_text("\n".join(outer) + "\n")  # after pip: it sees no fastdiff
    (here / "script.py").write_text(
        "import fastdiff.core.config, fastdiff.merge.db\n"
        "from fastdiff.thumbnails import area_resize\n"
        "print(fastdiff.core.config.__file__, area_resize._kernel() is not None)"  # the wheel's compiled kernel
    )
    script = subprocess.run([venv / "bin" / "python", "script.py"], cwd=here, env=env, capture_output=True, text=True)
    assert str(venv) in script.stdout and script.stdout.split()[-1] == "True", script.stdout + script.stderr
    for how in ([], ["--snakemake"]):
        proc = subprocess.run(
            [venv / "bin" / "fastdiff", "run", root, "-o", tmp_path / "out", "--cores", "2", *how],
            cwd=here,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "results.json").exists()
    assert sorted(p.name for p in REPO.iterdir()) == checkout  # no build/ or egg-info left in the checkout
