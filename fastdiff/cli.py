"""`fastdiff run`: run the workflow on directories without writing a config file."""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_open
from .config import ConfigError, load_config
from .device import DeviceError
from .preflight import PreflightError, check_run, jobs_run_here
from .query import add_query_parser, run_query

REPO_ROOT = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO_ROOT / "Snakefile"
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def _cores(text: str) -> int:
    try:
        cores = int(text)
    except ValueError:
        cores = 0
    if cores < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return cores


def _similarity(text: str) -> str | float:
    return text if text in ("duplicates", "similar") else float(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastdiff", description="Exact all-to-all duplicate image search.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the workflow on directories (default: the bundled examples)",
        description="Find duplicate and similar images in DIRs. Outputs in OUT: fastdiff.sqlite, "
        "results.json, lower_quality.json, stats.json (intermediates in OUT/work).",
    )
    run.add_argument("dirs", nargs="*", metavar="DIR", help="directories of partition A (default: config/config.yaml)")
    run.add_argument("-o", "--output", default="results", metavar="OUT", help="output directory (default: results)")
    run.add_argument("--cores", type=_cores, default=os.cpu_count() or 1, help="cores for snakemake (default: all)")
    run.add_argument("--part-b", nargs="+", metavar="DIR", help="partition B: only A x B pairs are compared")
    run.add_argument("--similarity", type=_similarity, help="'duplicates' (MSE 0), 'similar' (MSE 5) or a number")
    run.add_argument("--rotate", action=argparse.BooleanOptionalAction, help="also match 90/180/270 rotations")
    run.add_argument("--same-dim", action=argparse.BooleanOptionalAction, help="only compare images of equal size")
    run.add_argument("--px-size", type=int, help="thumbnail side in pixels (default 50)")
    run.add_argument("--in-folder", action="store_true", default=None, help="compare inside each folder only")
    run.add_argument("--shard-size", type=int, help="files per index shard / thumbnail job")
    run.add_argument(
        "--config",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config key (see config/config.yaml); may be repeated",
    )
    run.add_argument("--dry-run", "-n", action="store_true", help="show the jobs without running them")
    run.add_argument(
        "--profile",
        metavar="NAME",
        default="default",
        help="workflow profile profiles/NAME of this checkout, e.g. 'slurm' (default: 'default', local)",
    )
    run.epilog = "Arguments after '--' are passed to snakemake unchanged, e.g. -- --keep-going."
    add_query_parser(sub)
    return parser


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run's full config: config/config.yaml, then flags, then --config; paths made absolute."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text()) if DEFAULT_CONFIG.exists() else {}
    if args.dirs:
        raw["part_a"] = list(args.dirs)
    else:  # the defaults in config/config.yaml are relative to the checkout
        raw["part_a"] = [str(REPO_ROOT / d) for d in raw.get("part_a", [])]
    flags = {
        "part_b": args.part_b,
        "threshold": args.similarity,
        "rotate": args.rotate,
        "same_dim": args.same_dim,
        "px_size": args.px_size,
        "in_folder": args.in_folder,
        "shard_size": args.shard_size,
    }
    raw.update({k: v for k, v in flags.items() if v is not None})
    raw.update(dict(args.config))
    for key in ("part_a", "part_b", "ignore_paths"):
        if key != "part_a" or raw.get("compat") != "difpy":  # difPy's arguments stay as given, under base_dir
            raw[key] = [os.path.abspath(p) for p in raw.get(key) or []]
    raw["output_dir"] = os.path.abspath(args.output)
    return raw


