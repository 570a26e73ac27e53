"""Thumbnail batches on disk: one compressed .npz per index shard."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .atomic import atomic_path


@dataclass
class Batch:
    """The decoded files of one shard (valid ones only) and the errors of the others."""

    keys: np.ndarray  # int64 (n,)
    thumbs: np.ndarray  # uint8 (n, px, px, 3), RGB
    height: np.ndarray  # int64 (n,) original height (EXIF-oriented)
    width: np.ndarray  # int64 (n,) original width
    hashes: np.ndarray  # str (n, 4): sha-256 of rotations 0/90/180/270 ('' when rotate is off)
    error_keys: np.ndarray  # int64 (e,)
    error_messages: np.ndarray  # str (e,)
    started: float
    finished: float


def save_batch(batch: Batch, path: str | os.PathLike[str]) -> None:
    """Write the batch as a compressed .npz, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, keys=batch.keys, thumbs=batch.thumbs, height=batch.height, width=batch.width,
                            hashes=batch.hashes, error_keys=batch.error_keys, error_messages=batch.error_messages,
                            timing=np.asarray([batch.started, batch.finished]))


def load_batch(path: str | os.PathLike[str], thumbs: bool = True) -> Batch:
    """Read a batch; with thumbs=False the pixel array is not decompressed (metadata only)."""
    with np.load(path, allow_pickle=False) as z:
        timing = z["timing"]
        return Batch(keys=z["keys"], thumbs=z["thumbs"] if thumbs else np.zeros((0,), np.uint8),
                     height=z["height"], width=z["width"], hashes=z["hashes"], error_keys=z["error_keys"],
                     error_messages=z["error_messages"], started=float(timing[0]), finished=float(timing[1]))
