"""The difpy front-end's default semantics: each documented difference from difPy 4.2.1 (docs/coming-from-difpy.md)
shown on a purpose-made pair, next to the exact mode, which behaves like difPy.

All images are 50x50 (the thumbnail size), so neither resize changes a value; each file is in its own directory and
the directories are passed in order, which fixes the image IDs (difPy rotates only the image with the higher ID).
"""

from __future__ import annotations

import numpy as np
import pytest
from bad_inputs import encode_oriented
from PIL import Image
from synth import photo_like

from fastdiff.difpy import build, search


def soft(seed: int) -> np.ndarray:
    """A 50x50 photo-like image with values in 20..230: brightness shifts up to +25 never clip."""
    rgb = photo_like(np.random.default_rng([4242, seed]), 50, 50).astype(np.uint16)
    return (20 + rgb * 210 // 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("difpy_default")
    w, r, c, k, e = (soft(i) for i in range(5))
    files = {
        "01_wrap/w.png": w,
        "02_wrap/w_plus16.png": w + 16,  # wrap-around: every difference 16 -> "MSE" 0
        "03_rot/r.png": r,
        "04_rot/r_rot90.png": np.rot90(r),  # 90 degrees counter-clockwise, higher ID
        "05_chain/c.png": c,
        "06_chain/c_plus2.png": c + 2,
        "07_chain/c_plus4.png": c + 4,  # MSE 4, 4 and 16
        "10_exif/upright.png": e,
    }
    for rel, rgb in files.items():
        (root / rel).parent.mkdir()
        Image.fromarray(np.ascontiguousarray(rgb)).save(root / rel)
    for rel, level in (("08_keep/big.png", 0), ("09_keep/small.png", 9)):  # the same pixels, two file sizes
        (root / rel).parent.mkdir()
        Image.fromarray(k).save(root / rel, compress_level=level)
    (root / "11_exif").mkdir()
    (root / "11_exif/tagged.png").write_bytes(encode_oriented(e, ".png", 6))  # stored rotated, shown upright
    return sorted(str(d) for d in root.iterdir())


def matches(result: dict) -> dict[frozenset[str], float]:
    """{frozenset({file name, file name}): mse} of a union result."""
    return {
        frozenset(p.rsplit("/", 1)[-1] for p in (key, value)): mse
        for key, values in result.items()
        for value, mse in values
    }


@pytest.fixture(scope="module")
def runs(pairs: list[str]) -> dict[str, search]:
    exact = build(*pairs, exact=True, processes=2, show_progress=False)
    default = build(*pairs, processes=2, show_progress=False)
    return {
        "exact": search(exact, similarity="similar", processes=2, show_progress=False),
        "default": search(default, similarity="similar", processes=2, show_progress=False),
        "default_no_rotate": search(default, similarity="similar", rotate=False, processes=2, show_progress=False),
    }


def test_wrap_around(runs):
    """difPy squares uint8 differences modulo 256: a copy brightened by 16 is a 'duplicate'; the true MSE is 256."""
    pair = frozenset({"w.png", "w_plus16.png"})
    assert matches(runs["exact"].result)[pair] == 0.0
    assert pair not in matches(runs["default"].result)


def test_rotations(runs):
    """difPy rotates only the image with the higher ID, by 0/90/180 degrees: a copy turned 90 degrees
    counter-clockwise that comes later is missed; fastdiff tries all four rotations of either image."""
    pair = frozenset({"r.png", "r_rot90.png"})
    assert pair not in matches(runs["exact"].result)
    assert matches(runs["default"].result)[pair] == 0.0


def test_grouping(runs):
    """difPy's groups are not transitive: in a chain c ~ c+2 ~ c+4 (c and c+4 differ too much) c+2 is a value of
    c's group and the key of its own; fastdiff puts every image in at most one group."""
    exact = runs["exact"].result
    middle = next(k for k in exact if k.endswith("c_plus2.png"))
    assert [v for v, _ in exact[next(k for k in exact if k.endswith("/c.png"))]] == [middle]
    everywhere = [p for k, vs in runs["default"].result.items() for p in [k] + [v for v, _ in vs]]
    assert len(everywhere) == len(set(everywhere))
    assert any(p.endswith("c_plus2.png") for p in everywhere)


def test_keeper_rule(runs):
    """difPy keeps the largest width + height, then the largest path string; fastdiff keeps the most pixels, then
    the larger file (here the same pixels: the PNG without compression)."""
    assert [p.rsplit("/", 1)[-1] for p in runs["exact"].lower_quality if "keep" in p] == ["big.png"]
    assert [p.rsplit("/", 1)[-1] for p in runs["default"].lower_quality if "keep" in p] == ["small.png"]


def test_exif_orientation(runs):
    """difPy compares stored pixels: a copy stored rotated with an EXIF orientation tag is another picture to it;
    fastdiff applies the orientation, so it is an exact copy even without rotations."""
    pair = frozenset({"upright.png", "tagged.png"})
    assert pair not in matches(runs["exact"].result)
    assert matches(runs["default_no_rotate"].result)[pair] == 0.0


def test_default_mode_speaks_difpys_formats(runs, pairs):
    """Paths as the caller gave them, difPy's stats structure, lower_quality a list of plain strings."""
    stats = runs["default"].stats
    assert stats["directory"] == sorted(pairs)
    # difPy's keys in difPy's order, then fastdiff's counts beside them (docs/screen-and-errors.md)
    assert list(stats) == ["directory", "total_files", "invalid_files", "process", "files", "skipped_files"]
    assert list(stats["process"]["search"]["parameters"]) == [
        "similarity_mse",
        "rotate",
        "same_dim",
        "processes",
        "chunksize",
    ]
    assert stats["process"]["search"]["parameters"]["similarity_mse"] == 5 and stats["total_files"] == 11
    assert all(isinstance(p, str) and p.startswith(tuple(pairs)) for p in runs["default"].lower_quality)


def test_difpys_parameter_checks(tmp_path, monkeypatch):
    """difPy's validation rules and messages (no workflow runs: build only checks its arguments)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match='Directory "nope" does not exist'):
        build("nope")
    with pytest.raises(ValueError, match="compare a directory with itself"):
        build(["d", "d"])
    with pytest.raises(ValueError, match='renamed to "-dim" / "same_dim"'):
        build("d", lazy=True)
    with pytest.raises(ValueError, match="must be between 10 and 5000"):
        build("d", px_size=5)
    with pytest.raises(ValueError, match="only supported with exact=True"):
        build("d", "f.png")
    dif = build("d", "f.png", exact=True)
    assert dif.directory == ["d", "f.png"] and dif.config["part_a"] == ["d", "f.png"]
    with pytest.raises(ValueError, match='only accepts "duplicates" and "similar"'):
        search(dif, similarity="low")
    with pytest.raises(ValueError, match="must be >= 1"):
        search(dif, processes=0)
