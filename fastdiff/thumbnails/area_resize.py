"""INTER_AREA downscaling with OpenCV's exact bytes at about a third of its cost.

OpenCV shrinks an image by a non-integer factor with INTER_AREA one sample at a time in single precision
(``cv::resize``, modules/imgproc/src/resize.cpp: ``computeResizeAreaTab`` and ``ResizeArea_Invoker<uchar, float>``); on
the photos and clip art of a thumbnail job that was a third of the decoding processes' time. `area_kernel.c` runs the
same operations in the same order on eight source rows at once, so every byte is OpenCV's. It is compiled with the
package (`fastdiff.thumbnails.native`); where it is missing, or where it disagrees
with this machine's cv2.resize on a fixed set of images (`_agrees`: an OpenCV build that fuses multiply-adds, say),
`resize_area` calls cv2.resize itself.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math

import cv2
import numpy as np

from fastdiff.thumbnails import native

log = logging.getLogger(__name__)

_LANES = 8  # source rows per step of the kernel (LANES in area_kernel.c)
# Below this many source samples cv2.resize is as fast (the kernel's tables and buffers cost about 40 us a call;
# measured on 2 cores: 150x150x3 0.05 against 0.07 ms, 300x310x3 0.31 against 0.17 ms).
_SMALL = 1 << 17
_ptr = ctypes.c_void_p
_ARGTYPES = [
    _ptr, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,  # src, src_step, h, w * cn, cn
    _ptr, ctypes.c_ssize_t, ctypes.c_int,  # dst, dst_step, dw * cn
    _ptr, _ptr, _ptr, ctypes.c_int,  # x tables and their length
    _ptr, _ptr, _ptr, ctypes.c_int,  # y tables and their length
    _ptr, _ptr, _ptr, _ptr,  # work buffers H, T, acc, sum
]  # fmt: skip


def resize_area(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), byte for byte.

    Parameters
    ----------
    image : np.ndarray
        uint8, shape (h, w, cn) with 1 <= cn <= 4 (or (h, w)), rows contiguous.
    width, height : int
        The output size, at most the image's in each direction.

    Returns
    -------
    np.ndarray
        uint8, shape (height, width, cn), or (height, width) for one channel (as OpenCV returns it), C-contiguous.

    Notes
    -----
    Where both factors are whole numbers OpenCV takes another path (``resizeAreaFast``, integer sums), and so does
    this function, through cv2.resize; so it does for small images (below _SMALL samples), an enlargement, and
    where the kernel is unavailable (`_kernel`).
    """
    kernel = _kernel()
    scale_x, scale_y = _scale(image.shape[1], width), _scale(image.shape[0], height)
    if (
        kernel is None
        or image.dtype != np.uint8
        or image.size < _SMALL
        or scale_x < 1
        or scale_y < 1
        or (_whole(scale_x) and _whole(scale_y))
    ):
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return _shrink(kernel, image, width, height)


def _scale(source: int, target: int) -> float:
    """OpenCV's factor: 1 / (target / source) in double precision (not source / target, which may differ by an ulp)."""
    return 1.0 / (target / source)


def _whole(scale: float) -> bool:
    """OpenCV's test for the integer path: |scale - saturate_cast<int>(scale)| < DBL_EPSILON."""
    return abs(scale - round(scale)) < np.finfo(np.float64).eps


@functools.lru_cache(maxsize=1024)
def _tables(source: int, target: int, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's computeResizeAreaTab: for each output position in turn, the source positions it averages (offsets
    times channels) and their float32 weights; int32, int32, float32 arrays of one length."""
    scale = _scale(source, target)
    sources: list[int] = []
    targets: list[int] = []
    weights: list[float] = []
    for d in range(target):
        start = d * scale
        end = start + scale
        cell = min(scale, source - start)
        first, last = math.ceil(start), math.floor(end)
        last = min(last, source - 1)
        first = min(first, last)
        entries = [(s, 1.0 / cell) for s in range(first, last)]
        if first - start > 1e-3:
            entries.insert(0, (first - 1, (first - start) / cell))
        if end - last > 1e-3:
            entries.append((last, min(end - last, 1.0, cell) / cell))
        sources += [s * channels for s, _ in entries]
        targets += [d * channels] * len(entries)
        weights += [w for _, w in entries]
    return np.asarray(sources, np.int32), np.asarray(targets, np.int32), np.asarray(weights, np.float32)


def _shrink(kernel: ctypes._CFuncPtr, image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The kernel's INTER_AREA shrink of a uint8 image (h, w[, cn]) whose rows are contiguous."""
    flat = image if image.ndim == 3 else image[:, :, np.newaxis]
    h, w, cn = flat.shape
    if flat.strides[1:] != (cn, 1):
        flat = np.ascontiguousarray(flat)
    xs, xd, xa = _tables(w, width, cn)
    ys, yd, ya = _tables(h, height, 1)
    out = np.empty((height, width, cn), np.uint8)
    rows = np.empty((h, width * cn), np.float32)
    transposed = np.empty(w * cn * _LANES, np.uint8)
    acc = np.empty(width * cn * _LANES, np.float32)
    total = np.empty(width * cn, np.float32)
    kernel(
        flat.ctypes.data, flat.strides[0], h, w * cn, cn,
        out.ctypes.data, out.strides[0], width * cn,
        xs.ctypes.data, xd.ctypes.data, xa.ctypes.data, len(xs),
        ys.ctypes.data, yd.ctypes.data, ya.ctypes.data, len(ys),
        rows.ctypes.data, transposed.ctypes.data, acc.ctypes.data, total.ctypes.data,
    )  # fmt: skip
    return out if cn > 1 else out[:, :, 0]  # OpenCV returns one channel as (height, width)


@functools.cache
def _kernel() -> ctypes._CFuncPtr | None:
    """The compiled kernel, or None where it was not built or does not reproduce this machine's cv2.resize."""
    kernel = native.kernel("area_resize", _ARGTYPES)
    if kernel is not None and not _agrees(kernel):
        log.warning("the compiled INTER_AREA kernel differs from this OpenCV's cv2.resize; using cv2.resize")
        return None
    return kernel


def _agrees(kernel: ctypes._CFuncPtr) -> bool:
    """Whether the kernel gives cv2.resize's bytes on a fixed set of images: noise and smooth gradients of awkward
    sizes, 1 to 4 channels, shrunk to sizes that leave partial cells on both sides."""
    rng = np.random.default_rng(20261207)
    shapes = ((97, 131, 3, 50, 50), (203, 77, 1, 13, 29), (64, 250, 4, 49, 17), (1000, 51, 3, 50, 7))
    for h, w, cn, width, height in shapes:
        noise = rng.integers(0, 256, (h, w, cn), dtype=np.uint8)
        ramp = np.add.outer(np.arange(h), np.arange(w))[:, :, np.newaxis] * (255 / (h + w)) + np.arange(cn) * 7
        for image in (noise, np.clip(ramp, 0, 255).astype(np.uint8)):
            expected = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            if not np.array_equal(_shrink(kernel, image, width, height), expected):
                return False
    return True
