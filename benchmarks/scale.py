#!/usr/bin/env python
"""Scale measurements behind the cluster defaults: Snakemake's DAG overhead and the peak memory of each job.

    python benchmarks/scale.py dag --jobs 10000 30000 100000    # dry run of the index -> ... -> merge DAG
    python benchmarks/scale.py compare --images 100000 --pairs 0_0 0_1 12_13 24_24   # compare jobs, synthetic thumbs
    python benchmarks/scale.py merge --images 1000000 --pairs 1000000 5000000        # merge of synthetic outputs
    python benchmarks/scale.py index --files 200000             # index job over empty files
    python benchmarks/scale.py thumbnails DIR                   # one thumbnail job over the images of DIR
    python benchmarks/scale.py e2e --sources DIR [DIR ...] --images 60000 [--size 160] [--similarity similar]
           [--cores 2] [--keep] [--tmp PATH]                   # `fastdiff run` over crops of real images, per stage

Every figure comes from real processes: `snakemake` runs of this checkout's workflow (dag, compare, thumbnails),
the stage functions in a subprocess (merge, index) or `fastdiff run` itself (e2e). Peak RSS is each process's own
ru_maxrss, recorded when it exits by benchmarks/rsshook/sitecustomize.py (jobs included; e2e samples the process tree
instead). Work files go to --tmp (default: a temporary folder, removed afterwards). Results are printed as Markdown
table rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmark import run_measured  # noqa: E402
from synthetic import synthetic_batch  # noqa: E402

from fastdiff.compare.pairs import Pairs, save_pairs  # noqa: E402
from fastdiff.core.config import load_config  # noqa: E402
from fastdiff.index.layout import AUTO_MIN_BLOCK_IMAGES  # noqa: E402
from fastdiff.index.scan import version_path  # noqa: E402
from fastdiff.run.resources import compare_mem_mb  # noqa: E402
from fastdiff.run.runner import default_config  # noqa: E402
from fastdiff.thumbnails.batch import save_batch  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# running and measuring


def _env(rss_log: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FASTDIFF_RSS_LOG": str(rss_log),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE / "rsshook"), str(REPO), os.environ.get("PYTHONPATH")])),
    }


def _run(cmd: list[str], rss_log: Path, log: Path) -> tuple[float, int]:
    """Run cmd with the RSS hook; return (wall seconds, return code)."""
    start = time.time()
    with open(log, "w") as fh:
        code = subprocess.call(cmd, cwd=REPO, env=_env(rss_log), stdout=fh, stderr=subprocess.STDOUT)
    return time.time() - start, code


def _records(rss_log: Path) -> list[dict]:
    if not rss_log.exists():
        return []
    return [json.loads(line) for line in rss_log.read_text().splitlines() if line.strip()]


def _job_records(rss_log: Path, rule: str) -> list[dict]:
    """The RSS records of the job scripts of one rule (Snakemake runs `python .snakemake/scripts/tmpX.RULE.py`)."""
    return [r for r in _records(rss_log) if r["argv"] and r["argv"][0].endswith(f".{rule}.py")]


def _main_record(rss_log: Path) -> dict:
    """The record of the Snakemake process itself (the largest one run as `-m snakemake`)."""
    main = [r for r in _records(rss_log) if "--snakefile" in r["argv"]]
    return max(main, key=lambda r: r["maxrss_mb"]) if main else {"maxrss_mb": float("nan"), "seconds": float("nan")}


def _config(base: Path, **keys: object) -> Path:
    raw = default_config()  # the workflow config.yaml that ships in the package
    images = base / "images"
    images.mkdir(parents=True, exist_ok=True)
    raw.update({"part_a": [str(images)], "output_dir": str(base / "out")}, **keys)
    load_config(raw)
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _snakemake(base: Path, config: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(base / "out" / "work"),
        "--configfile",
        str(config),
        "--forcerun",
        "--cores",
        "2",  # (an empty --forcerun: keep the fake index, do not rescan)
        "--workflow-profile",
        str(REPO / "profiles" / "default"),
        *extra,
    ]


def shard_name(s: int) -> str:
    return f"{s:05d}-000000000000"


def block_name(b: int) -> str:
    return f"{b:012x}"


def _write_index(
    work: Path, shard_sizes: list[int], blocks: list[list[int]], pairs: list[tuple[int, int]], shard_files: bool = False
) -> None:
    """An index folder and layout as the index job writes them (one partition, one section). Without shard_files
    the layout's shard files are empty lists (only the jobs read them)."""
    (work / "index").mkdir(parents=True, exist_ok=True)
    (work / "layout").mkdir(parents=True, exist_ok=True)
    first = np.concatenate([[0], np.cumsum(shard_sizes)[:-1]]).astype(int).tolist()
    manifest = {
        "n_files": int(sum(shard_sizes)),
        "n_rejected": 0,
        "sections": [{"id": 0, "part": 0, "folder": ""}],
        "shards": [{"name": shard_name(i), "part": 0, "section": 0, "n": n} for i, n in enumerate(shard_sizes)],
        "blocks": [{"name": block_name(b), "shards": [shard_name(s) for s in blk]} for b, blk in enumerate(blocks)],
        "pairs": [[block_name(i), block_name(j)] for i, j in pairs],
        "version": "synthetic",  # the marker the merge rule takes as input (fastdiff.index.scan.version_path)
    }
    version_path(work / "layout", manifest["version"]).write_text("synthetic\n")
    for i, (n, k) in enumerate(zip(shard_sizes, first)):
        files = (
            [
                {
                    "key": key,
                    "path": f"/synthetic/{key // 1000:04d}/{key:08d}.jpg",
                    "part": 0,
                    "section": 0,
                    "size": 100_000 + key % 977,
                    "ctime": 1.7e9,
                    "dir_index": 0,
                    "mtime_ns": 1,
                }
                for key in range(k, k + n)
            ]
            if shard_files
            else []
        )
        (work / "layout" / f"{shard_name(i)}.json").write_text(json.dumps(files))
    np.save(work / "index" / "order.npy", np.arange(sum(shard_sizes)))
    (work / "index" / "rejected.json").write_text("[]")
    (work / "index" / "manifest.json").write_text(json.dumps(manifest))


