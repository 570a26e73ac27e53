"""PNG decoding with Wuffs: about twice as fast as OpenCV's libpng, and pixel-identical to its IMREAD_COLOR_RGB.

Wuffs neither checks CRCs nor applies EXIF orientation, and it blends tRNS keys of grey and RGB images to
transparent black. This path therefore verifies every chunk's CRC itself (a critical chunk's mismatch is corruption:
CorruptPNG) and declines (returns None) the files where the two decoders would differ, which the caller then decodes
with OpenCV: EXIF (eXIf chunk), a tRNS key on a grey or RGB image, a damaged ancillary chunk (which libpng
discards), a broken chunk structure (a chunk type that is not four ASCII letters included) or a Wuffs decoding
error. It also declines 16-bit images with alpha, which are composited at 16 bits on the OpenCV path (Wuffs would
hand over 8 bits per sample only at the cost of an 8-bytes-per-pixel destination). Images with alpha (grey+alpha,
RGBA, palette with tRNS) are decoded as non-premultiplied RGBA and composited onto the background by
fastdiff.thumbnails.composite, as every other path does.
"""

from __future__ import annotations

import zlib

import numpy as np
from pywuffs import ImageDecoderType, PixelFormat
from pywuffs.aux import ImageDecoder, ImageDecoderConfig

from fastdiff.thumbnails.composite import WHITE, composite

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _RGB, _GREY_ALPHA, _RGB_ALPHA = 0, 2, 4, 6  # IHDR colour types


class CorruptPNG(ValueError):
    """A critical chunk (IHDR, PLTE, IDAT, IEND) whose CRC does not match: the file is damaged."""


def decode_png(data: bytes, background: tuple[int, int, int] = WHITE) -> np.ndarray | None:
    """The RGB pixels of a PNG, or None where this path declines.

    Parameters
    ----------
    data : bytes
        The whole PNG file.
    background : tuple of int
        (r, g, b) 0..255 that transparent pixels are composited onto (fastdiff.thumbnails.composite.composite).

    Returns
    -------
    np.ndarray or None
        uint8, shape (h, w, 3), C-contiguous RGB: for an opaque PNG exactly OpenCV's IMREAD_COLOR_RGB pixels
        (16-bit samples reduced to their high byte), for one with alpha the composite.

    Raises
    ------
    CorruptPNG
        Where a critical chunk's CRC is wrong (libpng fails on it too, Pillow would not notice).
    """
    chunk_types = _checked_chunk_types(data)
    if chunk_types is None or b"eXIf" in chunk_types:
        return None
    colour_type = data[25]
    has_trns = b"tRNS" in chunk_types
    if has_trns and colour_type in (_GREY, _RGB):
        return None
    keeps_alpha = colour_type in (_GREY_ALPHA, _RGB_ALPHA) or has_trns
    if keeps_alpha and data[24] == 16:  # IHDR bit depth
        return None
    config = ImageDecoderConfig()
    config.enabled_decoders = [ImageDecoderType.PNG]
    config.pixel_format = PixelFormat.RGBA_NONPREMUL if keeps_alpha else PixelFormat.RGB
    result = ImageDecoder(config).decode(data)
    if result.error_message:
        return None
    pixels = result.pixbuf  # each read of the attribute copies the whole image: read once
    if pixels.ndim != 3:
        return None
    if not keeps_alpha:
        return pixels
    rgb = np.empty((*pixels.shape[:2], 3), np.uint8)
    composite(pixels, background, rgb)
    return rgb


def _checked_chunk_types(data: bytes) -> set[bytes] | None:
    """The chunk types up to IEND, or None unless the file is a PNG whose chunks all carry a correct CRC.

    Raises CorruptPNG for a critical chunk with a wrong CRC.
    """
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    types: set[bytes] = set()
    pos = len(PNG_SIGNATURE)
    view = memoryview(data)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(data):
            return None
        chunk_type = data[pos + 4 : pos + 8]
        if not chunk_type.isalpha():  # not four ASCII letters: not a chunk, whatever its CRC says
            return None
        if zlib.crc32(view[pos + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            if chunk_type[:1].isupper():  # critical chunks start with an upper-case letter
                raise CorruptPNG(f"CRC mismatch in the PNG {chunk_type.decode('latin-1')} chunk at byte {pos}")
            return None
        if chunk_type == b"IEND":
            return types
        types.add(chunk_type)
        pos = end + 4
    return None
