"""Thumbnail batches on disk: one .npz per index shard, stored without compression (thumbnails compress about 2:1
but zlib cost 8 times the CPU of the write and 2.5 times that of each read, and every compare job reads its blocks'
batches again; benchmarks/README.md). Compressed batches written by older versions are read as well."""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fastdiff._shared.atomic import atomic_path
from fastdiff.core.cells import image_cells, image_cuts
from fastdiff.core.made_by import FIELD as MADE_BY
from fastdiff.core.made_by import remove_to_remake

# Every batch stores the sha-256 of its arrays: one over the metadata (all arrays but the pixels, read by the
# merge) and one over the pixels (read by the compare jobs). A batch that fails the check is removed, so that
# the next run of the workflow rebuilds it; it is never compared.
META_FIELDS = ("keys", "paths", "height", "width", "hashes", "error_keys", "error_messages", "timing")
# Each batch also stores the integer cell sums of the pruned compare's grid (`fastdiff.compare.prune.image_cells`) with
# the grid's cut points, and their own sha-256 (read with the pixels). A batch without them was written by an older
# fastdiff: like one without checksums it is removed and rebuilt (never compared with sums computed on the fly).
CELL_FIELDS = ("cells", "cell_cuts")
# A batch with a multi-frame file (`fastdiff.thumbnails.frames`) also stores the thumbnails of the frames after the
# first, with the layout key of the file of each, and their own sha-256 (read by the merge only). A batch of
# single-frame files
# has none of them, and is the same as before they existed.
FRAME_FIELDS = ("frame_keys", "frame_thumbs")


class CorruptBatchError(RuntimeError):
    """A thumbnail batch failed its checksum or could not be read; it has been removed to be rebuilt."""


def _sha256(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in names:
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.data)  # the bytes of a.tobytes(), without copying them
    return digest.hexdigest()


