"""Synthetic image collections for the fastdiff tests.

Nothing here is a test; test modules import these helpers::

    from synth import make_collection, make_tiny_set, Planted

``make_collection`` writes *n_base* mutually unrelated "photo-like" images
(smooth colour gradients, a low-frequency colour field, a few soft-edged
shapes and mild noise) into a nested folder tree and plants derived copies of
some of them. Each original gets **at most one** derived copy, so the planted
list is exactly the set of true (near-)duplicate pairs.

Measured on 50x50 ``cv2.INTER_AREA`` thumbnails, 3 channels, 0..255 scale
(seed 0, n_base 40):

* ``exact``, ``png_resave``: MSE 0 (png_resave copies only lossless originals)
* ``rot90``, ``rot180``, ``rot270``: pixels exactly equal once rotated back
  (PNG copies); the thumbnails' MSE is 0 up to INTER_AREA rounding (< 0.01,
  not exactly 0 for non-square images: thumbnail(rot(x)) != rot(thumbnail(x))
  bit for bit)
* ``jpeg_q90``: MSE about 0.2 to 3 (always < 5)
* ``resize_half``: MSE below 1
* ``brighten``: every value + ``BRIGHTEN_DELTA`` (clipped), MSE about 60
* unrelated pairs: MSE 3,205 or more for seed 0, even as the minimum over the
  four rotations (the smallest over seeds 0..29 was about 2,000)

Rotations are counter-clockwise, as in ``np.rot90(img, k)``: ``rot90`` is
``k=1``, ``rot270`` is ``k=3``.

Everything is deterministic: the same arguments give the same bytes (for a
given Pillow/OpenCV build).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

__all__ = [
    "BRIGHTEN_DELTA",
    "KINDS",
    "SIZES",
    "Planted",
    "make_collection",
    "make_tiny_set",
    "photo_like",
]

KINDS: tuple[str, ...] = (
    "exact",
    "png_resave",
    "jpeg_q90",
    "rot90",
    "rot180",
    "rot270",
    "resize_half",
    "brighten",
)

#: Added to every channel value (then clipped to 255) for the ``brighten`` kind.
BRIGHTEN_DELTA = 8

#: (width, height) pool; with 40 bases every size is used 2 or 3 times.
SIZES: tuple[tuple[int, int], ...] = (
    (120, 90),
    (160, 120),
    (200, 150),
    (240, 180),
    (320, 240),
    (400, 300),
    (480, 360),
    (640, 480),
    (90, 120),  # portrait
    (240, 320),  # portrait
    (300, 200),
    (256, 256),
    (500, 375),
    (375, 500),  # portrait
    (160, 90),  # 16:9
    (320, 180),  # 16:9
)

_BASE_FORMATS = (".jpg", ".png", ".jpg", ".webp", ".png", ".bmp", ".jpg", ".png")
_LOSSLESS = (".bmp", ".png")  # in order of preference for png_resave
# Lossy kinds copy only originals whose shorter side is at least this long
# (when there is one): on a 120x90 image a 50x50 thumbnail averages too few
# pixels to hide JPEG error, and half of it would be smaller than 50x50.
_MIN_SIDE = {"jpeg_q90": 150, "resize_half": 200}

_DIRS_PLAIN = (
    "",
    "2019",
    "2019/summer",
    "2019/winter",
    "phone",
    "phone/camera",
    "phone/downloads",
    "scans/old",
)
_DIRS_ODD = (
    "",
    "2019",
    "2019/été",
    "2019/winter trip",
    "phone",
    "phone/写真",
    "phone/down loads",
    "scans/old",
)


@dataclass
class Planted:
    original: str  # relative path of the original (POSIX separators)
    copy: str  # relative path of the derived file
    kind: str  # one of KINDS


# --------------------------------------------------------------------------
# image synthesis
# --------------------------------------------------------------------------


def photo_like(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Return a photo-like RGB ``uint8`` array of shape (height, width, 3)."""
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # 1. linear gradient between two random colours, random direction
    theta = rng.uniform(0, 2 * np.pi)
    t = xx * np.cos(theta) / w + yy * np.sin(theta) / h
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0 = rng.uniform(0, 255, 3).astype(np.float32)
    c1 = rng.uniform(0, 255, 3).astype(np.float32)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]

    # 2. low-frequency colour field ("lighting", large blobs)
    gh, gw = int(rng.integers(3, 7)), int(rng.integers(3, 7))
    field = rng.normal(0, 45, (gh, gw, 3)).astype(np.float32)
    img += cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)

    # 3. a few shapes, alpha-blended, anti-aliased
    s = min(w, h)
    for _ in range(int(rng.integers(3, 8))):
        overlay = img.copy()
        color = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            axes = (int(rng.integers(s // 10, s // 2 + 1)), int(rng.integers(s // 10, s // 2 + 1)))
            cv2.ellipse(overlay, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
        elif kind == 1:
            dx, dy = int(rng.integers(s // 8, s // 2 + 1)), int(rng.integers(s // 8, s // 2 + 1))
            cv2.rectangle(overlay, (cx - dx, cy - dy), (cx + dx, cy + dy), color, -1, cv2.LINE_AA)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = rng.uniform(s / 8, s / 2, n)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)
            cv2.fillPoly(overlay, [np.round(pts).astype(np.int32)], color, cv2.LINE_AA)
        alpha = float(rng.uniform(0.5, 1.0))
        img = cv2.addWeighted(overlay, alpha, img, 1 - alpha, 0)

    # 4. soften (optics) and add mild sensor noise
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# file I/O (Pillow: handles unicode / newline names and all four formats)
# --------------------------------------------------------------------------


def _write(arr: np.ndarray, path: Path, quality: int = 92, png_level: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        img.save(path, format="JPEG", quality=quality)
    elif ext == ".png":
        img.save(path, format="PNG", compress_level=png_level)
    elif ext == ".webp":
        img.save(path, format="WEBP", quality=90, method=4)
    elif ext == ".bmp":
        img.save(path, format="BMP")
    else:
        raise ValueError(f"unsupported extension: {ext}")


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def _derive(kind: str, src: Path, dst: Path) -> None:
    if kind == "exact":
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        return
    arr = _read(src)
    if kind == "png_resave":
        out = arr
    elif kind == "jpeg_q90":
        _write(arr, dst, quality=90)
        return
    elif kind in ("rot90", "rot180", "rot270"):
        out = np.ascontiguousarray(np.rot90(arr, {"rot90": 1, "rot180": 2, "rot270": 3}[kind]))
    elif kind == "resize_half":
        h, w = arr.shape[:2]
        out = cv2.resize(arr, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    elif kind == "brighten":
        out = np.clip(arr.astype(np.int16) + BRIGHTEN_DELTA, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown kind: {kind}")
    # a different zlib level than the originals, so a PNG re-save of a PNG
    # never comes out byte-identical to its original
    _write(out, dst, png_level=2)


def _copy_ext(kind: str, orig_ext: str) -> str:
    if kind == "exact":
        return orig_ext
    if kind == "jpeg_q90":
        return ".jpg"
    return ".png"  # lossless, so rotations and resaves are exact


# --------------------------------------------------------------------------
# naming
# --------------------------------------------------------------------------


def _base_name(i: int, odd: bool) -> str:
    if odd:
        if i == 7:
            return f"line\nbreak {i:03d}"
        if i % 6 == 1:
            return f"holiday photo {i:03d}"
        if i % 6 == 3:
            return f"café été {i:03d}"
        if i % 6 == 5:
            return f"写真_{i:03d}"
    prefixes = ("IMG_", "DSC_", "photo_", "scan_")
    return f"{prefixes[i % len(prefixes)]}{i:04d}"


def _copy_name(i: int, kind: str, odd: bool) -> str:
    # never derived from the original's stem, so only one name has a newline
    if odd and kind == "exact":
        return f"Copy of img {i:03d}"
    if odd and kind == "png_resave":
        return f"résumé_{i:03d}_{kind}"
    return f"img{i:03d}_{kind}"


def _rel(p: Path, root: Path) -> str:
    return p.relative_to(root).as_posix()


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def make_collection(root: Path, n_base: int = 40, seed: int = 0, odd_names: bool = True) -> list[Planted]:
    """Write n_base photo-like, mutually unrelated images of varied sizes and
    aspect ratios (120x90 ... 640x480, some portrait) into a nested folder
    tree under root, plus planted derived copies of a subset, and return what
    was planted.

    * Formats of the originals cycle through .jpg/.png/.webp/.bmp.
    * Folders are up to 2 levels deep. With ``odd_names`` some file and
      folder names contain spaces or non-ASCII characters ('é', '写真') and,
      if ``n_base > 7``, one original's name contains a newline.
    * ``len(KINDS) * max(1, n_base // 20)`` copies are planted (16 for 40
      bases), capped at ``n_base``; kinds are assigned round-robin, each to a
      different original. ``png_resave`` always copies a lossless original
      (.bmp preferred, else .png), so its pixels are exactly equal while its
      bytes differ.
      ``jpeg_q90`` copies an original at least 150 px on its shorter side and
      ``resize_half`` one at least 200 px (so the half-size copy is still
      larger than the thumbnail), when such an original is left.
    * Every ``SIZES`` entry is shared by several originals (for n_base >= 32),
      so size-based filters see matching and non-matching same-size pairs.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    dirs = _DIRS_ODD if odd_names else _DIRS_PLAIN

    originals: list[Path] = []
    for i in range(n_base):
        rng = np.random.default_rng([seed, i])
        w, h = SIZES[i % len(SIZES)]
        ext = _BASE_FORMATS[i % len(_BASE_FORMATS)]
        path = root / dirs[i % len(dirs)] / f"{_base_name(i, odd_names)}{ext}"
        _write(photo_like(rng, w, h), path)
        originals.append(path)

    # choose which originals get a copy: deterministic shuffle, one copy each
    order = [int(k) for k in np.random.default_rng([seed, 10**6]).permutation(n_base)]
    n_planted = min(len(KINDS) * max(1, n_base // 20), n_base)
    kinds = [KINDS[j % len(KINDS)] for j in range(n_planted)]
    # place png_resave first so it can claim a lossless original
    kinds.sort(key=lambda k: k != "png_resave")
    unused = list(order)
    planted: list[Planted] = []
    for kind in kinds:
        pick = None
        if kind == "png_resave":
            for ext in _LOSSLESS:
                pick = next((k for k in unused if originals[k].suffix == ext), None)
                if pick is not None:
                    break
        elif kind in _MIN_SIDE:
            pick = next((k for k in unused if min(SIZES[k % len(SIZES)]) >= _MIN_SIDE[kind]), None)
        if pick is None:
            pick = unused[0]
        unused.remove(pick)
        src = originals[pick]
        ext = _copy_ext(kind, src.suffix)
        dst = root / dirs[(pick + 3) % len(dirs)] / f"{_copy_name(pick, kind, odd_names)}{ext}"
        _derive(kind, src, dst)
        planted.append(Planted(_rel(src, root), _rel(dst, root), kind))

    planted.sort(key=lambda p: KINDS.index(p.kind))
    return planted


def make_tiny_set(root: Path) -> None:
    """Write 6 small images for quick tests::

        a.png            original (160x120)
        sub/a_copy.png   byte-identical copy of a.png
        a_rot180.png     a.png rotated by 180 degrees
        b.jpg            unrelated (160x120, same size as a.png)
        c.png            unrelated (120x160, portrait)
        sub/d.webp       unrelated (200x150)

    Expected: {a.png, sub/a_copy.png} are exact duplicates (MSE 0);
    a_rot180.png matches both with rotations on (MSE 0) and not without;
    b, c, d match nothing.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    a = photo_like(np.random.default_rng([12345, 0]), 160, 120)
    _write(a, root / "a.png")
    (root / "sub").mkdir(exist_ok=True)
    shutil.copyfile(root / "a.png", root / "sub" / "a_copy.png")
    _write(np.ascontiguousarray(np.rot90(a, 2)), root / "a_rot180.png")
    _write(photo_like(np.random.default_rng([12345, 1]), 160, 120), root / "b.jpg")
    _write(photo_like(np.random.default_rng([12345, 2]), 120, 160), root / "c.png")
    _write(photo_like(np.random.default_rng([12345, 3]), 200, 150), root / "sub" / "d.webp")
