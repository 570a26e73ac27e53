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
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image

from fastdiff._shared.special_files import NotRegularFile, open_regular
from fastdiff.core.config import PILLOW_MAX_IMAGE_PIXELS
from fastdiff.core.formats import register_decoders, undecodable, unsupported_jpeg
from fastdiff.thumbnails.composite import WHITE, composite, source_view
from fastdiff.thumbnails.png_wuffs import PNG_SIGNATURE, CorruptPNG, decode_png

# The max_pixels guard below supersedes Pillow's decompression-bomb warning.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
if "OPENCV_LOG_LEVEL" not in os.environ:
    # Failed decodes surface as DecodeError; keep OpenCV's per-file log lines off stderr.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
register_decoders()  # HEIC, JPEG XL: Pillow plugins where installed (fastdiff.core.formats)

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
# Pillow modes with an alpha channel. Premultiplied RGBa/La are composited as straight alpha where OpenCV decodes them.
_ALPHA_MODES = frozenset(["RGBA", "LA", "PA", "RGBa", "La"])
# Peak resident bytes of one decode + thumbnail, per pixel of the image, worst case over the formats and paths of
# fastdiff.thumbnails.decode (VmHWM after clear_refs in a fresh process per decode, 6 Mpx noise images,
# tests/test_same_pixels.py):
# OpenCV 16-bit RGBA PNG 11.6, 8-bit RGBA PNG 7.6, 8-bit RGB PNG (Wuffs) 9.2, uncompressed TIFF 6.9, q100 4:4:4 JPEG
# 4.2 (also for non-UTF-8 names, read as /dev/fd/N); Pillow fallback in strips: LA TIFF 10.0, RGBA TGA/ICO 8.3,
# grey PNG with a colour key 5.2. Wuffs and imdecode (EXIF-rotated TIFFs) run only where their modelled peak fits
# max_pixels x this, and so do 16-bit TIFFs (OpenCV's TIFF reader: 18.4 with alpha, 12.0 without), larger ones being
# refused with a specific error. Rounded up to 12; the thumbnail jobs declare it (fastdiff.run.resources).
DECODE_BYTES_PER_PIXEL = 12
# Bytes per pixel of a PNG's samples by IHDR colour type, at 8 bits per sample (grey, RGB, palette, grey+alpha, RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Bytes/px Wuffs holds beyond its work buffer and outputs (row filter bytes, zlib state): 0.4 measured, 8-bit RGBA.
_WUFFS_MARGIN = 1
# imdecode of an EXIF-rotated TIFF (ru_maxrss/VmHWM, 6 Mpx): file + 14.1 bytes/px for 8-bit RGB, + 17.1 for RGBA with
# the 3-byte/px composite. Modelled as 3 copies of the output (decode, conversion, rotation) plus this many bytes/px
# (libtiff's 4-byte/px RGBA raster and 1 of margin).
_IMDECODE_RASTER = 5
# OpenCV's TIFF reader holds a full-size 16-bit buffer besides its output (VmHWM after clear_refs, 6 Mpx noise,
# uncompressed, decode + thumbnail): 16-bit RGBA 18.4 bytes/px (composite included), 16-bit RGB 12.0. Modelled, with
# about 0.5 of margin, as these bytes/px; a larger 16-bit TIFF is refused rather than decoded over the budget.
_TIFF16_BYTES_PER_PIXEL = {True: 19, False: 13}  # by alpha
# The value imread's output array is filled with before a decode, to tell a failed decode (`_imread_into`).
_UNWRITTEN = 0x5A
# Pixels converted per step on the Pillow path: its temporaries (crop, conversion, array) stay near 1 MB.
_PIL_STRIP_PIXELS = 1 << 16


class DecodeError(Exception):
    """A file that cannot be turned into an RGB image; str(e) is a specific, user-facing message."""


@dataclass(frozen=True)
class Decoded:
    """A decoded image; height/width are the full-resolution, EXIF-oriented dimensions."""

    rgb: np.ndarray  # uint8, shape (h, w, 3), C-contiguous, RGB order
    height: int
    width: int


@dataclass(frozen=True)
class _Header:
    """What the header tells before any pixel is decoded; width/height as stored (before EXIF orientation)."""

    width: int
    height: int
    orientation: int
    alpha: bool  # an alpha channel, or a transparent palette entry / colour key
    sample_dtype: type[np.integer]  # of one sample as OpenCV's IMREAD_UNCHANGED returns it


