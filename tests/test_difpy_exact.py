"""compat 'difpy': our result, lower_quality and stats equal difPy 4.2.1's own, run side by side as the oracle.

Folders are generated: the synthetic collection (nested, odd names), bad and odd files, and difPy's quirks
(wrap-around false duplicates, ID-order rotations, byte-tRNS palettes, extensions). Results must be identical as
JSON (key order, value order, MSE floats), lower_quality equal as sets, stats equal apart from the durations.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import make_bad_inputs, make_odd_valid_inputs
from conftest import run_fastdiff
from PIL import Image
from synth import make_collection, make_tiny_set, photo_like

difPy = pytest.importorskip("difPy", reason="difPy 4.2.1 (the oracle) is not installed: pip install -e '.[test]'")

from fastdiff.core.options import CompareOptions  # noqa: E402
from fastdiff.difpy import build, search  # noqa: E402
from fastdiff.difpy_exact import compare as exact_compare  # noqa: E402
from fastdiff.difpy_exact import thumbnails as exact_thumbnails  # noqa: E402
from fastdiff.thumbnails.batch import Batch  # noqa: E402

HERE = Path(__file__).parent


def soft_photo(seed: int, width: int, height: int) -> np.ndarray:
    """A photo-like image with values in 20..230, so that small brightness shifts never clip."""
    return (20 + photo_like(np.random.default_rng([777, seed]), width, height).astype(np.uint16) * 210 // 255).astype(
        np.uint8
    )


def make_quirks(root: Path) -> None:
    """Files that exercise difPy's oddities (difPy 4.2.1's dif.py: its file listing, size rules and error messages)."""
    root.mkdir(parents=True)
    w = soft_photo(1, 80, 60)
    Image.fromarray(w).save(root / "wrap.png")
    Image.fromarray(w + 16).save(root / "wrap_plus16.png")  # a false duplicate: every difference is 16
    Image.fromarray(w + 2).save(root / "wrap_plus2.png")  # wrap-around MSE 4
    r = soft_photo(2, 60, 40)
    Image.fromarray(r).save(root / "rot_orig.png")
    Image.fromarray(np.ascontiguousarray(np.rot90(r))).save(root / "rot_90.png")
    Image.fromarray(np.ascontiguousarray(np.rot90(r, 3))).save(root / "rot_270.png")
    Image.fromarray(r).quantize(16).save(root / "palette_bytes_trns.png", transparency=bytes([0, 128] + [255] * 14))
    Image.fromarray(r).save(root / "UPPER.JPG", quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / "no_extension").write_bytes((root / "wrap.png").read_bytes())
    (root / ".hidden.png").write_bytes((root / "wrap.png").read_bytes())
    (root / "dir.v2").mkdir()
    (root / "dir.v2" / "inside").write_bytes((root / "wrap.png").read_bytes())  # extension 'v2/inside'
    (root / "meta[1]").mkdir()
    shutil.copyfile(root / "rot_orig.png", root / "meta[1]" / "copy.png")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("difpy_exact")
    make_collection(root / "A" / "coll", n_base=40, seed=3)
    make_bad_inputs(root / "A" / "bad")
    make_odd_valid_inputs(root / "A" / "odd")
    make_quirks(root / "A" / "quirks")
    make_tiny_set(root / "B")
    return root


def test_tensors_and_messages_equal_difpys(tree, monkeypatch):
    """exact_thumbnails.thumbnail against difPy's own _generate_tensor on every odd, bad and quirk file."""
    monkeypatch.chdir(tree)
    theirs = difPy.dif.build.__new__(difPy.dif.build)
    theirs._build__px_size = 50
    paths = sorted(
        str(p.relative_to(tree)) for d in ("odd", "bad", "quirks") for p in (tree / "A" / d).iterdir() if not p.is_dir()
    )
    for path in paths:
        with warnings.catch_warnings():
            expected = theirs._generate_tensor(0, path)  # sets Pillow warnings to errors, as in difPy's workers
        with exact_thumbnails.difpy_warnings():
            got = exact_thumbnails.thumbnail(path, 50, str(tree))
        if isinstance(expected, dict):
            assert got == expected[path], path
        else:
            assert np.array_equal(got[0], expected[1]) and (got[1], got[2], 3) == expected[2], path


