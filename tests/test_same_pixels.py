"""Same pixels, same thumbnail, whatever the container; transparency as a viewer shows it; memory within bounds."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from fastdiff.run.resources import DECODE_BYTES_PER_PIXEL
from fastdiff.thumbnails.build import make_thumbnail
from fastdiff.thumbnails.composite import WHITE
from fastdiff.thumbnails.decode import DecodeError, decode_image

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
SIZES = [(97, 131), (333, 251)]  # odd sizes; 333x251 is large enough for DCT scaling at px_size 50
PX_SIZES = [10, 50, 64]


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth picture with some noise: uint8 (h, w, 3) RGB."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1)
    noise = np.random.default_rng(seed).integers(-20, 20, (h, w, 3))
    return (base + noise).clip(0, 255).astype(np.uint8)


def alpha_of(h: int, w: int) -> np.ndarray:
    """Every alpha value: transparent, opaque and partial regions."""
    return (np.add.outer(np.arange(h), np.arange(w)) * 7 % 256).astype(np.uint8)


def pillow_bytes(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def opencv_bytes(array: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, array, params or [])
    assert ok
    return buf.tobytes()


def encodings(h: int, w: int) -> dict[str, bytes]:
    rgb = photo(h, w)
    rgba = np.dstack([rgb, alpha_of(h, w)])
    rgba16 = (np.dstack([rgb, alpha_of(h, w)]).astype(np.uint16) * 257 + 99)[..., [2, 1, 0, 3]]
    grey = Image.fromarray(rgb).convert("L")
    return {
        "baseline_420.jpg": pillow_bytes(Image.fromarray(rgb), "JPEG", quality=90, subsampling=2),
        "baseline_444.jpg": pillow_bytes(Image.fromarray(rgb), "JPEG", quality=90, subsampling=0),
        "progressive.jpg": pillow_bytes(Image.fromarray(rgb), "JPEG", quality=90, progressive=True),
        "grey.jpg": pillow_bytes(grey, "JPEG", quality=90),
        "cmyk.jpg": pillow_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=90),
        "grey.png": pillow_bytes(grey, "PNG"),
        "grey16.png": opencv_bytes((np.asarray(grey).astype(np.uint16) * 257 + 5), ".png"),
        "rgb.png": pillow_bytes(Image.fromarray(rgb), "PNG"),
        "rgb16.png": opencv_bytes((rgb.astype(np.uint16) * 257 + 7)[..., ::-1].copy(), ".png"),
        "rgba.png": pillow_bytes(Image.fromarray(rgba, "RGBA"), "PNG"),
        "rgba16.png": opencv_bytes(rgba16, ".png"),
        "la.png": pillow_bytes(Image.fromarray(np.dstack([np.asarray(grey), alpha_of(h, w)]), "LA"), "PNG"),
        "palette.png": pillow_bytes(Image.fromarray(rgb).quantize(64), "PNG"),
        "palette_trns.png": pillow_bytes(Image.fromarray(rgb).quantize(64), "PNG", transparency=5),
        "lossless.webp": pillow_bytes(Image.fromarray(rgb), "WEBP", lossless=True),
        "lossless_alpha.webp": pillow_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True),
        "rgb.tiff": pillow_bytes(Image.fromarray(rgb), "TIFF"),
        "rgba.tiff": pillow_bytes(Image.fromarray(rgba, "RGBA"), "TIFF"),
        "rgb.bmp": pillow_bytes(Image.fromarray(rgb), "BMP"),
        "transparent.gif": pillow_bytes(Image.fromarray(rgb).quantize(64), "GIF", transparency=5),
    }


def thumb(path: Path, px_size: int, reduce_to: int | None = None) -> np.ndarray:
    return make_thumbnail(decode_image(str(path), reduce_to=reduce_to, background=WHITE).rgb, px_size)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_lossless_copy_of_decoded_pixels_has_the_same_thumbnail(tmp_path: Path, h: int, w: int) -> None:
    """The thumbnail is a function of the decoded pixels alone: a PNG of them thumbnails byte-identically."""
    for name, data in encodings(h, w).items():
        original = tmp_path / name
        original.write_bytes(data)
        rgb = decode_image(str(original)).rgb
        assert rgb.shape == (h, w, 3), name
        copy = tmp_path / f"{name}.copy.png"
        copy.write_bytes(opencv_bytes(rgb[..., ::-1].copy(), ".png"))
        for px_size in PX_SIZES:
            a, b = thumb(original, px_size), thumb(copy, px_size)
            assert a.tobytes() == b.tobytes(), (name, px_size)
            assert mse(a, b) == 0.0


@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_fast_jpeg_is_blind_to_a_lossless_copy(tmp_path: Path) -> None:
    """Why fast_jpeg is off by default: DCT-scaled decoding gives the JPEG other pixels than its PNG copy."""
    original = tmp_path / "p.jpg"
    original.write_bytes(encodings(333, 251)["baseline_420.jpg"])
    copy = tmp_path / "p.png"
    copy.write_bytes(opencv_bytes(decode_image(str(original)).rgb[..., ::-1].copy(), ".png"))
    assert thumb(original, 50).tobytes() == thumb(copy, 50).tobytes()
    assert decode_image(str(original), reduce_to=50).rgb.shape[0] < 333  # really decoded at a reduced scale
    assert thumb(original, 50, reduce_to=50).tobytes() != thumb(copy, 50, reduce_to=50).tobytes()


@pytest.mark.parametrize("background", [(255, 255, 255), (0, 0, 0), (30, 160, 90)])
def test_transparent_png_matches_flattened_jpeg(tmp_path: Path, background: tuple[int, int, int]) -> None:
    """A transparent PNG and the same picture flattened onto the background as a JPEG (q95) match at 'similar'."""
    h, w = 240, 320
    rgba = np.dstack([photo(h, w), alpha_of(h, w)])
    png = tmp_path / "t.png"
    Image.fromarray(rgba, "RGBA").save(png)
    flat = Image.new("RGB", (w, h), background)
    flat.paste(Image.fromarray(rgba, "RGBA"), mask=Image.fromarray(rgba[..., 3]))
    jpg = tmp_path / "t.jpg"
    flat.save(jpg, quality=95)
    a = make_thumbnail(decode_image(str(png), background=background).rgb, 50)
    b = make_thumbnail(decode_image(str(jpg), background=background).rgb, 50)
    assert mse(a, b) <= 5


def drawing(kind: int) -> Image.Image:
    """Clipart as many drawing programs export it: black ink, the shape only in the alpha channel."""
    im = Image.new("RGBA", (180, 180), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    shapes = [
        lambda: draw.ellipse((20, 20, 160, 160), outline=(0, 0, 0, 255), width=5),
        lambda: draw.rectangle((30, 30, 150, 150), outline=(0, 0, 0, 255), width=5),
        lambda: draw.polygon([(90, 10), (170, 170), (10, 170)], outline=(0, 0, 0, 255), width=5),
        lambda: draw.line((10, 10, 170, 170), fill=(0, 0, 0, 255), width=7),
        lambda: draw.text((40, 70), "fastdiff", fill=(0, 0, 0, 200)),
    ]
    shapes[kind]()
    return im


def test_clipart_drawings_in_alpha_are_not_grouped(tmp_path: Path) -> None:
    """Different drawings whose colours are all black differ (MSE > 5); each drawing matches itself across
    RGBA PNG, grey+alpha PNG, palette PNG with tRNS, GIF, lossless WebP and TIFF at MSE 0."""
    thumbs: dict[tuple[int, str], np.ndarray] = {}
    for kind in range(5):
        im = drawing(kind)
        pal = Image.fromarray(np.where(np.asarray(im)[..., 3] > 127, 0, 1).astype(np.uint8), "P")
        pal.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # every entry black: the drawing is only in alpha
        files = [
            ("rgba.png", im, {}),
            ("la.png", im.convert("LA"), {}),
            ("pal.png", pal, {"transparency": 1}),
            ("pal.gif", pal, {"transparency": 1}),
            ("lossless.webp", im, {"lossless": True}),
            ("rgba.tiff", im, {}),
        ]
        for name, image, params in files:
            path = tmp_path / f"{kind}_{name}"
            image.save(path, **params)
            thumbs[kind, name] = make_thumbnail(decode_image(str(path)).rgb, 50)
    for (k1, n1), t1 in thumbs.items():
        for (k2, n2), t2 in thumbs.items():
            if k1 != k2:
                assert mse(t1, t2) > 5, (k1, n1, k2, n2)
            elif n1 in ("rgba.png", "la.png", "lossless.webp", "rgba.tiff") and n2 in ("rgba.png", "la.png"):
                assert mse(t1, t2) == 0.0, (k1, n1, n2)  # the same alpha values: the same pixels


# ---------------------------------------------------------------- memory: every decode within the declared bound

MEASURE = """
import json, re, sys
from fastdiff.thumbnails.decode import DecodeError, decode_image
from fastdiff.thumbnails.build import make_thumbnail
def kib(field):
    with open("/proc/self/status") as f:
        return int(re.search(field + r":\\s+(\\d+)", f.read()).group(1))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to VmRSS: ru_maxrss would carry the parent's peak over fork and exec
