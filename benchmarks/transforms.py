"""Recall per transform with the mirror and grayscale keys, and their compare cost against the default.

    (CORPUS: a labelled corpus of real images with CORPUS/images and CORPUS/ground_truth.json: groups and
    synthetic (base, variant, transform) pairs)
    python benchmarks/transforms.py CORPUS [--similarity similar] [--timing-n 3000] [--out DIR]

For each configuration (default, mirror, grayscale, both) `fastdiff run CORPUS/images --similarity S --no-same-dim`
runs (in process for small corpora), then the matching pairs of the database are checked against the corpus's
ground_truth.json: the share of its synthetic pairs (base, variant, transform) found as a pair, per transform, and the
pairs joining images of different groups (wrong joins). The compare cost is timed on one block of thumbnails
(`fastdiff.compare.blocks.compare_blocks`, in process, best of --repeat): the corpus's own thumbnails, padded with
smooth synthetic images to --timing-n, pruned and brute force, each configuration against the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {
    "default": [],
    "mirror": ["mirror=true"],
    "grayscale": ["grayscale=true"],
    "mirror+grayscale": ["mirror=true", "grayscale=true"],
}


def run(images: Path, out: Path, similarity: str, keys: list[str], cores: int) -> float:
    """One `fastdiff run`; returns its wall seconds."""
    cmd = [sys.executable, "-m", "fastdiff.cli", "run", str(images), "-o", str(out), "--similarity", similarity]
    cmd += ["--no-same-dim", "--cores", str(cores)] + [a for k in keys for a in ("--config", k)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.time()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return time.time() - started


def pairs(out: Path, root: Path) -> set[frozenset[str]]:
    """The matching pairs of a run, as pairs of paths relative to the corpus."""
    con = sqlite3.connect(out / "fastdiff.sqlite")
    rows = con.execute(
        "SELECT a.path, b.path FROM dif_table t JOIN directory a ON a.key = t.key_a JOIN directory b "
        "ON b.key = t.key_b WHERE t.success IN (1, 2)"
    ).fetchall()
    con.close()
    return {frozenset(os.path.relpath(p, root) for p in row) for row in rows}


def recall(truth: dict, found: set[frozenset[str]]) -> tuple[dict[str, tuple[int, int]], int]:
    """Per transform (found, total) of the synthetic pairs, and the number of pairs joining different groups."""
    per: dict[str, list[int]] = {}
    for base, variant, transform in truth["synthetic_pairs"]:
        hit = per.setdefault(transform, [0, 0])
        hit[0] += frozenset((base, variant)) in found
        hit[1] += 1
    nat = per.setdefault("natural", [0, 0])
    for rep, member, *_ in truth["natural_pairs"]:
        nat[0] += frozenset((rep, member)) in found
        nat[1] += 1
    group = {r["file"]: r["group"] for r in truth["images"]}
    wrong = sum(1 for p in found if len({group.get(f) for f in p}) > 1)
    return {k: (v[0], v[1]) for k, v in per.items()}, wrong


def smooth(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Smooth synthetic thumbnails (gradients and a blob), to pad the timing block."""
    y, x = np.mgrid[0:px, 0:px] / px
    out = np.empty((n, px, px, 3), np.uint8)
    for i in range(n):
        base = rng.uniform(0, 255, 3) + rng.uniform(-80, 80, 3) * x[..., None] + rng.uniform(-80, 80, 3) * y[..., None]
        cx, cy, r = rng.uniform(0, 1, 3)
        base += rng.uniform(-60, 60, 3) * (((x - cx) ** 2 + (y - cy) ** 2) < r * r / 4)[..., None]
        out[i] = np.clip(base + rng.normal(0, 3, base.shape), 0, 255)
    return out


def time_compare(work: Path, n: int, threshold: float, mirror: bool, repeat: int) -> dict[str, float]:
    """Best-of-repeat seconds of compare_blocks on one block (the run's thumbnails padded to n), pruned and not."""
    from synthetic import synthetic_batch

    from fastdiff.compare.blocks import compare_blocks
    from fastdiff.core.options import CompareOptions
    from fastdiff.thumbnails.batch import load_block

    block = load_block(sorted(str(p) for p in (work / "thumbs").rglob("*.npz")))
    extra = max(0, n - len(block.keys))
    thumbs = np.concatenate([block.thumbs, smooth(np.random.default_rng(0), extra, block.thumbs.shape[1])])
    m = len(thumbs)
    big = synthetic_batch(thumbs, np.arange(m, dtype=np.int64), height=100, width=100)
    out = {}
    for pruned in (True, False):
        opts = CompareOptions(threshold=threshold, same_dim=False, mirror=mirror, prune=pruned, tile_size=1024)
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            compare_blocks(big, big, dataclasses.replace(opts), same_block=True)
            best = min(best, time.perf_counter() - started)
        out["pruned" if pruned else "brute force"] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a folder written by make_corpus.py (images/, ground_truth.json)")
    parser.add_argument("--similarity", default="similar")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--timing-n", type=int, default=3000, help="images of the timed block (0: no timing)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from fastdiff.core.config import Config

    threshold = Config.threshold_number(
        args.similarity if args.similarity in ("duplicates", "similar") else float(args.similarity)
    )
    truth = json.loads((args.corpus / "ground_truth.json").read_text())
    root = args.corpus.resolve()
    out_root = args.out or Path(tempfile.mkdtemp(prefix="fastdiff-transforms-"))
    results, timings = {}, {}
    for name, keys in CONFIGS.items():
        out = out_root / name
        seconds = run(root / "images", out, args.similarity, keys, args.cores)
        per, wrong = recall(truth, pairs(out, root))
        results[name] = (per, wrong, seconds)
        if args.timing_n and name in ("default", "mirror", "grayscale"):
            timings[name] = time_compare(out / "work", args.timing_n, threshold, "mirror" in name, args.repeat)
    transforms = sorted(
        {t for per, _, _ in results.values() for t in per}, key=lambda t: (t != "hflip", t != "gray", t)
    )
    print(f"corpus {args.corpus} ({len(truth['images'])} images), similarity {args.similarity}, same_dim off\n")
    print("| transform | " + " | ".join(CONFIGS) + " |")
    print("|---|" + "---:|" * len(CONFIGS))
    for t in transforms:
        cells = []
        for name in CONFIGS:
            hit, total = results[name][0].get(t, (0, 0))
            cells.append(f"{hit}/{total} ({100 * hit / max(total, 1):.0f}%)")
        print(f"| {t} | " + " | ".join(cells) + " |")
    print("| pairs joining different groups | " + " | ".join(str(results[n][1]) for n in CONFIGS) + " |")
    print("| run wall seconds | " + " | ".join(f"{results[n][2]:.1f}" for n in CONFIGS) + " |")
    if timings:
        print(
            f"\ncompare_blocks on one block of {args.timing_n} images (corpus thumbnails + smooth padding), best of "
            f"{args.repeat}, MSE <= {threshold:g}:\n"
        )
        print("| compare | " + " | ".join(timings) + " |")
        print("|---|" + "---:|" * len(timings))
        for kind in ("pruned", "brute force"):
            base = timings["default"][kind]
            cells = [f"{timings[n][kind]:.2f} s ({timings[n][kind] / base:.2f}x)" for n in timings]
            print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
