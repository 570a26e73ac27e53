"""Shared helpers: run the real workflow in a subprocess, and a brute-force reference to check it against."""

from __future__ import annotations

import inspect
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synth import make_collection

REPO = Path(__file__).resolve().parents[1]


def run_fastdiff(
    dirs: list[Path],
    out: Path,
    *args: str,
    cores: int = 2,
    check: bool = True,
    env_pythonpath: bool = False,
    snakemake: bool = True,
) -> subprocess.CompletedProcess:
    """`fastdiff run DIRS -o OUT ARGS` as a user runs it; fails the test with snakemake's output on error.

    env_pythonpath puts tests/ on PYTHONPATH, so user functions defined there can be imported by the jobs.
    snakemake: through Snakemake with its output shown (--snakemake -v), which most tests check; else as a user runs
    it by default (small runs in process, the short screen).
    """
    how = ["--snakemake", "-v"] if snakemake else []
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", *map(str, dirs), "-o", str(out), "--cores", str(cores), *how]
    cmd += args
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)} if env_pythonpath else None
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    if check and proc.returncode != 0:
        pytest.fail(f"fastdiff run failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def dif_rows(out: Path) -> dict[tuple[int, int], float]:
    """(key_a, key_b) -> dif of the workflow's dif_table."""
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        return {(a, b): d for a, b, d in con.execute("SELECT key_a, key_b, dif FROM dif_table")}


def path_pairs(out: Path) -> dict[tuple[str, str], float]:
    """dif_table keyed by paths (keys depend on nothing but the file set, paths not even on that)."""
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        return {
            (a, b): d
            for a, b, d in con.execute(
                "SELECT a.path, b.path, dif FROM dif_table JOIN directory a ON a.key = key_a "
                "JOIN directory b ON b.key = key_b"
            )
        }


def brute_force(out: Path, threshold: float, rotate: bool, same_dim: bool) -> dict[tuple[int, int], float]:
    """Every pair, straightforward numpy over the workflow's thumbnails: true MSE in float64, min over rotations.

    It reads the thumbnail batches with np.load and the partitions from the database, and shares no code
    with the compare stage.
    """
    keys, thumbs, dims = [], [], []
    order = np.load(out / "work" / "index" / "order.npy")  # the batches' keys -> the database's
    for f in sorted((out / "work" / "thumbs").glob("*.npz")):
        z = np.load(f)
        keys += order[z["keys"]].tolist()
        thumbs.append(z["thumbs"])
        dims += [tuple(sorted(hw)) for hw in zip(z["height"].tolist(), z["width"].tolist())]
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        part_b = dict(con.execute("SELECT key, part_b FROM directory"))
    t = np.concatenate(thumbs).astype(np.float64)
    two_partitions = any(part_b.values())
    found = {}
    for i in range(len(keys)):
        for j in range(len(keys)):
            a, b = keys[i], keys[j]
            if two_partitions and not (part_b[a] == 0 and part_b[b] == 1):
                continue
            if not two_partitions and not a < b:
                continue
            if same_dim and dims[i] != dims[j]:
                continue
            mse = min(np.mean((t[i] - np.rot90(t[j], k)) ** 2) for k in (range(4) if rotate else [0]))
            if mse <= threshold:
                found[(min(a, b), max(a, b))] = float(mse)
    return found


@pytest.fixture(scope="session")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The synthetic collection with planted copies (shared, read-only)."""
    root = tmp_path_factory.mktemp("collection")
    planted = make_collection(root, n_base=40, seed=0)
    return root, planted


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


# A test is slow when it, or a fixture it uses, starts a process (a run of the workflow, Snakemake, difPy, a venv) or
# runs the workflow in this process: `pytest -m "not slow"` runs the rest, the unit tests, in under a minute.
_RUNS_SOMETHING = re.compile(
    r"\b(run_fastdiff|subprocess|Popen|run_workflow|run_here|search\(|snakemake|difpy_runner|sbatch)\b"
)


def _starts_a_process(item: pytest.Item) -> bool:
    """Whether the test, a fixture it uses or a function of its module it calls mentions a way to start a process."""
    functions = [getattr(item, "function", None)]
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is not None:
        functions += [d.func for name in fixtures.names_closure for d in fixtures.name2fixturedefs.get(name, ())]
    module = getattr(item, "module", None)
    for fn in list(functions):
        try:
            called = set(re.findall(r"\b(\w+)\(", inspect.getsource(fn))) if fn is not None else set()
        except (OSError, TypeError):
            continue
        functions += [getattr(module, name) for name in called if inspect.isfunction(getattr(module, name, None))]
    for fn in functions:
        try:
            if fn is not None and _RUNS_SOMETHING.search(inspect.getsource(fn)):
                return True
        except (OSError, TypeError):
            continue
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as slow each test that starts a process or runs the workflow (unless already marked)."""
    for item in items:
        if item.get_closest_marker("slow") is None and _starts_a_process(item):
            item.add_marker(pytest.mark.slow)
