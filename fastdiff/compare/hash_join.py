"""Threshold 0 without arithmetic: MSE(a, b) = 0 exactly when a equals b in some rotation (or symmetry, with
mirror), so the pairs at threshold 0 are the equal thumbnails, found by a join on hashes of the symmetries (linear in
the images) and checked byte for byte on every hash hit (a hash collision is never a pair)."""

from __future__ import annotations

import hashlib

import numpy as np

from fastdiff.core.symmetry import codes_of, transform

VERIFY_BYTES = 2**26  # thumbnail bytes compared at a time when checking hash hits
DIGEST_BYTES = 2**24  # thumbnail bytes turned (rotated, mirrored) at a time for their digests


def digests(thumbs: np.ndarray, rotations: int | tuple[int, ...]) -> np.ndarray:
    """64-bit BLAKE2b digests of the thumbnails in each rotation (or symmetry).

    Parameters
    ----------
    thumbs : numpy.ndarray
        uint8 (n, px, px, 3).
    rotations : int or tuple of int
        1 or 4: rotations k = 0 .. rotations - 1 (np.rot90 on the pixel axes); or the codes of the symmetries
        (`fastdiff.compare.kernel.transform`).

    Returns
    -------
    numpy.ndarray
        uint64 (n, number of symmetries).
    """
    codes = codes_of(rotations)
    out = np.empty((len(thumbs), len(codes)), np.uint64)
    step = max(1, DIGEST_BYTES // max(1, thumbs[0:1].nbytes))
    for start in range(0, len(thumbs), step):
        chunk = thumbs[start : start + step]
        for c, k in enumerate(codes):  # each symmetry of a chunk at once, then a digest of each image's bytes
            moved = np.ascontiguousarray(transform(np, chunk, k, axes=(1, 2)))
            out[start : start + len(chunk), c] = [
                int.from_bytes(hashlib.blake2b(image, digest_size=8).digest(), "little") for image in moved
            ]
    return out


def stored_digests(thumbs: np.ndarray, hashes: np.ndarray, codes: tuple[int, ...]) -> np.ndarray | None:
    """The digests a thumbnail batch already holds, where it holds plain sha-256 hashes of the thumbnails; else None.

    The decoding processes hash every thumbnail in each symmetry (`fastdiff.thumbnails.build.rotation_hashes`), as
    sha-256 of its bytes unless a user hash or a bit shift (`shift_amount`) was configured. Where every thumbnail's
    stored hash of code 0 is the sha-256 of its bytes (checked here, 6 us a thumbnail), the first 64 bits of each
    code's hash serve as its digest, in place of `digests` (14 us per thumbnail and symmetry). Like any digest they
    only propose candidates, which are checked byte for byte.

    Parameters
    ----------
    thumbs : numpy.ndarray
        uint8 (n, px, px, 3).
    hashes : numpy.ndarray
        str (n, 8): the batch's hashes of the symmetry codes 0..7.
    codes : tuple of int
        The symmetries wanted.

    Returns
    -------
    numpy.ndarray or None
        uint64 (n, len(codes)), or None.
    """
    if hashes.shape != (len(thumbs), 8):
        return None
    for thumb, stored in zip(thumbs, hashes[:, 0]):
        if hashlib.sha256(np.ascontiguousarray(thumb)).hexdigest() != stored:
            return None
    try:
        return np.asarray([[int(h[:16], 16) for h in row] for row in hashes[:, list(codes)]], np.uint64).reshape(
            len(thumbs), len(codes)
        )
    except ValueError:  # a symmetry not hashed ('')
        return None


def equal_pairs(
    thumbs_a: np.ndarray, thumbs_b: np.ndarray, rotations: int | tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) with thumbs_a[i] == T_k(thumbs_b[j]) for some symmetry k, i.e. MSE 0.

    Parameters
    ----------
    thumbs_a, thumbs_b : numpy.ndarray
        uint8 (n, px, px, 3) and (m, px, px, 3).
    rotations : int or tuple of int
        1 or 4 (rotations), or symmetry codes (`fastdiff.compare.kernel.symmetries`).

    Returns
    -------
    tuple of numpy.ndarray
        int64 (p,) ia and ib, each pair once, sorted by (i, j). A block compared with itself lists (i, i) and both
        (i, j) and (j, i): the caller keeps the pairs it wants.
    """
    codes = codes_of(rotations)
    keys_a = digests(thumbs_a, 1)[:, 0]
    keys_b = digests(thumbs_b, codes) if thumbs_b is not thumbs_a or len(codes) > 1 else keys_a[:, None]
    order = np.argsort(keys_a, kind="stable")
    sorted_a = keys_a[order]
    flat = keys_b.reshape(-1)
    low = np.searchsorted(sorted_a, flat, "left")
    counts = np.searchsorted(sorted_a, flat, "right") - low
    hits = np.repeat(np.arange(len(flat)), counts)
    offsets = np.arange(len(hits)) - np.repeat(np.cumsum(counts) - counts, counts)
    ia = order[np.repeat(low, counts) + offsets]
    ib, k = hits // len(codes), np.asarray(codes)[hits % len(codes)]
    same = verify(thumbs_a, thumbs_b, ia, ib, k)
    pairs = np.unique(np.stack([ia[same], ib[same]], axis=1), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def verify(thumbs_a: np.ndarray, thumbs_b: np.ndarray, ia: np.ndarray, ib: np.ndarray, k: np.ndarray) -> np.ndarray:
    """bool (p,): thumbs_a[ia] equals T_k(thumbs_b[ib]) (`fastdiff.compare.kernel.transform`), byte for byte."""
    same = np.zeros(len(ia), bool)
    step = max(1, VERIFY_BYTES // max(1, thumbs_a[0:1].nbytes))
    for rot in np.unique(k):
        where = np.nonzero(k == rot)[0]
        for s in range(0, len(where), step):
            w = where[s : s + step]
            rotated = transform(np, thumbs_b[ib[w]], int(rot))
            same[w] = (thumbs_a[ia[w]] == rotated).all(axis=(1, 2, 3))
    return same
