"""`fastdiff run`: run the workflow on directories without writing a config file."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from .config import ConfigError
from .query import add_query_parser, run_query
from .runner import RunError, default_config, run_workflow


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


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
    run.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores for snakemake (default: all)")
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
    raw = default_config()
    if args.dirs:
        raw["part_a"] = list(args.dirs)
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
    for key in ("part_a", "part_b", "ignore_paths", "prefer"):
        if key != "part_a" or raw.get("compat") != "difpy":  # difPy's arguments stay as given, under base_dir
            raw[key] = [os.path.abspath(p) for p in raw.get(key) or []]
    raw["output_dir"] = os.path.abspath(args.output)
    return raw


def run(args: argparse.Namespace, snakemake_args: list[str]) -> int:
    """`fastdiff run`: the workflow on the resolved configuration; 2 on a bad configuration or setup."""
    try:
        return run_workflow(resolve_config(args), args.cores, args.profile, args.dry_run, snakemake_args)
    except (ConfigError, RunError) as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2


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
