#!/usr/bin/env python
"""fastdiff benchmarks: end to end against difPy 4.2.1 and a plain-numpy baseline, or the compare kernel alone.

    python benchmarks/benchmark.py e2e IMAGES_DIR [--similarity similar] [--rotate 1] [--same-dim 0]
           [--difpy-python /tmp/difpy-venv/bin/python] [--limit N] [--markdown PATH]
    python benchmarks/benchmark.py compare --n 10000 [--n 20000 ...] [--rotate 1] [--px 50] [--block 2000]
           [--markdown PATH]
    python benchmarks/benchmark.py thumbnails IMAGES_DIR [--rounds 3] [--threads 2] [--markdown PATH]

See benchmarks/README.md for the set-up (difPy venv) and the meaning of every column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NAMED = {"duplicates": 0.0, "similar": 5.0}


# ----------------------------------------------------------------------------------------------------------------
# measuring a subprocess tree


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants every `interval` seconds (psutil).

    peak_tree: the largest sum of RSS over the tree seen at one sample (shared pages of forked workers are counted
    once per process, so this over-counts copy-on-write memory); peak_proc: the largest RSS of any single process.
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_tree = 0
        self.peak_proc = 0
        self.stop = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for p in procs:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            self.peak_proc = max(self.peak_proc, rss)
        self.peak_tree = max(self.peak_tree, total)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


def busy_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all cores; guest time is already inside user)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


def run_measured(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run cmd; wall time, CPU time of the whole (reaped) process tree, peak RSS by sampling, foreign load."""
    busy0 = busy_cpu_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    started = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    foreign = max(0.0, (busy_cpu_seconds() - busy0 - cpu) / wall)  # other processes' cores, on average
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"command failed (exit {rc}): {' '.join(cmd)}\n--- log tail ---\n{tail}")
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_tree": sampler.peak_tree,
        "peak_proc": sampler.peak_proc,
        "foreign": foreign,
        "started": started,
        "ended": time.time(),
    }


# ----------------------------------------------------------------------------------------------------------------
# the plain-numpy brute force (used by the baseline and by the agreement check)


def brute_pairs(
    thumbs: np.ndarray,
    height: np.ndarray,
    width: np.ndarray,
    threshold: float,
    rotate: bool,
    same_dim: bool,
    chunk_bytes: int = 32 << 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j with min_k MSE(t_i, rot90(t_j, k)) <= threshold, float64 broadcasting in row chunks.

    MSE = mean over the px*px*3 values of the squared difference (0..255 scale, no wrap-around). The squared
    differences are integers and their sums stay far below 2**53, so the float64 sum is exact in any order.
    same_dim: only pairs whose original (height, width) are equal up to transposition.
    Returns (i, j, mse) sorted by (i, j).
    """
    n = len(thumbs)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    d = thumbs[0].size
    a = thumbs.reshape(n, d).astype(np.float64)
    ks = range(4) if rotate else range(1)
    rotated = [a if k == 0 else np.rot90(thumbs, k, axes=(1, 2)).reshape(n, d).astype(np.float64) for k in ks]
    lo, hi = np.minimum(height, width), np.maximum(height, width)
    out_i, out_j, out_m = [], [], []
    i0 = 0
    while i0 < n - 1:
        rows_per_chunk = max(1, chunk_bytes // ((n - i0 - 1) * d * 8))
        i1 = min(n - 1, i0 + rows_per_chunk)
        rows, cols = np.arange(i0, i1), np.arange(i0 + 1, n)
        allowed = cols[None, :] > rows[:, None]
        if same_dim:
            allowed &= (lo[rows, None] == lo[None, cols]) & (hi[rows, None] == hi[None, cols])
        keep = allowed.any(axis=0)
        if keep.any():
            sel = slice(i0 + 1, n) if keep.all() else cols[keep]
            allowed = allowed[:, keep]
            best = np.full(allowed.shape, np.inf)
            for b in rotated:
                diff = a[i0:i1, None, :] - b[sel][None, :, :]
                np.minimum(best, np.einsum("ijk,ijk->ij", diff, diff) / d, out=best)
            ri, rj = np.nonzero(allowed & (best <= threshold))
            out_i.append(rows[ri])
            out_j.append(cols[keep][rj])
            out_m.append(best[ri, rj])
        i0 = i1
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_m)


def list_images(directory: Path) -> list[Path]:
    """Files under directory (recursive, hidden entries skipped) with fastdiff's default extensions, sorted."""
    from fastdiff.core.config import DEFAULT_EXTENSIONS

    exts = set(DEFAULT_EXTENSIONS)
    found = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".") and f.rsplit(".", 1)[-1].lower() in exts]
    return sorted(found)


