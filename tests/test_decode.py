"""Tests for fastdiff.thumbnails.decode over the generated bad and odd inputs."""

from __future__ import annotations

import errno
import io
import os
import re
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from bad_inputs import bmp_header_only, encode_oriented, make_bad_inputs, make_odd_valid_inputs, pattern_rgb
from PIL import Image, ImageFile

from fastdiff.thumbnails import decode
from fastdiff.thumbnails.decode import Decoded, DecodeError, decode_image

# decode.py ignores this warning at import (its own max_pixels guard supersedes it); pytest
# resets warning filters per test, so restore the production behaviour here.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

H, W = 120, 160  # upright size of the generated test pattern
PATTERN = pattern_rgb(H, W)
PATTERN_ALPHA = np.where(np.arange(W) < 80, 0, 128).astype(np.uint8)[np.newaxis].repeat(H, axis=0)  # rgba.png's

BAD_CASES = [
    "empty.jpg",
    "truncated.jpg",
    "truncated.png",
    "truncated.webp",
    "truncated_with_thumbnail.jpg",
    "text.jpg",
    "random.png",
    "huge_9500x9500.png",
    "huge_20000x20000.bmp",
    "unreadable.jpg",
    "loop_a.jpg",
    "loop_b.jpg",
    "broken_link.jpg",
]
ODD_CASES = [
    "gradient16_grey.png",
    "gradient16_rgb.png",
    "cmyk.jpg",
    "rgba.png",
    "la.png",
    "palette_transparent.png",
    "bilevel.png",
    "animated.gif",
    "upright.jpg",
    "upright.png",
    "exif6_rotated.jpg",
    "exif6_rotated.png",
    "exif6_rotated.webp",
    "exif6_rotated.tiff",
    "grey.jpg",
    "lossless.webp",
    "plain.tiff",
    "plain.bmp",
    "large_1600x1200.jpg",
    "icon.ico",
    "targa.tga",
    "motion_photo.jpg",
    "with space.png",
    "café 写真.png",
    "new\nline.png",
]
LOSSY = {"cmyk.jpg", "upright.jpg", "exif6_rotated.jpg", "grey.jpg", "large_1600x1200.jpg", "motion_photo.jpg"}


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad")
    return root, make_bad_inputs(root)


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    assert sorted(make_odd_valid_inputs(root)) == sorted(ODD_CASES)
    return root


def on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Reference compositing in floating point: round((a * fg + (255 - a) * 255) / 255)."""
    a = alpha.astype(np.float64)[..., np.newaxis]
    return np.round((a * rgb + (255 - a) * 255) / 255).astype(np.uint8)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def ramp16() -> np.ndarray:
    """The 64x256 uint16 ramp over 0..65535 stored in the gradient16 files."""
    return (np.arange(256 * 64, dtype=np.uint32) * 65535 // (256 * 64 - 1)).astype(np.uint16).reshape(64, 256)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def encode(rgb: np.ndarray, ext: str, **params: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=Image.registered_extensions()[ext], **params)
    return buf.getvalue()


def assert_contract(d: Decoded) -> None:
    assert isinstance(d, Decoded)
    assert d.rgb.dtype == np.uint8 and d.rgb.ndim == 3 and d.rgb.shape[2] == 3
    assert d.rgb.flags["C_CONTIGUOUS"]


# ---------------------------------------------------------------- invalid inputs


def test_bad_inputs_cover_every_case(bad: tuple[Path, dict[str, str]]) -> None:
    _, expected = bad
    assert set(expected) <= set(BAD_CASES)
    assert set(BAD_CASES) - set(expected) <= {"unreadable.jpg"}  # absent only where root can read it
    for name in expected:
        assert os.path.lexists(bad[0] / name)
        if not (bad[0] / name).is_symlink():
            assert (bad[0] / name).stat().st_size < 100_000


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_raises_specific_error(
    bad: tuple[Path, dict[str, str]], name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    root, expected = bad
    if name not in expected:
        pytest.skip("mode 000 does not stop this process (root) from reading; see test_permission_denied")
    with pytest.raises(DecodeError) as info:
        decode_image(str(root / name))
    assert expected[name] in str(info.value)
    assert capfd.readouterr().err == ""  # OpenCV's own log lines are silenced


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.jpg", "empty file (0 bytes)"),
        ("huge_9500x9500.png", "image too large: 9500x9500 = 90250000 pixels exceeds max_pixels 89478485"),
        ("huge_20000x20000.bmp", "image too large: 400000000 pixels exceeds max_pixels 89478485"),
        ("loop_a.jpg", "cannot read file: " + os.strerror(errno.ELOOP)),
        ("broken_link.jpg", "cannot read file: " + os.strerror(errno.ENOENT)),
        ("text.jpg", "not a recognised image format"),
    ],
)
def test_exact_messages(bad: tuple[Path, dict[str, str]], name: str, message: str) -> None:
    with pytest.raises(DecodeError, match=f"^{re.escape(message)}$"):
        decode_image(str(bad[0] / name))


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root can read mode-000 files, so simulate the failing open inside decode."""

    def denied(path: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(decode, "open_regular", denied)
    with pytest.raises(DecodeError, match=r"^cannot read file: Permission denied$"):
        decode_image(write(tmp_path, "x.png", encode(PATTERN, ".png")))


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match=r"^cannot read file: Is a directory$"):
        decode_image(str(tmp_path))


