"""Which file is kept, on copies made every common way from camera originals: re-encodes down and up in quality,
lossless PNG and WebP exports, a rotated re-encode, an EXIF-only rotation, `cp` with and without `-p`, a browser
download named `(1)`, and a symbolic link to a file outside the searched folder. The original must be kept in every
group (when the keeper order put the larger file first, 6 of the 11 were kept: the higher-quality
re-encode, the PNG and WebP exports, the rotated re-encode and the link were kept instead).

Run as a script (`python tests/test_keeper_copies.py`) it prints how many originals a `fastdiff` on PYTHONPATH
keeps, so the count can be taken on another checkout."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from conftest import run_fastdiff

TAKEN = 1_546_300_800 * 10**9  # 2019-01-01: when the camera wrote the originals
EDITED = 1_640_995_200 * 10**9  # 2022-01-01: when the copies were made
ORIENTATION_1 = b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x01"  # EXIF tag 0x0112 (Orientation), SHORT, value 1 (MM)


def _photo(seed: int) -> np.ndarray:
    """A camera-like 480x640 picture: smooth colour blobs with a little sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    img = np.zeros((480, 640, 3), np.float32)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, 480), rng.uniform(0, 640), rng.uniform(40, 200)
        img += rng.uniform(-120, 120, 3) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None]
    img += 128 + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _camera_jpeg(path: Path, seed: int) -> None:
    """An original as a camera writes it: JPEG quality 92 with an EXIF block (Orientation 1), taken in 2019."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Camera"
    Image.fromarray(_photo(seed)).save(path, quality=92, exif=exif.tobytes())
    os.utime(path, ns=(TAKEN, TAKEN))


def _edited(path: Path) -> Path:
    os.utime(path, ns=(EDITED, EDITED))
    return path


def make_copies(root: Path) -> dict[str, list[str]]:
    """Write the test set under root: originals in root/photos/camera, copies in root/photos (and one file outside,
    root/elsewhere, reached through a symbolic link in root/photos).

    Returns
    -------
    dict
        Each original's path -> the paths of its copies (all under root/photos).
    """
    camera, photos, elsewhere = root / "photos" / "camera", root / "photos", root / "elsewhere"
    for folder in (camera, photos / "export", photos / "backup" / "2019", elsewhere):
        folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[str]] = {}

    def original(n: int) -> tuple[Path, Image.Image]:
        path = camera / f"IMG_{n:04d}.JPG"
        _camera_jpeg(path, n)
        made[str(path)] = []
        return path, Image.open(path)

    def copy(of: Path, path: Path) -> None:
        made[str(of)].append(str(path))

    src, img = original(1)  # re-encoded at a higher quality (an editor's export): more bytes, same picture
    img.save(photos / "export" / "IMG_0001.jpg", quality=98)
    copy(src, _edited(photos / "export" / "IMG_0001.jpg"))
    src, img = original(2)  # re-encoded at a lower quality (a messenger, a web upload)
    img.save(photos / "IMG_0002-small.jpg", quality=70)
    copy(src, _edited(photos / "IMG_0002-small.jpg"))
    src, img = original(3)  # lossless PNG export: the same pixels in more bytes
    img.save(photos / "export" / "IMG_0003.png")
    copy(src, _edited(photos / "export" / "IMG_0003.png"))
    src, img = original(4)  # lossless WebP export
    img.save(photos / "export" / "IMG_0004.webp", lossless=True)
    copy(src, _edited(photos / "export" / "IMG_0004.webp"))
    src, img = original(5)  # rotated and re-encoded (an editor's "rotate"), quality kept
    img.transpose(Image.Transpose.ROTATE_270).save(photos / "IMG_0005_rotated.jpg", quality=95)
    copy(src, _edited(photos / "IMG_0005_rotated.jpg"))
    src, _ = original(6)  # rotated by its EXIF tag only (a viewer's lossless "rotate"): the same bytes but one
    data = src.read_bytes()
    assert data.count(ORIENTATION_1) == 1
    (photos / "IMG_0006.JPG").write_bytes(data.replace(ORIENTATION_1, ORIENTATION_1[:-1] + b"\x06"))
    copy(src, _edited(photos / "IMG_0006.JPG"))
    src, _ = original(7)  # `cp` without -p: a new modification time, the same bytes and name
    shutil.copyfile(src, photos / "backup" / "IMG_0007.JPG")
    copy(src, photos / "backup" / "IMG_0007.JPG")
    src, _ = original(8)  # `cp -p` (or a file manager's copy): the same time too; the copy's name decides
    shutil.copy2(src, photos / "camera" / "IMG_0008 - Copy.JPG")
    copy(src, photos / "camera" / "IMG_0008 - Copy.JPG")
    src, _ = original(9)  # `cp -p` into a backup folder: same name and time, the longer path
    shutil.copy2(src, photos / "backup" / "2019" / "IMG_0009.JPG")
    copy(src, photos / "backup" / "2019" / "IMG_0009.JPG")
    src, _ = original(10)  # downloaded again from a cloud album: "(1)" and a new time
    shutil.copyfile(src, photos / "IMG_0010 (1).JPG")
    copy(src, _edited(photos / "IMG_0010 (1).JPG"))
    src, _ = original(11)  # a link into an archive outside the folder, whose file is as old as the original
    shutil.copy2(src, elsewhere / "IMG_0011.JPG")
    (photos / "A_IMG_0011.JPG").symlink_to(elsewhere / "IMG_0011.JPG")
    copy(src, photos / "A_IMG_0011.JPG")
    return made


def originals_kept(out: Path, made: dict[str, list[str]]) -> list[str]:
    """The originals that are kept (a key of results.json) and listed in no lower_quality.json entry."""
    results = json.loads((out / "results.json").read_text())
    lower = set(json.loads((out / "lower_quality.json").read_text()))
    return [o for o in made if o in results and o not in lower]


def test_the_original_is_kept_of_copies_made_every_common_way(tmp_path):
    made = make_copies(tmp_path)
    out = tmp_path / "out"
    run_fastdiff([tmp_path / "photos"], out, "--config", "threshold=similar")
    results = json.loads((out / "results.json").read_text())
    # every copy matched its original, and nothing else matched
    assert {k: sorted(p for p, _ in v) for k, v in results.items()} == {o: sorted(c) for o, c in made.items()}
    assert originals_kept(out, made) == list(made)
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        why = dict(
            con.execute(
                "SELECT d.path, g.kept_because FROM best_copy_group g JOIN directory d ON d.key = g.member"
            ).fetchall()
        )
        links = [p for (p,) in con.execute("SELECT path FROM directory WHERE link = 1")]
    assert links == [str(tmp_path / "photos" / "A_IMG_0011.JPG")]
    expected = {
        "IMG_0008 - Copy.JPG": "fewer copy marks",
        "IMG_0009.JPG": "shorter path",
        "A_IMG_0011.JPG": "regular file",
    }
    assert {os.path.basename(p): r for p, r in why.items()} == {
        os.path.basename(c): expected.get(os.path.basename(c), "older") for cs in made.values() for c in cs
    }


def test_keep_can_put_the_shortest_path_first(tmp_path):
    """The user's order: `keep: [shortest_path]` keeps the copies with the shorter paths instead."""
    made = make_copies(tmp_path)
    out = tmp_path / "out"
    run_fastdiff([tmp_path / "photos"], out, "--config", "threshold=similar", "keep=[shortest_path]")
    results = json.loads((out / "results.json").read_text())
    for original, copies in made.items():
        shortest = min([original, *copies], key=lambda p: (len(os.fsencode(p)), os.fsencode(p)))
        assert shortest in results


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        made = make_copies(Path(tmp))
        run_fastdiff([Path(tmp) / "photos"], Path(tmp) / "out", "--config", "threshold=similar")
        kept = originals_kept(Path(tmp) / "out", made)
        print(f"{len(kept)} of {len(made)} originals kept: {sorted(os.path.basename(k) for k in kept)}")
