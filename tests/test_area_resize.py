"""The compiled INTER_AREA kernel gives cv2.resize's bytes (fastdiff.thumbnails.area_resize); the compiled library is
loaded only where it matches the sources (fastdiff.thumbnails.native)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from fastdiff.thumbnails import area_resize, native
from fastdiff.thumbnails.area_resize import resize_area
from fastdiff.thumbnails.build import make_thumbnail


def _expected(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def kernel():
    found = area_resize._kernel()
    assert found is not None, "the INTER_AREA kernel was not built or disagrees with cv2.resize (setup.py)"
    return found


def _images(rng: np.random.Generator, h: int, w: int, cn: int) -> list[np.ndarray]:
    """Noise, a blurred copy (smooth, many sums near half-integers) and a posterised one (flat areas)."""
    noise = rng.integers(0, 256, (h, w, cn), dtype=np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2).reshape(h, w, cn)
    return [noise, blurred, (noise // 64 * 85).astype(np.uint8)]


def test_the_kernel_gives_opencvs_bytes_for_any_size_channels_and_content(kernel):
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 700, 2))
        cn = int(rng.integers(1, 5))
        width, height = int(rng.integers(1, min(w, 120) + 1)), int(rng.integers(1, min(h, 120) + 1))
        for image in _images(rng, h, w, cn):
            image = image[:, :, 0] if cn == 1 and rng.integers(2) else image
            got = area_resize._shrink(kernel, image, width, height)  # the kernel itself, whatever the size
            assert np.array_equal(got, _expected(image, width, height)), (image.shape, width, height)
            checked += 1
    assert checked == 450


@pytest.mark.parametrize(
    ("h", "w", "size"),
    [
        (1123, 794, 50),  # clip art of A4 proportions
        (794, 1123, 50),
        (3001, 4003, 50),  # a photo
        (51, 4000, 50),  # one side barely above the thumbnail, the other far
        (50, 733, 50),  # one side equal: factor 1 in that direction
        (1000, 1000, 50),  # whole factors: OpenCV's integer path, through cv2.resize
        (60, 60, 50),
        (40, 900, 50),  # a side shorter than the thumbnail's: make_thumbnail enlarges it with INTER_CUBIC
        (400, 300, 16),
    ],
)
def test_resize_area_equals_cv2_resize(h, w, size):
    for image in _images(np.random.default_rng(h * w), h, w, 3):
        assert np.array_equal(resize_area(image, size, size), _expected(image, size, size))
        interpolation = cv2.INTER_AREA if min(h, w) >= size else cv2.INTER_CUBIC
        assert np.array_equal(make_thumbnail(image, size), cv2.resize(image, (size, size), interpolation=interpolation))


def test_views_with_strides_are_shrunk_like_their_copies(kernel):
    image = _images(np.random.default_rng(3), 700, 900, 4)[1]
    for view in (image[::-1], image[:, ::-1], image[50:650, 100:800, :3], image.swapaxes(0, 1)):
        assert np.array_equal(area_resize._shrink(kernel, view, 37, 41), _expected(np.ascontiguousarray(view), 37, 41))


def test_a_kernel_that_disagrees_with_opencv_is_not_used(kernel):
    """The check run before the first use: a kernel that writes nothing (or anything but OpenCV's bytes) fails it."""
    assert area_resize._agrees(kernel)
    assert not area_resize._agrees(lambda *args: None)


def test_the_kernels_buffers_do_not_grow_with_the_images_height(kernel):
    """A tall image (the longest max_pixels admits at a thumbnail's width) is shrunk with work buffers of a few rows:
    numpy's allocations during the call stay far below the image's size."""
    image = np.random.default_rng(9).integers(0, 256, (200_001, 61, 3), np.uint8)  # 36.6 MB
    tracemalloc.start()
    try:
        shrunk = area_resize._shrink(kernel, image, 50, 50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000, peak
    assert np.array_equal(shrunk, _expected(image, 50, 50))


def test_a_library_of_another_version_is_not_loaded(monkeypatch):
    """An editable install not rebuilt after a kernel changed its arguments: the library is left alone (OpenCV does
    the work) rather than called with buffers it does not expect."""
    assert native._library() is not None
    monkeypatch.setattr(native, "VERSION", native.VERSION + 1)
    native._library.cache_clear()
    try:
        assert native._library() is None
        assert native.kernel("area_resize", []) is None
    finally:
        monkeypatch.undo()
        native._library.cache_clear()
    assert native._library() is not None


@pytest.mark.skipif(
    shutil.which("gcc") is None or " fma" not in Path("/proc/cpuinfo").read_text(errors="replace"),
    reason="needs gcc and a CPU with fused multiply-add",
)
def test_a_kernel_built_with_fused_multiply_adds_is_refused(tmp_path):
    """The failure the check exists for: area_kernel.c compiled to fuse multiply-adds (as compilers do by default on
    some machines) differs from OpenCV in about 1 byte in 10,000 of noise; the check's near-tie patterns catch it."""
    library = tmp_path / "fused.so"
    source = Path(area_resize.__file__).with_name("area_kernel.c")
    subprocess.run(
        ["gcc", "-O3", "-mfma", "-ffp-contract=fast", "-fPIC", "-shared", "-o", library, source, "-lm"], check=True
    )
    fused = ctypes.CDLL(str(library))["area_resize"]
    fused.argtypes, fused.restype = area_resize._ARGTYPES, None
    assert not area_resize._agrees(fused)