def decode_image(
    path: str,
    max_pixels: int = PILLOW_MAX_IMAGE_PIXELS,
    reduce_to: int | None = None,
    background: tuple[int, int, int] = WHITE,
) -> Decoded:
    """Decode path to the 8-bit RGB pixels a viewer shows (first frame, EXIF-oriented, alpha composited).

    Parameters
    ----------
    path : str
        The image file.
    max_pixels : int
        Images whose header claims more pixels are rejected before any pixel is decoded.
    reduce_to : int or None
        None (the default) decodes every format at full size, so the pixels do not depend on the container.
        An int lets a JPEG be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as its shorter
        side stays >= 2 * reduce_to: faster, but its pixels then differ from a lossless copy's (config
        `fast_jpeg`). height/width still describe the full-resolution image.
    background : tuple of int
        (r, g, b) 0..255 under transparent pixels (fastdiff.thumbnails.composite gives the formula).

    Returns
    -------
    Decoded
        rgb uint8 (h, w, 3) C-contiguous.

    Raises
    ------
    DecodeError
        With a user-facing message: unreadable, empty, truncated, corrupt, unrecognised or too large.

    Notes
    -----
    Every path keeps its peak within max_pixels * DECODE_BYTES_PER_PIXEL bytes, the per-thread share of
    fastdiff.run.resources.thumbnails_mem_mb. PNGs go through Wuffs (png_wuffs) where its peak fits; everything else
    through OpenCV's imread, which streams the file into an array allocated here at the size the header gives, so a
    decode holds little more than its pixels (a file name that is not valid UTF-8 is passed as /dev/fd/N). OpenCV's
    imdecode, which holds the file and a rotated copy, decodes only the EXIF-rotated TIFFs that imread refuses, and
    only where that fits. Pillow decodes what OpenCV cannot, in strips of rows.
    """
    data = _read(path)
    container = _container(data)
    if container == "PNG":
        rgb = _png_without_pillow(data, max_pixels, background)
        if rgb is not None:
            return Decoded(rgb=rgb, height=rgb.shape[0], width=rgb.shape[1])
    image = _open_lazily(data, max_pixels)
    if image is not None:
        _check_size(image.width, image.height, max_pixels)
    if container is not None and _is_truncated(data, container):
        raise DecodeError("truncated image data")
    if image is None:
        return _without_header(path, data, container, max_pixels)
    header = _header(image, data, container)
    if image.format == "TIFF" and header.sample_dtype is np.uint16:
        _check_fits("OpenCV's 16-bit TIFF decoder", header, _TIFF16_BYTES_PER_PIXEL[header.alpha], max_pixels)
    del data, image  # the decoders below read the file themselves: only the pixels stay in memory

    factor = 1
    if reduce_to is not None and container == "JPEG":
        factor = next((f for f in _REDUCED_RGB if min(header.width, header.height) / f >= 2 * reduce_to), 1)
    if header.alpha:
        rgb = _opencv_composited(path, header, background, max_pixels)
    else:
        flags = _REDUCED_RGB.get(factor, cv2.IMREAD_COLOR_RGB)
        rgb = _imread(path, flags, (header.height, header.width, 3), max_pixels=max_pixels)
    if rgb is None:
        rgb = _pil_to_rgb(path, background)
    height, width = _full_dims(rgb.shape, header, factor) if factor > 1 else rgb.shape[:2]
    _check_size(width, height, max_pixels)
    return Decoded(rgb=rgb, height=height, width=width)


def _png_without_pillow(data: bytes, max_pixels: int, background: tuple[int, int, int]) -> np.ndarray | None:
    """A PNG decoded by Wuffs from its IHDR alone, or None where the general path takes it (a damaged IHDR, over
    Wuffs' memory budget, or declined by `decode_png`): Pillow's header parsing, pure Python, was 8% of the CPU time
    of a clipart PNG and held the GIL the other decoding threads wait for.

    Raises
    ------
    DecodeError
        Too large (IHDR), truncated (no IEND) or corrupt (a critical chunk's CRC).
    """
    ihdr = data[12:29]
    if len(data) < 33 or ihdr[:4] != b"IHDR" or zlib.crc32(ihdr) != int.from_bytes(data[29:33], "big"):
        return None
    width, height = int.from_bytes(ihdr[4:8], "big"), int.from_bytes(ihdr[8:12], "big")
    _check_size(width, height, max_pixels)
    if _is_truncated(data, "PNG"):
        raise DecodeError("truncated image data")
    if not _wuffs_fits(data, width * height, max_pixels):
        return None
    try:
        return decode_png(data, background)
    except CorruptPNG as e:
        raise DecodeError(f"corrupt image data: {e}") from None


