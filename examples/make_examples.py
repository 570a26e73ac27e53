#!/usr/bin/env python3
"""Regenerate the bundled example image set in ``examples/images/``.

The images are derived from sample images bundled with scikit-image
(``skimage.data``) whose licences allow redistribution (public domain / CC0,
see ``examples/README.md``).  The output is deterministic: running the script
twice gives byte-identical files.

Usage::

    python examples/make_examples.py            # writes examples/images/
    python examples/make_examples.py --out DIR  # writes DIR instead

The output folder is deleted and recreated on every run.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

MAX_SIDE = 400  # longest side of a base image, in pixels
BASE_JPEG_QUALITY = 90  # quality used when a base is stored as JPEG

# name -> (skimage.data loader, file extension of the base in the example set)
BASES: dict[str, tuple[str, str]] = {
    "astronaut": ("astronaut", ".jpg"),
    "coffee": ("coffee", ".png"),
    "chelsea": ("chelsea", ".jpg"),
    "rocket": ("rocket", ".jpg"),
    "camera": ("camera", ".png"),
    "coins": ("coins", ".png"),
    "hubble_deep_field": ("hubble_deep_field", ".jpg"),
    "retina": ("retina", ".jpg"),
}

NOTES_TEXT = (
    "This is not an image. It is a text file with a .jpg extension,\n"
    "included so that fastdiff's handling of unreadable files can be tried.\n"
)


def _downscale(img: Image.Image) -> Image.Image:
    w, h = img.size
    scale = MAX_SIDE / max(w, h)
    if scale >= 1:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _save(img: Image.Image, path: Path, quality: int = BASE_JPEG_QUALITY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        img.save(path, format="JPEG", quality=quality)
    elif ext == ".png":
        img.save(path, format="PNG", optimize=True)
    else:  # pragma: no cover - not used
        raise ValueError(f"unsupported extension {ext}")


def _load_base(loader: str) -> Image.Image:
    arr = np.asarray(getattr(skimage.data, loader)())
    if arr.dtype != np.uint8:
        raise TypeError(f"skimage.data.{loader} is not uint8")
    img = Image.fromarray(arr)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return _downscale(img)


def _decode(path: Path) -> Image.Image:
    """Decode a written file, so derived copies start from what is on disk."""
    with Image.open(path) as im:
        im.load()
        return im.copy()


def make_examples(out: Path) -> list[Path]:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    # 1. base images, longest side <= MAX_SIDE
    paths: dict[str, Path] = {}
    for name, (loader, ext) in BASES.items():
        p = out / f"{name}{ext}"
        _save(_load_base(loader), p)
        paths[name] = p

    # 2. derived copies
    # byte-identical copy in a subfolder
    (out / "sub").mkdir()
    shutil.copyfile(paths["astronaut"], out / "sub" / "astronaut_copy.jpg")

    # JPEG re-encode at quality 70
    _save(_decode(paths["astronaut"]), out / "astronaut_q70.jpg", quality=70)

    # PNG re-save of a JPEG (same decoded pixels, different file)
    _save(_decode(paths["rocket"]), out / "rocket_resaved.png")

    # rotations (pixels rotated, counter-clockwise as in PIL/np.rot90)
    coffee = _decode(paths["coffee"])
    _save(coffee.transpose(Image.Transpose.ROTATE_90), out / "coffee_rot90.png")
    _save(coffee.transpose(Image.Transpose.ROTATE_180), out / "coffee_rot180.png")
    _save(coffee.transpose(Image.Transpose.ROTATE_270), out / "sub" / "coffee_rot270.png")

    # half-size copy
    chelsea = _decode(paths["chelsea"])
    half = (chelsea.width // 2, chelsea.height // 2)
    _save(chelsea.resize(half, Image.Resampling.LANCZOS), out / "chelsea_half.jpg")

    # grayscale copy of a colour image
    _save(chelsea.convert("L"), out / "chelsea_gray.png")

    # horizontal mirror: a hard negative (a mirror is not a rotation)
    astronaut = _decode(paths["astronaut"])
    _save(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), out / "astronaut_mirror.jpg")

    # camera, coins, hubble_deep_field and retina have no derived copies:
    # they are the unrelated images.

    # 3. bad files
    (out / "empty.jpg").write_bytes(b"")
    (out / "notes.jpg").write_bytes(NOTES_TEXT.encode("ascii"))

    return sorted(p for p in out.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=here / "images", help="output folder (default: examples/images next to this script)"
    )
    args = ap.parse_args(argv)
    files = make_examples(args.out)
    total = 0
    for p in files:
        size = p.stat().st_size
        total += size
        print(f"{size:>9,d}  {p.relative_to(args.out).as_posix()}")
    print(f"{total:>9,d}  total ({len(files)} files) in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