def oracle(root: Path, dirs: list[str], build_options: dict, searches: list[dict]) -> subprocess.Popen:
    """Start difPy itself on the folders (relative to root); collect with oracle_result()."""
    spec = root / f"spec_{len(list(root.glob('spec_*')))}.json"
    spec.write_text(json.dumps({"dirs": dirs, "build": build_options, "searches": searches}))
    return subprocess.Popen(
        [sys.executable, str(HERE / "difpy_runner.py"), str(spec), str(spec) + ".out"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def oracle_result(proc: subprocess.Popen) -> list[dict]:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(Path(proc.args[-1]).read_text())


def without_durations(stats: dict) -> dict:
    stats = json.loads(json.dumps(stats))
    for stage in ("build", "search"):
        del stats["process"][stage]["duration"]
    return stats


def assert_same(ours: search, expected: dict) -> None:
    assert json.dumps(ours.result) == json.dumps(expected["result"])  # key order, value order, floats
    assert sorted(ours.lower_quality) == expected["lower_quality"]
    assert json.dumps(without_durations(ours.stats)) == json.dumps(without_durations(expected["stats"]))


def random_batches(seed: int = 1, n: int = 48, px: int = 12):
    """Thumbnails with the cases the metric must get right (copies, +16 and +32 shifts, rotations, noise, equal low
    nibbles), split into three blocks like the compare jobs: (a, b, same_block)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (10, px, px, 3), dtype=np.uint8)
    thumbs = []
    for kind in rng.integers(0, 6, n):
        t = base[rng.integers(0, len(base))]
        t = [
            t,
            t + np.uint8(16),
            np.rot90(t, rng.integers(1, 4)),
            (t.astype(int) + rng.integers(-2, 3, t.shape)),
            rng.integers(0, 256, t.shape),
            (t & 0x0F) | (rng.integers(0, 16, t.shape) << 4),
        ][kind]
        thumbs.append(np.asarray(t).astype(np.uint8))
    thumbs = np.stack(thumbs)
    h, w = rng.choice([10, 20], n), rng.choice([10, 20], n)

    def batch(part: slice) -> Batch:
        keys = np.arange(n)[part]
        return Batch(
            keys=keys,
            paths=np.char.zfill(keys.astype(str), 12),
            thumbs=thumbs[part],
            height=h[part],
            width=w[part],
            hashes=np.zeros((len(keys), 4), "<U1"),
            error_keys=np.zeros(0, np.int64),
            error_messages=np.zeros(0, str),
            started=0.0,
            finished=0.0,
        )

    cut = n // 2
    blocks = [
        (batch(slice(0, cut)), batch(slice(0, cut)), True),
        (batch(slice(0, cut)), batch(slice(cut, n)), False),
        (batch(slice(cut, n)), batch(slice(cut, n)), True),
    ]
    return thumbs, h, w, blocks


@pytest.mark.parametrize("threshold", [0.0, 1.0, 5.0, 60.0, 200.0])
def test_compare_kernel_equals_difpys_metric(threshold, monkeypatch):
    """The vectorised compare job against difPy's own per-pair code (_find_matches, _compute_mse), every option."""
    thumbs, h, w, blocks = random_batches()
    for rotate in (True, False):
        for same_dim in (True, False):
            expected = {}
            for i in range(len(thumbs)):
                for j in range(i + 1, len(thumbs)):
                    if same_dim and sorted((h[i], w[i], 3)) != sorted((h[j], w[j], 3)):
                        continue
                    if (thumbs[i] == thumbs[j]).all():
                        expected[i, j] = 0.0
                    elif (
                        mse := difPy.dif._compare_imgs._compute_mse(thumbs[i], thumbs[j], rotate=rotate)
                    ) <= threshold:
                        expected[i, j] = float(mse)
            for dense, tile in ((0.0, 1024), (2.0, 8)):  # every tile summed densely / every pair gathered
                monkeypatch.setattr(exact_compare, "DENSE_FRACTION", dense)
                opts = CompareOptions(threshold=threshold, rotate=rotate, same_dim=same_dim, tile_size=tile)
                got = {}
                for a, b, same in blocks:
                    p = exact_compare.compare_blocks(a, b, opts, same)
                    got.update(zip(zip(p.key_a.tolist(), p.key_b.tolist()), p.mse.tolist()))
                assert got == expected


SEARCHES = [
    {},  # difPy's defaults: duplicates, rotate, same_dim
    {"similarity": "similar"},
    {"similarity": 2.5, "rotate": False},
]  # same_dim off: test_many_shards_and_blocks_match_difpy


def test_union_recursive_matches_difpy(tree, monkeypatch):
    monkeypatch.chdir(tree)
    proc = oracle(tree, ["A"], {}, SEARCHES)
    dif = build("A", exact=True, processes=2, show_progress=False)
    ours = [search(dif, processes=2, show_progress=False, **options) for options in SEARCHES]
    for got, expected in zip(ours, oracle_result(proc)):
        assert_same(got, expected)
    default, similar, no_rotation = ours
    # the quirks are really exercised: a wrap-around false duplicate, byte-tRNS palettes invalid, bmp unsupported
    pairs = {(k, v) for k, vs in default.result.items() for v, _ in vs}
    assert {"A/quirks/wrap.png", "A/quirks/wrap_plus16.png"} in [{k, v} for k, v in pairs]
    logs = default.stats["invalid_files"]["logs"]
    assert "should be converted to RGBA" in logs["A/quirks/palette_bytes_trns.png"]
    assert logs["A/odd/plain.bmp"] == "Unsupported file type" and "A/quirks/dir.v2/inside" in logs
    found = [s.stats["process"]["search"]["matches_found"] for s in (default, similar, no_rotation)]
    assert found[0]["duplicates"] > 0 and found[1]["similar"] > 0 and found[2] != found[1]


def test_many_shards_and_blocks_match_difpy(tree, tmp_path):
    """The same through `fastdiff run` with compat difpy and small shards: four blocks, pairs across blocks."""
    proc = oracle(tree, ["A"], {}, [{"similarity": "similar", "same_dim": False}])
    out = tmp_path / "out"
    run_fastdiff(
        [],
        out,
        "--similarity",
        "similar",
        "--no-same-dim",
        "--shard-size",
        "25",
        "--config",
        "block_size=25",
        "--config",
        "compat=difpy",
        "--config",
        f"base_dir={json.dumps(str(tree))}",
        "--config",
        'part_a=["A"]',
    )
    expected = oracle_result(proc)[0]
    assert (out / "results.json").read_text() == json.dumps(expected["result"])
    assert sorted(json.loads((out / "lower_quality.json").read_text())) == expected["lower_quality"]
    stats = json.loads((out / "stats.json").read_text())
    assert json.dumps(without_durations(stats)) == json.dumps(without_durations(expected["stats"]))
    assert len(json.loads((out / "work" / "index" / "manifest.json").read_text())["blocks"]) == 4


def test_two_folders_not_recursive_and_in_folder_match_difpy(tree, monkeypatch):
    monkeypatch.chdir(tree)
    flat = oracle(tree, ["B", "A/quirks"], {"recursive": False}, [{"similarity": "similar"}])
    nested = oracle(tree, ["A/coll", "B"], {"in_folder": True}, [{"similarity": "similar"}])
    dif = build(["B", "A/quirks"], recursive=False, exact=True, processes=2, show_progress=False)
    assert_same(search(dif, similarity="similar", processes=2, show_progress=False), oracle_result(flat)[0])
    dif = build("A/coll", "B", in_folder=True, exact=True, processes=2, show_progress=False)
    ours = search(dif, similarity="similar", processes=2, show_progress=False)
    assert_same(ours, oracle_result(nested)[0])
    assert "B" in ours.result  # nested per folder, keyed by the dirname of its first image


def parse_lower_quality(text: str) -> set[str]:
    """difPy's lower_quality.txt is a Python list repr, of np.str_ items with numpy 2."""
    return set(ast.literal_eval(text.replace("np.str_(", "(")))


def test_cli_writes_difpys_three_files(tree, tmp_path):
    """`difpy --difpy-exact` against difPy's own command line: a trailing slash, nested arguments (files listed
    twice), a file argument and a glob metacharacter in an argument."""
    args = ["-D", "A/quirks/", "A/quirks/meta[1]", "A/coll/2019", "B/a.png", "A/coll", "-s", "similar"]
    theirs = subprocess.Popen(
        [sys.executable, "-m", "difPy.dif", *args, "-Z", str(tmp_path / "theirs")],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ours = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastdiff.difpy.cli",
            *args,
            "-Z",
            str(tmp_path / "ours"),
            "--difpy-exact",
            "-p",
            "False",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    assert ours.returncode == 0, ours.stderr[-3000:]
    out, _ = theirs.communicate(timeout=300)
    assert theirs.returncode == 0, out[-3000:]
    files = {side: {p.name.split("_", 2)[2]: p for p in (tmp_path / side).iterdir()} for side in ("ours", "theirs")}
    assert sorted(files["ours"]) == sorted(files["theirs"]) == ["lower_quality.txt", "results.json", "stats.json"]
    assert files["ours"]["results.json"].read_bytes() == files["theirs"]["results.json"].read_bytes()
    ours_lq, theirs_lq = (files[s]["lower_quality.txt"].read_text() for s in ("ours", "theirs"))
    assert "np.str_" not in ours_lq and parse_lower_quality(ours_lq) == parse_lower_quality(theirs_lq)
    stats = [without_durations(json.loads(files[s]["stats.json"].read_text())) for s in ("ours", "theirs")]
    assert json.dumps(stats[0]) == json.dumps(stats[1])
    result = json.loads(files["ours"]["results.json"].read_text())
    assert any(k == v for k, vs in result.items() for v, _ in vs)  # difPy matches a file listed twice with itself
    assert "saved in" in ours.stdout and not (tmp_path / "ours" / ".fastdiff-difpy").exists()
