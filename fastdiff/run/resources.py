"""Resource models of the workflow's jobs: the memory (MB) and run time (minutes) each rule declares to Snakemake
(and so to SLURM, where a job over its mem_mb is killed and one over its runtime cancelled).

Each function is pure: `workflow/rules/common.smk` calls it with the sizes it reads from the index. Every retry
(`attempt` 2, 3, ... after a failure, e.g. with `--retries` under SLURM) asks for more. The constants were measured
on the project's reference machine (2 cores, x86-64) as noted beside each.
"""

from __future__ import annotations

import math

from fastdiff.compare import prune
from fastdiff.compare.blocks import CACHE_BYTES
from fastdiff.core.options import CPU_TILE
from fastdiff.thumbnails.decode import DECODE_BYTES_PER_PIXEL

# Index: about 1.1 kB per file (benchmarks/scale.py index: 272 MB for 200k files, 1.17 GB for 1M, 27 s); 4 GB is
# enough for about 3.5M files.
INDEX_MEM_MB = 4000
INDEX_RUNTIME_MIN = 60
# Merge: it streams into SQLite (benchmarks/scale.py merge: 124 MB peak for 1M images and 1M result pairs, 202 MB
# with 5M; the largest single compare output adds 26 bytes per pair).
MERGE_MEM_MB = 2000
# Merge run time: 1.5 to 6 minutes measured for 1M images with 1M to 5M result pairs.
MERGE_IMAGES_PER_MIN = 20_000
# The thumbnail job's own footprint: Python with numpy, OpenCV, Pillow and Wuffs, the shard's records and hashes, and
# the private pages of each forked decoding process (137 MB measured for 970 photos with 2 threads; with 2 decoding
# processes the sum of USS over the job peaked at 345 MB on 72 wallpapers, against 395 MB with threads).
THUMBNAILS_BASE_MB = 400
# Copies of the shard's thumbnails a job holds at once: the decoded list, the stacked array and its checksummed,
# write (fastdiff.thumbnails.batch.save_batch).
BATCH_COPIES = 3
# Thumbnails run time: 5 files/s per thread, a pessimistic figure (38 files/s measured with 2 threads on photos).
FILES_PER_SECOND_PER_THREAD = 5
# Compare: pairs x rotations per second of one job at px_size 50, with a margin of 2.5: 3.8M measured on one CPU
# core (a 4,000 x 4,000 block pair in 17 s, loading included; benchmarks/scale.py compare). The GPU figure is an
# assumption (no GPU on the reference machine): a few percent of a data-centre GPU's TF32 rate.
COMPARE_RATE = {"cpu": 1.5e6, "gpu": 2e8}
# With prune (the default) the bounds leave a few candidates in a thousand pairs on real images: measured (pairs x
# rotations) 3.8e8 per second equivalent on one 10,000-image block and 7e8 on 20,000-image block pairs, the cell
# sums read from the batches (benchmarks/prune.py run, benchmarks/README.md), taken as 1e8: a margin of almost 4 on
# the slower. Data where nothing prunes (low-contrast noise) runs at the brute-force rate: such a job runs out of
# time and is retried with a limit that grows with each attempt.
PRUNED_RATE = {"cpu": 1e8, "gpu": 2e9}
INTERPRETER_MB = 200  # Python, numpy, OpenCV and the job's bookkeeping
START_MIN = 10  # minutes of start-up slack in every run-time estimate


def index_mem_mb(attempt: int) -> int:
    """MB for the index job: INDEX_MEM_MB per attempt."""
    return attempt * INDEX_MEM_MB


def index_runtime(attempt: int) -> int:
    """Minutes for the index job: INDEX_RUNTIME_MIN per attempt."""
    return attempt * INDEX_RUNTIME_MIN


