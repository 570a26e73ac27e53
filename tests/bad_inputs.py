"""Generators of bad and odd image files for decode and end-to-end tests.

Every file is generated in code and stays well under 100 KB.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

_ORIENTATION_TAG = 0x0112


def pattern_rgb(h: int, w: int) -> np.ndarray:
    """A smooth, non-symmetric uint8 RGB test pattern (R across, G down, B diagonal)."""
    y, x = np.mgrid[0:h, 0:w]
    r = x * 255 // max(w - 1, 1)
    g = y * 255 // max(h - 1, 1)
    b = (x + y) * 255 // max(h + w - 2, 1)
    rgb = np.stack([r, g, b], axis=-1).astype(np.uint8)
    rgb[: h // 4, : w // 4] = (255, 0, 0)  # red corner block marks "top-left"
    return rgb


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height RGB but whose IDAT holds a single row.

    Nothing of width*height size is ever allocated: the IDAT is one zlib-compressed row.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def bmp_header_only(width: int, height: int) -> bytes:
    """A 24-bit BMP whose header claims width x height but which carries 64 bytes of pixels."""
    row = (3 * width + 3) & ~3
    offset = 14 + 40
    file_header = struct.pack("<2sIHHI", b"BM", offset + row * height, 0, 0, offset)
    info_header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, row * height, 2835, 2835, 0, 0)
    return file_header + info_header + b"\x00" * 64


def _encode(rgb: np.ndarray, ext: str, **params: object) -> bytes:
    """Encode an RGB(A) array with Pillow into the format named by ext."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=Image.registered_extensions()[ext], **params)
    return buf.getvalue()


def _encode_cv(img: np.ndarray, ext: str) -> bytes:
    """Encode with OpenCV (which, unlike Pillow, writes 16-bit colour PNGs)."""
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


# Transpose that turns the upright picture into the stored pixels for each EXIF orientation
# (the inverse of what an EXIF-aware viewer applies).
_STORE_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode_oriented(rgb_upright: np.ndarray, ext: str, orientation: int) -> bytes:
    """Encode so that an EXIF-aware viewer shows rgb_upright: pixels stored transposed, tagged orientation.

    ext is one of .jpg, .png, .webp (lossless), .tiff; orientation is 1..8.
    """
    stored = Image.fromarray(rgb_upright)
    if orientation != 1:
        stored = stored.transpose(_STORE_TRANSPOSE[orientation])
    fmt = Image.registered_extensions()[ext]
    buf = io.BytesIO()
    if fmt == "TIFF":
        # TIFF carries Orientation as a plain IFD tag rather than an EXIF blob.
        stored.save(buf, format=fmt, tiffinfo={_ORIENTATION_TAG: orientation})
    else:
        exif = Image.Exif()
        exif[_ORIENTATION_TAG] = orientation
        extra = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(fmt, {})
        stored.save(buf, format=fmt, exif=exif.tobytes(), **extra)
    return buf.getvalue()