def _clear_stale_lock(workdir: Path) -> None:
    """Remove Snakemake's lock left by a killed run (we hold our own lock, so no other run is active)."""
    locks = workdir / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        print("fastdiff: removing the lock of an interrupted earlier run", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--snakefile",
                str(SNAKEFILE),
                "--directory",
                str(workdir),
                "--configfile",
                str(workdir / "config.yaml"),
                "--unlock",
                "--quiet",
                "all",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def run(args: argparse.Namespace, snakemake_args: list[str]) -> int:
    raw = resolve_config(args)
    try:
        config = load_config(raw)
    except ConfigError as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2
    if not SNAKEFILE.exists():
        print(
            f"fastdiff: the workflow is not found at {SNAKEFILE}; install with 'pip install -e .' from a checkout",
            file=sys.stderr,
        )
        return 2
    profile = REPO_ROOT / "profiles" / args.profile
    if not (profile / "config.yaml").is_file():
        names = sorted(p.parent.name for p in (REPO_ROOT / "profiles").glob("*/config.yaml"))
        print(
            f"fastdiff: no profile {args.profile!r} (profiles/{args.profile}/config.yaml); available: "
            f"{', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    try:
        settings = yaml.safe_load((profile / "config.yaml").read_text()) or {}
        check_run(config, jobs_here=jobs_run_here(settings, snakemake_args))
    except (PreflightError, DeviceError) as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2
    workdir = Path(config.output_dir) / "work"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with atomic_open(workdir / "config.yaml", "w", encoding="utf-8") as fh:
            fh.write(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
        lock = open(workdir / ".fastdiff.lock", "w")  # noqa: SIM115 - held by the `with lock` below
    except OSError as err:
        print(
            f"fastdiff: cannot write to the output folder {config.output_dir}: {err.strerror or err}", file=sys.stderr
        )
        return 2
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"fastdiff: another fastdiff run is using {config.output_dir}", file=sys.stderr)
            return 2
        _clear_stale_lock(workdir)
        cmd = [
            sys.executable,
            "-m",
            "fastdiff.run_snakemake",
            "--snakefile",
            str(SNAKEFILE),
            "--directory",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            str(args.cores),
            "--rerun-incomplete",
            "--scheduler",
            "greedy",
            "--workflow-profile",
            str(profile),
            *(["--dry-run"] if args.dry_run else []),
            *snakemake_args,
        ]
        started = time.time()
        code = subprocess.call(cmd)
        for _ in range(MAX_REBUILD_RUNS):  # a job found a corrupt thumbnail batch and removed it: rebuild it now
            if code == 0 or args.dry_run or not _job_logs_with(workdir, started, CORRUPT_BATCH):
                break
            print("fastdiff: a corrupt thumbnail batch was removed; running again to rebuild it", file=sys.stderr)
            started = time.time()
            code = subprocess.call(cmd)
        if code != 0:
            _explain_failure(Path(config.output_dir), workdir, started)
        return code


MAX_REBUILD_RUNS = 3
CORRUPT_BATCH = "corrupt thumbnail batch"
# errors of the output folder that a user can fix, as a failed job's traceback shows them
DISK_FULL = ("[Errno 28] No space left on device", "[Errno 122] Disk quota exceeded", "database or disk is full")
NOT_WRITABLE = ("[Errno 30] Read-only file system", "[Errno 13] Permission denied")


def _job_logs_with(workdir: Path, since: float, text: str) -> list[tuple[Path, str]]:
    """(log, line) for the job logs written since `since` whose last 64 kB contain `text`."""
    found = []
    for path in sorted((workdir / "logs").rglob("*.log")):
        try:
            if path.stat().st_mtime < since - 1:
                continue
            with open(path, "rb") as fh:
                fh.seek(max(0, path.stat().st_size - 65536))
                tail = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        line = next((ln for ln in tail.splitlines() if text in ln), None)
        if line is not None:
            found.append((path, line.strip()))
    return found


def _explain_failure(out: Path, workdir: Path, since: float) -> None:
    """After a failed run: say plainly when the output folder is full, read-only or not permitted."""
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        free = None
    full = [hit for text in DISK_FULL for hit in _job_logs_with(workdir, since, text)]
    denied = [hit for text in NOT_WRITABLE for hit in _job_logs_with(workdir, since, text)]
    if full or (free is not None and free < 1 << 20):
        where = f" (see {full[0][0]})" if full else ""
        print(
            f"fastdiff: the run failed because the disk of {out} is full{where}; {(free or 0) / 2**20:.1f} MiB free.",
            file=sys.stderr,
        )
    elif denied:
        print(
            f"fastdiff: the run failed because {out} cannot be written: {denied[0][1]} (see {denied[0][0]}).",
            file=sys.stderr,
        )
    else:
        return
    print(
        "fastdiff: fix that and run the same command again; finished jobs are kept. Results files are only ever "
        "written whole, never in part.",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    if args.command == "run":
        return run(args, argv[split + 1 :])
    if args.command == "query":
        return run_query(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
