"""Building the result database from the stage outputs, shared by both modes' merge: the directory and hash rows of
every shard and rejected entry, and the dif_table rows of every block output, keyed by this run's index order."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastdiff._shared.atomic import atomic_path
from fastdiff.compare.pairs import COMPUTED, Pairs, load_pairs_in_order
from fastdiff.index import layout
from fastdiff.index.scan import read_manifest, read_order, read_rejected
from fastdiff.merge.db import writer
from fastdiff.thumbnails.batch import load_batch

DATABASE = "fastdiff.sqlite"
PAIR_CHUNK = 65536  # result pairs turned into Python tuples at a time


@dataclass(frozen=True)
class MergeInputs:
    """The outputs of the earlier stages that the merge reads: the index folder, the shard records and thumbnail
    batches (one each per shard, in the same order) and the block outputs (`fastdiff.compare.pairs`)."""

    index_dir: Path
    shard_paths: list[str]
    batch_paths: list[str]
    pair_paths: list[str]

    @property
    def order(self) -> np.ndarray:
        """The layout keys' positions in this run's index order (`fastdiff.index.scan.read_order`)."""
        return read_order(self.index_dir)


@contextlib.contextmanager
def new_database(out_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a new, empty database that appears as out_dir/DATABASE only when the block succeeds (and
    with it whatever else the block writes atomically)."""
    with atomic_path(out_dir / DATABASE) as db_path:
        db_path.unlink()
        con = writer.create(db_path)
        try:
            yield con
        finally:
            con.close()


def file_rows(
    inputs: MergeInputs, order: np.ndarray, spans: list[tuple[float, float]]
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """File rows (`fastdiff.merge.db.writer.FILE_FIELDS`) and hash rows (key, one hash per symmetry code 0..7): one
    chunk per shard, then one for the rejected entries; keys are this run's index order.

    Parameters
    ----------
    inputs : MergeInputs
    order : numpy.ndarray
        int64: layout key -> index key (`MergeInputs.order`).
    spans : list of (float, float)
        The (start, end) of each thumbnail job, seconds since the epoch, is appended here (difPy's stats).

    Yields
    ------
    rows, hashes : list of tuple
        One chunk per shard, then one for the rejected entries (index keys after the indexed files): rows in
        FILE_FIELDS order, hashes as (index key, then one per symmetry code 0..7: hash_0 ... hash_f270).

    Raises
    ------
    CorruptBatchError
        From `fastdiff.thumbnails.batch.load_batch`.
    """
    for shard_path, batch_path in zip(inputs.shard_paths, inputs.batch_paths):
        batch = load_batch(batch_path, thumbs=False)
        spans.append((batch.started, batch.finished))
        ok = {
            int(k): (int(h), int(w), list(hs))
            for k, h, w, hs in zip(batch.keys, batch.height, batch.width, batch.hashes)
        }
        errors = {int(k): str(m) for k, m in zip(batch.error_keys, batch.error_messages)}
        rows, hashes = [], []
        for f in layout.read_shard(shard_path):
            key = int(order[f.key])
            h, w, hs = ok.get(f.key, (-1, -1, None))
            decoded = 0 if hs is None else 1
            row = (
                key,
                f.path,
                errors.get(f.key),
                decoded,
                h,
                w,
                1,
                f.size,
                f.ctime,
                f.mtime_ns,
                int(f.link),
                f.dir_index,
                f.part,
            )
            rows.append((*row, f.inode, f.device))
            if hs is not None:
                hashes.append((key, *hs))
        yield rows, hashes
    first = read_manifest(inputs.index_dir)["n_files"]
    rejected = []
    for i, r in enumerate(read_rejected(inputs.index_dir)):
        failed = 0 if r.kind == "unreadable" else -1  # not attempted: unsupported type, second path of a file
        rejected.append((first + i, r.path, r.reason, failed, -1, -1, 0, r.size, r.ctime, -1, 0, r.dir_index, r.part))
    yield rejected, []


def pair_rows(
    pair_paths: list[str],
    order: np.ndarray,
    spans: list[tuple[float, float]],
    on_groups: Callable[[Pairs], None] | None = None,
) -> Iterator[tuple[int, int, float, int, int | None]]:
    """The dif_table rows of every block output, for `fastdiff.merge.db.writer.insert_pairs`.

    Parameters
    ----------
    pair_paths : list of str
        The compare jobs' outputs (`fastdiff.compare.pairs`).
    order : numpy.ndarray
        int64: layout key -> index key.
    spans : list of (float, float)
        The (start, end) of each compare job, seconds since the epoch, is appended here.
    on_groups : callable, optional
        Called with each output that has exact groups (`fastdiff.compare.pairs.Pairs.group_key`), with index keys.

    Yields
    ------
    tuple
        (key_a, key_b, mse, success, rotation): index keys, MSE on the 0-255 scale, success 1/2/3, rotation k
        (None unless computed).

    Raises
    ------
    RuntimeError
        From `fastdiff.compare.pairs.load_pairs_in_order`, for a stale output.
    """
    for path in pair_paths:
        p = load_pairs_in_order(path, order)
        spans.append((p.started, p.finished))
        if on_groups is not None and len(p.group_key):
            on_groups(p)
        for s in range(0, len(p), PAIR_CHUNK):  # Python objects for one chunk at a time, not for a whole output
            chunk = slice(s, s + PAIR_CHUNK)
            for a, b, mse, rot, kind in zip(
                p.key_a[chunk].tolist(),
                p.key_b[chunk].tolist(),
                p.mse[chunk].tolist(),
                p.rotation[chunk].tolist(),
                p.kind[chunk].tolist(),
            ):
                yield a, b, mse, kind, rot if kind == COMPUTED else None