def numpy_baseline_worker(args: argparse.Namespace) -> None:
    """Hidden sub-command: the plain-numpy baseline, one process, timings and pairs as JSON."""
    import cv2

    t0 = time.perf_counter()
    files = list_images(Path(args.dir))
    thumbs, heights, widths, ok = [], [], [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            continue
        heights.append(img.shape[0])
        widths.append(img.shape[1])
        thumbs.append(cv2.resize(img, (args.px, args.px), interpolation=cv2.INTER_AREA))
        ok.append(str(f))
    t1 = time.perf_counter()
    i, j, mse = brute_pairs(
        np.stack(thumbs),
        np.asarray(heights),
        np.asarray(widths),
        args.threshold,
        bool(args.rotate),
        bool(args.same_dim),
    )
    t2 = time.perf_counter()
    result = {
        "n_images": len(ok),
        "n_files": len(files),
        "build": t1 - t0,
        "search": t2 - t1,
        "pairs": [[ok[a], ok[b], float(m)] for a, b, m in zip(i, j, mse)],
    }
    Path(args.out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------------------------
# e2e


def fastdiff_pairs(out_dir: Path) -> dict[tuple[str, str], float]:
    """fastdiff's pairs from fastdiff.sqlite: dif_table joined to directory, as (path_a, path_b) -> mse."""
    con = sqlite3.connect(out_dir / "fastdiff.sqlite")
    try:
        rows = con.execute(
            "SELECT da.path, db.path, t.dif FROM dif_table t JOIN directory da ON da.key = t.key_a "
            "JOIN directory db ON db.key = t.key_b"
        ).fetchall()
    finally:
        con.close()
    return {(a, b): m for a, b, m in rows}


def fastdiff_key_paths(out_dir: Path) -> dict[int, str]:
    con = sqlite3.connect(out_dir / "fastdiff.sqlite")
    try:
        return dict(con.execute("SELECT key, path FROM directory").fetchall())
    finally:
        con.close()


def agreement_on_fastdiff_thumbs(out_dir: Path, threshold: float, rotate: bool, same_dim: bool) -> dict[str, Any]:
    """Plain-numpy brute force over fastdiff's own thumbnails (work/thumbs/*.npz) vs fastdiff's dif_table."""
    keys, thumbs, height, width = [], [], [], []
    for path in sorted((out_dir / "work" / "thumbs").glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            keys.append(z["keys"])
            thumbs.append(z["thumbs"])
            height.append(z["height"])
            width.append(z["width"])
    keys_a = np.concatenate(keys)
    order = np.argsort(keys_a, kind="stable")
    keys_a = keys_a[order]
    t0 = time.perf_counter()
    i, j, mse = brute_pairs(
        np.concatenate(thumbs)[order],
        np.concatenate(height)[order],
        np.concatenate(width)[order],
        threshold,
        rotate,
        same_dim,
    )
    seconds = time.perf_counter() - t0
    paths = fastdiff_key_paths(out_dir)
    brute = {(paths[int(keys_a[a])], paths[int(keys_a[b])]): float(m) for a, b, m in zip(i, j, mse)}
    fd = fastdiff_pairs(out_dir)
    common = brute.keys() & fd.keys()
    mse_mismatch = sum(1 for p in common if brute[p] != fd[p])
    return {
        "images": len(keys_a),
        "fastdiff": len(fd),
        "brute": len(brute),
        "equal": brute.keys() == fd.keys(),
        "only_fastdiff": len(fd.keys() - brute.keys()),
        "only_brute": len(brute.keys() - fd.keys()),
        "mse_mismatch": mse_mismatch,
        "seconds": seconds,
    }


def unordered(pairs: dict[tuple[str, str], float] | list[list[Any]]) -> set[frozenset[str]]:
    """Pairs as unordered sets of real paths (the tools may see symlinks; difPy's order differs)."""
    items = pairs.keys() if isinstance(pairs, dict) else [(p[0], p[1]) for p in pairs]
    return {frozenset((os.path.realpath(a), os.path.realpath(b))) for a, b in items}


def timeline(out_dir: Path, started: float, ended: float) -> list[tuple[str, float]]:
    """Where fastdiff's wall time goes: stage spans from job timings (npz) and output mtimes, plus the gaps."""
    work = out_dir / "work"
    thumbs = sorted((work / "thumbs").glob("*.npz"))
    compares = sorted((work / "compare").glob("*.npz"))
    spans_t, spans_c = [], []
    for p in thumbs:
        with np.load(p, allow_pickle=False) as z:
            spans_t.append(tuple(z["timing"]))
    for p in compares:
        with np.load(p, allow_pickle=False) as z:
            spans_c.append(tuple(z["timing"]))
    index_done = (work / "index" / "manifest.json").stat().st_mtime
    thumbs_start = min(s for s, _ in spans_t)
    thumbs_end = max(e for _, e in spans_t)
    thumbs_file = max(p.stat().st_mtime for p in thumbs)
    cmp_start = min(s for s, _ in spans_c)
    cmp_end = max(e for _, e in spans_c)
    cmp_file = max(p.stat().st_mtime for p in compares)
    merge_done = max(
        (out_dir / f).stat().st_mtime for f in ("fastdiff.sqlite", "results.json", "stats.json", "lower_quality.json")
    )
    return [
        ("start -> index written (CLI + snakemake start-up, DAG, index job)", index_done - started),
        ("index written -> first thumbnail decode (job start-up: python, imports)", thumbs_start - index_done),
        (f"thumbnails: decode+resize+hash ({len(thumbs)} job(s), span)", thumbs_end - thumbs_start),
        ("thumbnails: write batch", thumbs_file - thumbs_end),
        ("batch written -> compare kernel starts (job start-up, load_block)", cmp_start - thumbs_file),
        (f"compare kernel ({len(compares)} job(s), span)", cmp_end - cmp_start),
        ("compare written -> merge done (merge job: start-up, sqlite, json)", merge_done - cmp_file),
        ("merge done -> process exit (snakemake 'all', teardown)", ended - merge_done),
        ("total wall", ended - started),
    ]


# ----------------------------------------------------------------------------------------------------------------
# thumbnails: fastdiff's build_batch against difPy.build, same images, interleaved rounds


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to other machines so far (all cores; 0 where not reported)."""
    import psutil

    return getattr(psutil.cpu_times(), "steal", 0.0)


def thumbnails_worker(args: argparse.Namespace) -> None:
    """Hidden sub-command: fastdiff's default-mode thumbnail build (build_batch, as a thumbnail job runs it) of every
    image under dir, with its own wall and CPU seconds (its threads and its reaped decoding processes), as JSON."""
    from fastdiff.core.config import load_config
    from fastdiff.core.options import IndexOptions, ThumbnailOptions
    from fastdiff.index.scan import scan
    from fastdiff.thumbnails.build import build_batch

    raw = {"part_a": [args.dir], "output_dir": tempfile.gettempdir(), "rotate": True, "px_size": args.px}
    config = load_config(raw)
    files = scan(IndexOptions.from_config(config)).files

    def used() -> float:
        both = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return sum(ru.ru_utime + ru.ru_stime for ru in both)

    cpu0, t0 = used(), time.perf_counter()
    batch = build_batch(files, ThumbnailOptions.from_config(config), args.threads)
    wall = time.perf_counter() - t0
    cpu = used() - cpu0
    Path(args.out).write_text(
        json.dumps({"n_images": len(batch.keys), "n_errors": len(batch.error_keys), "build": wall, "cpu": cpu})
    )


def thumbnails(args: argparse.Namespace) -> str:
    images = Path(args.images_dir).resolve()
    files = list_images(images)
    by_ext = Counter(f.suffix.lower() for f in files)
    for f in files:  # the same warm page cache for both tools
        f.read_bytes()
    tools = {
        "fastdiff": [
            sys.executable,
            str(Path(__file__).resolve()),
            "_thumbnails",
            str(images),
            "OUT",
            "--threads",
            str(args.threads),
            "--px",
            str(args.px),
        ]
    }
    if Path(args.difpy_python).exists():
        tools["difPy 4.2.1"] = [
            args.difpy_python,
            str(HERE / "difpy_runner.py"),
            "OUT",
            str(images),
            "--build-only",
            "--processes",
            str(args.threads),
            "--px-size",
            str(args.px),
        ]
    else:
        print(f"difPy skipped: no interpreter at {args.difpy_python!r}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
    with tempfile.TemporaryDirectory(prefix="fastdiff-thumbs-", dir=args.workdir) as tmp:
        for r in range(args.rounds):
            for name, cmd in tools.items():
                out = Path(tmp) / f"{name.split()[0]}-{r}.json"
                steal0, t0 = steal_seconds(), time.perf_counter()
                run_measured([out.as_posix() if c == "OUT" else c for c in cmd], Path(tmp) / "run.log")
                steal = (steal_seconds() - steal0) / (time.perf_counter() - t0) / (os.cpu_count() or 1)
                res = json.loads(out.read_text())
                runs[name].append({"n": res["n_images"], "build": res["build"], "cpu": res["cpu"], "steal": steal})
                print(
                    f"round {r + 1}: {name}: {res['n_images']} images, {res['build']:.2f} s "
                    f"({res['n_images'] / res['build']:.1f} images/s), {res['cpu']:.2f} CPU s, "
                    f"steal {steal:.0%}",
                    flush=True,
                )
    med = {name: {k: float(np.median([x[k] for x in rs])) for k in ("build", "cpu")} for name, rs in runs.items()}
    ref = med.get("difPy 4.2.1")
    rows = []
    for name, rs in runs.items():
        n = rs[0]["n"]
        rows.append(
            [
                name,
                n,
                " / ".join(f"{x['build']:.2f}" for x in rs),
                f"{n / med[name]['build']:.1f}",
                f"{med[name]['cpu'] / n * 1e3:.2f}",
                f"{ref['build'] / med[name]['build']:.2f}x" if ref else "-",
                f"{ref['cpu'] / med[name]['cpu']:.2f}x" if ref else "-",
                " / ".join(f"{x['steal']:.0%}" for x in rs),
            ]
        )
    paired = ""
    if ref:  # each fastdiff round against the difPy round right after it: the least exposed to drifting load
        ratios = [d["build"] / f["build"] for f, d in zip(runs["fastdiff"], runs["difPy 4.2.1"])]
        paired = (
            f"\nPer round (difPy's build s / fastdiff's, adjacent runs): {', '.join(f'{x:.2f}x' for x in ratios)}.\n"
        )
    formats = ", ".join(f"{count} {ext}" for ext, count in by_ext.most_common())
    title = (
        f"### thumbnails: {len(files)} files from `{images}` ({formats}), {args.px}x{args.px}, "
        f"{args.threads} threads (fastdiff) / processes (difPy), {args.rounds} interleaved rounds\n\n"
        f"{machine_line()}\n"
    )
    header = [
        "tool",
        "images",
        "build s (each round)",
        "images/s (median)",
        "CPU ms per image (median)",
        "throughput vs difPy",
        "CPU vs difPy",
        "steal (each round)",
    ]
    note = (
        "\nbuild s = fastdiff's `build_batch` (decode, EXIF, resize, four sha-256 rotation hashes; the work of a "
        "thumbnail job without Snakemake) and difPy's `difPy.build` (its own file scan, Pillow decode and resize, "
        "worker pool), each timed inside its process; CPU = user+sys of that work (fastdiff's threads, difPy's "
        "process and its pool). steal = CPU time the hypervisor gave to other machines, as a share of the "
        "cores (above about 10% wall times are inflated)."
    )
    return "\n".join([title, md_table(header, rows), paired, note])


def fmt_mb(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:,.1f}k"
    return f"{x:,.1f}"


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine_line() -> str:
    return (
        f"{dt.date.today().isoformat()}, {platform.node() or 'host'}: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}"
    )


def e2e(args: argparse.Namespace) -> str:
    src = Path(args.images_dir).resolve()
    threshold = NAMED.get(args.similarity) if args.similarity in NAMED else float(args.similarity)
    rotate, same_dim = bool(args.rotate), bool(args.same_dim)
    tmp = Path(tempfile.mkdtemp(prefix="fastdiff-bench-", dir=args.workdir))
    try:
        if args.limit:
            images = tmp / "images"
            images.mkdir()
            for f in list_images(src)[: args.limit]:
                (images / f.name).symlink_to(f)  # flat: names are unique in a flat corpus
            if len(list(images.iterdir())) != min(args.limit, len(list_images(src))):
                raise SystemExit("--limit needs unique file names (the first N files are linked into one folder)")
        else:
            images = src
        n_files = len(list_images(images))
        print(
            f"e2e: {n_files} files in {src}{f' (first {args.limit})' if args.limit else ''}; similarity "
            f"{args.similarity} (MSE <= {threshold:g}), rotate {int(rotate)}, same_dim {int(same_dim)}",
            flush=True,
        )
        rows: dict[str, dict[str, Any]] = {}

        # --- fastdiff
        out = tmp / "fastdiff-out"
        cmd = [
            sys.executable,
            "-m",
            "fastdiff.cli",
            "run",
            str(images),
            "-o",
            str(out),
            "--cores",
            str(args.cores),
            "--similarity",
            args.similarity,
            "--rotate" if rotate else "--no-rotate",
            "--same-dim" if same_dim else "--no-same-dim",
            "--px-size",
            str(args.px),
        ]
        print("running fastdiff:", " ".join(cmd), flush=True)
        m = run_measured(cmd, tmp / "fastdiff.log")
        stats = json.loads((out / "stats.json").read_text())
        n = stats["process"]["search"]["files_searched"]
        m.update(
            n=n,
            build=stats["process"]["build"]["duration"]["seconds_elapsed"],
            search=stats["process"]["search"]["duration"]["seconds_elapsed"],
        )
        rows["fastdiff"] = m
        fd_pairs = fastdiff_pairs(out)
        tl = timeline(out, m["started"], m["ended"])

        # --- difPy
        dif_pairs = None
        if args.difpy_python and Path(args.difpy_python).exists():
            dif_json = tmp / "difpy.json"
            cmd = [
                args.difpy_python,
                str(HERE / "difpy_runner.py"),
                str(dif_json),
                str(images),
                "--similarity",
                args.similarity,
                "--rotate",
                str(int(rotate)),
                "--same-dim",
                str(int(same_dim)),
                "--px-size",
                str(args.px),
                "--processes",
                str(args.cores),
            ]
            print("running difPy:", " ".join(cmd), flush=True)
            m = run_measured(cmd, tmp / "difpy.log")
            dj = json.loads(dif_json.read_text())
            m.update(
                n=dj["n_images"],
                build=dj["stats"]["process"]["build"]["duration"]["seconds_elapsed"],
                search=dj["stats"]["process"]["search"]["duration"]["seconds_elapsed"],
            )
            rows["difPy 4.2.1"] = m
            dif_pairs = dj["raw_pairs"]
            dif_grouped = sum(len(v) for v in dj["result"].values())
        else:
            print(f"difPy skipped: no interpreter at {args.difpy_python!r}", flush=True)

        # --- plain numpy
        np_json = tmp / "numpy.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "_numpy",
            str(images),
            str(np_json),
            "--threshold",
            repr(threshold),
            "--rotate",
            str(int(rotate)),
            "--same-dim",
            str(int(same_dim)),
            "--px",
            str(args.px),
        ]
        print("running plain numpy:", " ".join(cmd), flush=True)
        m = run_measured(cmd, tmp / "numpy.log")
        nj = json.loads(np_json.read_text())
        m.update(n=nj["n_images"], build=nj["build"], search=nj["search"])
        rows["plain numpy"] = m
        np_pairs = nj["pairs"]

        # --- agreement
        print("agreement check: plain-numpy brute force over fastdiff's own thumbnails ...", flush=True)
        agree = agreement_on_fastdiff_thumbs(out, threshold, rotate, same_dim)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- report
    header = [
        "tool",
        "images",
        "wall s",
        "CPU s",
        "peak RSS tree MB",
        "peak RSS 1 proc MB",
        "build s",
        "images/s",
        "search s",
        "pairs/s",
        "wall vs difPy",
        "wall vs numpy",
        "CPU vs difPy",
        "CPU vs numpy",
        "foreign load",
    ]
    ref_d, ref_n = rows.get("difPy 4.2.1"), rows["plain numpy"]

    def ratio(ref: dict[str, Any] | None, m: dict[str, Any], key: str) -> str:
        return f"{ref[key] / m[key]:.2f}x" if ref else "-"

    table_rows = []
    for name, m in rows.items():
        pairs = m["n"] * (m["n"] - 1) / 2
        table_rows.append(
            [
                name,
                m["n"],
                f"{m['wall']:.1f}",
                f"{m['cpu']:.1f}",
                fmt_mb(m["peak_tree"]),
                fmt_mb(m["peak_proc"]),
                f"{m['build']:.2f}",
                fmt_rate(m["n"] / m["build"]),
                f"{m['search']:.2f}",
                fmt_rate(pairs / m["search"] if m["search"] else None),
                ratio(ref_d, m, "wall"),
                ratio(ref_n, m, "wall"),
                ratio(ref_d, m, "cpu"),
                ratio(ref_n, m, "cpu"),
                f"{m['foreign']:.2f}",
            ]
        )
    title = (
        f"### e2e: {n_files} files from `{src}`{f' (first {args.limit})' if args.limit else ''}, similarity "
        f"`{args.similarity}` (MSE <= {threshold:g}), rotate {int(rotate)}, same_dim {int(same_dim)}, "
        f"{args.cores} processes/cores\n\n{machine_line()}\n"
    )
    parts = [title, md_table(header, table_rows)]
    parts.append(
        "\n\"x vs difPy\" = difPy's value / this tool's value (> 1: this tool is faster). "
        "images/s = images / build s; pairs/s = n(n-1)/2 / search s; foreign load = CPU cores used by other "
        "processes during the run, on average (> 0.2: wall times are inflated, trust CPU s)."
    )

    fd_set, np_set = unordered(fd_pairs), unordered(np_pairs)
    lines = [
        "",
        "#### Agreement",
        "",
        f"- fastdiff dif_table vs plain-numpy brute force on fastdiff's own thumbnails "
        f"({agree['images']} images, {agree['seconds']:.1f} s): **{'EQUAL' if agree['equal'] else 'DIFFERENT'}** "
        f"- fastdiff {agree['fastdiff']} pairs, brute force {agree['brute']} pairs, only fastdiff "
        f"{agree['only_fastdiff']}, only brute force {agree['only_brute']}, MSE values differing (not "
        f"bit-identical) {agree['mse_mismatch']}",
    ]
    if dif_pairs is not None:
        dif_set = unordered(dif_pairs)
        lines.append(
            f"- difPy raw matching pairs {len(dif_set)} (its grouped result lists {dif_grouped}): "
            f"{len(dif_set & fd_set)} also found by fastdiff, {len(dif_set - fd_set)} only difPy; of "
            f"fastdiff's {len(fd_set)} pairs {len(fd_set & dif_set)} also found by difPy, "
            f"{len(fd_set - dif_set)} only fastdiff (different metric: uint8 wrap-around MSE, Pillow "
            f"bicubic, rotations 0/90/180 of the higher-ID image only)"
        )
    lines.append(
        f"- plain-numpy baseline (own cv2 decode, no EXIF, INTER_AREA) {len(np_set)} pairs: "
        f"{len(np_set & fd_set)} also found by fastdiff, {len(np_set - fd_set)} only numpy, "
        f"{len(fd_set - np_set)} only fastdiff"
    )
    lines += [
        "",
        "#### Where fastdiff's wall time goes",
        "",
        md_table(["phase", "seconds"], [[k, f"{v:.2f}"] for k, v in tl]),
    ]
    lines += [
        "",
        "Measured: wall = time.perf_counter around the subprocess; CPU = user+sys of the reaped process "
        "tree (getrusage(RUSAGE_CHILDREN) delta); peak RSS tree = largest sum of RSS over the process and all "
        "descendants, sampled with psutil every 0.1 s; peak RSS 1 proc = largest single process in those "
        "samples. Build/search seconds are each tool's own: fastdiff's stats.json "
        "(process.build/search.duration, span of the thumbnail / compare jobs), difPy's stats, the numpy "
        "baseline's decode and all-pairs loops (single process, single-threaded numpy broadcasting).",
    ]
    return "\n".join(parts + lines)


# ----------------------------------------------------------------------------------------------------------------
# compare-only


def gemm_gflops(d: int, repeats: int = 3) -> tuple[float, float]:
    """float32 GEMM rate of this machine: (2048 x d) @ (d x 8192), best of `repeats`.

    Returns (GFLOP per wall second, GFLOP per CPU second of this process). The second is steadier when other
    processes share the cores.
    """
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2048, d), dtype=np.float32)
    b = rng.standard_normal((d, 8192), dtype=np.float32)
    a @ b  # warm-up
    runs = [_timed(lambda: a @ b) for _ in range(repeats)]
    flop = 2 * 2048 * d * 8192
    return flop / min(w for w, _ in runs) / 1e9, flop / min(c for _, c in runs) / 1e9


def _timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def make_synthetic(
    root: Path, n: int, px: int, shard: int, rotate: bool, threshold: float, same_dim: bool, seed: int = 0
) -> list[tuple[int, int]]:
    """Random uint8 thumbnails in shards of `shard` (fastdiff.thumbnails.batch.save_batch), with planted
    near-duplicates.

    Returns the planted pairs (key_a < key_b). Copies are the source rotated by a random k (if rotate) plus
    noise of at most +-a per value with a*a <= threshold, so each planted pair's MSE is within the threshold.
    """
    from synthetic import synthetic_batch

    from fastdiff.thumbnails.batch import save_batch

    rng = np.random.default_rng(seed)
    thumbs = rng.integers(0, 256, size=(n, px, px, 3), dtype=np.uint8)
    sizes = np.array([[600, 800], [1080, 1920], [768, 1024], [500, 500], [3000, 4000]])
    dims = sizes[rng.integers(0, len(sizes), n)] if same_dim else np.tile([[600, 800]], (n, 1))
    height, width = dims[:, 0].copy(), dims[:, 1].copy()
    n_planted = min(n // 2, max(20, n // 500))
    perm = rng.permutation(n)
    amp = 2 if threshold >= 4 else (1 if threshold >= 1 else 0)
    planted = []
    for t in range(n_planted):
        src, dst = int(perm[2 * t]), int(perm[2 * t + 1])
        k = int(rng.integers(0, 4)) if rotate else 0
        copy = np.rot90(thumbs[src], k).astype(np.int16)
        if amp and t % 2:
            copy += rng.integers(-amp, amp + 1, size=copy.shape, dtype=np.int16)
        thumbs[dst] = np.clip(copy, 0, 255).astype(np.uint8)
        height[dst], width[dst] = (height[src], width[src]) if k % 2 == 0 else (width[src], height[src])
        planted.append((min(src, dst), max(src, dst)))
    paths = []
    for s, start in enumerate(range(0, n, shard)):
        sl = slice(start, min(n, start + shard))
        keys = np.arange(sl.start, sl.stop, dtype=np.int64)
        batch = synthetic_batch(thumbs[sl], keys, height[sl], width[sl], started=time.time(), finished=time.time())
        path = root / f"{s:05d}.npz"
        save_batch(batch, path)
        paths.append(str(path))
    (root / "shards.json").write_text(json.dumps(paths))
    return sorted(planted)


def vm_hwm() -> int:
    """Peak RSS of this process in bytes: VmHWM of /proc/self/status (ru_maxrss after fork+exec can report the
    parent's RSS at the fork, so it is not used); ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def compare_worker(args: argparse.Namespace) -> None:
    """Hidden sub-command: every block pair i <= j over the shards in args.dir; results as JSON."""
    from fastdiff.compare.blocks import compare_blocks
    from fastdiff.core.options import CompareOptions
    from fastdiff.thumbnails.batch import load_block

    root = Path(args.dir)
    shards = json.loads((root / "shards.json").read_text())
    per_block = args.block // args.shard
    blocks = [shards[s : s + per_block] for s in range(0, len(shards), per_block)]
    opts = CompareOptions(
        threshold=args.threshold, rotate=bool(args.rotate), same_dim=bool(args.same_dim), tile_size=args.tile
    )
    found: list[tuple[int, int]] = []
    load_s = compare_s = 0.0
    all_pairs = [(i, j) for i in range(len(blocks)) for j in range(i, len(blocks))]
    todo = sample_block_pairs(all_pairs, args.sample_block_pairs)
    pairs_done = 0
    t0 = time.perf_counter()
    for i, j in todo:
        t = time.perf_counter()
        a = load_block(blocks[i])
        b = a if i == j else load_block(blocks[j])
        t1 = time.perf_counter()
        pairs = compare_blocks(a, b, opts, same_block=i == j)
        t2 = time.perf_counter()
        load_s += t1 - t
        compare_s += t2 - t1
        found += [(int(x), int(y)) for x, y in zip(pairs.key_a, pairs.key_b)]
        na, nb = len(a.keys), len(b.keys)
        pairs_done += na * (na - 1) // 2 if i == j else na * nb
        del a, b
    total = time.perf_counter() - t0
    peak = vm_hwm()
    Path(args.out).write_text(
        json.dumps(
            {
                "total": total,
                "load": load_s,
                "compare": compare_s,
                "found": found,
                "block_pairs": len(all_pairs),
                "block_pairs_run": len(todo),
                "ran": todo,
                "pairs_done": pairs_done,
                "peak_rss": peak,
            }
        )
    )


def sample_block_pairs(all_pairs: list[tuple[int, int]], k: int | None) -> list[tuple[int, int]]:
    """All block pairs, or k of them spread evenly over the list (always the first diagonal one, (0, 0), and at
    least one off-diagonal one when there are any): the rate and peak memory of a large N without running every
    block pair (memory depends on the block size only, not on N)."""
    if not k or k >= len(all_pairs):
        return all_pairs
    picked = sorted({round(x) for x in np.linspace(0, len(all_pairs) - 1, k)})
    chosen = [all_pairs[x] for x in picked]
    if all(i == j for i, j in chosen) and len(all_pairs) > 1:
        chosen[-1] = next(p for p in reversed(all_pairs) if p[0] != p[1])
    return chosen


def compare(args: argparse.Namespace) -> str:
    threshold = NAMED.get(args.similarity) if args.similarity in NAMED else float(args.similarity)
    rotate, same_dim = bool(args.rotate), bool(args.same_dim)
    shard = args.shard or min(1000, args.block)
    if args.block % shard:
        raise SystemExit(f"--block ({args.block}) must be a multiple of --shard ({shard})")
    d = args.px * args.px * 3
    rotations = 4 if rotate else 1
    print(f"measuring float32 GEMM: (2048 x {d}) @ ({d} x 8192), best of 3 ...", flush=True)
    gflops, gflops_cpu = gemm_gflops(d)
    bound = gflops * 1e9 / (2 * d * rotations)
    bound_cpu = gflops_cpu * 1e9 / (2 * d * rotations)
    print(
        f"GEMM {gflops:.1f} GFLOP/s ({gflops_cpu:.1f} GFLOP per CPU second) -> bound {fmt_rate(bound)} pairs/s",
        flush=True,
    )
    rows = []
    for n in args.n:
        tmp = Path(tempfile.mkdtemp(prefix=f"fastdiff-cmp-{n}-", dir=args.workdir))
        try:
            t = time.perf_counter()
            planted = make_synthetic(tmp, n, args.px, shard, rotate, threshold, same_dim)
            gen_s = time.perf_counter() - t
            out = tmp / "result.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "_compare",
                str(tmp),
                str(out),
                "--block",
                str(args.block),
                "--shard",
                str(shard),
                "--threshold",
                repr(threshold),
                "--rotate",
                str(int(rotate)),
                "--same-dim",
                str(int(same_dim)),
                "--tile",
                str(args.tile),
            ]
            if args.sample_block_pairs:
                cmd += ["--sample-block-pairs", str(args.sample_block_pairs)]
            print(f"N={n}: synthetic data in {gen_s:.1f} s; comparing ...", flush=True)
            m = run_measured(cmd, tmp / "compare.log")
            r = json.loads(out.read_text())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        found = set(map(tuple, r["found"]))
        sampled = r["block_pairs_run"] < r["block_pairs"]
        if sampled:  # only the planted pairs whose two images fall into a block pair that ran can be found
            ran = {(i, j) for i, j in r["ran"]}
            planted = [p for p in planted if (p[0] // args.block, p[1] // args.block) in ran]
        hit = sum(1 for p in planted if p in found)
        pairs = r["pairs_done"]
        rate = pairs / r["total"]
        block_pairs = f"{r['block_pairs_run']} of {r['block_pairs']}" if sampled else r["block_pairs"]
        rows.append(
            [
                f"{n:,}",
                f"{pairs:,}" + (" (sampled)" if sampled else ""),
                block_pairs,
                f"{r['total']:.1f}",
                f"{r['load']:.1f}",
                f"{r['compare']:.1f}",
                fmt_rate(rate),
                fmt_rate(pairs / r["compare"]),
                fmt_rate(bound),
                f"{rate / bound:.0%}",
                fmt_mb(r["peak_rss"]),
                f"{m['cpu']:.0f}",
                f"{hit}/{len(planted)}" + ("" if hit == len(planted) else " MISSING"),
                len(found) - hit,
                f"{m['foreign']:.2f}",
                fmt_rate(pairs / m["cpu"]),
                f"{pairs / m['cpu'] / bound_cpu:.0%}",
            ]
        )
        print(md_table(HEADER_CMP, rows[-1:]), flush=True)
    title = (
        f"### compare only: synthetic {args.px}x{args.px} thumbnails (d = {d}), rotate {int(rotate)} "
        f"({rotations} rotation(s)), same_dim {int(same_dim)}, similarity `{args.similarity}` "
        f"(MSE <= {threshold:g}), blocks of {args.block} ({shard}-image shards), tile {args.tile}\n\n"
        f"{machine_line()}; float32 GEMM {gflops:.1f} GFLOP/s, {gflops_cpu:.1f} GFLOP per CPU second "
        f"((2048 x {d}) @ ({d} x 8192), best of 3)\n"
    )
    note = (
        "\nseconds = all block pairs i <= j in one process (load_block + compare_blocks), or with "
        '--sample-block-pairs K only K of them spread evenly ("K of M"; pairs then counts the pairs inside the '
        "block pairs that ran, and planted pairs only those inside them); pairs/s = pairs / "
        "seconds; GEMM bound = GFLOP/s / (2 d rotations); peak RSS = VmHWM of that process; "
        "CPU = user+sys of it (both cores are used by BLAS); foreign load = other processes' cores on average; "
        "pairs per CPU s and fraction of bound (CPU) = the same per CPU second of the compare process and of "
        "the GEMM (steadier than wall rates when other processes share the cores)."
    )
    return "\n".join([title, md_table(HEADER_CMP, rows), note])


HEADER_CMP = [
    "N",
    "pairs",
    "block pairs",
    "seconds",
    "load s",
    "compare s",
    "pairs/s",
    "pairs/s (compare only)",
    "GEMM-bound pairs/s",
    "fraction of bound",
    "peak RSS MB",
    "CPU s",
    "planted found",
    "other pairs",
    "foreign load",
    "pairs per CPU s",
    "fraction of bound (CPU)",
]


# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)

    e = sub.add_parser("e2e", help="fastdiff vs difPy 4.2.1 vs plain numpy on a folder of images")
    e.add_argument("images_dir")
    e.add_argument("--similarity", default="similar", help="duplicates, similar or a number (default similar)")
    e.add_argument("--rotate", type=int, choices=(0, 1), default=1)
    e.add_argument("--same-dim", type=int, choices=(0, 1), default=0)
    e.add_argument(
        "--difpy-python",
        default="/tmp/difpy-venv/bin/python",
        help="python of a venv with difPy==4.2.1 (skipped if missing)",
    )
    e.add_argument("--limit", type=int, help="only the first N images (sorted), symlinked into a temp folder")
    e.add_argument("--cores", type=int, default=2, help="fastdiff --cores and difPy processes (default 2)")
    e.add_argument("--px", type=int, default=50)
    e.add_argument("--workdir", help="where the temp folders go (default: system temp)")
    e.add_argument("--keep", action="store_true", help="keep the temp folder (outputs, logs)")
    e.add_argument("--markdown", help="also write the tables as markdown to this file")

    c = sub.add_parser("compare", help="compare kernel only, synthetic thumbnails")
    c.add_argument("--n", type=int, action="append", required=True, help="number of thumbnails (repeatable)")
    c.add_argument("--rotate", type=int, choices=(0, 1), default=1)
    c.add_argument(
        "--same-dim",
        type=int,
        choices=(0, 1),
        default=0,
        help="0 (default): every pair is computed; 1: random dimensions from 5 sizes, most tiles skipped",
    )
    c.add_argument("--similarity", default="similar")
    c.add_argument("--px", type=int, default=50)
    c.add_argument(
        "--block",
        type=int,
        default=4000,
        help="images per block (default 4000: the workflow's blocks with block_size auto)",
    )
    c.add_argument("--shard", type=int, help="images per saved batch (default min(1000, block))")
    c.add_argument("--tile", type=int, default=1024, help="CompareOptions.tile_size")
    c.add_argument(
        "--sample-block-pairs",
        type=int,
        metavar="K",
        help="run only K of the block pairs, spread evenly (rate and peak RSS of a large N in less time)",
    )
    c.add_argument("--workdir")
    c.add_argument("--markdown")

    t = sub.add_parser("thumbnails", help="fastdiff's thumbnail build vs difPy.build on a folder of images")
    t.add_argument("images_dir")
    t.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each tool (default 3)")
    t.add_argument("--threads", type=int, default=2, help="fastdiff threads and difPy processes (default 2)")
    t.add_argument(
        "--difpy-python",
        default="/tmp/difpy-venv/bin/python",
        help="python of a venv with difPy==4.2.1 (skipped if missing)",
    )
    t.add_argument("--px", type=int, default=50)
    t.add_argument("--workdir")
    t.add_argument("--markdown")

    tw = sub.add_parser("_thumbnails")  # internal: fastdiff's thumbnail build
    tw.add_argument("dir")
    tw.add_argument("out")
    tw.add_argument("--threads", type=int, required=True)
    tw.add_argument("--px", type=int, required=True)

    w = sub.add_parser("_numpy")  # internal: the plain-numpy baseline process
    w.add_argument("dir")
    w.add_argument("out")
    w.add_argument("--threshold", type=float, required=True)
    w.add_argument("--rotate", type=int, required=True)
    w.add_argument("--same-dim", type=int, required=True)
    w.add_argument("--px", type=int, default=50)

    k = sub.add_parser("_compare")  # internal: one compare-only run
    k.add_argument("dir")
    k.add_argument("out")
    k.add_argument("--block", type=int, required=True)
    k.add_argument("--shard", type=int, required=True)
    k.add_argument("--threshold", type=float, required=True)
    k.add_argument("--rotate", type=int, required=True)
    k.add_argument("--same-dim", type=int, required=True)
    k.add_argument("--tile", type=int, required=True)
    k.add_argument("--sample-block-pairs", type=int)

    args = ap.parse_args(argv)
    if args.mode == "_numpy":
        numpy_baseline_worker(args)
        return 0
    if args.mode == "_compare":
        compare_worker(args)
        return 0
    if args.mode == "_thumbnails":
        thumbnails_worker(args)
        return 0
    report = {"e2e": e2e, "compare": compare, "thumbnails": thumbnails}[args.mode](args)
    print()
    print(report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
        print(f"\nwritten to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
