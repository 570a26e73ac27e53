"""The thumbnails a run compared, as small PNGs to show (the HTML report, the notebook gallery): taken from the
thumbnail batches in OUT/work, so they are the very pixels compared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fastdiff.core import workpaths
from fastdiff.index.scan import MANIFEST, read_order
from fastdiff.thumbnails.batch import load_batch


def thumbnail_pngs(batch_paths: list[str], order: np.ndarray, keys: set[int]) -> Iterator[tuple[int, bytes]]:
    """(index key, PNG) of the thumbnails of `keys`, one batch in memory at a time.

    Parameters
    ----------
    batch_paths : list of str
        Thumbnail batches (`fastdiff.thumbnails.batch`); the pixels of a batch are only decompressed where it holds a
        wanted key.
    order : numpy.ndarray
        int64: layout key -> index key (`fastdiff.index.scan.read_order`).
    keys : set of int
        The index keys wanted (the database's `directory.key`).

    Yields
    ------
    (int, bytes)
        The index key and its thumbnail as an RGB PNG (px x px).
    """
    for path in batch_paths:
        wanted = [i for i, key in enumerate(order[load_batch(path, thumbs=False).keys].tolist()) if key in keys]
        if not wanted:
            continue
        batch = load_batch(path)
        for i in wanted:
            png = cv2.imencode(".png", cv2.cvtColor(batch.thumbs[i], cv2.COLOR_RGB2BGR))[1]
            yield int(order[batch.keys[i]]), png.tobytes()


def run_batches(out_dir: str | os.PathLike[str]) -> tuple[list[str], np.ndarray] | None:
    """The thumbnail batches of the last run in out_dir (OUT/work) and its map from layout keys to index keys, or
    None where the intermediates are gone (OUT/work removed)."""
    work = Path(out_dir) / "work"
    index = Path(workpaths.index_dir(work))
    try:
        shards = json.loads((index / MANIFEST).read_text())["shards"]
        order = read_order(index)
    except (OSError, ValueError, KeyError):
        return None
    batches = [workpaths.batch_path(work, s["name"]) for s in shards]
    return [b for b in batches if os.path.isfile(b)], order