def _wuffs_fits(data: bytes, pixels: int, max_pixels: int) -> bool:
    """Whether Wuffs' peak for this PNG stays within max_pixels * DECODE_BYTES_PER_PIXEL bytes (the per-thread budget
    of fastdiff.run.resources); else OpenCV decodes it, which streams rows into its output and holds no copy of the
    file.

    Wuffs holds at once the file, its work buffer (the whole filtered image at source depth, IHDR colour type and
    bit depth; bit depths below 8 counted as 8), its output (RGB, 3 bytes/px, or RGBA, 4, plus the 3-byte/px
    composite, where the image may have alpha: colour types 3, 4 and 6) and _WUFFS_MARGIN.
    """
    source = _PNG_CHANNELS.get(data[25], 4) * (2 if data[24] == 16 else 1)
    output = 3 + (4 if data[25] in (3, 4, 6) else 0)
    return len(data) + pixels * (source + output + _WUFFS_MARGIN) <= max_pixels * DECODE_BYTES_PER_PIXEL


def _without_header(path: str, data: bytes, container: str | None, max_pixels: int) -> Decoded:
    """A file Pillow cannot identify: OpenCV's decode (formats Pillow lacks), or the reason it is unreadable: a
    format without an installed decoder, a JPEG precision or process no decoder here reads, damage, or no image."""
    rgb = _imread(path, cv2.IMREAD_COLOR_RGB, max_pixels=max_pixels)
    if rgb is None:
        why = undecodable(data) or (unsupported_jpeg(data) if container == "JPEG" else None)
        if why is not None:
            raise DecodeError(why)
        if container is not None:
            raise DecodeError(f"corrupt image data: unreadable {container} header")
        raise DecodeError("not a recognised image format")
    _check_size(rgb.shape[1], rgb.shape[0], max_pixels)
    return Decoded(rgb=rgb, height=rgb.shape[0], width=rgb.shape[1])


def _header(image: Image.Image, data: bytes, container: str | None) -> _Header:
    """The fields of _Header from Pillow's lazily opened image (and the PNG IHDR bit depth)."""
    wide = (container == "PNG" and data[24] == 16) or 16 in _tiff_bits(image)
    return _Header(
        width=image.width,
        height=image.height,
        # Pillow loads a whole PNG's pixels to look for an eXIf chunk: only where one exists.
        orientation=_orientation(image) if container != "PNG" or b"eXIf" in data else 1,
        alpha=image.mode in _ALPHA_MODES or "transparency" in image.info,
        sample_dtype=np.uint16 if wide else np.uint8,
    )


def _tiff_bits(image: Image.Image) -> tuple[int, ...]:
    """A TIFF's BitsPerSample (tag 258), () for other formats."""
    bits = getattr(image, "tag_v2", {}).get(258, ())
    return bits if isinstance(bits, tuple) else (bits,)