def _app_segment(marker: int, payload: bytes) -> bytes:
    """A JPEG APPn header segment carrying payload."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _make_unreadable(path: Path) -> bool:
    """chmod 000 the file; True if that really makes it unreadable for this process.

    Root (or any process with CAP_DAC_OVERRIDE) still reads a mode-000 file, and there is
    no non-blocking, self-contained way to hide a regular file from root, so in that case
    the file is deleted and the case is skipped.
    """
    path.chmod(0)
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        return True
    path.unlink()
    return False


def make_bad_inputs(root: Path) -> dict[str, str]:
    """Create invalid files under root (a new or empty directory).

    Returns {relative path: substring expected in the DecodeError (or index error) message}.
    The mode-000 case ("unreadable.jpg") is only created where it is really unreadable
    (i.e. not when running as root); the two symlink cases are for the index stage,
    though decode_image reports them too.
    """
    root.mkdir(parents=True, exist_ok=True)
    rgb = pattern_rgb(120, 160)
    rng = np.random.default_rng(1234)
    noisy = np.clip(rgb.astype(np.int16) + rng.integers(-40, 40, rgb.shape), 0, 255).astype(np.uint8)
    jpeg = _encode(noisy, ".jpg", quality=90)
    png = _encode(noisy, ".png")
    webp = _encode(noisy, ".webp", lossless=True)
    # A complete small JPEG embedded in a header segment (like an EXIF thumbnail) must not
    # make the truncated main image look complete.
    thumb = _encode(rgb[::8, ::8], ".jpg")
    with_thumb = jpeg[:2] + _app_segment(0xE3, thumb) + jpeg[2:]

    cases: dict[str, bytes] = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "truncated.webp": webp[: len(webp) // 2],
        "truncated_with_thumbnail.jpg": with_thumb[: len(with_thumb) * 3 // 4],
        "text.jpg": b"This is not an image, just text in a file named .jpg\n" * 4,
        "random.png": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        # 9500*9500 = 90_250_000 pixels: just over the default limit (Pillow only warns).
        "huge_9500x9500.png": _png_header_only(9500, 9500),
        # 20000*20000 = 400_000_000 pixels: over twice Pillow's limit (Pillow raises).
        "huge_20000x20000.bmp": bmp_header_only(20000, 20000),
        "unreadable.jpg": jpeg,
    }
    expected = {
        "empty.jpg": "empty file (0 bytes)",
        "truncated.jpg": "truncated image data",
        "truncated.png": "truncated image data",
        "truncated.webp": "truncated image data",
        "truncated_with_thumbnail.jpg": "truncated image data",
        "text.jpg": "not a recognised image format",
        "random.png": "not a recognised image format",
        "huge_9500x9500.png": "image too large: 9500x9500 = 90250000 pixels exceeds max_pixels 89478485",
        "huge_20000x20000.bmp": "image too large",
        "unreadable.jpg": os.strerror(errno.EACCES),
    }
    for name, data in cases.items():
        (root / name).write_bytes(data)
    if not _make_unreadable(root / "unreadable.jpg"):
        del expected["unreadable.jpg"]

    os.symlink("loop_b.jpg", root / "loop_a.jpg")
    os.symlink("loop_a.jpg", root / "loop_b.jpg")
    expected["loop_a.jpg"] = os.strerror(errno.ELOOP)
    expected["loop_b.jpg"] = os.strerror(errno.ELOOP)
    os.symlink("does_not_exist.jpg", root / "broken_link.jpg")
    expected["broken_link.jpg"] = os.strerror(errno.ENOENT)
    return expected


def make_odd_valid_inputs(root: Path) -> dict[str, str]:
    """Create valid but unusual image files under root (a directory); returns {relative path: description}.

    Every image here has an upright appearance of 120x160 (h x w) except the 1600x1200 JPEG
    and the 16-bit gradients; "exif6_*" files store their pixels rotated with Orientation=6,
    and "upright.jpg"/"upright.png" are the same picture stored upright, for comparison.
    """
    root.mkdir(parents=True, exist_ok=True)
    rgb = pattern_rgb(120, 160)
    files: dict[str, tuple[bytes, str]] = {}

    ramp = (np.arange(256 * 64, dtype=np.uint32) * 65535 // (256 * 64 - 1)).astype(np.uint16)
    grey16 = ramp.reshape(64, 256)
    files["gradient16_grey.png"] = (_encode_cv(grey16, ".png"), "16-bit greyscale PNG, ramp over 0..65535")
    rgb16 = np.stack([grey16, grey16[::-1, ::-1], np.full_like(grey16, 0x8000)], axis=-1)
    files["gradient16_rgb.png"] = (
        _encode_cv(rgb16[..., ::-1], ".png"),
        "16-bit RGB PNG: R ramps up, G ramps down over 0..65535, B = 0x8000",
    )

    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, format="JPEG", quality=95)
    files["cmyk.jpg"] = (cmyk.getvalue(), "CMYK JPEG (Adobe, inverted) of the test pattern")

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :80, 3] = 0  # left half fully transparent (colour kept underneath)
    rgba[:, 80:, 3] = 128  # right half half-transparent
    files["rgba.png"] = (_encode(rgba, ".png"), "RGBA PNG: left half alpha 0, right half alpha 128")

    la = io.BytesIO()
    grey = rgb[..., 1]
    Image.fromarray(np.dstack([grey, rgba[..., 3]]), mode="LA").save(la, format="PNG")
    files["la.png"] = (la.getvalue(), "greyscale+alpha (LA) PNG, grey = green channel of the pattern")

    pal = Image.fromarray(rgb).quantize(16)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", transparency=0)
    files["palette_transparent.png"] = (buf.getvalue(), "16-colour palette PNG, index 0 transparent")

    buf = io.BytesIO()
    Image.fromarray(grey > 127).convert("1").save(buf, format="PNG")
    files["bilevel.png"] = (buf.getvalue(), "1-bit PNG: white where pattern green > 127")

    frames = [Image.new("RGB", (160, 120), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["animated.gif"] = (buf.getvalue(), "3-frame animated GIF: red, blue, green")

    files["upright.jpg"] = (_encode(rgb, ".jpg", quality=95), "the test pattern, upright JPEG")
    files["upright.png"] = (_encode(rgb, ".png"), "the test pattern, upright PNG")
    for ext in (".jpg", ".png", ".webp", ".tiff"):
        files[f"exif6_rotated{ext}"] = (
            encode_oriented(rgb, ext, 6),
            f"{ext[1:].upper()} storing the pattern rotated 90 CCW with Orientation=6",
        )
    files["grey.jpg"] = (_encode(np.ascontiguousarray(grey), ".jpg", quality=95), "greyscale JPEG")
    files["lossless.webp"] = (_encode(rgb, ".webp", lossless=True), "lossless WebP")
    files["plain.tiff"] = (_encode(rgb, ".tiff"), "uncompressed RGB TIFF")
    files["plain.bmp"] = (_encode(rgb, ".bmp"), "24-bit BMP")
    files["large_1600x1200.jpg"] = (
        _encode(pattern_rgb(1200, 1600), ".jpg", quality=60),
        "1600x1200 JPEG for reduced decoding",
    )
    files["icon.ico"] = (_encode(rgba, ".ico", sizes=[(160, 120)]), "RGBA icon (a format OpenCV cannot read)")
    files["targa.tga"] = (_encode(rgb, ".tga"), "Targa image (a format OpenCV cannot read)")
    files["motion_photo.jpg"] = (
        files["upright.jpg"][0] + b"\x00\x00\x00\x18ftypmp42\xff\xda" + bytes(200),
        "upright.jpg followed by appended video-like data containing an SOS marker",
    )
    png = _encode(rgb, ".png")
    files["with space.png"] = (png, "file name with spaces")
    files["café 写真.png"] = (png, "file name with non-ASCII characters")
    files["new\nline.png"] = (png, "file name with a newline character")

    for name, (data, _) in files.items():
        (root / name).write_bytes(data)
    return {name: description for name, (_, description) in files.items()}
