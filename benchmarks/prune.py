#!/usr/bin/env python
"""Pruned compare (fastdiff.compare.prune) against brute force (prune: false), on sets with real-image statistics.

    python benchmarks/prune.py run --images 10000 100000      # the table: pruned vs brute force, 10^6 extrapolated
    python benchmarks/prune.py grid --images 5000             # survivors of the grid bound per grid size

Sets (cached as .npy in --cache):
* realistic: random crops at random scales (5-100% of the shorter side, any position, aspect 1:2 to 2:1) of the
  real photographs under --sources (any folder of photos), squashed to px x px like a thumbnail; 2% are planted
  copies of an earlier crop: a JPEG re-save (quality 60-95), a rotation by 90/180/270 degrees, or a brightness shift
  of -3..3 grey levels.
* adversarial: low-contrast noise around one grey level (128 + uniform -3..3, MSE about 8 between two images): every
  bound is far below the threshold, nothing can be pruned, the cost of the bounds is pure overhead.

A set larger than --full-max images is measured on --sample random block pairs of --block images each (20,000: the
workflow's blocks, `fastdiff.index.layout.AUTO_MIN_BLOCK_IMAGES`; the block pairs of a run are unrelated to the content,
so any block pair is representative): the pruned time per pair of those extrapolates to the whole set and to 10^6
images. Brute force on a 20,000 x 20,000 block pair takes minutes, so the ratio, the brute-force columns and
"identical" come from both methods on the first --check-block images of each block of the sampled pairs. Both
methods run in this process on the same blocks, alternating which goes first (--repeat rounds); "identical"
compares every pair, MSE (float64, bit for bit), rotation and kind. Seconds are wall time, CPU seconds in brackets
(the extrapolations too: on a shared machine the CPU figure is the steadier). The blocks carry the cell sums the
thumbnail stage stores with each batch (`fastdiff.compare.prune.image_cells`, computed before the clock starts), as a
compare job reads them.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from synthetic import synthetic_batch  # noqa: E402

from fastdiff.compare.blocks import compare_blocks  # noqa: E402
from fastdiff.compare.pairs import Pairs  # noqa: E402
from fastdiff.core.cells import cell_sums, grid_cuts, image_cells  # noqa: E402
from fastdiff.core.options import CompareOptions  # noqa: E402
from fastdiff.thumbnails.batch import Batch  # noqa: E402

PLANTED = 0.02


def _sources(root: Path, side: int = 768) -> list[Image.Image]:
    """The photographs under root, downscaled to at most `side` pixels (crops at any scale stay cheap)."""
    images = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tiff"}:
            continue
        try:
            im = Image.open(path).convert("RGB")
        except OSError:
            continue
        im.thumbnail((side, side))
        if min(im.size) >= 64:
            images.append(im)
    return images


def _jpeg(thumb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(thumb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def realistic(n: int, px: int, seed: int, root: Path) -> np.ndarray:
    """uint8 (n, px, px, 3): random crops of real photographs, with planted copies (module docstring)."""
    rng = np.random.default_rng(seed)
    images = _sources(root)
    out = np.empty((n, px, px, 3), np.uint8)
    for i in range(n):
        if i > 10 and rng.random() < PLANTED:
            src = out[rng.integers(0, i)]
            kind = rng.integers(0, 3)
            if kind == 0:
                out[i] = _jpeg(src, int(rng.integers(60, 96)))
            elif kind == 1:
                out[i] = np.rot90(src, int(rng.integers(1, 4)))
            else:
                out[i] = np.clip(src.astype(int) + int(rng.integers(-3, 4)), 0, 255)
            continue
        im = images[rng.integers(0, len(images))]
        w, h = im.size
        scale = rng.uniform(0.05, 1.0) * min(w, h)
        aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        cw, ch = max(4, min(w, int(scale * aspect**0.5))), max(4, min(h, int(scale / aspect**0.5)))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        out[i] = np.asarray(im.crop((x, y, x + cw, y + ch)).resize((px, px), Image.BILINEAR))
    return out


def adversarial(n: int, px: int, seed: int) -> np.ndarray:
    """uint8 (n, px, px, 3): 128 + uniform integer noise in -3..3 (module docstring)."""
    rng = np.random.default_rng(seed)
    return (128 + rng.integers(-3, 4, (n, px, px, 3))).astype(np.uint8)


def load_set(name: str, n: int, px: int, cache: Path, root: Path) -> np.ndarray:
    path = cache / f"{name}-{n}-{px}.npy"
    if path.exists():
        return np.load(path)
    thumbs = realistic(n, px, 0, root) if name == "realistic" else adversarial(n, px, 0)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, thumbs)
    return thumbs


def batch(thumbs: np.ndarray, keys: np.ndarray) -> Batch:
    """A block as a compare job loads it: with the cell sums that the thumbnail stage stores (not timed)."""
    return synthetic_batch(thumbs, keys, height=100, width=100, cells=image_cells(thumbs))


def _rows(p: Pairs) -> list[tuple]:
    return list(zip(p.key_a.tolist(), p.key_b.tolist(), p.mse.tolist(), p.rotation.tolist(), p.kind.tolist()))


class CountsLog:
    """Catches the pruned compare's log line (candidates per bound)."""

    def __init__(self) -> None:
        import logging

        self.lines: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: self.lines.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("fastdiff.compare").addHandler(handler)
        logging.getLogger("fastdiff.compare").setLevel(logging.INFO)

    def take(self) -> str:
        found = [line for line in self.lines if line.startswith("pruned compare")]
        self.lines.clear()
        return found[-1] if found else ""


