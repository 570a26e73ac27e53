"""Multi-frame files compared as wholes (fastdiff.thumbnails.frames): a multi-page TIFF or an animation is a duplicate
only of a file with as many frames whose every frame matches; sharing the first frame makes two files related, never
copies."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fastdiff
from PIL import Image

from fastdiff.core.options import ThumbnailOptions
from fastdiff.core.records import IndexedFile
from fastdiff.core.symmetry import symmetries, transform
from fastdiff.merge.db import ResultDB
from fastdiff.thumbnails.batch import FRAME_FIELDS, load_frames, save_batch
from fastdiff.thumbnails.build import build_batch
from fastdiff.thumbnails.frames import RELATED, frames_mse, later_frames


def _frame(seed: int, shape: tuple[int, int] = (96, 128)) -> Image.Image:
    """A blocky picture in 27 colours (a GIF holds it exactly)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, (shape[0] // 16, shape[1] // 16, 3), dtype=np.uint8) * 120
    return Image.fromarray(np.kron(blocks, np.ones((16, 16, 1), np.uint8)))


def _save(path: Path, frames: list[Image.Image], **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=len(frames) > 1, append_images=frames[1:], **kwargs)
    return path


def _run(tmp_path: Path, images: Path, *config: str) -> tuple[dict, list, dict[tuple[str, str], int]]:
    """results.json, lower_quality.json and the success of each dif_table pair (by file names) of a run."""
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    run_fastdiff([images], out, *(["--config", *config] if config else []), snakemake=False)
    results = json.loads((out / "results.json").read_text())
    lower = json.loads((out / "lower_quality.json").read_text())
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        pairs = {
            tuple(sorted((Path(a).name, Path(b).name))): s
            for a, b, s in con.execute(
                "SELECT a.path, b.path, t.success FROM dif_table t JOIN directory a ON a.key = t.key_a "
                "JOIN directory b ON b.key = t.key_b"
            )
        }
    return results, lower, pairs


def _names(results: dict) -> dict[str, list[str]]:
    return {Path(k).name: sorted(Path(p).name for p, _ in v) for k, v in results.items()}


def test_tiff_pages(tmp_path):
    cover, page_a, page_b = _frame(1), _frame(2), _frame(3)
    images = tmp_path / "in"
    _save(images / "letter_2019.tif", [cover, page_a])
    _save(images / "letter_2021.tif", [cover, page_b])  # page 1 shared, page 2 differs
    _save(images / "letter_2019_copy.tif", [cover, page_a], compression="tiff_lzw")  # the same pages, other bytes
    _save(images / "cover.png", [cover])  # a single page: the cover only
    _save(images / "three_pages.tif", [cover, page_a, page_b])  # one page more
    results, lower, pairs = _run(tmp_path, images)
    assert _names(results) == {"letter_2019.tif": ["letter_2019_copy.tif"]}
    assert [Path(p).name for p in lower] == ["letter_2019_copy.tif"]
    related = {p for p, s in pairs.items() if s == RELATED}
    assert related == {
        tuple(sorted(p))
        for p in [
            ("letter_2019.tif", "letter_2021.tif"),
            ("letter_2021.tif", "letter_2019_copy.tif"),
            *((name, other) for name in ("cover.png", "three_pages.tif") for other in ("letter_2019.tif",)),
            *((name, other) for name in ("cover.png", "three_pages.tif") for other in ("letter_2021.tif",)),
            *((name, other) for name in ("cover.png", "three_pages.tif") for other in ("letter_2019_copy.tif",)),
            ("cover.png", "three_pages.tif"),
        ]
    }
    with sqlite3.connect(tmp_path / "out" / "fastdiff.sqlite") as con:
        counts = {
            Path(p).name: n for p, n in con.execute("SELECT d.path, f.count FROM frames f JOIN directory d USING (key)")
        }
    assert counts == {"letter_2019.tif": 2, "letter_2021.tif": 2, "letter_2019_copy.tif": 2, "three_pages.tif": 3}


def test_animations(tmp_path):
    frames = [_frame(10), _frame(11), _frame(12)]
    images = tmp_path / "in"
    _save(images / "clip.gif", frames, duration=100, loop=0)
    _save(images / "clip_again.gif", frames, duration=200)  # the same frames, another timing
    _save(images / "clip.webp", frames, lossless=True, duration=100)  # animated WebP of the same frames
    _save(images / "clip.png", frames, duration=100)  # APNG
    _save(images / "still.png", frames[:1])  # a still of the first frame
    _save(images / "other_end.gif", [*frames[:2], _frame(13)])  # the last frame differs
    rotated = [f.transpose(Image.Transpose.ROTATE_90) for f in frames]
    _save(images / "clip_rotated.gif", rotated)  # every frame turned alike
    results, lower, pairs = _run(tmp_path, images)
    copies = ["clip.png", "clip.webp", "clip_again.gif", "clip_rotated.gif"]
    assert sorted(n for members in _names(results).values() for n in members) == copies
    assert sorted(Path(p).name for p in lower) == copies
    assert "still.png" not in {Path(p).name for p in lower} | set(_names(results))
    assert pairs[("clip.gif", "still.png")] == RELATED and pairs[("clip.gif", "other_end.gif")] == RELATED
    with ResultDB(tmp_path / "out") as db:
        assert db.summary()["related"] == sum(s == RELATED for s in pairs.values()) > 0
        assert not any("still.png" in (p.path_a + p.path_b) for p in db.pairs())  # related pairs are no matches
    results, lower, pairs = _run(tmp_path, images, "rotate=false")  # the rotated frames no longer match
    assert "clip_rotated.gif" not in {Path(p).name for p in lower}
    results, lower, pairs = _run(tmp_path, images, "do_compare=false")  # hash-only: equal frames only
    assert sorted(Path(p).name for p in lower) == copies
    assert pairs[("clip.gif", "still.png")] == RELATED


def test_later_frames_within_the_threshold(tmp_path):
    """Frames that differ a little match at a threshold that covers them, every frame judged alone."""
    first, second = np.asarray(_frame(20)), np.asarray(_frame(21)).copy()
    images = tmp_path / "in"
    _save(images / "a.tif", [Image.fromarray(first), Image.fromarray(second)])
    second[:16, :16] = 255 - second[:16, :16]  # one 16x16 block of 96x128 inverted: an MSE of 1,700 or so
    _save(images / "b.tif", [Image.fromarray(first), Image.fromarray(second)])
    assert _run(tmp_path, images)[0] == {}
    results, _, _ = _run(tmp_path, images, "threshold=5000")
    assert _names(results) == {"a.tif": ["b.tif"]}


def test_frames_mse_takes_each_frame_at_its_best_symmetry():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    b = np.stack([transform(np, a[i], k, axes=(0, 1)) for i, k in enumerate((1, 2, 3))])
    assert frames_mse(a, b, symmetries(True)) == 0.0
    assert frames_mse(a, b, symmetries(False)) > 0
    worse = b.copy()
    worse[2] = 0
    assert frames_mse(a, worse, symmetries(True)) == pytest.approx(np.mean(a[2].astype(float) ** 2))


def _indexed(key: int, path: Path) -> IndexedFile:
    return IndexedFile(key, str(path), 0, 0, path.stat().st_size, 0.0, 0)


def test_single_frame_files_are_not_opened_twice_and_batches_unchanged(tmp_path):
    """A single-frame file has no later frames and its batch no frame arrays (the format of before)."""
    _save(tmp_path / "a.png", [_frame(1)])
    _save(tmp_path / "b.jpg", [_frame(2)])
    _save(tmp_path / "c.gif", [_frame(3)])
    _save(tmp_path / "d.tif", [_frame(4)])
    _save(tmp_path / "e.webp", [_frame(5)], lossless=True)
    for name in ("a.png", "b.jpg", "c.gif", "d.tif", "e.webp"):
        assert list(later_frames(str(tmp_path / name), 10**8, (255, 255, 255))) == []
    options = ThumbnailOptions(50, 0, 10**8, True, False, False, None, "default", None, False, [255, 255, 255])
    files = [_indexed(k, tmp_path / n) for k, n in enumerate(["a.png", "b.jpg", "c.gif"])]
    save_batch(build_batch(files, options), tmp_path / "single.npz")
    with np.load(tmp_path / "single.npz") as z:
        assert not set(z.files) & {*FRAME_FIELDS, "sha256_frames"}
    assert len(load_frames(tmp_path / "single.npz")[0]) == 0
    _save(tmp_path / "f.gif", [_frame(6), _frame(7), _frame(8)])
    files.append(_indexed(3, tmp_path / "f.gif"))
    save_batch(build_batch(files, options), tmp_path / "multi.npz")
    keys, thumbs = load_frames(tmp_path / "multi.npz")
    assert keys.tolist() == [3, 3] and thumbs.shape == (2, 50, 50, 3)
