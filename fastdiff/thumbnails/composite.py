"""Transparency as a viewer shows it: alpha compositing onto a solid background, and EXIF orientation as a view.

Every decode path (Wuffs PNG, OpenCV, Pillow) hands images with an alpha channel to `composite`, so one formula
gives one result whatever the container::

    out = round((a * fg + (M - a) * bg) / M)        M = 255 (8-bit samples) or 65535 (16-bit samples)

in exact integer arithmetic (``(a * fg + (M - a) * bg + M // 2) // M``; M is odd, so there are no ties), with the
background bg given in 8 bits and scaled to 16 bits as ``bg * 257`` (which maps 0..255 onto 0..65535 exactly).
16-bit results are then reduced to 8 bits by dropping the low byte (``>> 8``), the conversion OpenCV and Wuffs
apply to opaque 16-bit images, so an opaque 16-bit RGBA image and the same image without alpha decode alike.
The alpha channel is non-premultiplied (straight), as PNG, GIF, WebP and TIFF ExtraSamples=2 store it.

8-bit samples are blended in one pass by a C kernel compiled with the package (composite_kernel.c, through
`fastdiff.thumbnails.native`): the formula in 16-bit integers, with groups of four pixels that are all opaque or all
transparent copied or filled without arithmetic (3.5 times faster on clip art). Where the kernel was not built, they
are blended with OpenCV's saturating uint8 arithmetic, through the equivalent form
``bg + round(a * (fg - bg) / 255)`` (bg is an integer, and no quotient lies half-way between integers because 255
is odd), split into its positive and negative parts ``round(a * max(fg - bg, 0) / 255)`` and
``round(a * max(bg - fg, 0) / 255)``, each one scaled ``cv2.multiply`` of two uint8 arrays (rounded from single
precision: its error, below 1e-5, is far from the 1/510 by which every quotient misses a half-integer). That is five
times faster than the same formula in numpy; tests/test_composite.py checks it equal for every (a, fg, bg).

On a white background (the default) the positive part is 0 and the result is ``255 - round(a * (255 - fg) / 255)``; on
a black one the negative part is 0 and it is ``round(a * fg / 255)``. These two are computed on the four channels at
once, with the alpha channel riding along (one product, no subtraction), the same `cv2.multiply` of the same operands:
the same bytes, in about half the passes over the pixels.
"""

from __future__ import annotations

import ctypes
import functools

import cv2
import numpy as np

from fastdiff.thumbnails import native

WHITE: tuple[int, int, int] = (255, 255, 255)
_STRIP_BYTES = 1 << 17  # source bytes composited per step: the temporaries (about 5 times this) stay in L2 cache
_ARGTYPES = [
    ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int,  # pixels, their row step, height, width
    ctypes.c_int, ctypes.c_void_p,  # where red is in a pixel (0 or 2), the background's three bytes
    ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_ssize_t,  # out, its row step and pixel step in bytes
]  # fmt: skip


