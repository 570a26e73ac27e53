#!/usr/bin/env python
"""Wall and CPU time of `fastdiff run` against difPy 4.2.1 on folders of 20, 200 and 2,000 images, in one run.

    python benchmarks/small_folders.py                           # folders of 20, 200, 2,000 images in /tmp
    python benchmarks/small_folders.py --sizes 20 200 --repeat 5
    python benchmarks/small_folders.py --dirs DIR [DIR ...]      # your own folders

Both tools run as a user runs them: a fresh interpreter per run, default settings, difPy's `processes` and
fastdiff's `--cores` set alike, the same images. Each time is the whole process (start-up, imports, work, exit):
wall seconds, and CPU seconds (user + system of the process and every process it started and waited for: difPy's
pool, fastdiff's Snakemake jobs). Before timing, each tool runs once untimed on each folder (files in the page cache,
bytecode compiled, as for any installed package); then the runs alternate difPy, fastdiff, fastdiff, difPy, ... so
that a busy machine slows both alike. The table gives the best of --repeat runs (the median in brackets). A fresh
output folder per fastdiff run: nothing is reused.

The folders are tests/synth.py collections (photo-like images in .jpg/.png/.webp/.bmp, nested folders, odd names,
planted duplicates and rotations), made once under --root and kept.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIFPY = (
    "import difPy, sys; d = difPy.build(sys.argv[1], show_progress=False, processes={p}); "
    "difPy.search(d, show_progress=False, processes={p})"
)


def make_folder(root: Path, files: int) -> Path:
    """A tests/synth.py collection of about `files` images under root/images-FILES (made once)."""
    folder = root / f"images-{files}"
    done = root / f"images-{files}.complete"
    if not done.exists():
        sys.path.insert(0, str(REPO / "tests"))
        from synth import KINDS, make_collection

        def total(n: int) -> int:
            return n + min(n, len(KINDS) * max(1, n // 20))

        n_base = min(range(1, files + 1), key=lambda n: (abs(total(n) - files), n))
        shutil.rmtree(folder, ignore_errors=True)
        make_collection(folder, n_base=n_base)
        done.touch()
    return folder


def count_files(folder: str | Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_folder(
    folder: str | Path, cores: str, repeat: int, env: dict[str, str]
) -> dict[str, list[tuple[float, float]]]:
    """tool -> [(wall, CPU)] of `repeat` runs on folder, after one untimed run of each; runs alternate."""
    difpy = [sys.executable, "-c", DIFPY.format(p=cores), str(folder)]
    out = Path(tempfile.mkdtemp(prefix="fastdiff-bench-"))
    fastdiff = [sys.executable, "-m", "fastdiff.cli", "run", str(folder), "-o", str(out), "--cores", cores]
    commands = {"difpy": difpy, "fastdiff": fastdiff}
    runs: dict[str, list[tuple[float, float]]] = {"difpy": [], "fastdiff": []}
    for i in range(repeat + 1):
        for tool in ("difpy", "fastdiff") if i % 2 == 0 else ("fastdiff", "difpy"):
            shutil.rmtree(out, ignore_errors=True)  # a fresh output folder: nothing reused
            took = timed(commands[tool], env)
            if i:  # run 0: page cache, bytecode
                runs[tool].append(took)
    shutil.rmtree(out, ignore_errors=True)
    return runs


def cell(runs: list[tuple[float, float]], k: int) -> str:
    """Best (median) of the runs' wall (k 0) or CPU (k 1) seconds."""
    values = [r[k] for r in runs]
    return f"{min(values):.2f} ({statistics.median(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000], help="images per made folder")
    ap.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "fastdiff-small-folders")
    ap.add_argument("--dirs", nargs="+", help="time these folders instead of made ones")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folders = args.dirs or [make_folder(args.root, n) for n in args.sizes]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode cached
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    p = str(args.cores)
    print(f"{sys.executable}, {os.cpu_count()} CPUs, --cores / processes {p}, best of {args.repeat} (median)")
    print()
    print("| images | difPy 4.2.1 wall (s) | fastdiff wall (s) | fastdiff / difPy | difPy CPU (s) | fastdiff CPU (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for folder in folders:
        runs = time_folder(folder, p, args.repeat, env)
        ratio = min(w for w, _ in runs["fastdiff"]) / min(w for w, _ in runs["difpy"])
        print(
            f"| {count_files(folder):,} | {cell(runs['difpy'], 0)} | {cell(runs['fastdiff'], 0)} | {ratio:.2f} "
            f"| {cell(runs['difpy'], 1)} | {cell(runs['fastdiff'], 1)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
