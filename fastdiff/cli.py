"""`fastdiff run`: run the workflow on directories without writing a config file."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import difflib
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import yaml

from fastdiff import __version__
from fastdiff.actions.act import add_act_parser, run_act
from fastdiff.core.config import NAMED_THRESHOLDS, SUBFOLDERS, ConfigError
from fastdiff.query import add_query_parser, run_query
from fastdiff.run.runner import INTERRUPTED, RESUME_LINE, RunError, default_config, resolve_paths, run_workflow
from fastdiff.run.screen import NORMAL, Show


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest of choices (difflib), or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def key_value(text: str) -> tuple[str, Any]:
    """A --config KEY=VALUE item, the value read as YAML (as Snakemake reads --config)."""
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


def similarity(text: str) -> str | float:
    """--similarity: 'duplicates', 'similar' or a number."""
    if text in NAMED_THRESHOLDS:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'duplicates', 'similar' or a number{did_you_mean(text, NAMED_THRESHOLDS)}"
        ) from None


class Parser(argparse.ArgumentParser):
    """argparse, with a did-you-mean for an unknown option."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with argparse's message, plus the closest known option for an unrecognised one."""
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown:
            options = [o for action in self._actions for o in action.option_strings]
            for sub in self._subparsers._group_actions if self._subparsers else []:
                options += [o for parser in sub.choices.values() for a in parser._actions for o in a.option_strings]
            message += did_you_mean(unknown.group(1).split("=")[0], options)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The `fastdiff` command line: `run` (the workflow), `query` (a finished run's database) and `act` (move,
    delete or undo its lower-quality copies)."""
    parser = Parser(prog="fastdiff", description="Exact all-to-all duplicate image search.")
    parser.add_argument("--version", action="version", version=f"fastdiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run = sub.add_parser(
        "run",
        help="run the workflow on directories (default: the bundled examples)",
        description="Find duplicate and similar images in DIRs. Outputs in OUT: fastdiff.sqlite, "
        "results.json, lower_quality.json, stats.json (intermediates in OUT/work).",
    )
    run.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="folders of partition A (none at all: the bundled examples of a checkout)",
    )
    run.add_argument("-o", "--output", default="results", metavar="OUT", help="output directory (default: results)")
    run.add_argument("--cores", type=_cores, default=os.cpu_count() or 1, help="cores for snakemake (default: all)")
    run.add_argument(
        "--part-b",
        action="append",
        metavar="DIR",
        help="a folder of partition B (one per use: --part-b X --part-b Y); only A x B pairs are compared",
    )
    run.add_argument("--similarity", type=similarity, help="'duplicates' (MSE 0), 'similar' (MSE 5) or a number")
    run.add_argument("--rotate", action=argparse.BooleanOptionalAction, help="also match 90/180/270 rotations")
    run.add_argument("--same-dim", action=argparse.BooleanOptionalAction, help="only compare images of equal size")
    run.add_argument(
        "--mirror", action=argparse.BooleanOptionalAction, help="also match mirror images (the 8 symmetries)"
    )
    run.add_argument(
        "--grayscale", action=argparse.BooleanOptionalAction, help="compare luma thumbnails: grey copies match"
    )
    run.add_argument("--num-images", type=int, metavar="N", help="trial run: only the first N images (index order)")
    run.add_argument(
        "--neighbors", type=int, metavar="K", help="also give every image its K closest images (OUT/similarity.csv)"
    )
    run.add_argument(
        "--outlier-mse", type=float, metavar="MSE", help="list images whose nearest neighbour is farther than MSE"
    )
    run.add_argument("--px-size", type=int, help="thumbnail side in pixels (default 50)")
    run.add_argument(
        "--in-folder",
        action="store_true",
        default=None,
        help="compare inside each folder only: each DIR on its own; with one DIR, each of its direct subfolders "
        "(and the files directly in it) on its own",
    )
    run.add_argument(
        "--include-hidden",
        action="store_true",
        default=None,
        help="also search hidden files and folders (names starting with '.'; skipped and counted by default)",
    )
    run.add_argument("--shard-size", type=int, help="files per index shard / thumbnail job")
    run.add_argument(
        "--config",
        type=key_value,
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="set any config key (docs/configuration.md), e.g. --config threads=4 report=true; may be repeated",
    )
    run.add_argument("--dry-run", "-n", action="store_true", help="show the jobs without running them")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="instead of the bar: each job and its log lines (Snakemake's own output where Snakemake runs the jobs)",
    )
    run.add_argument(
        "--snakemake",
        action="store_true",
        help="run the jobs through Snakemake, side by side on --cores (by default local runs run them in this "
        "process, one at a time on all the cores, writing the same files)",
    )
    run.add_argument(
        "--profile",
        metavar="NAME",
        default="default",
        help="workflow profile shipped with fastdiff: 'default' (local) or 'slurm'",
    )
    run.epilog = "Arguments after '--' are passed to snakemake unchanged, e.g. -- --keep-going."
    add_query_parser(sub)
    add_act_parser(sub)
    return parser


def in_folder_value(args: argparse.Namespace) -> bool | str | None:
    """--in-folder as the config's in_folder: with several DIRs each on its own (true); with one DIR each of its
    direct subfolders, and the files directly in it, on its own ('subfolders'); None when not given."""
    if not args.in_folder:
        return None
    return SUBFOLDERS if len(args.dirs) == 1 else True


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run's full config: the workflow's config.yaml, then flags, then --config; paths resolved (resolve_paths)."""
    raw = default_config()
    if args.dirs:
        raw["part_a"] = list(args.dirs)
    flags = {
        "part_b": args.part_b,
        "threshold": args.similarity,
        "rotate": args.rotate,
        "same_dim": args.same_dim,
        "mirror": args.mirror,
        "grayscale": args.grayscale,
        "num_images": args.num_images,
        "neighbors": args.neighbors,
        "outlier_mse": args.outlier_mse,
        "px_size": args.px_size,
        "in_folder": in_folder_value(args),
        "shard_size": args.shard_size,
        "include_hidden": args.include_hidden,
    }
    raw.update({k: v for k, v in flags.items() if v is not None})
    raw.update(dict(args.config))
    raw["output_dir"] = args.output
    return resolve_paths(raw)


