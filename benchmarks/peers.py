#!/usr/bin/env python
"""fastdiff end to end against imagehash, czkawka, imagededup and fastdup on one folder, in one run.

    python benchmarks/peers.py IMAGES_DIR [--rounds 3] [--cores 2] [--markdown PATH] [--peer-python PYTHON]

The peers need not be installed beside fastdiff: --peer-python names the interpreter of a separate virtual
environment that has them (imagededup pulls in torch, fastdup its own binaries), e.g.

    python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install imagehash czkawka imagededup fastdup
    python benchmarks/peers.py /tmp/peers/data/usr/share --peer-python /tmp/peers-venv/bin/python

A peer that this interpreter cannot import is left out of the table, with a line saying so.

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
- **imagededup** (0.3): `PHash().find_duplicates(image_dir, max_distance_threshold=0, recursive=True)` with N
  encoding workers, its answer (each file's duplicates) joined into groups.
- **fastdup** (2.x): `fastdup.create(work_dir, input_dir).run(num_threads=N)` with its defaults, the groups its
  `connected_components()` reports (components of more than one image).

Wall and CPU seconds are of the whole process tree, start-up and imports included (benchmark.run_measured); rounds
interleave the tools (the order reversed every other round) so a busy machine slows them alike, and the table gives
the best round (the median in brackets) and the foreign load: the cores other processes kept busy during the tool's
rounds, on average (median over the rounds), so that a figure measured on a shared machine can be judged.
The group columns say what each answer would make a user do: how many files are in some group, and the largest group
(on clipart, a group of hundreds means distinct drawings called duplicates).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


def components(pairs: dict[str, list[str]]) -> list[list[str]]:
    """Groups (connected components of more than one file) of an answer that lists each file's duplicates."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, others in pairs.items():
        for b in others:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def imagededup_worker(args: argparse.Namespace) -> None:
    from imagededup.methods import PHash

    found = PHash(verbose=False).find_duplicates(
        image_dir=args.images, max_distance_threshold=0, recursive=True, num_enc_workers=args.processes
    )
    Path(args.out).write_text(json.dumps(components(found)))


def fastdup_worker(args: argparse.Namespace) -> None:
    import fastdup

    fd = fastdup.create(work_dir=str(Path(args.out).parent / "fastdup"), input_dir=args.images)
    fd.run(num_threads=args.processes, overwrite=True)
    cc, _ = fd.connected_components()
    groups = cc.groupby("component_id")["filename"].apply(list) if len(cc) else []
    Path(args.out).write_text(json.dumps([sorted(map(str, g)) for g in groups if len(g) > 1]))


PEER_MODULES = {"imagehash": "imagehash", "czkawka": "czkawka", "imagededup": "imagededup", "fastdup": "fastdup"}
WORKERS = {"_imagehash": "imagehash_worker", "_czkawka": "czkawka_worker", "_imagededup": "imagededup_worker"}
WORKERS["_fastdup"] = "fastdup_worker"


def installed(tool: str, python: str) -> bool:
    """Whether the peer's package imports in that interpreter (fastdiff: always)."""
    module = PEER_MODULES.get(tool.split("-")[0])
    if module is None:
        return True
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


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


def run_round(
    tool: str, images: str, cores: int, tmp: Path, python: str
) -> tuple[float, float, float, list[list[str]]]:
    """One timed run of a tool in a fresh folder: (wall s, CPU s of its process tree, foreign load in cores, its
    groups of files); the peers run in `python`."""
    env = dict(os.environ)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=tmp))
    groups = run_dir / "groups.json"
    if tool == "fastdiff":
        out = run_dir / "out"
        cmd = [str(Path(sys.executable).with_name("fastdiff")), "run", images, "-o", str(out), "--cores", str(cores)]
    elif tool.startswith("imagehash"):
        processes = 1 if tool == "imagehash-1" else cores
        cmd = [python, __file__, "_imagehash", images, "--processes", str(processes), "--out", str(groups)]
    elif tool in ("imagededup", "fastdup"):
        cmd = [python, __file__, f"_{tool}", images, "--processes", str(cores), "--out", str(groups)]
    else:
        env["XDG_CACHE_HOME"] = str(run_dir / "cache")  # czkawka_core's hash cache: empty each round
        cmd = [python, __file__, "_czkawka", images, "--out", str(groups)]
    measured = run_measured(cmd, run_dir / "log", env)
    found = fastdiff_groups(out) if tool == "fastdiff" else json.loads(groups.read_text())
    return measured["wall"], measured["cpu"], measured["foreign"], found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--markdown")
    ap.add_argument(
        "--tools", nargs="+", default=["fastdiff", "czkawka", "imagehash", "imagehash-1", "imagededup", "fastdup"]
    )
    ap.add_argument("--peer-python", default=sys.executable, help="the interpreter that has the peers' packages")
    ap.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    sub = sys.argv[1] if argv is None and len(sys.argv) > 1 else None
    if sub in WORKERS:
        globals()[WORKERS[sub]](ap.parse_args(sys.argv[2:]))
        return 0
    args = ap.parse_args(argv)
    images = str(Path(args.images).resolve())
    n = len(list_images(Path(images)))
    missing = [t for t in args.tools if not installed(t, args.peer_python)]
    tools = [t for t in args.tools if t not in missing]
    times: dict[str, list[tuple[float, float, float]]] = {t: [] for t in tools}
    groups: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="fastdiff-peers-") as tmp:
        for r in range(args.rounds):
            order = tools if r % 2 == 0 else list(reversed(tools))
            for tool in order:
                wall, cpu, foreign, found = run_round(tool, images, args.cores, Path(tmp), args.peer_python)
                times[tool].append((wall, cpu, foreign))
                groups[tool] = found
                print(
                    f"round {r + 1} {tool}: {wall:.1f} s wall, {cpu:.1f} s CPU, foreign load {foreign:.1f} cores",
                    file=sys.stderr,
                    flush=True,
                )
    rows = []
    for tool in tools:
        walls = [w for w, _, _ in times[tool]]
        cpus = [c for _, c, _ in times[tool]]
        found = groups[tool]
        best = min(walls)
        rows.append(
            [
                tool,
                f"{best:.1f} ({statistics.median(walls):.1f})",
                f"{min(cpus):.1f} ({statistics.median(cpus):.1f})",
                f"{statistics.median(f for _, _, f in times[tool]):.1f}",
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
            ["tool", "wall s", "CPU s", "foreign load", "images/s", "groups", "files in groups", "largest group"],
            rows,
        )
        + "".join(f"\n{t}: not installed for {args.peer_python}, left out" for t in missing)
    )
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
