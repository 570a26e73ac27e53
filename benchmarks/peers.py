#!/usr/bin/env python
"""fastdiff end to end against the hash tools imagehash and czkawka on one folder, in one run.

    python benchmarks/peers.py IMAGES_DIR [--rounds 2] [--cores 2] [--markdown PATH]

The real collections measured are Debian's clipart and wallpaper packages, fetched once:

    mkdir -p /tmp/peers && cd /tmp/peers
    apt-get download openclipart-png plasma-workspace-wallpapers
    for f in *.deb; do dpkg-deb -x "$f" data; done
    python benchmarks/peers.py /tmp/peers/data/usr/share

Each tool runs as its users run it, in a fresh interpreter, on every image under IMAGES_DIR (.png .jpg .jpeg .webp
.bmp .gif .tif .tiff), with nothing cached from an earlier run:

- **fastdiff**: `fastdiff run IMAGES_DIR -o OUT --cores N` with the default settings (`duplicates`: MSE 0 between
  full-decode, alpha-composited 50x50 thumbnails, the 4 rotations), a new OUT each round.
- **imagehash** (4.x): `imagehash.phash(PIL.Image.open(path))` per image file (`list_images`), over a
  `multiprocessing.Pool(N)` (the library has no parallelism of its own; one process is also timed), then the files
  grouped by equal hash: the exact-duplicate search imagededup's hashing methods make with
  `max_distance_threshold=0`.
- **czkawka** (the PyPI binding of czkawka_core): `ImageSimilarity` with similarity 0 (equal gradient hashes), its
  hash cache pointed at an empty folder each round (XDG_CACHE_HOME).

Wall and CPU seconds are of the whole process tree, start-up and imports included (benchmark.run_measured); rounds
alternate the tools so a busy machine slows them alike, and the table gives the best round (the median in brackets).
The group columns say what each answer would make a user do: how many files are in some group, and the largest group
(on clipart, a group of hundreds means distinct drawings called duplicates).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark import machine_line, md_table, run_measured  # noqa: E402

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def list_images(root: Path) -> list[str]:
    """Every image file under root (by suffix), sorted, as str paths; symbolic links left out, as fastdiff's index
    leaves them (the clipart package links 1,364 of its names to other files)."""
    return sorted(
        str(p) for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file() and not p.is_symlink()
    )


# ----------------------------------------------------------------------------------------------------------------
# the peers, each run in its own interpreter through the hidden sub-commands below


def _phash(path: str) -> str | None:
    import imagehash
    from PIL import Image

    try:
        with Image.open(path) as im:
            return str(imagehash.phash(im))
    except Exception:  # imagehash users skip what PIL cannot open, as imagededup does
        return None


def imagehash_worker(args: argparse.Namespace) -> None:
    from multiprocessing import Pool

    paths = list_images(Path(args.images))
    if args.processes > 1:
        with Pool(args.processes) as pool:
            hashes = pool.map(_phash, paths, chunksize=16)
    else:
        hashes = [_phash(p) for p in paths]
    groups: dict[str, list[str]] = {}
    for path, h in zip(paths, hashes, strict=True):
        if h is not None:
            groups.setdefault(h, []).append(path)
    Path(args.out).write_text(json.dumps([g for g in groups.values() if len(g) > 1]))


def czkawka_worker(args: argparse.Namespace) -> None:
    from czkawka import ImageSimilarity

    finder = ImageSimilarity()
    finder.set_directories([args.images])
    finder.set_similarity(0)
    Path(args.out).write_text(json.dumps([[str(p) for p in g] for g in finder.find_similar()]))


# ----------------------------------------------------------------------------------------------------------------
# measuring


def fastdiff_groups(out: Path) -> list[list[str]]:
    results = json.loads((out / "results.json").read_text())
    return [[head, *(m[0] for m in members)] for head, members in results.items()]


def run_round(tool: str, images: str, cores: int, tmp: Path) -> tuple[float, float, list[list[str]]]:
    """One timed run of a tool in a fresh folder: (wall s, CPU s of its process tree, its groups of files)."""
    env = dict(os.environ)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=tmp))
    groups = run_dir / "groups.json"
    if tool == "fastdiff":
        out = run_dir / "out"
        cmd = [str(Path(sys.executable).with_name("fastdiff")), "run", images, "-o", str(out), "--cores", str(cores)]
    elif tool.startswith("imagehash"):
        processes = 1 if tool == "imagehash-1" else cores
        cmd = [sys.executable, __file__, "_imagehash", images, "--processes", str(processes), "--out", str(groups)]
    else:
        env["XDG_CACHE_HOME"] = str(run_dir / "cache")  # czkawka_core's hash cache: empty each round
        cmd = [sys.executable, __file__, "_czkawka", images, "--out", str(groups)]
    measured = run_measured(cmd, run_dir / "log", env)
    found = fastdiff_groups(out) if tool == "fastdiff" else json.loads(groups.read_text())
    return measured["wall"], measured["cpu"], found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--markdown")
    ap.add_argument("--tools", nargs="+", default=["fastdiff", "imagehash", "imagehash-1", "czkawka"])
    ap.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    sub = sys.argv[1] if argv is None and len(sys.argv) > 1 else None
    if sub in ("_imagehash", "_czkawka"):
        worker_args = ap.parse_args(sys.argv[2:])
        (imagehash_worker if sub == "_imagehash" else czkawka_worker)(worker_args)
        return 0
    args = ap.parse_args(argv)
    images = str(Path(args.images).resolve())
    n = len(list_images(Path(images)))
    times: dict[str, list[tuple[float, float]]] = {t: [] for t in args.tools}
    groups: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="fastdiff-peers-") as tmp:
        for r in range(args.rounds):
            order = args.tools if r % 2 == 0 else list(reversed(args.tools))
            for tool in order:
                wall, cpu, found = run_round(tool, images, args.cores, Path(tmp))
                times[tool].append((wall, cpu))
                groups[tool] = found
                print(f"round {r + 1} {tool}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    rows = []
    for tool in args.tools:
        walls = [w for w, _ in times[tool]]
        cpus = [c for _, c in times[tool]]
        found = groups[tool]
        best = min(walls)
        rows.append(
            [
                tool,
                f"{best:.1f} ({statistics.median(walls):.1f})",
                f"{min(cpus):.1f} ({statistics.median(cpus):.1f})",
                f"{n / best:,.0f}",
                len(found),
                sum(len(g) for g in found),
                max((len(g) for g in found), default=0),
            ]
        )
    text = (
        f"{machine_line()}\n\n{n:,} images under {images}, --cores {args.cores}, best of {args.rounds} rounds "
        "(median in brackets)\n\n"
        + md_table(
            ["tool", "wall s", "CPU s", "images/s (wall)", "groups", "files in groups", "largest group"],
            rows,
        )
    )
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