def _mapped(path: str | os.PathLike[str], z: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    """Array `name` of an open .npz: memory-mapped (read-only) where it is stored uncompressed, as this version
    writes batches, else read as numpy reads it.

    A mapped array is read straight from the page cache by whoever uses it (the sha-256 check, then the block's
    concatenation), instead of being copied into new memory first and checked by zipfile's CRC-32 as well: on 60,500
    images the compare jobs spent 11% of their time zeroing new pages, 9% copying and 3% in CRC-32.
    """
    info = z.zip.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return z[name]
    with z.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read_header:
            return z[name]
        shape, fortran_order, dtype = read_header[version](member)
        start = member.tell()  # the .npy header's length: the data follow it
    if fortran_order or dtype.hasobject or not np.prod(shape, dtype=np.int64):
        return z[name]
    with open(path, "rb") as fh:  # the member's local header: 30 bytes, then its name and extra field (APPNOTE 4.3.7)
        fh.seek(info.header_offset)
        local = fh.read(30)
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    offset = info.header_offset + 30 + name_length + extra_length + start
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _corrupt(path: str | os.PathLike[str], reason: str) -> CorruptBatchError:
    """Remove a corrupt batch (so that it is made again) and return the error to raise."""
    return CorruptBatchError(remove_to_remake(path, "corrupt thumbnail batch", reason))


@dataclass
class Batch:
    """The decoded files of one shard (valid ones only) and the errors of the others; or, from load_block, of
    several shards.

    Attributes
    ----------
    keys : numpy.ndarray
        int64 (n,): layout keys (`fastdiff.core.records`) of the decoded files.
    paths : numpy.ndarray
        str (n,): their paths; orient each compared pair in the index order (paths sorted,
        `fastdiff.compare.pairing.pair_ranks`).
    thumbs : numpy.ndarray
        uint8 (n, px, px, 3), RGB, EXIF-oriented and composited onto alpha_background; (0,) when loaded with
        thumbs=False.
    height, width : numpy.ndarray
        int64 (n,): size of the original in pixels (EXIF-oriented).
    hashes : numpy.ndarray
        str (n, 8): sha-256 (hex) after shift_amount of the symmetries k = 0..7 (`fastdiff.compare.kernel.symmetries`:
        rotations 0/90/180/270, then the mirrored ones; '' where rotate or mirror is off).
    error_keys : numpy.ndarray
        int64 (e,): layout keys of the files that could not be decoded.
    error_messages : numpy.ndarray
        str (e,): why, e.g. "truncated image data".
    started, finished : float
        Seconds since the epoch: when the thumbnail job started and finished (difPy's stats).
    """

    keys: np.ndarray
    paths: np.ndarray
    thumbs: np.ndarray
    height: np.ndarray
    width: np.ndarray
    hashes: np.ndarray
    error_keys: np.ndarray
    error_messages: np.ndarray
    started: float
    finished: float
    cells: np.ndarray | None = None  # int32 (n, g, g, 3): the grid's cell sums (fastdiff.compare.prune.image_cells)
    frame_keys: np.ndarray | None = None  # int64 (m,): layout key of the file of each later frame, in frame order
    frame_thumbs: np.ndarray | None = None  # uint8 (m, px, px, 3): thumbnails of the frames after the first


def save_batch(batch: Batch, path: str | os.PathLike[str], made_by: str = "") -> None:
    """Write the batch as an uncompressed .npz, atomically, with the digest of the job that made it
    (`fastdiff.core.made_by`)."""
    arrays = {
        "keys": batch.keys,
        "paths": batch.paths,
        "thumbs": batch.thumbs,
        "height": batch.height,
        "width": batch.width,
        "hashes": batch.hashes,
        "error_keys": batch.error_keys,
        "error_messages": batch.error_messages,
        "timing": np.asarray([batch.started, batch.finished]),
        "cells": image_cells(batch.thumbs) if batch.cells is None else batch.cells,
        "cell_cuts": image_cuts(batch.thumbs.shape[1]),
    }
    sums = {
        "sha256_meta": np.asarray(_sha256(arrays, META_FIELDS)),
        "sha256_thumbs": np.asarray(_sha256(arrays, ("thumbs",))),
        "sha256_cells": np.asarray(_sha256(arrays, CELL_FIELDS)),
    }
    if batch.frame_keys is not None and len(batch.frame_keys):
        frames = {"frame_keys": batch.frame_keys, "frame_thumbs": batch.frame_thumbs}
        arrays.update(frames)
        sums["sha256_frames"] = np.asarray(_sha256(frames, FRAME_FIELDS))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays, **sums, **{MADE_BY: np.asarray(made_by)})  # uncompressed: 8x less CPU to write


def load_batch(path: str | os.PathLike[str], thumbs: bool = True) -> Batch:
    """Read a batch and verify its checksums; with thumbs=False the pixel array is not read (metadata only).

    Raises
    ------
    CorruptBatchError
        If the batch cannot be read or fails a checksum; it has been removed.
    FileNotFoundError, PermissionError, IsADirectoryError, MemoryError
        Passed on as they are (the batch is kept).
    """
    names = META_FIELDS + (("thumbs", *CELL_FIELDS) if thumbs else ())
    try:
        with np.load(path, allow_pickle=False) as z:
            if "sha256_meta" not in z.files:
                raise _corrupt(path, "it has no checksum (written by an older fastdiff)")
            if "sha256_cells" not in z.files:
                raise _corrupt(path, "it has no cell sums (written by an older fastdiff)")
            arrays = {name: _mapped(path, z, name) if name == "thumbs" else z[name] for name in names}
            expected = {name: str(z[f"sha256_{name}"]) for name in ("meta", "thumbs", "cells")}
    except (FileNotFoundError, PermissionError, IsADirectoryError, MemoryError, CorruptBatchError):
        raise
    except Exception as err:  # truncated or overwritten: zipfile, numpy and zlib raise many different errors
        raise _corrupt(path, f"cannot be read ({type(err).__name__}: {err})") from None
    problem = _problem(arrays, expected, thumbs)
    if problem:
        arrays.clear()  # unmapped before the file is removed (where a mapped file cannot be, e.g. on Windows)
        raise _corrupt(path, problem)
    timing = arrays["timing"]
    return Batch(
        keys=arrays["keys"],
        paths=arrays["paths"],
        thumbs=arrays["thumbs"] if thumbs else np.zeros((0,), np.uint8),
        height=arrays["height"],
        width=arrays["width"],
        hashes=_eight(arrays["hashes"]),
        error_keys=arrays["error_keys"],
        error_messages=arrays["error_messages"],
        started=float(timing[0]),
        finished=float(timing[1]),
        cells=arrays["cells"] if thumbs else None,
    )