def thumbnails_mem_mb(threads: int, max_pixels: int, shard_size: int, px_size: int, attempt: int) -> int:
    """MB (2**20 bytes) a thumbnail job declares: every decoding core at an image of max_pixels at once, and the
    shard's thumbnails.

    Parameters
    ----------
    threads : int
        Decoding cores of the job (config `threads`).
    max_pixels : int
        The largest image the decoder accepts (config `max_pixels`); larger ones are rejected from their header.
    shard_size : int
        Files per shard (config `shard_size`).
    px_size : int
        Thumbnail side in pixels (config `px_size`).
    attempt : int
        Snakemake's attempt number (1 on the first run).

    Returns
    -------
    int
        ``attempt * (THUMBNAILS_BASE_MB + threads * ceil(max_pixels * DECODE_BYTES_PER_PIXEL / 2**20)
        + ceil(BATCH_COPIES * shard_size * px_size**2 * 3 / 2**20))``; for the defaults (2 threads, 89,478,485
        pixels, 2,500 files, 50 px) 2,502 MB on the first attempt.
    """
    batch = math.ceil(BATCH_COPIES * shard_size * px_size**2 * 3 / 2**20)
    return attempt * (THUMBNAILS_BASE_MB + threads * math.ceil(max_pixels * DECODE_BYTES_PER_PIXEL / 2**20) + batch)


def thumbnails_runtime(shard_size: int, threads: int, attempt: int) -> int:
    """Minutes for a thumbnail job of at most `shard_size` files at FILES_PER_SECOND_PER_THREAD per thread."""
    return attempt * (START_MIN + math.ceil(shard_size / (FILES_PER_SECOND_PER_THREAD * threads) / 60))


def compare_mem_mb(
    n_a: int, n_b: int, px_size: int, rotate: bool, tile_size: int | None, attempt: int = 1, mirror: bool = False
) -> int:
    """MB for a compare job of two blocks of n_a and n_b images: a proven upper bound, and half more per retry.

    The bound adds both blocks (uint8, n * px*px*3 bytes), the cache of prepared tiles of the first block (float32
    rotations plus int64 norms: at most 5 bytes per value, capped by `fastdiff.compare.blocks.CACHE_BYTES`), the
    prepared rotations of one tile of the second block, three float32 products of one tile pair per rotation (the
    product, its accumulator and the filter's comparison), the bounds of the pruned compare
    (`fastdiff.compare.prune.memory_bytes`) and INTERPRETER_MB.

    Parameters
    ----------
    tile_size : int or None
        The tile side; None ('auto') is bounded with the CPU tile (`fastdiff.core.options.CPU_TILE`).
    """
    d = px_size * px_size * 3
    rotations = (4 if rotate else 1) * (2 if mirror else 1)
    tile = tile_size or CPU_TILE
    tile_a, tile_b = min(tile, n_a), min(tile, n_b)
    blocks = (n_a + n_b) * d
    cache = min(5 * d * n_a, CACHE_BYTES + 5 * d * tile_a)
    side_b = rotations * tile_b * d * 5
    products = 3 * rotations * tile_a * tile_b * 4
    pruning = prune.memory_bytes(n_a, n_b, px_size, rotations, tile_a, tile_b)
    bound = int((blocks + cache + side_b + products + pruning) / 2**20) + INTERPRETER_MB
    return bound + (attempt - 1) * bound // 2


def compare_runtime(
    n_a: int,
    n_b: int,
    same_block: bool,
    px_size: int,
    rotate: bool,
    gpu: bool,
    pruned: bool,
    attempt: int,
    mirror: bool = False,
) -> int:
    """Minutes for a compare job: start-up plus its pairs x rotations at PRUNED_RATE (COMPARE_RATE without
    pruning), scaled by px_size^2."""
    pairs = n_a * (n_a - 1) // 2 if same_block else n_a * n_b
    work = pairs * (4 if rotate else 1) * (2 if mirror else 1) * (px_size / 50) ** 2
    rate = (PRUNED_RATE if pruned else COMPARE_RATE)["gpu" if gpu else "cpu"]
    return attempt * (START_MIN + math.ceil(work / rate / 60))


def merge_mem_mb(attempt: int) -> int:
    """MB for the merge job: MERGE_MEM_MB per attempt."""
    return attempt * MERGE_MEM_MB


def merge_runtime(n_batches: int, shard_size: int, attempt: int) -> int:
    """Minutes for the merge job: 30 plus a generous share per image (pairs are unknown before the compare jobs)."""
    return attempt * (30 + math.ceil(n_batches * shard_size / MERGE_IMAGES_PER_MIN))
