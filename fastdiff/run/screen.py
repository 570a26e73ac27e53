"""What `fastdiff run` shows: a line saying what will run, one progress bar across the whole run, condensed
warnings, and a closing summary that names the output files.

The bar follows the files the jobs leave in OUT/work (the index's manifest, then each thumbnail batch and each block
pair's output), so it works alike for local jobs, SLURM jobs and the in-process small run, and a resumed run starts
at what is already done. Its total is fixed once the index is known, so the percentage only ever grows.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fastdiff._shared.words import plural
from fastdiff.core import workpaths
from fastdiff.core.config import Config
from fastdiff.core.file_counts import count_files
from fastdiff.merge.db.exact import count_pairs
from fastdiff.merge.results import DATABASE, LOWER_QUALITY, RESULTS, STATS
from fastdiff.thumbnails.progress import decoded_so_far

# Comparing one pair costs about what decoding one file costs divided by this (CPU, 50 px thumbnails, four
# rotations): the weight of pairs against files in the one bar.
PAIRS_PER_FILE = 5000


@dataclass(frozen=True)
class Show:
    """What a run prints besides errors.

    Attributes
    ----------
    progress : bool
        The start line and the progress bar (a bar only on a terminal).
    summary : bool
        Condensed warnings and the closing summary with the output paths.
    verbose : bool
        Instead of the bar (-v): Snakemake's own output where it runs the jobs; in process, a line per job (run or
        reused) and the jobs' log lines.
    """

    progress: bool = True
    summary: bool = True
    verbose: bool = False


NORMAL = Show()
PROGRESS = Show(summary=False)  # the difPy API and command: they print their own results
QUIET = Show(progress=False, summary=False)


@dataclass(frozen=True)
class Work:
    """The run's work from the files in OUT/work: files decoded and pairs compared, of the totals."""

    files_done: int
    files_total: int
    pairs_done: int
    pairs_total: int

    @property
    def units(self) -> tuple[float, float]:
        """(done, total) in files' worth of work."""
        return (
            self.files_done + self.pairs_done / PAIRS_PER_FILE,
            self.files_total + self.pairs_total / PAIRS_PER_FILE,
        )


def read_work(work_dir: str | Path, since: float, compare: bool = True) -> Work | None:
    """The work of a run that started at `since`; None until its index (newer than `since`) is written.

    A shard counts as decoded in full once its batch exists, and in part as its running job's progress file says
    (`fastdiff.thumbnails.progress`); a block pair counts once its output exists.
    """
    manifest = Path(workpaths.index_dir(work_dir)) / "manifest.json"
    try:
        if manifest.stat().st_mtime < since - 1:
            return None
        m = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    files = {s["name"]: s["n"] for s in m["shards"]}
    block = {b["name"]: sum(files[s] for s in b["shards"]) for b in m["blocks"]}
    pairs = {
        (bi, bj): block[bi] * (block[bi] - 1) // 2 if bi == bj else block[bi] * block[bj]
        for bi, bj in (m["pairs"] if compare else [])
    }
    batches = {s: workpaths.batch_path(work_dir, s) for s in files}
    return Work(
        sum(n if Path(batches[s]).exists() else min(decoded_so_far(batches[s], since), n) for s, n in files.items()),
        sum(files.values()),
        sum(n for (bi, bj), n in pairs.items() if Path(workpaths.block_output(work_dir, bi, bj)).exists()),
        sum(pairs.values()),
    )


