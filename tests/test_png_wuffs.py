"""The Wuffs PNG path gives OpenCV's pixels exactly, and declines what it would decode differently."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from bad_inputs import encode_oriented
from PIL import Image

from fastdiff.thumbnails.decode import DecodeError, decode_image
from fastdiff.thumbnails.png_wuffs import CorruptPNG, decode_png

RNG = np.random.default_rng(7)
RGBA = RNG.integers(0, 256, (37, 53, 4), np.uint8)
RGBA16 = RNG.integers(0, 65536, (37, 53, 4), np.uint16)
# A smooth image as well: random pixels make zlib store them, smooth ones exercise every PNG filter.
SMOOTH = np.add.outer(np.arange(90), np.arange(70))[..., None] * np.array([1, 2, 3]) % 256


def pillow_png(im: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **params)
    return buf.getvalue()


def opencv_png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def chunk(chunk_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))


def insert_after_ihdr(png: bytes, extra: bytes) -> bytes:
    return png[:33] + extra + png[33:]


def interlaced_rgb_png(rgb: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG (Pillow and OpenCV write none): each pass's rows, filter type 0."""
    height, width = rgb.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b"".join(
        b"\x00" + rgb[y, x0::dx].tobytes() for x0, y0, dx, dy in passes if x0 < width for y in range(y0, height, dy)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def animated_png(default_image: bool) -> bytes:
    frames = [Image.fromarray(RNG.integers(0, 256, (20, 30, 3), np.uint8)) for _ in range(3)]
    return pillow_png(frames[0], save_all=True, append_images=frames[1:], default_image=default_image)


DECODED_BY_WUFFS = {
    "rgb": lambda: pillow_png(Image.fromarray(RGBA[..., :3])),
    "rgb_smooth": lambda: pillow_png(Image.fromarray(SMOOTH.astype(np.uint8))),
    "rgba": lambda: pillow_png(Image.fromarray(RGBA, "RGBA")),
    "grey": lambda: pillow_png(Image.fromarray(RGBA[..., 0])),
    "grey_alpha": lambda: pillow_png(Image.fromarray(RGBA[..., :2].copy(), "LA")),
    "palette": lambda: pillow_png(Image.fromarray(RGBA[..., :3]).quantize(50)),
    "palette_trns": lambda: pillow_png(Image.fromarray(RGBA[..., :3]).quantize(50), transparency=3),
    "bilevel": lambda: pillow_png(Image.fromarray(RGBA[..., 0] > 127)),
    "rgb16": lambda: opencv_png(RGBA16[..., :3]),
    "grey16": lambda: opencv_png(RGBA16[..., 0]),
    "gamma": lambda: insert_after_ihdr(
        pillow_png(Image.fromarray(RGBA[..., :3])), chunk(b"gAMA", struct.pack(">I", 90909))
    ),
    "interlaced": lambda: interlaced_rgb_png(SMOOTH.astype(np.uint8)),
    "animated": lambda: animated_png(default_image=False),
    "animated_default_image": lambda: animated_png(default_image=True),
}
DECLINED = {
    "rgba16": lambda: opencv_png(RGBA16),  # composited at 16 bits on the OpenCV path
    "exif_rotated": lambda: encode_oriented(RGBA[..., :3].copy(), ".png", 6),
    "rgb_trns": lambda: pillow_png(Image.fromarray(RGBA[..., :3]), transparency=tuple(int(v) for v in RGBA[0, 0, :3])),
    "grey_trns": lambda: pillow_png(Image.fromarray(RGBA[..., 0]), transparency=int(RGBA[0, 0, 0])),
}


def opencv_rgb(data: bytes) -> np.ndarray:
    """OpenCV's pixels; where it finds alpha, composited onto white in floating point (the reference formula)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels.ndim == 2 or pixels.shape[2] != 4:  # no alpha: as decoded for display (EXIF orientation applied)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    top = np.iinfo(pixels.dtype).max
    alpha = pixels[..., 3:].astype(np.float64)
    rgb = np.round((alpha * pixels[..., 2::-1] + (top - alpha) * top) / top)
    return (rgb.astype(np.int64) >> (8 if top == 65535 else 0)).astype(np.uint8)


@pytest.mark.parametrize("name", DECODED_BY_WUFFS)
def test_wuffs_gives_opencvs_pixels(name: str, tmp_path) -> None:
    data = DECODED_BY_WUFFS[name]()
    rgb = decode_png(data)
    assert rgb is not None, "the fast path declined a PNG it handles"
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert np.array_equal(rgb, opencv_rgb(data))
    path = tmp_path / f"{name}.png"
    path.write_bytes(data)
    assert np.array_equal(decode_image(str(path)).rgb, rgb)


@pytest.mark.parametrize("name", DECLINED)
def test_declined_pngs_are_decoded_by_opencv(name: str, tmp_path) -> None:
    data = DECLINED[name]()
    assert decode_png(data) is None
    path = tmp_path / f"{name}.png"
    path.write_bytes(data)
    if name == "grey_trns":  # OpenCV ignores a grey image's tRNS key; Pillow applies it (a viewer's result)
        rgba = np.asarray(Image.open(path).convert("RGBA")).astype(np.float64)
        expected = np.round(rgba[..., :3] * rgba[..., 3:] / 255 + (255 - rgba[..., 3:])).astype(np.uint8)
        assert (rgba[..., 3] == 0).any()
    else:
        expected = opencv_rgb(data)
    assert np.array_equal(decode_image(str(path)).rgb, expected)


def test_transparent_key_would_be_blackened() -> None:
    """Why a tRNS key on an RGB image is declined: Wuffs turns the key colour into transparent black."""
    from pywuffs import ImageDecoderType, PixelFormat
    from pywuffs.aux import ImageDecoder, ImageDecoderConfig

    config = ImageDecoderConfig()
    config.enabled_decoders = [ImageDecoderType.PNG]
    config.pixel_format = PixelFormat.RGBA_NONPREMUL
    wuffs = ImageDecoder(config).decode(DECLINED["rgb_trns"]()).pixbuf
    assert not np.array_equal(
        wuffs[..., :3], cv2.imdecode(np.frombuffer(DECLINED["rgb_trns"](), np.uint8), 1)[..., ::-1]
    )


@pytest.mark.parametrize("where", ["IHDR", "IDAT", "IDAT_CRC", "IEND"])
def test_crc_mismatch_is_corrupt(where: str, tmp_path) -> None:
    """Wuffs ignores CRCs; the path checks them, so a flipped bit is corrupt (Pillow would decode IDAT's anyway)."""
    data = bytearray(pillow_png(Image.fromarray(SMOOTH.astype(np.uint8))))
    chunk_start = data.find(where[:4].encode()) - 4
    length = int.from_bytes(data[chunk_start : chunk_start + 4], "big")
    offset = {"IHDR": 8 + 12, "IDAT": 8 + length // 2, "IDAT_CRC": 8 + length, "IEND": 8}[where]
    data[chunk_start + offset] ^= 0x10
    if where.startswith("IDAT"):
        with pytest.raises(CorruptPNG, match=r"^CRC mismatch in the PNG IDAT chunk at byte "):
            decode_png(bytes(data))
    path = tmp_path / "bitflip.png"
    path.write_bytes(bytes(data))
    message = {"IHDR": "corrupt image data: unreadable PNG header", "IEND": "truncated image data"}
    with pytest.raises(DecodeError, match=f"^{message.get(where, 'corrupt image data: CRC mismatch in the PNG IDAT')}"):
        decode_image(str(path))


def test_damaged_ancillary_chunk_is_left_to_opencv() -> None:
    """libpng discards an ancillary chunk with a wrong CRC and decodes the image; so does fastdiff."""
    data = bytearray(insert_after_ihdr(pillow_png(Image.fromarray(RGBA[..., :3])), chunk(b"tEXt", b"k\x00value")))
    data[33 + 8] ^= 0x01
    assert decode_png(bytes(data)) is None
    assert np.array_equal(opencv_rgb(bytes(data)), RGBA[..., :3])


def test_not_a_png_or_cut_short_is_declined() -> None:
    data = pillow_png(Image.fromarray(RGBA[..., :3]))
    assert decode_png(b"GIF89a" + data[6:]) is None
    assert decode_png(data[: len(data) // 2]) is None
    assert decode_png(data[:-12]) is None  # no IEND


def test_a_chunk_type_that_is_not_letters_is_declined(tmp_path) -> None:
    """A chunk whose type is not four ASCII letters is not a PNG chunk, whatever its CRC: declined, and then reported
    as Pillow's header parser reports it."""
    data = insert_after_ihdr(pillow_png(Image.fromarray(RGBA[..., :3])), chunk(b"a1b!", b"xyz"))
    assert decode_png(data) is None
    path = tmp_path / "odd_chunk.png"
    path.write_bytes(data)
    with pytest.raises(DecodeError, match=r"^corrupt image data: unreadable PNG header$"):
        decode_image(str(path))


def test_a_failed_opencv_decode_is_never_taken_for_pixels(tmp_path) -> None:
    """An unknown critical chunk: Wuffs fails, libpng refuses it, and OpenCV's imread into a given array returns
    that array untouched. The decode must give the image's real pixels (Pillow skips the chunk) or an error, never
    the uninitialised array."""
    grey = np.full((20, 30, 3), 100, np.uint8)
    data = insert_after_ihdr(pillow_png(Image.fromarray(grey)), chunk(b"ABCD", b"xyz"))
    path = tmp_path / "unknown_critical.png"
    path.write_bytes(data)
    assert decode_png(data) is None
    try:
        rgb = decode_image(str(path)).rgb
    except DecodeError:
        return
    assert np.array_equal(rgb, grey)