def load_frames(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """The later frames of a batch's multi-frame files (`fastdiff.thumbnails.frames`), checked against their checksum.

    Returns
    -------
    frame_keys : numpy.ndarray
        int64 (m,): the layout key of the file of each frame, the frames of a file consecutive and in order.
    frame_thumbs : numpy.ndarray
        uint8 (m, px, px, 3); both empty (m = 0) for a batch of single-frame files.

    Raises
    ------
    CorruptBatchError
        As load_batch.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if "sha256_frames" not in z.files:
                return np.zeros(0, np.int64), np.zeros((0, 1, 1, 3), np.uint8)
            arrays = {name: z[name] for name in FRAME_FIELDS}
            expected = str(z["sha256_frames"])
    except (FileNotFoundError, PermissionError, IsADirectoryError, MemoryError):
        raise
    except Exception as err:
        raise _corrupt(path, f"cannot be read ({type(err).__name__}: {err})") from None
    if _sha256(arrays, FRAME_FIELDS) != expected:
        raise _corrupt(path, "checksum mismatch (frames)")
    return arrays["frame_keys"], arrays["frame_thumbs"]


def _problem(arrays: dict[str, np.ndarray], expected: dict[str, str], thumbs: bool) -> str | None:
    """Why a batch read into arrays is corrupt, or None: a checksum mismatch (of the metadata, and with thumbs of the
    pixels and cell sums), or cell sums of another grid than this fastdiff's for the thumbnails' side
    (`fastdiff.compare.prune.image_cuts`), which only an older format has."""
    if _sha256(arrays, META_FIELDS) != expected["meta"]:
        return "checksum mismatch (metadata)"
    if not thumbs:
        return None
    if _sha256(arrays, ("thumbs",)) != expected["thumbs"]:
        return "checksum mismatch (thumbnails)"
    if _sha256(arrays, CELL_FIELDS) != expected["cells"]:
        return "checksum mismatch (cell sums)"
    n, px = arrays["thumbs"].shape[:2]
    cuts = image_cuts(px)
    if not np.array_equal(arrays["cell_cuts"], cuts) or arrays["cells"].shape != (n, len(cuts) - 1, len(cuts) - 1, 3):
        return "its cell sums use another grid (written by another fastdiff)"
    return None


def _eight(hashes: np.ndarray) -> np.ndarray:
    """Hashes of the 8 symmetries: a batch written before mirror had 4 columns (the rotations)."""
    if hashes.ndim == 2 and hashes.shape[1] == 4:
        return np.concatenate([hashes, np.full_like(hashes, "")], axis=1)
    return hashes


def load_block(paths: list[str], threads: int = 4) -> Batch:
    """Concatenate the valid thumbnails of several shard batches into one compare block.

    The batches are read and checked in parallel by `threads` threads (file reads, sha-256 and zlib for compressed
    batches of older versions release the GIL).

    Raises
    ------
    CorruptBatchError
        As load_batch.
    """
    with ThreadPoolExecutor(max_workers=threads) as pool:
        batches = list(pool.map(load_batch, paths))
    cat = np.concatenate
    return Batch(
        keys=cat([b.keys for b in batches]),
        paths=cat([b.paths for b in batches]),
        thumbs=cat([b.thumbs for b in batches]),
        height=cat([b.height for b in batches]),
        width=cat([b.width for b in batches]),
        hashes=cat([b.hashes for b in batches]),
        error_keys=cat([b.error_keys for b in batches]),
        error_messages=cat([b.error_messages for b in batches]),
        started=min(b.started for b in batches),
        finished=max(b.finished for b in batches),
        cells=cat([b.cells for b in batches]),
    )