before = kib("VmRSS")
d = decode_image(sys.argv[1], max_pixels=int(sys.argv[2]))
make_thumbnail(d.rgb, 50)
print(json.dumps({"peak_kib": kib("VmHWM") - before, "px": d.height * d.width}))
"""
MAX_PIXELS = 6_000_000  # a reduced max_pixels; the images are just under it


def big_image(h: int, w: int, channels: int, depth: int) -> np.ndarray:
    """Noise (incompressible: the file is as large as it gets) over a gradient; alpha partly transparent."""
    rng = np.random.default_rng(1)
    top = 65535 if depth == 16 else 255
    dtype = np.uint16 if depth == 16 else np.uint8
    pixels = rng.integers(0, top + 1, (h, w, channels), dtype=dtype)
    if channels in (2, 4):
        pixels[: h // 3, :, -1] = 0
        pixels[h // 3 : 2 * h // 3, :, -1] = top
    return pixels


def big_file(name: str, h: int, w: int) -> bytes:
    """The file `name` stands for: an OpenCV-written PNG/JPEG by channels and depth, or a Pillow fallback case."""
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 100, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    png = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    makers = {
        "rgb8.png": lambda: opencv_bytes(big_image(h, w, 3, 8), ".png", png),
        "rgba8.png": lambda: opencv_bytes(big_image(h, w, 4, 8), ".png", png),
        "rgb16.png": lambda: opencv_bytes(big_image(h, w, 3, 16), ".png", png),
        "rgba16.png": lambda: opencv_bytes(big_image(h, w, 4, 16), ".png", png),
        "big.jpg": lambda: opencv_bytes(big_image(h, w, 3, 8), ".jpg", jpeg),
        "rgba.tga": lambda: pillow_bytes(Image.fromarray(big_image(h, w, 4, 8), "RGBA"), "TGA"),
        "rgba_png.ico": lambda: ico_of(pillow_bytes(Image.fromarray(big_image(h, w, 4, 8), "RGBA"), "PNG")),
        "la.tiff": lambda: pillow_bytes(Image.fromarray(big_image(h, w, 2, 8), "LA"), "TIFF"),
        "grey_key.png": lambda: pillow_bytes(Image.fromarray(big_image(h, w, 1, 8)[..., 0]), "PNG", transparency=7),
        "orientation6.tiff": lambda: pillow_bytes(Image.fromarray(big_image(h, w, 3, 8)), "TIFF", tiffinfo={274: 6}),
        "rgba16.tiff": lambda: opencv_bytes(big_image(h, w, 4, 16), ".tiff"),
        "rgb16.tiff": lambda: opencv_bytes(big_image(h, w, 3, 16), ".tiff"),
    }
    return makers[name.removeprefix("non-utf8 ")]()


def ico_of(png: bytes) -> bytes:
    """An icon file with one PNG entry (ICONDIR + ICONDIRENTRY, 256 coded as 0), as Pillow reads one of any size."""
    return struct.pack("<HHHBBBBHHII", 0, 1, 1, 0, 0, 0, 0, 1, 32, len(png), 22) + png


def peak(path: Path) -> dict[str, int]:
    """Peak resident KiB above the start (VmHWM after clear_refs) of decode + thumbnail in a fresh process."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak RSS")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, os.fsdecode(path), str(MAX_PIXELS)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("rgb8.png", (2400, 2499)),  # Wuffs
        ("rgba8.png", (2400, 2499)),  # OpenCV composite: Wuffs would not fit
        ("rgb16.png", (2400, 2499)),
        ("rgba16.png", (2400, 2499)),
        ("big.jpg", (2400, 2499)),
        ("rgba.tga", (2400, 2499)),  # Pillow fallback, from here on
        ("rgba_png.ico", (2400, 2499)),
        ("la.tiff", (2400, 2499)),
        ("grey_key.png", (2400, 2499)),
        ("non-utf8 big.jpg", (2400, 2499)),  # imread of /dev/fd/N
        ("non-utf8 rgba8.png", (2400, 2499)),
        ("orientation6.tiff", (1700, 1700)),  # imdecode, at a size its budget check admits
        ("rgba16.tiff", (1850, 2000)),  # OpenCV's 16-bit TIFF reader (18.4 bytes/px), at a size its check admits
        ("rgb16.tiff", (2300, 2400)),
    ],
)
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_decode_peak_within_declared_bytes_per_pixel(tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    """Each decode path, in a fresh process, peaks below MAX_PIXELS * DECODE_BYTES_PER_PIXEL, the per-thread share of
    resources.thumbnails_mem_mb, for an image near MAX_PIXELS (the Pillow cases peaked at 13.8-17.2 bytes/px before
    they were converted in strips, Wuffs on 8-bit RGBA at 15.1 before it was held to the budget)."""
    h, w = size
    path = (
        os.fsencode(tmp_path)
        + b"/"
        + (b"\xff" if name.startswith("non-utf8") else b"")
        + name.removeprefix("non-utf8 ").encode()
    )
    Path(os.fsdecode(path)).write_bytes(big_file(name, h, w))
    measured = peak(Path(os.fsdecode(path)))
    assert measured["px"] == h * w <= MAX_PIXELS
    assert measured["peak_kib"] * 1024 <= MAX_PIXELS * DECODE_BYTES_PER_PIXEL, measured


@pytest.mark.parametrize("name", ["rgba16.tiff", "rgb16.tiff"])
@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_16_bit_tiff_refused_where_it_would_not_fit(tmp_path: Path, name: str) -> None:
    """A 16-bit TIFF near max_pixels, whose decode would peak above the budget (18.4 / 12.0 bytes/px measured): a
    specific error before any pixel is decoded."""
    path = tmp_path / name
    path.write_bytes(big_file(name, 2400, 2499))
    with pytest.raises(DecodeError, match=r"too large for OpenCV's 16-bit TIFF decoder: 5997600 pixels, at most \d+"):
        decode_image(str(path), max_pixels=MAX_PIXELS)


def test_imdecode_refused_where_it_would_not_fit(tmp_path: Path) -> None:
    """An EXIF-rotated TIFF (which only imdecode reads) too large for imdecode's budget: a specific error, no decode."""
    path = tmp_path / "rotated.tiff"
    path.write_bytes(big_file("orientation6.tiff", 2400, 2499))
    with pytest.raises(DecodeError, match=r"too large for the imdecode decoder .*: 5997600 pixels, at most \d+"):
        decode_image(str(path), max_pixels=MAX_PIXELS)
