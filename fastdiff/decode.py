"""Robust image decoding: OpenCV (and Wuffs for PNG) on the hot path, Pillow for headers and formats OpenCV lacks.

All functions are thread-safe; the module keeps no mutable state. Importing it ignores
Pillow's DecompressionBombWarning (max_pixels replaces it) and silences OpenCV's log
output unless OPENCV_LOG_LEVEL is set.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps

from .png_wuffs import PNG_SIGNATURE, CorruptPNG, decode_png
from .special_files import NotRegularFile, open_regular

# The max_pixels guard below supersedes Pillow's decompression-bomb warning.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
if "OPENCV_LOG_LEVEL" not in os.environ:
    # Failed decodes surface as DecodeError; keep OpenCV's per-file log lines off stderr.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_JPEG_SOI = b"\xff\xd8"
_PNG_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG markers that carry no length field (TEM, RST0-7, SOI, EOI), plus fill/stuffing bytes.
_STANDALONE_MARKERS = frozenset([0x00, 0x01, 0xFF, *range(0xD0, 0xDA)])
# IMREAD_REDUCED_COLOR_f with the BGR bit swapped for RGB output, largest factor first.
_REDUCED_RGB = {
    f: flag & ~cv2.IMREAD_COLOR_BGR | cv2.IMREAD_COLOR_RGB
    for f, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
}
_TRANSPOSING_ORIENTATIONS = frozenset([5, 6, 7, 8])


class DecodeError(Exception):
    """A file that cannot be turned into an RGB image; str(e) is a specific, user-facing message."""


@dataclass(frozen=True)
class Decoded:
    """A decoded image; height/width are the full-resolution, EXIF-oriented dimensions."""

    rgb: np.ndarray  # uint8, shape (h, w, 3), C-contiguous, RGB order
    height: int
    width: int


def decode_image(path: str, max_pixels: int = 89_478_485, reduce_to: int | None = None) -> Decoded:
    """Decode path to EXIF-oriented 8-bit RGB (first frame, alpha dropped), or raise DecodeError.

    max_pixels rejects images whose header claims more pixels, before decoding them.
    reduce_to lets a JPEG be decoded at 1/2, 1/4 or 1/8 scale as long as its shorter side
    stays >= 2 * reduce_to; height/width still describe the full-resolution image.
    """
    data = _read(path)
    header = _open_lazily(data, max_pixels)
    if header is not None:
        _check_size(header.width, header.height, max_pixels)
    container = _container(data)
    if container is not None and _is_truncated(data, container):
        raise DecodeError("truncated image data")

    factor = 1
    if reduce_to is not None and header is not None and container == "JPEG":
        factor = next((f for f in _REDUCED_RGB if min(header.size) / f >= 2 * reduce_to), 1)
    try:  # only a PNG whose header passed the max_pixels check above
        rgb = decode_png(data) if container == "PNG" and header is not None else None
    except CorruptPNG as e:
        raise DecodeError(f"corrupt image data: {e}") from None
    if rgb is None:
        try:
            rgb = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_RGB.get(factor, cv2.IMREAD_COLOR_RGB))
        except cv2.error:
            rgb = None

    if rgb is None:
        if header is None:
            if container is not None:
                raise DecodeError(f"corrupt image data: unreadable {container} header")
            raise DecodeError("not a recognised image format")
        rgb = _pil_to_rgb(header)
        height, width = rgb.shape[:2]
    elif factor > 1:
        height, width = _full_dims(rgb.shape, header, factor)
    else:
        height, width = rgb.shape[:2]
    _check_size(width, height, max_pixels)
    return Decoded(rgb=rgb, height=height, width=width)


def _read(path: str) -> bytes:
    """The whole file; DecodeError if it cannot be read or is empty."""
    try:
        with open_regular(path) as f:
            data = f.read()
    except NotRegularFile as e:
        raise DecodeError(f"not a regular file ({e.kind})") from e
    except OSError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}") from e
    if not data:
        raise DecodeError("empty file (0 bytes)")
    return data


def _open_lazily(data: bytes, max_pixels: int) -> Image.Image | None:
    """Pillow's lazy open, which parses only the header; None if Pillow cannot identify the data."""
    try:
        return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Over Pillow's own limit, which hides the size; its message leads with the pixel count.
        pixels = int(re.search(r"\d+", str(e)).group())
        if pixels > max_pixels:
            raise DecodeError(f"image too large: {pixels} pixels exceeds max_pixels {max_pixels}") from None
        return None
    except Exception:
        return None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise DecodeError(
            f"image too large: {width}x{height} = {width * height} pixels exceeds max_pixels {max_pixels}"
        )


def _container(data: bytes) -> str | None:
    """The container by signature, for the formats checked for truncation: JPEG, PNG or WEBP."""
    if data.startswith(_JPEG_SOI):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _is_truncated(data: bytes, container: str) -> bool:
    """Cheap structural check that the file reaches the end marker of its container."""
    if container == "JPEG":
        return _jpeg_truncated(data)
    if container == "PNG":
        return data.rfind(_PNG_IEND_CHUNK) < 0
    return int.from_bytes(data[4:8], "little") + 8 > len(data)  # RIFF size of a WebP


def _jpeg_truncated(data: bytes) -> bool:
    """True unless an EOI marker follows the first SOS marker of the primary image.

    Header segments are skipped by their lengths, so the SOS/EOI of an embedded EXIF
    thumbnail cannot mask a truncated main image, and data appended after the EOI
    (e.g. the video of a motion photo) does not matter.
    """
    pos = 2
    while (pos := data.find(b"\xff", pos)) >= 0 and pos + 1 < len(data):
        marker = data[pos + 1]
        if marker == 0xDA:
            return data.rfind(b"\xff\xd9") < pos  # searching from the end finds a normal EOI at once
        if marker in _STANDALONE_MARKERS:
            pos += 1
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return True


def _full_dims(shape: tuple[int, ...], header: Image.Image, factor: int) -> tuple[int, int]:
    """Full-resolution (height, width) in the orientation OpenCV gave a 1/factor-scale decode."""
    height, width = header.height, header.width
    scaled = (-(-height // factor), -(-width // factor))
    if shape[:2] == scaled[::-1] and (scaled[0] != scaled[1] or _orientation(header) in _TRANSPOSING_ORIENTATIONS):
        return width, height
    return height, width


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return 1


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Fallback decode: first frame, EXIF-oriented, alpha dropped (not composited), 16-bit scaled."""
    try:
        ImageOps.exif_transpose(im, in_place=True)  # loads the first frame
        if im.mode.startswith("I"):  # I, I;16, I;16B, ...: 16-bit range, scaled (not clipped) to 8 bits
            grey = np.clip(np.asarray(im) >> 8, 0, 255).astype(np.uint8)
            return np.repeat(grey[..., np.newaxis], 3, axis=2)
        return np.array(im.convert("RGB"))
    except MemoryError:
        raise
    except Exception as e:
        if "truncated" in str(e).lower():
            raise DecodeError("truncated image data") from e
        raise DecodeError(f"corrupt image data: {e}") from e