def _candidates(line: str) -> tuple[int, int, int]:
    """(band, channel means, grid) candidates from the log line of fastdiff.compare.prune.Counts.line."""
    found = (re.search(rf"(\d+) {words}", line) for words in ("in row strips", "after the channel", "after the grid"))
    return tuple(int(m.group(1)) if m else 0 for m in found)


def measure(
    thumbs: np.ndarray,
    blocks: list[tuple[slice, slice]],
    opts: CompareOptions,
    catch: CountsLog,
    methods: tuple[str, ...] = ("pruned", "brute"),
    repeat: int = 1,
) -> dict:
    """The methods on the block pairs, `repeat` times alternating which goes first: seconds and CPU seconds (per
    round), pairs, candidates, identical."""
    out = {"pairs": 0, "band": 0, "channels": 0, "grid": 0, "matches": 0, "identical": True}
    out.update(dict.fromkeys(methods, 0.0) | dict.fromkeys([m + " cpu" for m in methods], 0.0))
    keys = np.arange(len(thumbs), dtype=np.int64)
    for sa, sb in blocks:
        same = sa == sb
        a = batch(np.ascontiguousarray(thumbs[sa]), keys[sa])
        b = a if same else batch(np.ascontiguousarray(thumbs[sb]), keys[sb])
        results = {}
        for r in range(repeat):
            for method in methods if r % 2 == 0 else methods[::-1]:
                start, cpu = time.perf_counter(), time.process_time()
                options = CompareOptions(**{**opts.__dict__, "prune": method == "pruned"})
                results[method] = compare_blocks(a, b, options, same)
                out[method] += (time.perf_counter() - start) / repeat
                out[method + " cpu"] += (time.process_time() - cpu) / repeat
                if method == "pruned":
                    counts = _candidates(catch.take())
        for name, count in zip(("band", "channels", "grid"), counts):
            out[name] += count
        out["pairs"] += len(a.keys) * (len(a.keys) - 1) // 2 if same else len(a.keys) * len(b.keys)
        out["matches"] += len(results["pruned"])
        if "brute" in methods:
            out["identical"] &= _rows(results["pruned"]) == _rows(results["brute"])
    return out


