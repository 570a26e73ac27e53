#!/usr/bin/env python
"""Wall time of `fastdiff run` against difPy 4.2.1 on small folders, one run per tool and folder, in one process.

    python benchmarks/small_folders.py DIR [DIR ...] [--cores 2] [--repeat 3]

Each command runs as a user runs it (a fresh interpreter, default settings, `processes`/`--cores` set alike); the
table gives the files in each folder, the best of --repeat wall times, and the ratio. A fresh output folder per
fastdiff run: nothing is reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

DIFPY = (
    "import difPy, sys; d = difPy.build(sys.argv[1], show_progress=False, processes={p}); "
    "difPy.search(d, show_progress=False, processes={p})"
)


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| files | difPy 4.2.1 (s) | fastdiff run (s) | fastdiff / difPy |")
    print("|---:|---:|---:|---:|")
    for d in args.dirs:
        files = sum(len(f) for _, _, f in os.walk(d))
        difpy = min(wall([sys.executable, "-c", DIFPY.format(p=args.cores), d]) for _ in range(args.repeat))
        times = []
        for _ in range(args.repeat):
            out = tempfile.mkdtemp(prefix="fastdiff-bench-")
            times.append(wall([sys.executable, "-m", "fastdiff.cli", "run", d, "-o", out, "--cores", str(args.cores)]))
            shutil.rmtree(out)
        print(f"| {files:,} | {difpy:.2f} | {min(times):.2f} | {min(times) / difpy:.2f} |", flush=True)


if __name__ == "__main__":
    main()
