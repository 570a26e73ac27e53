"""`fastdiff query`: print pairs, clusters and problems of a finished run as tables or JSON (streamed)."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import TextIO

from fastdiff._shared.paths import display
from fastdiff._shared.words import size_text
from fastdiff.merge.db.reader import Cluster, HashCluster, Image, Pair, Problem, ResultDB

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {0x7F: "\\x7f"}


def add_query_parser(sub: argparse._SubParsersAction) -> None:
    """Add the `query` subcommand to the top-level subparsers."""
    query = sub.add_parser(
        "query",
        help="print pairs, clusters and errors of a finished run",
        description="Read a run's database (read-only, except drop-diff) and print it as a "
        "table or, with --json, as JSON.",
    )
    query.add_argument("database", metavar="OUT", help="the run's output directory or its fastdiff.sqlite")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dif = argparse.ArgumentParser(add_help=False)
    dif.add_argument(
        "--max-dif", dest="max_mse", type=float, metavar="MSE", help="only pairs with an MSE at or below this"
    )
    kind = argparse.ArgumentParser(add_help=False)
    kind.add_argument(
        "--kind",
        choices=("components", "best_copy"),
        default="components",
        help="connected components of the pairs (default) or the best-copy groups of results.json (best_copy)",
    )
    what = query.add_subparsers(dest="what", required=True, metavar="WHAT")
    what.add_parser("summary", parents=[common], help="counts of files, pairs and clusters")
    pairs = what.add_parser("pairs", parents=[common, dif], help="matching pairs with their MSE")
    pairs.add_argument("--no-hash-matches", action="store_true", help="leave out pairs found by equal hashes")
    what.add_parser("clusters", parents=[common, kind, dif], help="all clusters, each image once")
    one = what.add_parser("cluster", parents=[common, kind, dif], help="the i-th cluster (0-based)")
    one.add_argument("index", type=int, metavar="I")
    what.add_parser("hash-clusters", parents=[common], help="images with identical thumbnails (up to rotation)")
    what.add_parser("errors", parents=[common], help="files that could not be indexed or decoded")
    what.add_parser("disallowed", parents=[common], help="files skipped by the extension filter or as aliases")
    drop = what.add_parser(
        "drop-diff", parents=[common], help="delete the pairs with an MSE above THRESHOLD from the database (writes)"
    )
    drop.add_argument("threshold", type=float, metavar="THRESHOLD")


def _text(text: str) -> str:
    """A path on one line, for reading: undecodable bytes and control characters shown as escapes (`--json` gives
    the exact paths, `fastdiff._shared.paths`)."""
    return display(text).translate(_CONTROL)


def _image_line(image: Image, role: str, mse: float | None) -> str:
    text = "" if mse is None else f"mse {mse:.6g}"
    size = size_text(image.file_size)
    return f"  {role:<5} {image.width:>6}x{image.height:<6} {size:>9}  {text:<14} {_text(image.path)}"


def _cluster_table(number: int, cluster: Cluster) -> str:
    lines = [
        f"cluster {number}: {cluster.size} images, kept because: {cluster.kept_because}",
        _image_line(cluster.best_copy, "kept", None),
    ]
    lines += [_image_line(c.image, "copy", c.mse) for c in cluster.copies]
    return "\n".join(lines)


def _cluster_json(number: int, cluster: Cluster) -> dict[str, object]:
    return {
        "index": number,
        "best_copy": asdict(cluster.best_copy),
        "kept_because": cluster.kept_because,
        "copies": [{**asdict(c.image), "mse": c.mse} for c in cluster.copies],
    }


def _hash_table(number: int, cluster: HashCluster) -> str:
    return "\n".join(
        [f"hash cluster {number}: {len(cluster.images)} images, {cluster.hash[:16]}"]
        + [f"  {i.width:>6}x{i.height:<6} {size_text(i.file_size):>9}  {_text(i.path)}" for i in cluster.images]
    )


def _pair_line(p: Pair) -> str:
    return f"{p.mse:>12.6g}  {'hash' if p.hash_match else '':<4}  {_text(p.path_a)}  {_text(p.path_b)}"


def _problem_line(p: Problem) -> str:
    return f"{p.stage:<6}  {_text(p.reason or '')}  {_text(p.path)}"


def _write_json_list(items: Iterable[object], out: TextIO) -> None:
    """A JSON array written item by item."""
    out.write("[")
    first = True
    for item in items:
        out.write(("\n " if first else ",\n ") + json.dumps(item))
        first = False
    out.write("]\n" if first else "\n]\n")


def _rows(db: ResultDB, args: argparse.Namespace, as_json: bool) -> Iterator[object]:
    """The items of a list-like query, as JSON-ready objects or table lines."""
    if args.what == "pairs":
        for p in db.pairs(args.max_mse, hash_matches=not args.no_hash_matches):
            yield asdict(p) if as_json else _pair_line(p)
    elif args.what == "clusters":
        for n, c in enumerate(db.clusters(args.kind, args.max_mse)):
            yield _cluster_json(n, c) if as_json else _cluster_table(n, c)
    elif args.what == "hash-clusters":
        for n, h in enumerate(db.hash_clusters()):
            images = [asdict(i) for i in h.images]
            yield {"index": n, "hash": h.hash, "images": images} if as_json else _hash_table(n, h)
    else:
        for p in db.errors() if args.what == "errors" else db.disallowed():
            yield asdict(p) if as_json else _problem_line(p)


def _print(db: ResultDB, args: argparse.Namespace, out: TextIO) -> None:
    if args.what in ("summary", "cluster", "drop-diff"):
        if args.what == "summary":
            result: dict[str, object] = dict(db.summary())
            table = "\n".join(f"{k:<17} {v}" for k, v in result.items()) + "\n" + db.file_counts().line()
            result["files_by_class"] = db.file_counts().to_json()
        elif args.what == "cluster":
            cluster = db.cluster(args.index, args.kind, args.max_mse)
            result, table = _cluster_json(args.index, cluster), _cluster_table(args.index, cluster)
        else:
            result = {
                "deleted": db.drop_diff(args.threshold),
                "pairs": db.pair_count(),
                "best_copy_groups": db.cluster_count("best_copy"),
            }
            groups = result["best_copy_groups"]
            table = f"deleted {result['deleted']} pairs; {result['pairs']} pairs in {groups} groups left"
        out.write((json.dumps(result, indent=1) if args.json else table) + "\n")
    elif args.json:
        _write_json_list(_rows(db, args, True), out)
    else:
        if args.what == "pairs":
            out.write(f"{'mse':>12}  {'':<4}  path_a  path_b\n")
        elif args.what in ("errors", "disallowed"):
            out.write("stage   reason  path\n")
        for line in _rows(db, args, False):
            out.write(f"{line}\n")


def run_query(args: argparse.Namespace) -> int:
    """Run `fastdiff query` with the arguments of `add_query_parser`, printing to stdout.

    Returns
    -------
    int
        0 on success (also when stdout is closed early), 1 for a cluster index past the end, 2 for a missing or
        unreadable database or a bad argument (the message is on stderr).
    """
    try:
        with ResultDB(args.database) as db:
            _print(db, args, sys.stdout)
    except FileNotFoundError as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2
    except IndexError:
        print(f"fastdiff: there is no cluster {args.index}", file=sys.stderr)
        return 1
    except (ValueError, sqlite3.DatabaseError) as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `fastdiff query OUT pairs | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