def _imread(
    path: str,
    flags: int,
    shape: tuple[int, ...] | None = None,
    dtype: type = np.uint8,
    max_pixels: int = PILLOW_MAX_IMAGE_PIXELS,
    extra_bytes_per_pixel: int = 0,
) -> np.ndarray | None:
    """OpenCV's decode of path, or None where OpenCV cannot decode it.

    Parameters
    ----------
    path : str
        The image file; a name that is not valid UTF-8 (on which imread would crash) is opened and passed to OpenCV
        as /dev/fd/N.
    flags : int
        cv2.IMREAD_* flags.
    shape, dtype : tuple of int or None, type
        The array the header says OpenCV returns; None where no header was read.
    max_pixels : int
        The per-thread budget is max_pixels * DECODE_BYTES_PER_PIXEL bytes (see `_check_imdecode_fits`).
    extra_bytes_per_pixel : int
        What the caller allocates besides OpenCV's output while that is alive (3 for a composite).

    Returns
    -------
    np.ndarray or None
        Tried in turn, the first that succeeds wins (each is the same OpenCV decoder, so the pixels agree): imread
        into a new array of the given shape/dtype (`_imread_into`: no second copy of the pixels; OpenCV refuses it
        where it finds another size, e.g. an icon file's other entry, and returns it untouched where it has no
        decoder, hence haveImageReader first, or where the decode fails); plain imread; where shape is known,
        imdecode of the file's bytes (OpenCV 5.0's imread fails on TIFFs with a transposing Orientation, 5-8, that
        imdecode reads).

    Raises
    ------
    DecodeError
        Where imread fails and imdecode's peak would not fit the budget.
    """
    with _opencv_name(path) as name:
        if not cv2.haveImageReader(name):
            return None
        pixels = _imread_into(name, shape, dtype, flags) if shape is not None else None
        if pixels is None:
            pixels = _attempt(lambda: cv2.imread(name, flags))
    if pixels is None and shape is not None:
        _check_imdecode_fits(path, shape, np.dtype(dtype).itemsize, max_pixels, extra_bytes_per_pixel)
        pixels = _attempt(lambda: cv2.imdecode(np.fromfile(path, np.uint8), flags))
    return pixels


def _imread_into(name: str, shape: tuple[int, ...], dtype: type, flags: int) -> np.ndarray | None:
    """imread into a new array of shape and dtype, or None where the decode failed or may have failed.

    OpenCV's Python binding returns the array it was given whether or not the decode succeeded (OpenCV 5.0: a PNG
    with an unknown critical chunk came back as the uninitialised array), so its first and last rows are set to
    _UNWRITTEN first (only they: filling the whole array would cost a pass over memory on every decode), and a
    first or last row that still holds only that value counts as not decoded (decoders write rows from the top; a
    failure part-way leaves the last row). The caller then tries plain imread, which returns None on failure: also
    for the rare image whose first or last row is exactly that grey, at the cost of a second copy.
    """
    fill = _UNWRITTEN * (257 if np.dtype(dtype).itemsize == 2 else 1)
    out = np.empty(shape, dtype)
    out[0] = out[-1] = fill
    pixels = _attempt(lambda: cv2.imread(name, out, flags))
    if pixels is None or bool(np.all(pixels[0] == fill)) or bool(np.all(pixels[-1] == fill)):
        return None
    return pixels


def _attempt(decode: Callable[[], np.ndarray | None]) -> np.ndarray | None:
    """decode()'s array, or None where it fails (cv2.error) or returns nothing."""
    try:
        pixels = decode()
    except cv2.error:
        return None
    return pixels if pixels is not None and pixels.size else None


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name, kept by Python as lone surrogates
        return False
    return True


@contextmanager
def _opencv_name(path: str) -> Iterator[str]:
    """path, or for a name that is not valid UTF-8 /dev/fd/N of the opened file (OpenCV needs UTF-8 names)."""
    if _utf8(path):
        yield path
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        yield f"/dev/fd/{fd}"
    finally:
        os.close(fd)


def _check_imdecode_fits(path: str, shape: tuple[int, ...], itemsize: int, max_pixels: int, extra: int) -> None:
    """Raise DecodeError unless imdecode's peak fits max_pixels * DECODE_BYTES_PER_PIXEL bytes.

    imdecode holds the whole file, three copies of OpenCV's output at the header's shape and itemsize and libtiff's
    raster (_IMDECODE_RASTER), plus `extra` bytes/px of the caller's.
    """
    pixels = shape[0] * shape[1]
    per_pixel = 3 * int(np.prod(shape[2:])) * itemsize + _IMDECODE_RASTER + extra
    room = max_pixels * DECODE_BYTES_PER_PIXEL - os.stat(path).st_size
    if pixels * per_pixel > room:
        raise DecodeError(
            f"image too large for the imdecode decoder (EXIF-rotated TIFF): {pixels} pixels, at most "
            f"{max(room, 0) // per_pixel} for this file with max_pixels {max_pixels}"
        )