def _row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# dag: Snakemake's own cost for a DAG of N jobs


def cmd_dag(args: argparse.Namespace, tmp: Path) -> None:
    """Dry runs of the real workflow over a fake index with S thumbnail jobs and P compare jobs (S + P + 2 jobs),
    then the start-up of one job as a SLURM job step runs it (`--target-jobs`: parse and resolve one job)."""
    _row(
        "jobs",
        "thumbnail jobs",
        "compare jobs",
        "dry run (s)",
        "dry run peak RSS (MB)",
        "one job's start-up (s)",
        "one job's start-up RSS (MB)",
    )
    for total in args.jobs:
        base = tmp / f"dag{total}"
        shards = max(1, total // 10)
        n_pairs = total - shards - 2
        side = math.ceil((math.sqrt(8 * n_pairs + 1) - 1) / 2)  # blocks such that side*(side+1)/2 >= n_pairs
        pairs = [(i, j) for i in range(side) for j in range(i, side)][:n_pairs]
        blocks = [[s for s in range(shards) if s * side // shards == b] for b in range(side)]
        config = _config(base)
        _write_index(base / "out" / "work", [1000] * shards, blocks, pairs)
        rss = base / "rss.jsonl"
        wall, code = _run(_snakemake(base, config, "--dry-run", "--quiet", "all"), rss, base / "dry.log")
        dry = _main_record(rss)
        assert code == 0, (base / "dry.log").read_text()[-2000:]
        rss.unlink()
        i, j = pairs[-1]
        step_wall, code = _run(
            _snakemake(
                base,
                config,
                "--dry-run",
                "--target-jobs",
                f"compare:bi={block_name(i)},bj={block_name(j)}",
                "--allowed-rules",
                "compare",
                "--quiet",
            ),
            rss,
            base / "step.log",
        )
        step = _main_record(rss)
        _row(
            f"{shards + len(pairs) + 2:,}",
            f"{shards:,}",
            f"{len(pairs):,}",
            f"{wall:.1f}",
            f"{dry['maxrss_mb']:.0f}",
            f"{step_wall:.1f}",
            f"{step['maxrss_mb']:.0f}",
        )
        shutil.rmtree(base)


# ---------------------------------------------------------------------------------------------------------------
# compare: peak RSS of compare jobs over synthetic thumbnails


def _synthetic_batches(thumbs: Path, n_images: int, shard_size: int, px: int) -> list[int]:
    """Thumbnail batches of smooth random images (640x480 originals, all compatible), written as the thumbnail
    jobs write them. Returns the shard sizes."""
    thumbs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sizes = []
    for s, first in enumerate(range(0, n_images, shard_size)):
        n = min(shard_size, n_images - first)
        coarse = rng.integers(0, 256, (n, 5, 5, 3), dtype=np.uint8)
        images = np.repeat(np.repeat(coarse, px // 5, axis=1), px // 5, axis=2)
        images = (images + rng.integers(0, 8, images.shape, dtype=np.uint8)).astype(np.uint8)
        save_batch(
            synthetic_batch(
                images, np.arange(first, first + n, dtype=np.int64), started=time.time(), finished=time.time()
            ),
            thumbs / f"{shard_name(s)}.npz",
        )
        sizes.append(n)
    return sizes


def cmd_compare(args: argparse.Namespace, tmp: Path) -> None:
    """A compare-only run: synthetic thumbnail batches and their index, then chosen compare jobs through Snakemake
    (one at a time, so that each job's time is its own)."""
    base = tmp / "compare"
    config = _config(base, shard_size=args.shard_size, threshold=args.threshold, rotate=bool(args.rotate))
    cfg = load_config(yaml.safe_load(config.read_text()))
    work = base / "out" / "work"
    started = time.time()
    sizes = _synthetic_batches(work / "thumbs", args.images, args.shard_size, cfg.px_size)
    per_block = max(1, -(-AUTO_MIN_BLOCK_IMAGES // args.shard_size))  # as block_size 'auto' plans them
    while True:
        blocks = [list(range(b, min(b + per_block, len(sizes)))) for b in range(0, len(sizes), per_block)]
        pairs = [(i, j) for i in range(len(blocks)) for j in range(i, len(blocks))]
        if len(pairs) <= cfg.max_compare_jobs:
            break
        per_block += 1
    _write_index(work, sizes, blocks, pairs)
    print(
        f"# {args.images:,} synthetic thumbnails in {len(sizes)} batches (written in {time.time() - started:.0f} s);"
        f" {len(blocks)} blocks of {sum(sizes[s] for s in blocks[0]):,} images, {len(pairs)} compare jobs",
        flush=True,
    )
    rss = base / "rss.jsonl"
    # the index folder was written last: mark the batches as up to date instead of rebuilding them
    batches = [str(work / "thumbs" / f"{shard_name(i)}.npz") for i in range(len(sizes))]
    _run(_snakemake(base, config, "--touch", *batches), rss, base / "touch.log")
    _row("compare job", "images a x b", "pairs", "job (s)", "peak RSS (MB)", "declared mem_mb")
    for pair in args.pairs or [f"{i}_{j}" for i, j in pairs[:2]]:
        rss.unlink(missing_ok=True)
        i, j = map(int, pair.split("_"))
        target = work / "compare" / f"{block_name(i)}_{block_name(j)}.npz"
        _wall, code = _run(_snakemake(base, config, "--cores", "1", str(target)), rss, base / "run.log")
        assert code == 0, (base / "run.log").read_text()[-3000:]
        (rec,) = _job_records(rss, "compare")
        n_a, n_b = (sum(sizes[s] for s in blocks[b]) for b in (i, j))
        n_pairs = n_a * (n_a - 1) // 2 if i == j else n_a * n_b
        _row(
            pair,
            f"{n_a:,} x {n_b:,}",
            f"{n_pairs / 1e6:.1f}M",
            f"{rec['seconds']:.1f}",
            f"{rec['maxrss_mb']:.0f}",
            compare_mem_mb(n_a, n_b, cfg.px_size, cfg.rotate, 1024),
        )
    print(f"# Snakemake itself: {_main_record(rss)['maxrss_mb']:.0f} MB peak RSS", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# merge: peak RSS of the merge with millions of result pairs


def cmd_merge(args: argparse.Namespace, tmp: Path) -> None:
    """A synthetic index of N images, their batches (metadata only) and compare outputs with P matching pairs,
    merged by fastdiff.merge.results.merge in a subprocess."""
    _row("images", "result pairs", "groups (images each)", "merge (s)", "peak RSS (MB)", "fastdiff.sqlite (MB)")
    for n_pairs in args.pairs:
        base = tmp / f"merge{n_pairs}"
        work = base / "out" / "work"
        n, shard = args.images, 1000
        sizes = [min(shard, n - f) for f in range(0, n, shard)]
        _write_index(work, sizes, [[i] for i in range(len(sizes))], [], shard_files=True)
        rng = np.random.default_rng(1)
        for s, first in enumerate(range(0, n, shard)):
            k = sizes[s]
            hashes = np.asarray([[f"{first + t:064x}"] * 8 for t in range(k)], dtype="<U64")
            save_batch(
                synthetic_batch(
                    np.zeros((k, 1, 1, 3), np.uint8),
                    np.arange(first, first + k, dtype=np.int64),
                    hashes=hashes,
                    started=1.0,
                    finished=2.0,
                ),
                work / "thumbs" / f"{shard_name(s)}.npz",
            )
        # groups of g images that all match each other: g (g - 1) / 2 pairs per group
        g = max(args.group_size, math.ceil(2 * n_pairs / n) + 1)  # enough groups of g images for n_pairs
        per_group = g * (g - 1) // 2
        n_groups = min(n // g, math.ceil(n_pairs / per_group))
        members = rng.permutation(n)[: n_groups * g].reshape(n_groups, g)
        members.sort(axis=1)
        ia, ib = np.triu_indices(g, 1)
        key_a, key_b = members[:, ia].ravel()[:n_pairs], members[:, ib].ravel()[:n_pairs]
        pair_paths = []
        for c, start in enumerate(range(0, len(key_a), args.pairs_per_file)):
            a, b = key_a[start : start + args.pairs_per_file], key_b[start : start + args.pairs_per_file]
            order = np.lexsort((b, a))
            m = len(a)
            path = work / "compare" / f"{c}_{c}.npz"
            save_pairs(
                Pairs(
                    key_a=a[order].astype(np.int64),
                    key_b=b[order].astype(np.int64),
                    mse=rng.integers(0, 6, m).astype(np.float64),
                    rotation=np.zeros(m, np.int8),
                    kind=np.ones(m, np.int8),
                    started=1.0,
                    finished=2.0,
                ),
                path,
            )
            pair_paths.append(str(path))
        config = _config(base, threshold="similar")
        script = (
            "import yaml; from pathlib import Path; from fastdiff.core.config import load_config; "
            "from fastdiff.merge.db.build import MergeInputs; from fastdiff.core.options import MergeOptions; "
            "from fastdiff.run.stages import run_merge; "
            f"inputs = MergeInputs(Path({str(work / 'index')!r}), "
            f"{[str(work / 'layout' / f'{shard_name(s)}.json') for s in range(len(sizes))]!r}, "
            f"{[str(work / 'thumbs' / f'{shard_name(s)}.npz') for s in range(len(sizes))]!r}, {pair_paths!r}); "
            f"run_merge(inputs, {str(base / 'out')!r}, "
            f"MergeOptions.from_config(load_config(yaml.safe_load(open({str(config)!r})))))"
        )
        rss = base / "rss.jsonl"
        wall, code = _run([sys.executable, "-c", script], rss, base / "merge.log")
        assert code == 0, (base / "merge.log").read_text()[-3000:]
        rec = _records(rss)[-1]
        import sqlite3

        with sqlite3.connect(base / "out" / "fastdiff.sqlite") as con:
            groups = con.execute("SELECT COUNT(DISTINCT head) FROM best_copy_group").fetchone()[0]
            rows = con.execute("SELECT COUNT(*) FROM dif_table").fetchone()[0]
        assert rows == len(key_a), (rows, len(key_a))
        _row(
            f"{n:,}",
            f"{len(key_a):,}",
            f"{groups:,} ({g})",
            f"{wall:.0f}",
            f"{rec['maxrss_mb']:.0f}",
            f"{(base / 'out' / 'fastdiff.sqlite').stat().st_size / 2**20:.0f}",
        )
        shutil.rmtree(base)


# ---------------------------------------------------------------------------------------------------------------
# index and thumbnails


def cmd_index(args: argparse.Namespace, tmp: Path) -> None:
    """The index job over N empty .jpg files in folders of 1,000: from scratch, then again with one folder added
    (the layout of the first run is read, checked and kept)."""
    _row("files", "index job from scratch (s)", "peak RSS (MB)", "again, 1,000 files added (s)", "peak RSS (MB)")
    for n in args.files:
        base = tmp / f"index{n}"
        config = _config(base)
        images = base / "images"
        for start in range(0, n + 1000, 1000):
            folder = images / f"{start // 1000:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(start, min(n + 1000, start + 1000)):
                (folder / f"{k:08d}.jpg").touch()
        held = images / f"{n // 1000:05d}"
        held.rename(base / "held")
        cells = []
        for _ in range(2):
            rss = base / "rss.jsonl"
            rss.unlink(missing_ok=True)
            _wall, code = _run(
                _snakemake(base, config, "--forcerun", "index", "--cores", "2", str(base / "out" / "work" / "index")),
                rss,
                base / "run.log",
            )
            assert code == 0, (base / "run.log").read_text()[-3000:]
            rec = _job_records(rss, "index")[-1]
            cells += [f"{rec['seconds']:.1f}", f"{rec['maxrss_mb']:.0f}"]
            if not held.exists():
                (base / "held").rename(held)
        _row(f"{n:,}", *cells)
        shutil.rmtree(base)


def cmd_thumbnails(args: argparse.Namespace, tmp: Path) -> None:
    """One thumbnail job (the first shard) over the images of DIR, with the default threads."""
    base = tmp / "thumbnails"
    config = _config(base, shard_size=args.shard_size)
    raw = yaml.safe_load(config.read_text())
    raw["part_a"] = [os.path.abspath(args.dir)]
    config.write_text(yaml.safe_dump(raw))
    rss = base / "rss.jsonl"
    index = base / "out" / "work" / "index"
    _, code = _run(_snakemake(base, config, str(index)), rss, base / "run.log")
    assert code == 0, (base / "run.log").read_text()[-3000:]
    shard = json.loads((index / "manifest.json").read_text())["shards"][0]
    rss.unlink()
    _wall, code = _run(
        _snakemake(base, config, str(base / "out" / "work" / "thumbs" / f"{shard['name']}.npz")), rss, base / "run.log"
    )
    assert code == 0, (base / "run.log").read_text()[-3000:]
    rec = _job_records(rss, "thumbnails")[-1]
    _row("images", "thumbnail job (s)", "peak RSS (MB)")
    _row(f"{shard['n']:,}", f"{rec['seconds']:.1f}", f"{rec['maxrss_mb']:.0f}")


# ---------------------------------------------------------------------------------------------------------------
# e2e: `fastdiff run` over crops of real images, each stage's time, extrapolated to 10^6 images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
E2E_SEED = 1234
PER_FOLDER = 1000  # files per subfolder of the image set
MIN_STD = 12.0  # crops flatter than this (std of grey levels) are drawn again: blank margins would all match
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
SCALE_TO = 1_000_000


def _source_images(dirs: list[Path]) -> list[str]:
    """The .png/.jpg/.jpeg files under dirs, sorted; symlinks skipped (files, and folders: not followed)."""
    found = []
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            subdirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                if name.lower().endswith(IMAGE_SUFFIXES) and not os.path.islink(path):
                    found.append(path)
    return found


def _crop(image: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray | None:
    """A random crop of image (each side drawn in [size, 2 size], clipped to the image), resized with INTER_AREA so
    that its longer side is drawn in [size/2, size]; None where the crop is flat (std < MIN_STD)."""
    h, w = image.shape[:2]
    ch = min(int(rng.integers(size, 2 * size + 1)), h)
    cw = min(int(rng.integers(size, 2 * size + 1)), w)
    y, x = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
    crop = image[y : y + ch, x : x + cw]
    if cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).std() < MIN_STD:
        return None
    scale = int(rng.integers(size // 2, size + 1)) / max(ch, cw)
    return cv2.resize(crop, (max(1, round(cw * scale)), max(1, round(ch * scale))), interpolation=cv2.INTER_AREA)


def _make_folder(folder: int, sources: list[str], size: int, n_images: int, dest: Path) -> Counter:
    """Write subfolder `folder` of the image set (its own seeded generator: the set does not depend on the pool).

    Each file is, with probability 1 %, a byte copy of an earlier file of the folder; 1 %, a JPEG q75 re-encode of
    one; otherwise a new crop of the current source (a random source, 1-16 crops each), JPEG q90 (70 %) or PNG.
    Sources that OpenCV cannot read, or smaller than size on a side, are skipped. Returns what was written.
    """
    cv2.setNumThreads(1)
    rng = np.random.default_rng([E2E_SEED, folder])
    out = dest / f"{folder:04d}"
    out.mkdir(parents=True, exist_ok=True)
    n = min(PER_FOLDER, n_images - folder * PER_FOLDER)
    counts: Counter = Counter()
    written: list[Path] = []
    image, left, misses = None, 0, 0
    while len(written) < n:
        u = rng.random()
        if written and u < 0.02:
            earlier = written[int(rng.integers(len(written)))]
            if u < 0.01:
                path = out / f"{len(written):04d}{earlier.suffix}"
                shutil.copyfile(earlier, path)
                counts["byte copies"] += 1
            else:
                path = out / f"{len(written):04d}.jpg"
                cv2.imwrite(str(path), cv2.imread(str(earlier), cv2.IMREAD_COLOR), [cv2.IMWRITE_JPEG_QUALITY, 75])
                counts["re-encodes"] += 1
            written.append(path)
            continue
        if left == 0:
            image = cv2.imread(sources[int(rng.integers(len(sources)))], cv2.IMREAD_COLOR)  # alpha dropped
            if image is None or min(image.shape[:2]) < size:
                counts["sources skipped"] += 1
                misses += 1
                if misses > 1000:
                    raise RuntimeError(f"no usable source image in 1,000 draws (readable, {size} px on each side)")
                continue
            left, misses = int(rng.integers(1, 17)), 0
            counts["sources used"] += 1
        left -= 1
        crop = _crop(image, rng, size)
        if crop is None:
            counts["flat crops redrawn"] += 1
            continue
        if rng.random() < 0.7:
            path = out / f"{len(written):04d}.jpg"
            cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
            counts["JPEG"] += 1
        else:
            path = out / f"{len(written):04d}.png"
            cv2.imwrite(str(path), crop)
            counts["PNG"] += 1
        written.append(path)
    return counts


def _image_set(args: argparse.Namespace, base: Path) -> Path:
    """The image set of args (made with args.cores processes), or the one already in base with the same
    parameters. Returns its folder."""
    images = base / f"images-{args.images}-{args.size}"
    marker = base / f"images-{args.images}-{args.size}.json"  # written last: the set is complete
    sources = _source_images(args.sources)
    params = {
        "sources": [str(d.resolve()) for d in args.sources],
        "source_files": len(sources),
        "images": args.images,
        "size": args.size,
        "seed": E2E_SEED,
        "per_folder": PER_FOLDER,
        "min_std": MIN_STD,
    }
    if marker.exists() and json.loads(marker.read_text()) == params:
        print(f"# image set: {args.images:,} images reused from {images}", flush=True)
        return images
    if not sources:
        raise SystemExit(f"no .png/.jpg/.jpeg files under {' '.join(map(str, args.sources))}")
    marker.unlink(missing_ok=True)
    shutil.rmtree(images, ignore_errors=True)
    started = time.perf_counter()
    make = partial(_make_folder, sources=sources, size=args.size, n_images=args.images, dest=images)
    counts: Counter = Counter()
    with multiprocessing.Pool(args.cores) as pool:
        for c in pool.imap_unordered(make, range(-(-args.images // PER_FOLDER))):
            counts.update(c)
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps(params, indent=1))
    print(
        f"# image set: {args.images:,} images in {seconds:.1f} s on {args.cores} processes"
        f" ({args.images / seconds:,.0f} images/s), {images}: crops of {counts['sources used']:,} random draws"
        f" among {len(sources):,} source files ({counts['sources skipped']:,} more draws skipped: unreadable or"
        f" under {args.size} px; {counts['flat crops redrawn']:,} flat crops redrawn); {counts['JPEG']:,} JPEG q90,"
        f" {counts['PNG']:,} PNG, {counts['byte copies']:,} byte copies and {counts['re-encodes']:,} JPEG q75"
        " re-encodes of earlier files",
        flush=True,
    )
    return images


def _log_span(log: Path) -> tuple[float, float]:
    """The first and last timestamps of a job's log, as POSIX seconds (logging writes local time, to the ms)."""
    stamps = [
        dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in log.read_text(errors="replace").splitlines()
        if (m := STAMP.match(line))
    ]
    if not stamps:
        raise SystemExit(f"no timestamped line in {log}")
    return stamps[0], stamps[-1]


def cmd_e2e(args: argparse.Namespace, tmp: Path) -> None:
    """`fastdiff run` over a set of crops of the real images under --sources (made once, reused from --tmp), with
    each stage's time from its jobs' logs, extrapolated to 10^6 images.

    A local run runs its jobs in its own process, one at a time, so the run's time splits into jobs at their ends:
    a job's time runs from the last log line of the job before it to its own last log line, and the stage's time is
    the sum over its jobs. The index runs from the start of the run less the start-up (the wall time of `fastdiff
    run --help`: interpreter and imports, best of 3); the run's wall time minus the start-up and the stages is what
    follows the merge's last log line (the end of the merge, exit). The span of each log alone (last timestamp minus
    first, also printed) misses most of the work: the jobs log progress and results, not their start (the merge logs
    one line).
    """
    base = tmp / "e2e"
    images = _image_set(args, base)
    out = base / "out"
    shutil.rmtree(out, ignore_errors=True)
    exe = shutil.which("fastdiff")
    cmd = [
        *([exe] if exe else [sys.executable, "-m", "fastdiff.cli"]),
        "run",
        str(images),
        "-o",
        str(out),
        "--similarity",
        args.similarity,
        "--no-same-dim",
        "--cores",
        str(args.cores),
    ]
    print("# " + " ".join(cmd), flush=True)
    m = run_measured(cmd, base / "run.log")
    startup = min(run_measured([*cmd[: cmd.index("run") + 1], "--help"], base / "help.log")["wall"] for _ in range(3))
    manifest = json.loads((out / "work" / "index" / "manifest.json").read_text())
    n = manifest["n_files"]
    n_pairs = n * (n - 1) // 2  # one partition: every pair of images
    print(
        f"# {n:,} images, {len(manifest['shards'])} thumbnail jobs, {len(manifest['blocks'])} blocks,"
        f" {len(manifest['pairs'])} compare jobs (block pairs), {n_pairs:,} image pairs; wall {m['wall']:.1f} s,"
        f" CPU {m['cpu']:.1f} s ({m['cpu'] / m['wall']:.2f} cores busy), other processes {m['foreign']:.2f} cores;"
        f" peak RSS {m['peak_proc'] / 2**20:,.0f} MB; {n / m['wall']:,.1f} images/s over the whole run",
        flush=True,
    )
    logs = out / "work" / "logs"
    stages = {
        "index": [logs / "index.log"],
        "thumbnails": sorted((logs / "thumbnails").glob("*.log")),
        "compare": sorted((logs / "compare").glob("*.log")),
        "merge": [logs / "merge.log"],
    }
    spans = {stage: [_log_span(p) for p in paths] for stage, paths in stages.items()}
    seconds = dict.fromkeys(stages, 0.0)
    ends = sorted((last, stage) for stage, ss in spans.items() for _first, last in ss)
    previous = min(m["started"] + startup, ends[0][0])  # (the start-up estimate may exceed a tiny index's start)
    for last, stage in ends:
        seconds[stage] += last - previous
        previous = last
    rest = m["wall"] - (previous - m["started"])  # after the merge's last log line
    _row("stage", "jobs", "seconds", "rate", "log spans (s)")
    _row("start-up (`fastdiff run --help`)", "", f"{startup:.1f}", "", "")
    for stage, paths in stages.items():
        t = seconds[stage]
        rate = f"{n_pairs / t / 1e6:,.1f}M pairs/s" if stage == "compare" else f"{n / t:,.0f} images/s"
        _row(
            stage,
            len(paths),
            f"{t:.1f}",
            rate if t > 0 else "-",
            f"{sum(last - first for first, last in spans[stage]):.1f}",
        )
    _row("after the merge's last log line", "", f"{rest:.1f}", "", "")
    _row("whole run (wall)", "", f"{m['wall']:.1f}", f"{n / m['wall']:,.1f} images/s", "")

    big = SCALE_TO
    factors = dict.fromkeys(stages, big / n) | {"compare": big * (big - 1) / (n * (n - 1))}
    print(
        f"\n# extrapolated to N = {big:,} images from n = {n:,}: t_N = t_n * N / n for index, thumbnails and merge"
        " (linear in the images); t_N = t_n * N (N - 1) / (n (n - 1)) for compare (the N (N - 1) / 2 pairs);"
        " the start-up and the time after the merge's last log line kept at their measured values",
        flush=True,
    )
    _row("stage", "factor", f"seconds at {big:,}", "hours")
    total = startup + rest
    for stage in stages:
        t = seconds[stage] * factors[stage]
        total += t
        _row(stage, f"{factors[stage]:,.0f}", f"{t:,.0f}", f"{t / 3600:,.2f}")
    _row("total", "", f"{total:,.0f}", f"{total / 3600:,.2f}")
    if args.keep:
        print(f"# output kept in {out}", flush=True)
    else:
        shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tmp", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dag")
    p.add_argument("--jobs", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    p = sub.add_parser("compare")
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--pairs", nargs="*", help="block pairs to run, e.g. 0_0 0_1 (default: the first two)")
    p.add_argument("--threshold", default="similar")
    p.add_argument("--rotate", type=int, default=1)
    p = sub.add_parser("merge")
    p.add_argument("--images", type=int, default=1_000_000)
    p.add_argument("--pairs", type=int, nargs="+", default=[1_000_000, 5_000_000])
    p.add_argument("--group-size", type=int, default=4, help="images per group of mutual matches")
    p.add_argument("--pairs-per-file", type=int, default=1_000_000, help="result pairs per compare output")
    p = sub.add_parser("index")
    p.add_argument("--files", type=int, nargs="+", default=[100_000])
    p = sub.add_parser("thumbnails")
    p.add_argument("dir")
    p.add_argument("--shard-size", type=int, default=1000)
    p = sub.add_parser("e2e")
    p.add_argument("--sources", type=Path, nargs="+", required=True, help="folders of the real images to crop")
    p.add_argument("--images", type=int, default=60_000)
    p.add_argument("--size", type=int, default=160, help="crop sides in [size, 2 size], outputs in [size/2, size]")
    p.add_argument("--similarity", default="similar")
    p.add_argument("--cores", type=int, default=2, help="processes making the set, and fastdiff's --cores")
    p.add_argument("--keep", action="store_true", help="keep fastdiff's output folder (in --tmp)")
    p.add_argument("--tmp", type=Path, default=argparse.SUPPRESS, help="as --tmp before the subcommand")
    args = parser.parse_args()
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="fastdiff-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        {
            "dag": cmd_dag,
            "compare": cmd_compare,
            "merge": cmd_merge,
            "index": cmd_index,
            "thumbnails": cmd_thumbnails,
            "e2e": cmd_e2e,
        }[args.command](args, tmp)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
