"""The `difpy` command: difPy 4.2.1's command line (same flags, defaults and output files) on fastdiff's workflow.

difpy -D DIR [DIR ...] -Z OUT [-s similar] ...        fastdiff's semantics in difPy's files
difpy -D DIR -Z OUT --difpy-exact                       difPy 4.2.1's results, byte for byte
difpy --undo OUT/difPy_<time>_manifest.json             put moved / deleted files back
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from fastdiff._shared.atomic import atomic_open
from fastdiff.actions import safe_files
from fastdiff.actions.journal import JournalError
from fastdiff.difpy import LAZY_MESSAGE, build, search
from fastdiff.run.runner import INTERRUPTED, RESUME_LINE

WORK_DIR = ".fastdiff-difpy"  # in the output directory; hidden, so difPy's glob and fastdiff's index skip it


def _bool(text: str) -> bool:
    """difPy's _strtobool (L965-973)."""
    if text.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if text.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected")


def _int_or_str(text: str) -> int | str:
    """difPy's _convert_str_to_int (L958-963)."""
    try:
        return int(text)
    except ValueError:
        return text


def build_parser() -> argparse.ArgumentParser:
    """difPy 4.2.1's command-line options (dif.py's argparse block), plus --difpy-exact, --dry-run, --undo."""
    parser = argparse.ArgumentParser(
        prog="difpy",
        description="Find duplicate or similar images: difPy 4.2.1's command line, run by fastdiff. "
        "Writes difPy_<time>_results.json, difPy_<time>_lower_quality.txt and difPy_<time>_stats.json into -Z.",
    )
    flag = {"type": _bool, "choices": [True, False], "required": False}
    parser.add_argument(
        "-D",
        "--directory",
        type=str,
        nargs="+",
        default=[os.getcwd()],
        help="Paths of the directories (or files) to be searched. Default is working dir.",
    )
    parser.add_argument(
        "-Z",
        "--output_directory",
        type=str,
        default=None,
        help="Output directory path for the difPy result files. Default is working dir.",
    )
    parser.add_argument("-r", "--recursive", default=True, help="Search recursively within the directories.", **flag)
    parser.add_argument(
        "-i", "--in_folder", default=False, help="Search for matches in each directory separately.", **flag
    )
    parser.add_argument(
        "-le", "--limit_extensions", default=True, help="Limit search to known image file extensions.", **flag
    )
    parser.add_argument("-px", "--px_size", type=int, default=50, help="Compression size of images in pixels.")
    parser.add_argument(
        "-s",
        "--similarity",
        type=_int_or_str,
        default="duplicates",
        help="'duplicates' (MSE 0), 'similar' (MSE 5) or a number.",
    )
    parser.add_argument("-ro", "--rotate", default=True, help="Rotate images during comparison process.", **flag)
    parser.add_argument(
        "-dim",
        "--same_dim",
        default=True,
        help="Only compare images having the same dimensions (width x height).",
        **flag,
    )
    parser.add_argument(
        "-mv", "--move_to", type=str, default=None, help="Output directory path of lower quality images among matches."
    )
    parser.add_argument(
        "-d",
        "--delete",
        default=False,
        help="Delete lower quality images among matches (they go to a trash folder in -Z).",
        **flag,
    )
    parser.add_argument(
        "-sd", "--silent_del", default=False, help="Suppress the user confirmation when deleting images.", **flag
    )
    parser.add_argument("-p", "--show_progress", default=True, help="Show the real-time progress of difPy.", **flag)
    parser.add_argument(
        "-proc", "--processes", type=_int_or_str, default=os.cpu_count(), help="Number of worker processes (cores)."
    )
    parser.add_argument(
        "-ch", "--chunksize", type=_int_or_str, default=None, help="Accepted for compatibility and echoed in the stats."
    )
    parser.add_argument("-la", "--lazy", default=None, help="(Removed) renamed to -dim / --same_dim.", **flag)
    parser.add_argument(
        "--difpy-exact",
        action="store_true",
        help="reproduce difPy 4.2.1's results exactly (its metric, rotations, grouping and keeper "
        "rule) instead of fastdiff's corrected semantics",
    )
    parser.add_argument(
        "--mirror", action="store_true", help="fastdiff's: also match mirror images (the 8 symmetries of the square)"
    )
    parser.add_argument(
        "--grayscale", action="store_true", help="fastdiff's: compare luma thumbnails, so grey copies match colour ones"
    )
    parser.add_argument("--dry-run", action="store_true", help="with -mv / -d: only print what would be done")
    parser.add_argument("--undo", metavar="MANIFEST", help="put back the files of a move or delete manifest, then exit")
    return parser