@pytest.mark.parametrize("name", ["huge_9500x9500.png", "huge_20000x20000.bmp"])
def test_bomb_rejected_without_allocating(
    bad: tuple[Path, dict[str, str]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decode(*args: object) -> None:
        raise AssertionError("cv2.imdecode must not run for an oversized image")

    monkeypatch.setattr(decode.cv2, "imdecode", no_decode)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DecodeError, match=r"^image too large: "):
            decode_image(str(bad[0] / name))
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5_000_000


def test_bomb_rejected_when_warnings_are_errors(tmp_path: Path) -> None:
    """Under -W error Pillow raises its warning, which hides the dimensions but not the pixel count (a BMP: a PNG's
    size is read from its IHDR without Pillow)."""
    path = write(tmp_path, "huge_9500x9500.bmp", bmp_header_only(9500, 9500))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(DecodeError, match=r"^image too large: 90250000 pixels exceeds max_pixels 89478485$"):
            decode_image(path)


def test_max_pixels_parameter(tmp_path: Path) -> None:
    path = write(tmp_path, "p.png", encode(PATTERN, ".png"))
    assert decode_image(path, max_pixels=H * W).rgb.shape == (H, W, 3)
    with pytest.raises(DecodeError, match=f"^image too large: 160x120 = 19200 pixels exceeds max_pixels {H * W - 1}$"):
        decode_image(path, max_pixels=H * W - 1)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_truncated_at_any_point(tmp_path: Path, ext: str) -> None:
    """Every cut, from inside the header to the last byte, is reported as truncation."""
    noisy = (PATTERN.astype(np.int16) + np.random.default_rng(0).integers(-30, 30, PATTERN.shape)).clip(0, 255)
    data = encode(noisy.astype(np.uint8), ext, **({"lossless": True} if ext == ".webp" else {}))
    cuts = sorted({*range(16, len(data), max(1, len(data) // 25)), len(data) - 2, len(data) - 1})
    for cut in cuts:
        with pytest.raises(DecodeError, match=r"^truncated image data$"):
            decode_image(write(tmp_path, f"cut{ext}", data[:cut]))


def test_truncated_progressive_jpeg(tmp_path: Path) -> None:
    data = encode(PATTERN, ".jpg", progressive=True)
    for cut in (len(data) // 3, len(data) * 2 // 3, len(data) - 1):
        with pytest.raises(DecodeError, match=r"^truncated image data$"):
            decode_image(write(tmp_path, "prog.jpg", data[:cut]))


@pytest.mark.parametrize("name", ["truncated.jpg", "truncated_with_thumbnail.jpg", "truncated.png", "truncated.webp"])
def test_truncation_caught_even_if_decoder_would_fill_in(
    bad: tuple[Path, dict[str, str]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some OpenCV builds return a half-grey image for truncated data; the structural check must not rely on failure."""
    monkeypatch.setattr(decode.cv2, "imdecode", lambda buf, flags: np.full((H, W, 3), 128, np.uint8))
    with pytest.raises(DecodeError, match=r"^truncated image data$"):
        decode_image(str(bad[0] / name))


def test_corrupt_png_data(tmp_path: Path) -> None:
    data = bytearray(encode(PATTERN, ".png"))
    idat = data.find(b"IDAT")
    data[idat + 20 : idat + 60] = bytes(40)
    with pytest.raises(DecodeError, match=r"^corrupt image data: .+"):
        decode_image(write(tmp_path, "corrupt.png", bytes(data)))


def test_corrupt_jpeg_header(tmp_path: Path) -> None:
    data = bytearray(encode(PATTERN, ".jpg"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = bytes(4)  # zero width and height
    with pytest.raises(DecodeError, match=r"^corrupt image data: unreadable JPEG header$"):
        decode_image(write(tmp_path, "corrupt.jpg", bytes(data)))


# ---------------------------------------------------------------- valid but odd inputs


@pytest.mark.parametrize("name", ODD_CASES)
def test_odd_valid_input(odd: Path, name: str) -> None:
    path = odd / name
    assert path.stat().st_size < 100_000
    d = decode_image(str(path))
    assert_contract(d)
    assert (d.height, d.width) == d.rgb.shape[:2]
    rgb = d.rgb.astype(np.int32)

    if name == "gradient16_grey.png":
        expected = (ramp16() >> 8).astype(np.int32)  # scaled, not clipped to 255
        assert np.array_equal(rgb[..., 0], expected)
        assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        assert len(np.unique(rgb)) == 256 and rgb.min() == 0 and rgb.max() == 255
        assert 120 <= rgb[32, 128, 0] <= 135
    elif name == "gradient16_rgb.png":
        assert np.array_equal(rgb[..., 0], ramp16() >> 8)
        assert np.array_equal(rgb[..., 1], ramp16()[::-1, ::-1] >> 8)
        assert np.all(rgb[..., 2] == 0x80)
    elif name == "rgba.png" or name == "icon.ico":  # composited onto white, as a viewer shows it
        assert np.array_equal(d.rgb, on_white(PATTERN, PATTERN_ALPHA))
    elif name == "la.png":
        assert np.array_equal(d.rgb, on_white(np.repeat(PATTERN[..., 1:2], 3, axis=2), PATTERN_ALPHA))
    elif name == "palette_transparent.png":
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        assert np.array_equal(d.rgb, on_white(rgba[..., :3], rgba[..., 3]))
        assert (rgba[..., 3] == 0).any()
    elif name == "bilevel.png":
        assert np.array_equal(d.rgb, np.repeat((PATTERN[..., 1:2] > 127) * 255, 3, axis=2))
    elif name == "animated.gif":
        assert np.all(d.rgb == (255, 0, 0))  # first frame
    elif name == "grey.jpg":
        assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        assert mse(d.rgb[..., 0], PATTERN[..., 1]) < 5
    elif name == "large_1600x1200.jpg":
        assert d.rgb.shape == (1200, 1600, 3)
        assert mse(d.rgb, pattern_rgb(1200, 1600)) < 10
    elif name == "motion_photo.jpg":
        assert np.array_equal(d.rgb, decode_image(str(odd / "upright.jpg")).rgb)
    elif name.startswith("exif6_rotated"):
        upright = decode_image(str(odd / ("upright.jpg" if name.endswith(".jpg") else "upright.png"))).rgb
        assert d.rgb.shape == (H, W, 3)
        assert mse(d.rgb, upright) < (10 if name.endswith(".jpg") else 0.01)
        assert tuple(d.rgb[5, 5]) == pytest.approx((255, 0, 0), abs=6)  # red block top-left
    else:  # cmyk.jpg and the plain / odd-name files hold the pattern itself
        assert d.rgb.shape == (H, W, 3)
        assert mse(d.rgb, PATTERN) < (10 if name in LOSSY else 0.01)


@pytest.mark.parametrize("name", [n for n in ODD_CASES if n not in ("icon.ico", "targa.tga")])
def test_hot_path_never_decodes_with_pillow(odd: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(self: ImageFile.ImageFile) -> None:
        raise AssertionError("Pillow decoded pixels on the hot path")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    assert_contract(decode_image(str(odd / name), reduce_to=50))


@pytest.mark.parametrize("name", [n for n in ODD_CASES if n not in ("icon.ico", "targa.tga")])
def test_pillow_fallback_matches_opencv(odd: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both decoders agree: orientation, first frame, alpha composited, 16-bit scaling, palettes."""
    expected = decode_image(str(odd / name))
    monkeypatch.setattr(decode, "_imread", lambda *args, **kwargs: None)
    monkeypatch.setattr(decode, "decode_png", lambda *args: None)
    fallback = decode_image(str(odd / name))
    assert_contract(fallback)
    assert (fallback.height, fallback.width) == (expected.height, expected.width)
    diff = np.abs(fallback.rgb.astype(np.int32) - expected.rgb)
    assert diff.max() <= (2 if name in LOSSY else 0)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tiff"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(tmp_path: Path, ext: str, orientation: int) -> None:
    d = decode_image(write(tmp_path, f"o{orientation}{ext}", encode_oriented(PATTERN, ext, orientation)))
    assert (d.height, d.width) == (H, W)
    assert mse(d.rgb, PATTERN) < (10 if ext == ".jpg" else 0.01)


# ---------------------------------------------------------------- reduced JPEG decoding


@pytest.mark.parametrize(
    ("reduce_to", "factor"), [(None, 1), (50, 8), (75, 8), (100, 4), (300, 2), (301, 1), (5000, 1)]
)
def test_reduce_to_picks_largest_factor(odd: Path, reduce_to: int | None, factor: int) -> None:
    d = decode_image(str(odd / "large_1600x1200.jpg"), reduce_to=reduce_to)
    assert d.rgb.shape == (1200 // factor, 1600 // factor, 3)
    assert (d.height, d.width) == (1200, 1600)
    assert_contract(d)
    assert (
        mse(d.rgb, cv2.resize(pattern_rgb(1200, 1600), (1600 // factor, 1200 // factor), interpolation=cv2.INTER_AREA))
        < 15
    )


def test_reduce_to_ignored_for_non_jpeg(odd: Path) -> None:
    assert decode_image(str(odd / "upright.jpg"), reduce_to=10).rgb.shape == (H // 4, W // 4, 3)
    for name in ("upright.png", "lossless.webp", "plain.tiff", "plain.bmp", "exif6_rotated.tiff"):
        d = decode_image(str(odd / name), reduce_to=10)
        assert d.rgb.shape == (H, W, 3) and (d.height, d.width) == (H, W)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_reduce_to_keeps_exif_orientation(tmp_path: Path, orientation: int) -> None:
    big = pattern_rgb(480, 640)
    path = write(tmp_path, "r.jpg", encode_oriented(big, ".jpg", orientation))
    d = decode_image(path, reduce_to=60)  # 480 / 4 >= 120 > 480 / 8
    assert d.rgb.shape == (120, 160, 3)
    assert (d.height, d.width) == (480, 640)
    assert mse(d.rgb, cv2.resize(big, (160, 120), interpolation=cv2.INTER_AREA)) < 15


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_reduce_to_full_dims_when_scaled_shape_is_square(tmp_path: Path, orientation: int) -> None:
    """1000x999 at 1/8 is 125x125 either way round; the EXIF tag decides height vs width."""
    upright = np.zeros((1000, 999, 3), np.uint8)
    path = write(tmp_path, "sq.jpg", encode_oriented(upright, ".jpg", orientation))
    d = decode_image(path, reduce_to=50)
    assert d.rgb.shape == (125, 125, 3)
    assert (d.height, d.width) == (1000, 999) == decode_image(path).rgb.shape[:2]


# ---------------------------------------------------------------- concurrency


def test_thread_safe(odd: Path, bad: tuple[Path, dict[str, str]]) -> None:
    paths = [str(odd / n) for n in ODD_CASES] + [str(bad[0] / n) for n in bad[1]]

    def outcome(path: str) -> tuple[str, bytes] | str:
        try:
            d = decode_image(path, reduce_to=100)
        except DecodeError as e:
            return str(e)
        return f"{d.height}x{d.width}", d.rgb.tobytes()

    sequential = [outcome(p) for p in paths]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(outcome, paths)) == sequential
