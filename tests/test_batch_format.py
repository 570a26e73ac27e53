"""The thumbnail batch format: members stored without compression, and batches compressed by older versions still
read the same."""

from __future__ import annotations

import zipfile

import numpy as np

from fastdiff.thumbnails.batch import Batch, load_batch, save_batch


def _batch(n: int = 30) -> Batch:
    rng = np.random.default_rng(0)
    return Batch(
        keys=np.arange(n, dtype=np.int64),
        paths=np.asarray([f"/p/{i:03d}.png" for i in range(n)]),
        thumbs=rng.integers(0, 256, (n, 10, 10, 3), dtype=np.uint8),
        height=np.full(n, 40, np.int64),
        width=np.full(n, 30, np.int64),
        hashes=np.full((n, 8), "h", dtype="<U64"),
        error_keys=np.asarray([n], np.int64),
        error_messages=np.asarray(["truncated image data"]),
        started=1.0,
        finished=2.0,
    )


def test_batches_are_stored_uncompressed_and_old_ones_still_read(tmp_path):
    batch = _batch()
    save_batch(batch, tmp_path / "new.npz")
    with zipfile.ZipFile(tmp_path / "new.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    new = load_batch(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as z:  # an older version's batch: the same arrays, compressed
        np.savez_compressed(tmp_path / "old.npz", **{k: z[k] for k in z.files})
    old = load_batch(tmp_path / "old.npz")
    for field in ("keys", "paths", "thumbs", "height", "width", "hashes", "error_keys", "error_messages", "cells"):
        assert np.array_equal(getattr(new, field), getattr(batch, field) if field != "cells" else new.cells)
        assert np.array_equal(getattr(old, field), getattr(new, field))