def _check_fits(decoder: str, header: _Header, bytes_per_pixel: int, max_pixels: int) -> None:
    """Raise DecodeError unless a decoder that peaks at bytes_per_pixel fits max_pixels * DECODE_BYTES_PER_PIXEL."""
    pixels = header.width * header.height
    most = max_pixels * DECODE_BYTES_PER_PIXEL // bytes_per_pixel
    if pixels > most:
        raise DecodeError(
            f"image too large for {decoder}: {pixels} pixels, at most {most} with max_pixels {max_pixels}"
        )


def _opencv_composited(
    path: str, header: _Header, background: tuple[int, int, int], max_pixels: int
) -> np.ndarray | None:
    """OpenCV's straight-alpha BGRA decode composited onto background and EXIF-oriented (IMREAD_UNCHANGED ignores
    EXIF), or None where OpenCV gives no alpha channel (grey PNG with a tRNS key, grey+alpha TIFF) or no 8/16-bit
    samples: Pillow decodes those."""
    shape = (header.height, header.width, 4)
    pixels = _imread(path, cv2.IMREAD_UNCHANGED, shape, header.sample_dtype, max_pixels, extra_bytes_per_pixel=3)
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.dtype not in (np.uint8, np.uint16):
        return None
    height, width = pixels.shape[:2]
    rgb = np.empty(
        (width, height, 3) if header.orientation in _TRANSPOSING_ORIENTATIONS else (height, width, 3), np.uint8
    )
    composite(pixels, background, source_view(rgb, header.orientation), bgra=True)
    return rgb


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


def _full_dims(shape: tuple[int, ...], header: _Header, factor: int) -> tuple[int, int]:
    """Full-resolution (height, width) in the orientation OpenCV gave a 1/factor-scale decode."""
    height, width = header.height, header.width
    scaled = (-(-height // factor), -(-width // factor))
    if shape[:2] == scaled[::-1] and (scaled[0] != scaled[1] or header.orientation in _TRANSPOSING_ORIENTATIONS):
        return width, height
    return height, width


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return 1


def _pil_to_rgb(path: str, background: tuple[int, int, int]) -> np.ndarray:
    """Fallback decode with Pillow: first frame, EXIF-oriented, alpha composited, 16-bit grey scaled to 8 bits.

    Returns
    -------
    np.ndarray
        uint8 (h, w, 3) C-contiguous RGB. Converted strip by strip straight into the oriented output, so the decode
        holds Pillow's image, the output and about 1 MB (no converted or transposed copy of the whole image).

    Raises
    ------
    DecodeError
        Truncated or corrupt data.
    """
    try:
        with Image.open(path) as im:
            im.load()  # the first frame
            transposed = _orientation(im) in _TRANSPOSING_ORIENTATIONS
            rgb = np.empty((im.width, im.height, 3) if transposed else (im.height, im.width, 3), np.uint8)
            out = source_view(rgb, _orientation(im))
            rows = max(1, _PIL_STRIP_PIXELS // im.width)
            for r0 in range(0, im.height, rows):
                strip = im.crop((0, r0, im.width, min(r0 + rows, im.height)))
                _pil_strip_to_rgb(strip, background, out[r0 : r0 + rows])
    except MemoryError:
        raise
    except Exception as e:
        if "truncated" in str(e).lower():
            raise DecodeError("truncated image data") from e
        raise DecodeError(_unsupported_jpeg_at(path) or f"corrupt image data: {e}") from e
    return rgb


def _unsupported_jpeg_at(path: str) -> str | None:
    """`fastdiff.core.formats.unsupported_jpeg` of a file's first 64 KiB (where its frame header is), None if not a
    JPEG."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    return unsupported_jpeg(head) if head.startswith(_JPEG_SOI) else None


def _pil_strip_to_rgb(strip: Image.Image, background: tuple[int, int, int], out: np.ndarray) -> None:
    """Write a Pillow image's rows as 8-bit RGB into out (uint8, (h, w, 3), may be strided): 16-bit and 32-bit grey
    (modes I, I;16, ...) scaled (not clipped) by >> 8, images with alpha or a transparent colour composited."""
    if strip.mode.startswith("I"):
        out[...] = np.clip(np.asarray(strip) >> 8, 0, 255).astype(np.uint8)[..., np.newaxis]
    elif strip.mode not in _ALPHA_MODES and "transparency" not in strip.info:
        out[...] = np.asarray(strip.convert("RGB"))
    else:
        composite(np.asarray(strip.convert("RGBA")), background, out)
