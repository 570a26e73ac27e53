"""The thumbnail batch format: members stored without compression, and batches compressed by older versions still
read the same."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from fastdiff.thumbnails.batch import Batch, CorruptBatchError, load_batch, save_batch


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


def test_stored_thumbnails_are_mapped_not_copied(tmp_path):
    """An uncompressed batch's thumbnails are read in place (memory-mapped, read-only, checked by the batch's
    sha-256); a compressed one's are read into memory; both equal what was saved, and a byte changed in the mapped
    pixels fails the check."""
    batch = _batch()
    save_batch(batch, tmp_path / "new.npz")
    mapped = load_batch(tmp_path / "new.npz").thumbs
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, batch.thumbs)
    with np.load(tmp_path / "new.npz") as z:
        np.savez_compressed(tmp_path / "old.npz", **{k: z[k] for k in z.files})
    read = load_batch(tmp_path / "old.npz").thumbs
    assert not isinstance(read, np.memmap) and np.array_equal(read, batch.thumbs)
    data = bytearray((tmp_path / "new.npz").read_bytes())
    at = bytes(data).find(batch.thumbs.tobytes()[:64])
    data[at + 100] ^= 1
    (tmp_path / "new.npz").write_bytes(bytes(data))
    with pytest.raises(CorruptBatchError, match="checksum mismatch"):
        load_batch(tmp_path / "new.npz")
