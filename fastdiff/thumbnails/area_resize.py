"""INTER_AREA downscaling with OpenCV's exact bytes at about a third of its cost.

OpenCV shrinks an image by a non-integer factor with INTER_AREA one sample at a time in single precision
(``cv::resize``, modules/imgproc/src/resize.cpp: ``computeResizeAreaTab`` and ``ResizeArea_Invoker<uchar, float>``); on
the photos and clip art of a thumbnail job that was a third of the decoding processes' time. `area_kernel.c` runs the
same operations in the same order on eight source rows at once, so every byte is OpenCV's, with work buffers of a
few rows whatever the image's height. It is compiled with the package (`fastdiff.thumbnails.native`); where it is
missing, or where it disagrees with this machine's cv2.resize on a fixed set of images (`_agrees`: an OpenCV build
that fuses multiply-adds, say), `resize_area` calls cv2.resize itself.
"""

from __future__ import annotations

import ctypes
import functools
import logging

import cv2
import numpy as np

from fastdiff.thumbnails import native

log = logging.getLogger(__name__)

_LANES = 8  # source rows per step of the kernel (LANES in area_kernel.c)
_ptr = ctypes.c_void_p
_ARGTYPES = [
    _ptr, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,  # src, src_step, h, w, cn
    _ptr, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int,  # dst, dst_step, dh, dw
    _ptr, _ptr, _ptr, _ptr, ctypes.c_int,  # the x table (xs, xd, xa), one output row's y weights and their room
    _ptr, _ptr, _ptr, _ptr,  # work buffers H, T, acc, sum
]  # fmt: skip


def resize_area(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), byte for byte.

    Parameters
    ----------
    image : np.ndarray
        uint8, shape (h, w, cn) or (h, w), any strides.
    width, height : int
        The output size, at most the image's in each direction.

    Returns
    -------
    np.ndarray
        uint8, shape (height, width, cn), or (height, width) for one channel (as OpenCV returns it), C-contiguous.

    Notes
    -----
    Where both factors are whole numbers OpenCV takes another path (``resizeAreaFast``, integer sums), and so does
    this function, through cv2.resize; so it does for an enlargement, fewer than 8 rows, more than 4 channels (which
    cv2.resize refuses) and where the kernel is unavailable (`_kernel`).
    """
    kernel = _kernel()
    scale_x, scale_y = _scale(image.shape[1], width), _scale(image.shape[0], height)
    if (
        kernel is None
        or image.dtype != np.uint8
        or (image.ndim == 3 and image.shape[2] > 4)  # OpenCV refuses more channels
        or image.shape[0] < _LANES  # a few rows: most of the kernel's lanes would idle
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


def _shrink(kernel: ctypes._CFuncPtr, image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The kernel's INTER_AREA shrink of a uint8 image (h, w[, cn]); its buffers hold a few rows (area_kernel.c)."""
    flat = image if image.ndim == 3 else image.reshape(*image.shape, 1)  # a view where the rows allow it
    h, w, cn = flat.shape
    if flat.strides[1:] != (cn, 1):
        flat = np.ascontiguousarray(flat)
    out = np.empty((height, width, cn), np.uint8)
    x_room, y_room = 2 * w + 2, h // height + 3
    # named, so that each buffer lives through the call (a temporary's .ctypes.data would dangle)
    x_sources, x_targets, x_weights = (
        np.empty(x_room, np.int32),
        np.empty(x_room, np.int32),
        np.empty(x_room, np.float32),
    )
    y_weights = np.empty(y_room, np.float32)
    rows = np.empty(_LANES * width * cn, np.float32)  # the horizontal pass of LANES source rows
    transposed = np.empty(_LANES * w * cn, np.uint8)  # LANES source rows, transposed
    acc = np.empty(_LANES * width * cn, np.float32)  # their sums, transposed
    total = np.empty(width * cn, np.float32)  # one output row's sums
    kernel(
        flat.ctypes.data, flat.strides[0], h, w, cn,
        out.ctypes.data, out.strides[0], height, width,
        x_sources.ctypes.data, x_targets.ctypes.data, x_weights.ctypes.data, y_weights.ctypes.data, y_room,
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
    """Whether the kernel gives cv2.resize's bytes on a fixed set of images of awkward sizes, 1 to 4 channels, shrunk
    to sizes that leave partial cells on both sides: noise, a smooth ramp, and two patterns whose sums fall near
    half-integers (columns of 0 and 255, a 100/101 checkerboard), where a build that fuses multiply-adds (one
    rounding instead of two) differs in hundreds of bytes; on noise alone it would differ in about 1 in 10,000."""
    rng = np.random.default_rng(20261207)
    shapes = (
        (97, 131, 3, 50, 50),
        (203, 77, 1, 13, 29),
        (64, 250, 4, 49, 17),
        (1000, 51, 3, 50, 7),
        (130, 170, 3, 131, 97),
    )
    for h, w, cn, width, height in shapes:
        noise = rng.integers(0, 256, (h, w, cn), dtype=np.uint8)
        ramp = np.add.outer(np.arange(h), np.arange(w))[:, :, np.newaxis] * (255 / (h + w)) + np.arange(cn) * 7
        columns = np.broadcast_to((np.arange(w) % 2 * 255)[np.newaxis, :, np.newaxis], (h, w, cn))
        checks = np.broadcast_to((100 + np.add.outer(np.arange(h), np.arange(w)) % 2)[:, :, np.newaxis], (h, w, cn))
        for pattern in (noise, ramp, columns, checks):
            image = np.ascontiguousarray(np.clip(pattern, 0, 255).astype(np.uint8))
            expected = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            if not np.array_equal(_shrink(kernel, image, width, height), expected):
                return False
    return True
