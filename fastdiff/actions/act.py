"""`fastdiff act`: move or delete (into a trash folder) the lower-quality copies of a finished run, or undo that.

    fastdiff act OUT --move-to DIR [--dry-run] [--yes]
    fastdiff act OUT --delete [--dry-run] [--yes]       # moved into OUT/trash/<time>/
    fastdiff act OUT --undo [JOURNAL]                    # default: the latest journal with something to undo

The files are the run's lower_quality list (its database's best-copy groups), each checked against what the run
recorded before it is touched (`fastdiff.actions.safe_files`, the same machinery as the `difpy` command). Each action is
journaled in OUT/journal/<time>-<action>.jsonl.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from fastdiff.actions import safe_files
from fastdiff.actions.file_checks import comparison_of_run
from fastdiff.actions.journal import CorruptJournal, JournalError
from fastdiff.merge.db.reader import database_path

JOURNAL_DIR, TRASH_DIR = "journal", "trash"


def add_act_parser(sub: argparse._SubParsersAction) -> None:
    """Add the `act` subcommand to the top-level subparsers."""
    act = sub.add_parser(
        "act",
        help="move or delete the lower-quality copies of a finished run, or undo that",
        description="Move the lower-quality copies that a run listed (OUT/lower_quality.json) into a folder, or "
        "delete them into a trash folder in OUT, or put them back. Each file is checked first: one that changed "
        "since the run compared it, lies outside the searched folders, or whose kept copy changed or is gone, is "
        "skipped (exit 1). Every step is journaled in OUT/journal, from which --undo restores the files.",
    )
    act.add_argument("output", metavar="OUT", help="the run's output directory")
    what = act.add_mutually_exclusive_group(required=True)
    what.add_argument("--move-to", metavar="DIR", help="move the copies into DIR (created if needed)")
    what.add_argument(
        "--delete", action="store_true", help="delete the copies: they are moved into OUT/trash/<time>/ (undoable)"
    )
    what.add_argument(
        "--undo",
        nargs="?",
        const="",
        metavar="JOURNAL",
        help="put back the files of a move or delete (default: the latest journal in OUT/journal with files to "
        "put back)",
    )
    act.add_argument("--dry-run", "-n", action="store_true", help="only print what would be done")
    act.add_argument("--yes", "-y", action="store_true", help="do not ask for a confirmation")


def _stamp(out: Path) -> str:
    """A time stamp not yet used by a journal in OUT."""
    stamp = base = datetime.now().strftime("%Y%m%d-%H%M%S")
    n = 0
    while any((out / JOURNAL_DIR).glob(f"{stamp}-*.jsonl")) or (out / TRASH_DIR / stamp).exists():
        n += 1
        stamp = f"{base}-{n}"
    return stamp


def _pending(journal: Path) -> bool:
    """Whether a journal has files that undo would look at."""
    try:
        items = safe_files.read_journal(str(journal))
    except (OSError, ValueError):
        return False
    return any(not i["undone"] and (i["error"] is None or i["copy_left"]) for i in items)


def _latest_journal(out: Path) -> Path | None:
    journals = sorted((out / JOURNAL_DIR).glob("*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return next((j for j in reversed(journals) if _pending(j)), None)


def _undo(out: Path, journal: str) -> int:
    path = Path(journal) if journal else _latest_journal(out)
    if path is None:
        print(f"nothing to undo: no journal in {out / JOURNAL_DIR} has files to put back")
        return 0
    if not journal:
        print(f"undoing {path}")
    try:
        outcome = safe_files.undo(str(path), undo_command=f"fastdiff act {out} --undo")
    except (OSError, CorruptJournal) as err:
        print(f"fastdiff: cannot use the journal {path}: {err}", file=sys.stderr)
        return 2
    return 0 if outcome.ok else 1


def _confirm_move(count: int, dest: str, assume_yes: bool) -> bool:
    return safe_files.confirm(f"Move {count} lower quality image(s) to {os.path.abspath(dest)}? (y/n) ", assume_yes)


def run_act(args: argparse.Namespace) -> int:
    """Run `fastdiff act` with the arguments of `add_act_parser`.

    Returns
    -------
    int
        0 when every file was acted on (or put back), 1 when any failed or was skipped, 2 for a bad argument or a
        missing database or journal, 130 when interrupted (the line printed says how to undo).
    """
    out = Path(args.output)
    try:
        if args.undo is not None:
            return _undo(out, args.undo)
        database_path(out)
        if not (args.yes or args.dry_run or (sys.stdin and sys.stdin.isatty())):
            print(
                "fastdiff: acting asks for a confirmation, but stdin is not interactive: add --yes to act without "
                "asking, or --dry-run to see what would be done",
                file=sys.stderr,
            )
            return 2
        comparison, copies = comparison_of_run(out)
        if not copies:
            print("the run lists no lower-quality copies: nothing to do")
            return 0
        stamp = _stamp(out)
        undo_command = f"fastdiff act {out} --undo"
        if args.move_to is not None:
            journal = str(out / JOURNAL_DIR / f"{stamp}-move.jsonl")
            if not args.dry_run:
                moves, _ = safe_files.plan(copies, [], args.move_to, comparison)
                if moves and not _confirm_move(len(moves), args.move_to, args.yes):
                    print("Move canceled.")
                    return 0
            outcome = safe_files.move(
                copies, [], args.move_to, journal, args.dry_run, comparison, undo_command=undo_command
            )
        else:
            outcome = safe_files.delete(
                copies,
                [],
                str(out / TRASH_DIR / stamp),
                str(out / JOURNAL_DIR / f"{stamp}-delete.jsonl"),
                assume_yes=args.yes,
                dry_run=args.dry_run,
                comparison=comparison,
                undo_command=undo_command,
            )
    except FileNotFoundError as err:
        print(f"fastdiff: {err}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as err:
        print(f"fastdiff: {out} has no readable fastdiff database: {err}", file=sys.stderr)
        return 2
    except JournalError as err:
        print(f"fastdiff: {err.strerror}", file=sys.stderr)
        return 1
    except safe_files.Interrupted as err:
        print(err.message, file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # at the question: nothing was done
        print("\ncanceled; nothing was done", file=sys.stderr)
        return 130
    return 0 if outcome.ok else 1
