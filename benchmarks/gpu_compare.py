"""Compare-only GPU benchmark: synthetic 50x50 thumbnails, all pairs, rotations on, resident on the device.

    python benchmarks/gpu_compare.py --n 100000 --n 300000 --n 1000000 [--block 65536] [--tile 8192]

Prints, per N: pairs, seconds, pairs/s, the fraction of the device's measured matrix-product rate (TF32, the
filter's arithmetic), and the bytes moved host->device and device->host. Needs CuPy and an NVIDIA GPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from synthetic import synthetic_batch

from fastdiff.compare.blocks import compare_blocks
from fastdiff.core.device import array_module
from fastdiff.core.options import CompareOptions
from fastdiff.thumbnails.batch import Batch


def sync(xp) -> None:
    """Wait for the device (no-op on the CPU)."""
    if xp is not np:
        xp.cuda.Device().synchronize()


def gemm_rate(cp, d: int, tile: int) -> float:
    """Best of 3: float32 (TF32) FLOP/s of one tile x 4*tile product with k = d, as the kernel runs it."""
    rng = cp.random.default_rng(0)
    a = rng.standard_normal((tile, d), dtype=cp.float32)
    b = rng.standard_normal((4 * tile, d), dtype=cp.float32)
    best = float("inf")
    for _ in range(3):
        sync(cp)
        start = time.perf_counter()
        (a @ b.T).sum()
        sync(cp)
        best = min(best, time.perf_counter() - start)
    return 2.0 * tile * 4 * tile * d / best


def synthetic_block(cp, start: int, n: int, px: int, seed: int) -> Batch:
    """Random thumbnails made on the device (no host transfer); every 1000th is a near-copy of its predecessor."""
    rng = cp.random.default_rng(seed)
    thumbs = rng.integers(0, 256, (n, px, px, 3), dtype=cp.uint8)
    thumbs[1::1000] = thumbs[0::1000][: len(thumbs[1::1000])] ^ 1
    return synthetic_batch(thumbs, np.arange(start, start + n, dtype=np.int64))


def run(cp, n: int, block: int, px: int, tile: int, rate: float) -> None:
    blocks = [synthetic_block(cp, s, min(block, n - s), px, s) for s in range(0, n, block)]
    opts = CompareOptions(threshold=5.0, rotate=True, same_dim=False, tile_size=tile)
    d2h = 0
    found = 0
    sync(cp)
    start = time.perf_counter()
    for i, a in enumerate(blocks):
        for j in range(i, len(blocks)):
            pairs = compare_blocks(a, blocks[j], opts, same_block=i == j, xp=cp)
            found += len(pairs)
            d2h += sum(getattr(pairs, f).nbytes for f in ("key_a", "key_b", "mse", "rotation", "kind"))
    seconds = time.perf_counter() - start
    total = n * (n - 1) // 2
    d = px * px * 3
    bound = rate / (2 * d * 4)
    print(
        f"| {n:>9,} | {total:>18,} | {seconds:>9.1f} | {total / seconds:>13.3e} | {total / seconds / bound:>6.1%} "
        f"| 0 (made on device) | {d2h:,} | {found:,} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="number of images (repeatable)")
    parser.add_argument("--block", type=int, default=65536)
    parser.add_argument("--tile", type=int, default=8192)
    parser.add_argument("--px", type=int, default=50)
    parser.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="cpu: check the script on numpy")
    args = parser.parse_args()
    cp = array_module(args.device)
    rate = gemm_rate(cp, args.px * args.px * 3, args.tile)
    print(
        f"device matrix-product rate: {rate / 1e12:.1f} TFLOP/s -> bound {rate / (2 * args.px**2 * 3 * 4):.3e} "
        f"pairs/s with 4 rotations"
    )
    print("| N | pairs | seconds | pairs/s | of bound | host->device bytes | device->host bytes | matches |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n or [100_000]:
        run(cp, n, args.block, args.px, args.tile, rate)


if __name__ == "__main__":
    main()
