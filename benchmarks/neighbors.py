#!/usr/bin/env python
"""Exact k nearest neighbours (config key `neighbors`) against a threshold run on the same images.

    python benchmarks/neighbors.py DIR [--k 5] [--threshold 5] [--crops 2000]

1. Whole runs: `fastdiff run DIR` with the threshold, then the same with `neighbors: k` (both from scratch, in
   this machine's default way: in process for small folders), wall seconds.
2. Compare stage alone, on the thumbnails of that run (one block with itself, as a run of a few thousand images
   has): the pruned threshold compare (`fastdiff.compare.blocks.compare_blocks`), the same without pruning (prune:
   false) and the k-NN search (`fastdiff.compare.neighbors.block_neighbors`), with the size rules of the run (same_dim)
   and without them (every pair admissible: the hardest case), alternating the order; wall and CPU seconds (on a
   shared machine the CPU figure is the steadier).
3. With --crops N: the same on N thumbnails cut from the photographs under DIR at random positions and scales
   (`benchmarks/prune.py`'s realistic set: unrelated crops, so the 5th neighbour is far, MSE ~2700).

The k-NN rows are checked against the search without pruning (prune: false) on the stage's sets.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from prune import batch as crop_batch  # noqa: E402
from prune import realistic  # noqa: E402

from fastdiff.compare.blocks import compare_blocks  # noqa: E402
from fastdiff.compare.neighbors import block_neighbors  # noqa: E402
from fastdiff.core.options import CompareOptions  # noqa: E402
from fastdiff.thumbnails.batch import Batch, load_block  # noqa: E402


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def whole_run(folder: Path, out: Path, config: list[str], cores: int) -> float:
    """Wall seconds of `fastdiff run folder -o out --config ...` from scratch."""
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(folder), "-o", str(out), "--cores", str(cores)]
    start = time.perf_counter()
    subprocess.run([*cmd, "--config", *config], check=True, cwd=REPO, capture_output=True)
    return time.perf_counter() - start


def stage(block: Batch, opts: CompareOptions, repeat: int) -> dict[str, float]:
    """Seconds of the threshold compare and of the k-NN search of one block with itself (mean of `repeat` rounds,
    alternating which goes first); the k-NN result checked against the search without pruning."""
    out = dict.fromkeys(("threshold", "threshold cpu", "brute", "brute cpu", "knn", "knn cpu"), 0.0)
    methods: dict[str, Callable[[], object]] = {
        "threshold": lambda: compare_blocks(block, block, opts, True),
        "brute": lambda: compare_blocks(block, block, dataclasses.replace(opts, prune=False), True),
        "knn": lambda: block_neighbors(block, block, opts, True),
    }
    names = list(methods)
    for r in range(repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu, result = timed(methods[name])
            out[name] += wall / repeat
            out[name + " cpu"] += cpu / repeat
            if name == "knn":
                found = result
    reference = block_neighbors(block, block, dataclasses.replace(opts, prune=False), True)
    out["identical"] = all(np.array_equal(getattr(found, f), getattr(reference, f)) for f in ("key", "neighbor", "mse"))
    out["images"] = len(block.keys)
    return out


def row(name: str, m: dict[str, float]) -> str:
    return (
        f"| {name} | {m['images']} | {m['threshold']:.2f} ({m['threshold cpu']:.2f}) | {m['brute']:.2f} "
        f"({m['brute cpu']:.2f}) | {m['knn']:.2f} ({m['knn cpu']:.2f}) | {m['knn'] / m['threshold']:.1f} "
        f"({m['knn cpu'] / m['threshold cpu']:.1f}) | {m['knn'] / m['brute']:.2f} "
        f"({m['knn cpu'] / m['brute cpu']:.2f}) | {m['identical']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a folder of real images")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=5.0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--crops", type=int, default=0, help="also N thumbnails cut from the folder's photographs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, knn = Path(tmp) / "threshold", Path(tmp) / "knn"
        base = [f"threshold={args.threshold}"]
        t_plain = whole_run(args.folder, plain, base, args.cores)
        t_knn = whole_run(args.folder, knn, [*base, f"neighbors={args.k}"], args.cores)
        ratio = t_knn / t_plain
        print(f"whole runs of {args.folder}: threshold {t_plain:.1f} s, k-NN (k={args.k}) {t_knn:.1f} s, ", end="")
        print(f"ratio {ratio:.2f} (wall)\n")
        block = load_block([str(p) for p in sorted((plain / "work" / "thumbs").glob("*.npz"))])
    opts = CompareOptions(threshold=args.threshold, neighbors=args.k)
    print(
        "| set | images | threshold s (CPU) | threshold, no pruning s (CPU) | k-NN s (CPU) | k-NN / threshold (CPU) "
        "| k-NN / no pruning (CPU) | k-NN = k-NN without pruning |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(row("run's thumbnails, same_dim", stage(block, opts, args.repeat)))
    any_size = dataclasses.replace(opts, same_dim=False)
    print(row("run's thumbnails, any size", stage(block, any_size, args.repeat)))
    if args.crops:
        thumbs = realistic(args.crops, block.thumbs.shape[1], 0, args.folder)
        crops = crop_batch(thumbs, np.arange(args.crops, dtype=np.int64))
        print(row(f"{args.crops} crops, any size", stage(crops, any_size, args.repeat)))


if __name__ == "__main__":
    main()