def folder_problem(args: argparse.Namespace) -> str | None:
    """Why the folders of the command line cannot be read one way only, or None.

    Partition B given but no partition A (neither DIR nor --config part_a=...): the bundled examples would be
    searched against it, which nobody means.
    """
    given_a = bool(args.dirs) or any(key == "part_a" for key, _ in args.config)
    given_b = bool(args.part_b) or any(key == "part_b" and value for key, value in args.config)
    if given_b and not given_a:
        return (
            "partition B is given but no folder of partition A: name it as DIR, e.g. "
            "fastdiff run A_FOLDER --part-b B_FOLDER -o OUT (--part-b takes one folder per use)"
        )
    return None


def run(args: argparse.Namespace, snakemake_args: list[str]) -> int:
    """`fastdiff run`: the workflow on the resolved configuration; 2 on a bad configuration or setup."""
    problem = folder_problem(args)
    if problem:
        print(f"fastdiff: {problem}", file=sys.stderr)
        return 2
    raw = resolve_config(args)
    if not raw["part_a"]:
        print("fastdiff: give the folders to search: fastdiff run DIR [DIR ...] -o OUT", file=sys.stderr)
        return 2
    show = Show(verbose=True) if args.verbose else NORMAL
    try:
        return run_workflow(raw, args.cores, args.profile, args.dry_run, snakemake_args, show, not args.snakemake)
    except (ConfigError, RunError) as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The command line, read one way only: a folder of `run` after an option (`--part-b B A2`) is a folder of
    partition A too, as the start line then shows; anything else unknown is an error (with a did-you-mean)."""
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "run" and not any(e.startswith("-") for e in extra):
        args.dirs = [*args.dirs, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run `fastdiff ARGV` (sys.argv[1:] by default; arguments after `--` go to Snakemake) and return its exit code:
    0 done, 1 a job failed, 2 a bad setting or argument, 130 interrupted."""
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = parse_arguments(build_parser(), argv[:split])
    if args.command == "run":
        try:
            return run(args, argv[split + 1 :])
        except KeyboardInterrupt:  # before or after the workflow (the runner handles one during it)
            print(f"\nfastdiff: {RESUME_LINE}", file=sys.stderr)
            return INTERRUPTED
    if args.command == "query":
        return run_query(args)
    if args.command == "act":
        return run_act(args)
    return 2


def entry() -> NoReturn:
    """The `fastdiff` command: main(), then the exit handlers (atexit: logging, ...) and an exit that skips tearing
    down the interpreter's modules (numpy, OpenCV, pydantic: some 50 ms, a tenth of a small run)."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
