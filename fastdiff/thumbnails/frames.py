"""Multi-frame files compared as wholes: a TIFF with several pages or an animation (GIF, APNG, animated WebP) is a
duplicate only of a file with as many frames whose every frame matches.

The thumbnail stage decodes a file's first frame as usual; for a multi-frame file it also makes a thumbnail of each
later frame (`later_frames`), stored in the shard's batch (`fastdiff.thumbnails.batch`; a batch of single-frame files is
unchanged). The compare stage compares first frames only; the merge then demotes (`demote_partial_matches`) each
matching pair whose frame counts differ, or one of whose later frames differs by more than the threshold (the same
MSE, minimised over the run's symmetries, as the compare), to `dif_table.success` RELATED: it is kept as a related
pair but no longer matches (results.json, lower_quality.json, the groups).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fastdiff.core.symmetry import transform
from fastdiff.thumbnails.batch import load_frames
from fastdiff.thumbnails.composite import composite, source_view

RELATED = 4
"""`dif_table.success` of a pair whose first frames match but whose other frames (or frame counts) do not."""

MAX_FRAMES = 10_000
"""More frames than this in one file are refused with a clear error, so a crafted file cannot exhaust memory."""

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _may_have_frames(head: bytes) -> bool:
    """Whether a file that starts with `head` is in a container that can hold several frames: GIF, TIFF, PNG
    (APNG), WebP. Other files (JPEG and MPO among them: an MPO's second picture is a preview, not a page) are
    single frames, so most files are never opened a second time."""
    return head[:4] in (b"GIF8", b"II*\x00", b"MM\x00*", b"\x89PNG") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _png_is_animated(path: str) -> bool:
    """Whether a PNG has an acTL chunk before its first IDAT (an APNG), read chunk header by chunk header."""
    with open(path, "rb") as fh:
        fh.seek(8)
        while len(header := fh.read(8)) == 8:
            length, kind = struct.unpack(">I4s", header)
            if kind == b"acTL":
                return True
            if kind in (b"IDAT", b"IEND"):
                return False
            fh.seek(length + 4, 1)  # the data and the CRC
    return False


def _rgb(frame: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """A Pillow frame as 8-bit RGB, as the first frame is decoded: 16- and 32-bit grey scaled by >> 8, alpha and
    transparent colours composited onto `background` (`fastdiff.thumbnails.composite`)."""
    if frame.mode.startswith("I"):
        grey = np.clip(np.asarray(frame) >> 8, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if frame.mode not in _ALPHA_MODES and "transparency" not in frame.info:
        return np.ascontiguousarray(np.asarray(frame.convert("RGB")))
    out = np.empty((frame.height, frame.width, 3), np.uint8)
    composite(np.asarray(frame.convert("RGBA")), background, out)
    return out


def later_frames(path: str, max_pixels: int, background: tuple[int, int, int]) -> Iterator[np.ndarray]:
    """The frames after the first of a multi-frame file, one at a time, as 8-bit RGB images (none for a single
    frame).

    Parameters
    ----------
    path : str
        The file.
    max_pixels : int
        A frame with more pixels is refused (as the first frame is, `fastdiff.thumbnails.decode.decode_image`).
    background : tuple of int
        (r, g, b) under transparent pixels.

    Yields
    ------
    numpy.ndarray
        uint8 (h, w, 3) C-contiguous, the frames as a viewer shows them (Pillow applies GIF, APNG and WebP disposal
        and blending), each turned by the first frame's EXIF orientation (the pages of one scan are oriented
        alike).

    Raises
    ------
    ValueError
        A frame larger than max_pixels, more than MAX_FRAMES frames, or a multi-page TIFF that only OpenCV reads.
    OSError
        The file cannot be read or a frame is damaged (Pillow's errors).
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
    if not _may_have_frames(head) or (head[:4] == b"\x89PNG" and not _png_is_animated(path)):
        return
    try:
        im = Image.open(path)
    except UnidentifiedImageError:  # decoded by OpenCV alone (e.g. a TIFF Pillow does not know): count its pages
        if head[:4] in (b"II*\x00", b"MM\x00*") and cv2.imcount(path) > 1:
            raise ValueError("a multi-page TIFF whose later pages cannot be read") from None
        return
    with im:
        n = getattr(im, "n_frames", 1)
        try:
            orientation = int(im.getexif().get(0x0112, 1))
        except Exception:  # a damaged EXIF block: the first frame's decode ignores it too
            orientation = 1
        if n > MAX_FRAMES:
            raise ValueError(f"{n} frames, more than {MAX_FRAMES}")
        for i in range(1, n):
            im.seek(i)
            if im.width * im.height > max_pixels:
                raise ValueError(f"frame {i + 1} too large: {im.width}x{im.height}")
            rgb = _rgb(im, background)
            if orientation != 1:
                transposed = orientation in (5, 6, 7, 8)
                oriented = np.empty((rgb.shape[1], rgb.shape[0], 3) if transposed else rgb.shape, np.uint8)
                source_view(oriented, orientation)[...] = rgb
                rgb = oriented
            yield rgb


def frames_mse(a: np.ndarray, b: np.ndarray, codes: Iterable[int]) -> float:
    """The largest, over the frames, of the smallest MSE over the symmetries `codes` between frame i of `a` and
    frame i of `b` (each frame may reach its minimum under another symmetry, as in the compare).

    Parameters
    ----------
    a, b : numpy.ndarray
        uint8 (frames, px, px, 3): the same number of frame thumbnails.
    codes : iterable of int
        Symmetry codes (`fastdiff.compare.kernel.symmetries`).

    Returns
    -------
    float
        On the 0-255 scale over px*px*3 values, computed exactly (integer sums); 0.0 for no frames.
    """
    if len(a) == 0:
        return 0.0
    a64 = a.astype(np.int64)
    best = np.full(len(a), np.iinfo(np.int64).max, np.int64)
    for k in codes:
        diff = a64 - transform(np, b, k, axes=(1, 2)).astype(np.int64)
        best = np.minimum(best, np.einsum("fijc,fijc->f", diff, diff))
    return float(best.max()) / (a.shape[1] * a.shape[2] * a.shape[3])


def frames_by_key(batch_paths: Iterable[str], order: np.ndarray) -> dict[int, np.ndarray]:
    """The later frames of every multi-frame file of the thumbnail batches (`fastdiff.thumbnails.batch.load_frames`).

    Parameters
    ----------
    batch_paths : iterable of str
        The thumbnail batches.
    order : numpy.ndarray
        int64: layout key -> index key (`fastdiff.index.scan.read_order`).

    Returns
    -------
    dict of int to numpy.ndarray
        Index key -> uint8 (frames - 1, px, px, 3).

    Raises
    ------
    CorruptBatchError
        From `fastdiff.thumbnails.batch.load_frames`.
    """
    found: dict[int, np.ndarray] = {}
    for path in batch_paths:
        keys, thumbs = load_frames(path)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else []
        for start, stop in zip(starts, [*starts[1:], len(keys)]):
            found[int(order[keys[start]])] = thumbs[start:stop]
    return found


def demote_partial_matches(
    con: sqlite3.Connection, frames: dict[int, np.ndarray], threshold: float, codes: Iterable[int]
) -> int:
    """Mark RELATED every matching pair (success 1 or 2, `dif_pair`) that involves a multi-frame file and whose
    frame counts differ or one of whose later frames differs by more than `threshold` (`frames_mse`); store the
    frame counts in the table `frames`; commit.

    Parameters
    ----------
    con : sqlite3.Connection
        A finished result database (`fastdiff.merge.db.writer.finish`), before the best-copy groups.
    frames : dict of int to numpy.ndarray
        Index key -> uint8 (frames - 1, px, px, 3): the later frames of each multi-frame file.
    threshold : float
        The run's MSE threshold (0 in hash-only mode: the frames must be equal).
    codes : iterable of int
        The run's symmetry codes.

    Returns
    -------
    int
        The number of pairs demoted.
    """
    codes = tuple(codes)
    con.executemany("INSERT INTO frames VALUES (?, ?)", sorted((k, 1 + len(f)) for k, f in frames.items()))
    multi = "(SELECT key FROM frames)"
    # At threshold 0 the pairs between members of an exact group are stored as the group (dif_table is a view): a
    # multi-frame member leaves its group, its pairs stored one by one, so that each can be demoted on its own.
    con.execute(f"""
        INSERT INTO computed_pair (key_a, key_b, dif, success, error, rotation)
        SELECT key_a, key_b, dif, success, error, rotation FROM dif_pair p
        WHERE (key_a IN {multi} OR key_b IN {multi})
        AND NOT EXISTS (SELECT 1 FROM computed_pair c WHERE c.key_a = p.key_a AND c.key_b = p.key_b)""")
    con.execute(f"DELETE FROM exact_group WHERE member IN {multi}")
    rows = con.execute(f"""
        SELECT key, key_a, key_b FROM computed_pair
        WHERE success IN (1, 2) AND (key_a IN {multi} OR key_b IN {multi})
        ORDER BY key_a, key_b""").fetchall()
    none = np.zeros((0, 1, 1, 3), np.uint8)
    demoted = [
        (key,)
        for key, a, b in rows
        if len(fa := frames.get(a, none)) != len(fb := frames.get(b, none)) or frames_mse(fa, fb, codes) > threshold
    ]
    con.executemany(f"UPDATE computed_pair SET success = {RELATED} WHERE key = ?", demoted)
    con.commit()
    return len(demoted)
