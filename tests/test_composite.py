"""fastdiff.thumbnails.composite: the compositing formula, exactly, for every 8-bit input, and orientation views;
each test runs on both ways of blending 8-bit samples: the compiled kernel and OpenCV's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from fastdiff.thumbnails import composite as composite_module
from fastdiff.thumbnails.composite import composite, source_view


@pytest.fixture(autouse=True, params=["kernel", "opencv"])
def blending(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The compiled kernel (which must have been built), or OpenCV's path as where it was not."""
    if request.param == "kernel":
        assert composite_module._kernel() is not None, "the compiled kernels were not built (setup.py)"
    else:
        monkeypatch.setattr(composite_module, "_kernel", lambda: None)
    return request.param


def reference(fg: np.ndarray, alpha: np.ndarray, bg: tuple[int, int, int], top: int) -> np.ndarray:
    """round((a * fg + (top - a) * bg) / top) in floating point, bg scaled to the sample range, then to 8 bits."""
    a = alpha.astype(np.float64)[..., np.newaxis]
    scaled_bg = np.asarray(bg, np.float64) * (top // 255)
    out = np.round((a * fg + (top - a) * scaled_bg) / top).astype(np.int64)
    return (out >> (8 if top == 65535 else 0)).astype(np.uint8)


@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_every_8bit_alpha_colour_and_background() -> None:
    """All 256**3 (alpha, colour, background) triples give the exact formula (OpenCV's way: its rounded uint8
    products)."""
    a, fg = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.dstack([fg, np.roll(fg, 1, axis=1), 255 - fg, a]).astype(np.uint8)
    out = np.empty((256, 256, 3), np.uint8)
    for b in range(256):
        bg = (b, 255 - b, (b * 7) % 256)
        composite(rgba, bg, out)
        assert np.array_equal(out, reference(rgba[..., :3], rgba[..., 3], bg, 255)), bg


@pytest.mark.parametrize("bgra", [False, True])
@pytest.mark.parametrize("bg", [(255, 255, 255), (0, 0, 0)])
def test_every_8bit_alpha_and_colour_on_white_and_black(bg: tuple[int, int, int], bgra: bool) -> None:
    """White (the default) and black take their own shortcut (one product on the four channels): every (alpha,
    colour) pair gives the exact formula, written densely and through a strided view."""
    a, fg = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.dstack([fg, np.roll(fg, 1, axis=1), 255 - fg, a]).astype(np.uint8)
    expected = reference(rgba[..., :3], rgba[..., 3], bg, 255)
    pixels = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]) if bgra else rgba
    out = np.empty((256, 256, 3), np.uint8)
    composite(pixels, bg, out, bgra=bgra)
    assert np.array_equal(out, expected)
    oriented = np.empty((256, 256, 3), np.uint8)
    composite(pixels, bg, source_view(oriented, 8), bgra=bgra)
    assert np.array_equal(source_view(oriented, 8), expected)


@pytest.mark.parametrize("bgra", [False, True])
def test_8bit_strips_and_strided_output(bgra: bool) -> None:
    """An image of several strips, written through an orientation view; opaque and transparent strips included."""
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (700, 301, 4), np.uint8)
    rgba[:250, :, 3] = 255  # whole strips of opaque rows take the copy shortcut
    rgba[250:260, :, 3] = 0
    oriented = np.empty((301, 700, 3), np.uint8)
    pixels = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]) if bgra else rgba
    composite(pixels, (77, 128, 201), source_view(oriented, 6), bgra=bgra)
    expected = reference(rgba[..., :3], rgba[..., 3], (77, 128, 201), 255)
    assert np.array_equal(source_view(oriented, 6), expected)
    assert np.array_equal(expected[:250], rgba[:250, :, :3])


@pytest.mark.parametrize("bg", [(255, 255, 255), (0, 0, 0), (77, 128, 201)])
def test_16bit_and_bgra(bg: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 65536, (301, 257, 4), np.uint16)
    rgba[:5, :, 3] = 65535  # opaque rows take the copy shortcut
    rgba[5:9, :, 3] = 0
    out = np.empty((301, 257, 3), np.uint8)
    composite(np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]), bg, out, bgra=True)
    assert np.array_equal(out, reference(rgba[..., :3], rgba[..., 3], bg, 65535))
    assert np.array_equal(out[:5], rgba[:5, :, :3] >> 8)
    assert np.all(out[5:9] == bg)


def test_opaque_16bit_equals_16bit_rgb_reduction() -> None:
    """An opaque 16-bit RGBA image gives the high bytes, as OpenCV and Wuffs reduce opaque 16-bit images."""
    rgb = np.random.default_rng(4).integers(0, 65536, (20, 30, 3), np.uint16)
    out = np.empty((20, 30, 3), np.uint8)
    composite(np.dstack([rgb, np.full((20, 30), 65535, np.uint16)]), (255, 255, 255), out)
    assert np.array_equal(out, rgb >> 8)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="expected uint8/uint16"):
        composite(np.zeros((2, 2, 4), np.float32), (0, 0, 0), np.empty((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="out is uint8 "):
        composite(np.zeros((2, 2, 4), np.uint8), (0, 0, 0), np.empty((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="out is uint16 "):
        composite(np.zeros((2, 2, 4), np.uint8), (0, 0, 0), np.empty((2, 2, 3), np.uint16))
    read_only = np.empty((2, 2, 3), np.uint8)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable: False"):
        composite(np.zeros((2, 2, 4), np.uint8), (0, 0, 0), read_only)
    with pytest.raises(ValueError):  # a background of two values
        composite(np.zeros((2, 2, 4), np.uint8), (0, 0), np.empty((2, 2, 3), np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_source_view_matches_pillow_exif_transpose(orientation: int) -> None:
    stored = np.random.default_rng(orientation).integers(0, 256, (7, 11, 3), np.uint8)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    shown = np.asarray(ImageOps.exif_transpose(im))
    oriented = np.zeros_like(shown)
    source_view(oriented, orientation)[...] = stored
    assert np.array_equal(oriented, shown)


@pytest.mark.parametrize("shape", [(5, 1), (1, 1), (1, 7), (3, 4)])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_thin_images_in_every_orientation(shape: tuple[int, int], orientation: int) -> None:
    """One-pixel-wide or -high images written through an orientation view: numpy calls some of these views
    contiguous where OpenCV does not, so they must not be handed to OpenCV as its output."""
    rgba = np.random.default_rng(orientation).integers(0, 256, (*shape, 4), np.uint8)
    oriented = np.empty((shape[1], shape[0], 3) if orientation >= 5 else (*shape, 3), np.uint8)
    composite(rgba, (1, 2, 3), source_view(oriented, orientation))
    assert np.array_equal(source_view(oriented, orientation), reference(rgba[..., :3], rgba[..., 3], (1, 2, 3), 255))