class ProgressBar:
    """One bar over the run (tqdm, on stderr; nothing where stderr is not a terminal), redrawn from the work folder
    by a thread of its own every REFRESH seconds, so it moves whichever executor runs the jobs.

    It reads `indexing`, then `decoding N/M files, n/m pairs (rate)`, then `comparing ...`; `close(done=True)`
    leaves it at 100% on the screen, above the summary.
    """

    REFRESH = 0.2

    def __init__(self, work_dir: str | Path, config: Config, enabled: bool) -> None:
        self.work_dir, self.compare = work_dir, config.do_compare
        self.started = time.time()
        self.bar = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if enabled and _on_terminal(sys.stderr):
            from tqdm import tqdm  # only for a bar shown: its import and lock cost a small run some 10 ms

            self.bar = tqdm(
                total=1,
                desc="indexing the folders",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
                leave=False,
            )
            self.thread = threading.Thread(target=self._refresh, name="progress-bar", daemon=True)
            self.thread.start()

    def _refresh(self) -> None:
        while not self.stopped.wait(self.REFRESH):
            self.update()

    def update(self, finished: bool = False) -> None:
        """Read the work folder again and redraw (`finished`: the run finished, the bar says 'done')."""
        if self.bar is None:
            return
        with self.lock:
            work = read_work(self.work_dir, self.started, self.compare)
            if work is None or self.stopped.is_set():
                return
            done, total = work.units
            decoding = work.files_done < work.files_total
            elapsed = max(time.time() - self.started, 1e-3)
            rate = (
                f"{work.files_done / elapsed:,.0f} files/s" if decoding else f"{work.pairs_done / elapsed:,.0f} pairs/s"
            )
            self.bar.total = max(total, 1)
            self.bar.set_description_str(
                f"{'done' if finished else 'decoding' if decoding else 'comparing'}: "
                f"{work.files_done:,}/{work.files_total:,} files, "
                f"{work.pairs_done:,}/{work.pairs_total:,} pairs" + ("" if finished else f" ({rate})"),
                refresh=False,
            )
            self.bar.update(done - self.bar.n)

    def close(self, done: bool = False) -> None:
        """Stop the bar; `done` (a run that finished): leave it on the screen at its last, complete state (the
        summary follows), else remove it."""
        if self.bar is None:
            return
        if done:
            self.update(finished=True)
            self.bar.leave = True
        self.stopped.set()
        with self.lock:
            self.bar.close()


def _on_terminal(stream: object) -> bool:
    """Whether stream is a terminal (tqdm's own test for disable=None)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def start_line(config: Config, examples: bool = False) -> str:
    """The line that says what will run; `examples`: part_a is the bundled examples (what runs without a folder)."""
    folders = ", ".join(config.part_a) + (f" against {', '.join(config.part_b)}" if config.part_b else "")
    if examples:
        folders = f"the bundled examples ({folders}; give folders to search yours: fastdiff run DIR ...)"
    threshold = config.threshold if isinstance(config.threshold, str) else f"MSE <= {config.threshold:g}"
    matching = [("rotations", config.rotate), ("mirrored", config.mirror), ("in greyscale", config.grayscale)]
    also = "".join(f", {word}" for word, on in matching if on)
    return f"fastdiff: searching {folders} for {threshold}{also}; results in {config.output_dir}"


def summary(config: Config, seconds: float) -> tuple[list[str], list[str]]:
    """(warnings, summary lines) of a finished run, from its output files: what became of every file found (the
    counts of stats.json's "files" and `fastdiff query summary`), then the groups and the output paths."""
    out = Path(config.output_dir)
    results = json.loads((out / RESULTS).read_text())
    lower = json.loads((out / LOWER_QUALITY).read_text())
    groups = sum(len(g) for g in results.values()) if config.in_folder else len(results)
    with closing(sqlite3.connect(f"file:{out / DATABASE}?mode=ro", uri=True)) as con:
        pairs = count_pairs(con)
        counts = count_files(con)
    unreadable = sum(counts.unreadable.values())
    warnings = (
        [
            f"fastdiff: {plural(unreadable, 'image file')} could not be read; the files and reasons: "
            f"fastdiff query {out} errors (also in {out / STATS})"
        ]
        if unreadable
        else []
    )
    lines = [
        f"fastdiff: {counts.line()}",
        f"fastdiff: {plural(counts.compared, 'image')} compared: {plural(groups, 'group')}, "
        f"{plural(len(lower), 'lower-quality copy', 'lower-quality copies')}, "
        f"{plural(pairs, 'matching pair')}, in {seconds:.1f} s",
        f"  results:        {out / RESULTS}",
        f"  lower quality:  {out / LOWER_QUALITY}",
        f"  statistics:     {out / STATS}",
        f"  database:       {out / DATABASE}",
    ]
    if config.report:
        lines.append(f"  report:         {out / 'report' / 'index.html'}")
    return warnings, lines


def print_summary(config: Config, seconds: float) -> None:
    """Print the condensed warnings (stderr) and the summary (stdout); a run that stopped before the merge (e.g.
    `-- --until index`) has no results to sum up, and says so."""
    if not (Path(config.output_dir) / STATS).exists():
        print(f"fastdiff: finished in {seconds:.1f} s, before the merge: no results written yet", flush=True)
        return
    warnings, lines = summary(config, seconds)
    for line in warnings:
        print(line, file=sys.stderr)
    print("\n".join(lines), flush=True)
