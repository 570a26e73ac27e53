"""Thumbnail batches made up for the benchmarks, with every field a thumbnail job writes
(`fastdiff.thumbnails.batch.Batch`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdiff.thumbnails.batch import Batch


def synthetic_batch(
    thumbs: Any,
    keys: np.ndarray,
    height: int | np.ndarray = 480,
    width: int | np.ndarray = 640,
    hashes: np.ndarray | None = None,
    started: float = 0.0,
    finished: float = 0.0,
    cells: np.ndarray | None = None,
) -> Batch:
    """A batch of thumbs (uint8 (n, px, px, 3), numpy or CuPy) under keys (int64 (n,)), no errors.

    Paths are the keys zero-padded to 12 digits (so path order is key order); the originals are height x width
    pixels (ints, or int arrays (n,)); hashes '' in all 8 symmetry columns unless given (str (n, 8)); cells as
    `Batch.cells` (None: computed when saved).
    """
    n = len(keys)
    return Batch(
        keys=np.asarray(keys, np.int64),
        paths=np.char.zfill(np.asarray(keys).astype(str), 12),
        thumbs=thumbs,
        height=np.full(n, height, np.int64),
        width=np.full(n, width, np.int64),
        hashes=np.full((n, 8), "", dtype="<U64") if hashes is None else hashes,
        error_keys=np.zeros(0, np.int64),
        error_messages=np.zeros(0, str),
        started=started,
        finished=finished,
        cells=cells,
    )