def composite(pixels: np.ndarray, background: tuple[int, int, int], out: np.ndarray, bgra: bool = False) -> None:
    """Composite straight-alpha pixels onto a solid background, writing 8-bit RGB into out.

    Parameters
    ----------
    pixels : np.ndarray
        uint8 or uint16, shape (h, w, 4): RGBA (or BGRA where bgra is true), alpha not premultiplied.
    background : tuple of int
        (r, g, b), each 0..255.
    out : np.ndarray
        uint8, shape (h, w, 3), RGB; may be a strided view (e.g. from `source_view` to orient while compositing).
    bgra : bool
        Channel order of pixels: OpenCV's BGRA when true, RGBA otherwise.

    Raises
    ------
    ValueError
        If pixels is neither uint8 nor uint16, the shapes do not match, or out is not a writeable uint8 array.

    Notes
    -----
    The formula is in the module docstring. 8-bit pixels with contiguous channels go to the compiled kernel, which
    needs no temporaries. Otherwise the work is done in strips of rows so that the temporaries stay small however
    large the image; rows that are fully opaque are copied without arithmetic.
    """
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim != 3 or pixels.shape[2] != 4:
        raise ValueError(f"expected uint8/uint16 (h, w, 4) pixels, got {pixels.dtype} {pixels.shape}")
    if out.shape != (*pixels.shape[:2], 3) or out.dtype != np.uint8 or not out.flags.writeable:
        raise ValueError(
            f"out is {out.dtype} {out.shape} (writeable: {out.flags.writeable}), expected writeable uint8 "
            f"{(*pixels.shape[:2], 3)}"
        )
    wide = pixels.dtype == np.uint16
    kernel = _kernel()
    if not wide and kernel is not None and pixels.strides[1:] == (4, 1) and out.strides[2] == 1:
        bg = np.array(background, np.uint8).reshape(3)  # the kernel reads three bytes
        h, w = pixels.shape[:2]
        red = 2 if bgra else 0
        kernel(pixels.ctypes.data, pixels.strides[0], h, w, red, bg.ctypes.data, out.ctypes.data, *out.strides[:2])
        return
    rows = max(1, _STRIP_BYTES // (pixels.shape[1] * pixels.itemsize * 4))
    if wide:
        colour = [2, 1, 0] if bgra else [0, 1, 2]
        for r0 in range(0, pixels.shape[0], rows):
            out[r0 : r0 + rows] = _blend16(pixels[r0 : r0 + rows], colour, background)
        return
    backdrop = np.empty((min(rows, pixels.shape[0]), pixels.shape[1], 3), np.uint8)
    backdrop[...] = np.tile(np.asarray(background, np.uint8), (pixels.shape[1], 1))  # rows copied whole: fast
    to_rgb = cv2.COLOR_BGRA2RGB if bgra else cv2.COLOR_RGBA2RGB
    solid = {(255, 255, 255): _onto_white, (0, 0, 0): _onto_black}.get(tuple(int(v) for v in background))
    for r0 in range(0, pixels.shape[0], rows):
        strip = np.ascontiguousarray(pixels[r0 : r0 + rows])
        target = out[r0 : r0 + rows]
        dense = target.strides == (3 * target.shape[1], 3, 1)  # OpenCV's test (numpy's ignores axes of length 1)
        dst = target if dense else None
        alpha = cv2.extractChannel(strip, 3)
        if cv2.minMaxLoc(alpha)[0] == 255:
            blended = cv2.cvtColor(strip, to_rgb, dst=dst)
        elif solid is not None:
            blended = cv2.cvtColor(solid(strip, alpha), to_rgb, dst=dst)
        else:
            blended = _blend8(strip, alpha, to_rgb, backdrop[: strip.shape[0]], dst)
        if blended is not target:
            target[...] = blended


@functools.cache
def _kernel() -> ctypes._CFuncPtr | None:
    """composite_kernel.c's composite_u8 (`fastdiff.thumbnails.native`), or None where it was not built."""
    return native.kernel("composite_u8", _ARGTYPES)


def _onto_white(strip: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """255 - round(a * (255 - fg) / 255) in each colour channel of a C-contiguous (h, w, 4) uint8 strip (the alpha
    channel, (h, w), as extracted), still (h, w, 4), with 255 - round((255 - a) * 255 / 255) = a in the fourth."""
    inverse = cv2.bitwise_not(strip)
    cv2.multiply(inverse, cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGBA), dst=inverse, scale=1 / 255)
    return cv2.bitwise_not(inverse, dst=inverse)


def _onto_black(strip: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """round(a * fg / 255) in each colour channel of a C-contiguous (h, w, 4) uint8 strip (the alpha channel, (h, w),
    as extracted), still (h, w, 4) with a in the fourth channel."""
    return cv2.multiply(strip, cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGBA), scale=1 / 255)


def _blend8(
    strip: np.ndarray, alpha: np.ndarray, to_rgb: int, backdrop: np.ndarray, dst: np.ndarray | None
) -> np.ndarray:
    """bg + round(a * (fg - bg) / 255) of a C-contiguous (h, w, 4) uint8 strip (alpha: its fourth channel) onto
    backdrop (h, w, 3), the background colour in every pixel, written into dst where given (C-contiguous, (h, w, 3)
    uint8): the module docstring gives the identity with the formula and why it is exact."""
    fg = cv2.cvtColor(strip, to_rgb)
    alpha = cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGB)
    lighter = cv2.multiply(cv2.subtract(fg, backdrop), alpha, scale=1 / 255)
    darker = cv2.multiply(cv2.subtract(backdrop, fg), alpha, scale=1 / 255)
    return cv2.subtract(cv2.add(backdrop, lighter), darker, dst=dst)


def _blend16(strip: np.ndarray, colour: list[int], background: tuple[int, int, int]) -> np.ndarray:
    """round((a * fg + (65535 - a) * bg * 257) / 65535) >> 8, in uint32 (a * fg + (65535 - a) * bg <= 65535**2)."""
    alpha = strip[..., 3:4]
    if alpha.min() == 65535:
        return strip[..., colour] >> 8
    a = alpha.astype(np.uint32)
    mixed = a * strip[..., colour] + (65535 - a) * (np.asarray(background, np.uint32) * 257)
    mixed += 32767
    mixed //= 65535
    mixed >>= 8
    return mixed


def source_view(oriented: np.ndarray, orientation: int) -> np.ndarray:
    """A view of an EXIF-oriented (display) array indexed like the stored image, for writing it in place.

    Parameters
    ----------
    oriented : np.ndarray
        Shape (H, W, ...): the image as a viewer displays it.
    orientation : int
        EXIF Orientation tag value 1..8 (TIFF 6.0 / EXIF 2.32 section 4.6.4); anything else counts as 1.

    Returns
    -------
    np.ndarray
        A strided view V of `oriented` with V[r, c] the display pixel that stored pixel (r, c) becomes; its shape
        is the stored image's, i.e. (W, H, ...) for the transposing orientations 5-8.
    """
    if orientation in (5, 6, 7, 8):
        transposed = oriented.swapaxes(0, 1)
        return {5: transposed, 6: transposed[::-1], 7: transposed[::-1, ::-1], 8: transposed[:, ::-1]}[orientation]
    return {2: oriented[:, ::-1], 3: oriented[::-1, ::-1], 4: oriented[::-1]}.get(orientation, oriented)