def cmd_run(args: argparse.Namespace) -> None:
    catch = CountsLog()
    opts = CompareOptions(threshold=args.threshold, same_dim=False, rotate=True)
    print(
        "| set | images | block pairs measured | pairs | brute s (CPU) | pruned s (CPU) | brute pairs/s "
        "| pruned pairs/s eq. | band keeps | channels keep | grid keeps | matches | ratio | identical "
        "| whole set pruned (extrap.) | 10^6 images pruned (extrap.) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    for name in args.sets:
        for n in args.images:
            if n > args.full_max and name not in args.sampled_sets:
                continue
            thumbs = load_set(name, n, args.px, args.cache, args.sources)
            if n <= args.full_max:
                blocks, label = [(slice(0, n), slice(0, n))], "all (1 block)"
                r = check = measure(thumbs, blocks, opts, catch, repeat=args.repeat)
            else:
                starts = rng.choice(n // args.block, size=(args.sample, 2), replace=True) * args.block
                blocks = [(slice(i, i + args.block), slice(j, j + args.block)) for i, j in starts]
                r = measure(thumbs, blocks, opts, catch, ("pruned",))
                small = [
                    (slice(a.start, a.start + args.check_block), slice(b.start, b.start + args.check_block))
                    for a, b in blocks
                ]
                check = measure(thumbs, small, opts, catch, repeat=args.repeat)
                label = f"{args.sample} of {args.block}x{args.block} (check: {args.check_block}x{args.check_block})"
            per_pair, per_pair_cpu = r["pruned"] / r["pairs"], r["pruned cpu"] / r["pairs"]
            ratio, ratio_cpu = check["brute"] / check["pruned"], check["brute cpu"] / check["pruned cpu"]
            million, million_cpu = (x * 10**6 * (10**6 - 1) / 2 for x in (per_pair, per_pair_cpu))
            print(
                f"| {name} | {n:,} | {label} | {r['pairs']:,} | {check['brute']:.1f} ({check['brute cpu']:.1f}) "
                f"| {r['pruned']:.2f} ({r['pruned cpu']:.2f}) "
                f"| {check['pairs'] / check['brute']:.3g} | {r['pairs'] / r['pruned']:.3g} "
                f"| {r['band'] / r['pairs']:.3%} | {r['channels'] / r['pairs']:.3%} | {r['grid'] / r['pairs']:.4%} "
                f"| {r['matches']} | {ratio:.2f}x (CPU {ratio_cpu:.2f}x) | {'yes' if check['identical'] else 'NO'} "
                f"| {per_pair * n * (n - 1) / 2:.0f} s | {million / 3600:.2f} h (CPU {million_cpu / 3600:.2f} h) |",
                flush=True,
            )


def cmd_grid(args: argparse.Namespace) -> None:
    """Fraction of pairs the band and each grid size keep (min over rotations), and the bound's time per pair."""
    thumbs = load_set("realistic", args.images[0], args.px, args.cache, args.sources)
    n, d = len(thumbs), thumbs[0].size
    upper = np.triu(np.ones((n, n), bool), 1)
    print("| grid | cells | keeps | s per 10^6 pairs |\n|---|---|---|---|")
    for g in args.grids:
        cuts = grid_cuts(args.px, g)
        sizes = np.diff(cuts)
        w = np.repeat((1.0 / np.outer(sizes, sizes))[:, :, None], 3, axis=2).reshape(-1)
        cells = cell_sums(np, thumbs, cuts)
        a = cells.reshape(n, -1)
        start = time.perf_counter()
        bound = np.full((n, n), np.inf)
        for k in range(4):
            b = np.rot90(cells, k, axes=(1, 2)).reshape(n, -1)
            bound = np.minimum(bound, ((a * a) @ w)[:, None] + ((b * b) @ w)[None, :] - 2 * (a * w) @ b.T)
        seconds = time.perf_counter() - start
        keeps = ((bound <= args.threshold * d) & upper).sum() / upper.sum()
        print(f"| {len(sizes)}x{len(sizes)} | {w.size} | {keeps:.4%} | {seconds / (n * n) * 1e6:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fastdiff-prune-sets"))
    parser.add_argument("--sources", type=Path, required=True, help="a folder of real photographs")
    parser.add_argument("--px", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=5.0)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--sets", nargs="+", default=["realistic", "adversarial"])
    p.add_argument("--full-max", type=int, default=12_000, help="largest set compared whole (one block)")
    p.add_argument("--block", type=int, default=20_000, help="images per block of a sampled set")
    p.add_argument("--check-block", type=int, default=4000, help="images per block of the brute-force check")
    p.add_argument("--sample", type=int, default=2)
    p.add_argument(
        "--sampled-sets",
        nargs="+",
        default=["realistic"],
        help="sets measured above --full-max (adversarial: brute-force speed, minutes per block pair)",
    )
    p.add_argument("--repeat", type=int, default=1, help="rounds of both methods on each block pair checked")
    p = sub.add_parser("grid")
    p.add_argument("--images", type=int, nargs=1, default=[5000])
    p.add_argument("--grids", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10])
    args = parser.parse_args()
    {"run": cmd_run, "grid": cmd_grid}[args.cmd](args)


if __name__ == "__main__":
    main()