def _fail(message: str) -> int:
    print(f"difpy: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """The `difpy` command: build and search as difPy's command line does, write its three files into -Z, then
    move or delete the lower-quality copies if asked.

    Returns
    -------
    int
        0 on success, 1 if a file could not be moved or deleted or was skipped (changed since it was compared,
        ...), or `--undo` failed for one, 2 for bad options or a failed run (the message is on stderr), 130 when
        interrupted (the line printed says how to undo).
    """
    args = build_parser().parse_args(argv)
    if args.undo:
        try:
            return 1 if safe_files.undo(args.undo).failed else 0
        except safe_files.Interrupted as err:
            print(err.message, file=sys.stderr)
            return 130
        except (OSError, ValueError, KeyError) as err:
            return _fail(f"cannot use the manifest {args.undo}: {err}")
    if args.lazy is not None:
        return _fail(LAZY_MESSAGE)
    if args.move_to is not None and args.delete:
        return _fail('"move_to" and "delete" parameter are mutually exclusive. Please select one of them.')
    if args.delete and not args.silent_del and not args.dry_run and not (sys.stdin and sys.stdin.isatty()):
        return _fail(
            "-d True asks for a confirmation, but stdin is not interactive: add -sd True to delete "
            "without asking, or --dry-run to see what would be deleted"
        )
    out = args.output_directory or os.getcwd()
    os.makedirs(out, exist_ok=True)
    try:
        dif = build(
            args.directory,
            recursive=args.recursive,
            in_folder=args.in_folder,
            limit_extensions=args.limit_extensions,
            px_size=args.px_size,
            show_progress=args.show_progress,
            processes=args.processes,
            exact=args.difpy_exact,
            work_dir=os.path.join(out, WORK_DIR),
            grayscale=args.grayscale,
        )
        se = search(
            dif,
            similarity=args.similarity,
            rotate=args.rotate,
            same_dim=args.same_dim,
            show_progress=args.show_progress,
            processes=args.processes,
            chunksize=args.chunksize,
            mirror=args.mirror,
        )
    except (ValueError, OSError, RuntimeError) as err:
        return _fail(str(err))
    except KeyboardInterrupt as err:  # Ctrl-C: the work folder in OUT keeps the finished jobs
        if err.args != (RESUME_LINE,):  # not yet said by the runner
            print(f"\ndifpy: {RESUME_LINE}", file=sys.stderr)
        return INTERRUPTED
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    names = [f"difPy_{stamp}_results.json", f"difPy_{stamp}_lower_quality.txt", f"difPy_{stamp}_stats.json"]
    for name, text in zip(names, (json.dumps(se.result), f"{se.lower_quality}", json.dumps(se.stats))):
        with atomic_open(os.path.join(out, name), "w") as fh:
            fh.write(text)
    dif.close()
    outcome = safe_files.Outcome()
    try:
        if args.move_to is not None:
            outcome = se.move_to(
                args.move_to, dry_run=args.dry_run, manifest=os.path.join(out, f"difPy_{stamp}_manifest.json")
            )
        if args.delete:
            outcome = se.delete(
                silent_del=args.silent_del,
                dry_run=args.dry_run,
                trash=os.path.join(out, f"difPy_{stamp}_deleted"),
                manifest=os.path.join(out, f"difPy_{stamp}_manifest.json"),
            )
    except safe_files.NotInteractive as err:
        return _fail(str(err))
    except JournalError as err:
        print(f"difpy: {err.strerror}", file=sys.stderr)
        return 1
    except safe_files.Interrupted as err:
        print(err.message, file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # at the question: nothing was done
        print("\ncanceled; nothing was done", file=sys.stderr)
        return 130
    print(f"\n{names[0]}\n{names[1]}\n{names[2]}\n\nsaved in '{out}'.")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
