"""How far a running thumbnail job is: a small file in work/progress that the progress bar reads.

A thumbnail job writes the number of files it has decoded into a progress file (`progress_path`) after its first
file and then at most every INTERVAL seconds, so that the bar (`fastdiff.run.screen`) moves from the first decoded file
on every executor: in this process, in Snakemake's local jobs and on a cluster's shared file system alike. The batch
itself, once written, supersedes the file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

INTERVAL = 0.2  # seconds between two writes of a job's count


def progress_path(batch_path: str | os.PathLike[str]) -> Path:
    """The progress file of a thumbnail batch (work/thumbs/BATCH): work/progress/BATCH.progress, outside the batches'
    folder, so that a job killed between writing its batch and removing this file leaves the batches' folder as a
    finished run has it (a later run ignores the file: `decoded_so_far` reads only files written since it began)."""
    batch = Path(batch_path)
    return batch.parent.parent / "progress" / f"{batch.name}.progress"


class DecodeProgress:
    """Counts a thumbnail job's decoded files into its progress file.

    Parameters
    ----------
    batch_path : str or os.PathLike
        The batch the job writes.
    """

    def __init__(self, batch_path: str | os.PathLike[str]) -> None:
        self.path = progress_path(batch_path)
        self.written = 0.0

    def __call__(self, done: int) -> None:
        """Record `done` files decoded: at the first file, then at most every INTERVAL seconds (an atomic rename,
        so the bar never reads half a number). A file system that refuses it only costs the bar its detail."""
        now = time.monotonic()
        if done != 1 and now - self.written < INTERVAL:
            return
        self.written = now
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(str(done), encoding="ascii")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def decoded_so_far(batch_path: str | os.PathLike[str], since: float) -> int:
    """The files decoded so far by the job writing `batch_path`, as its progress file says; 0 where it has none
    written since `since` (seconds since the epoch: an earlier run's file does not count)."""
    path = progress_path(batch_path)
    try:
        if path.stat().st_mtime < since - 1:
            return 0
        return int(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0
