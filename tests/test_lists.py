"""Partitions given as file lists (text, CSV, TSV), num_images, and the `fastdiff run` flags that set keys."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_fastdiff

from fastdiff.cli import build_parser, resolve_config
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.file_lists import ListError, is_list, read_list
from fastdiff.core.options import IndexOptions
from fastdiff.index.scan import read_manifest, read_rejected, scan
from fastdiff.run.stages import run_index


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), (48, 40), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """photos/{a,b,c}.png, photos/sub/a_copy.png (a copy of a) and photos/other.png (a copy of b, never listed)."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name, seed in (("a", 1), ("b", 2), ("c", 3), ("sub/a_copy", 1), ("other", 2)):
        assert cv2.imwrite(str(root / f"{name}.png"), _image(seed))
    return root


def _options(part_a: list, part_b: list | None = None, **keys) -> IndexOptions:
    raw = {"part_a": [str(p) for p in part_a], "part_b": [str(p) for p in part_b or []], **keys}
    return IndexOptions.from_config(load_config(raw))


def test_text_list_comments_blank_lines_bom_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    listing = tmp_path / "lists" / "files.txt"
    listing.write_bytes(b"\xef\xbb\xbfone.jpg\r\n\n# a comment\n  ../img/two.png  \n/abs/three.gif\nb\xe9.jpg\n")
    entries = read_list(listing)
    assert [(e.path, e.line) for e in entries] == [
        (str(tmp_path / "lists" / "one.jpg"), 1),
        (str(tmp_path / "img" / "two.png"), 4),
        ("/abs/three.gif", 5),
        (os.fsdecode(os.fsencode(str(tmp_path / "lists")) + b"/b\xe9.jpg"), 6),  # not UTF-8: the bytes kept
    ]


@pytest.mark.parametrize("column", ["path", "Filepath", "file", "filename", "image_path"])
def test_csv_path_column_found_by_its_header(tmp_path: Path, column: str) -> None:
    listing = tmp_path / "split.csv"
    listing.write_text(f'label,{column},split\ncat,x/1.jpg,train\ndog,"y, z/2.jpg",val\n,,\nbird,,test\n')
    assert [(e.path, e.line) for e in read_list(listing)] == [
        (str(tmp_path / "x" / "1.jpg"), 2),
        (str(tmp_path / "y, z" / "2.jpg"), 3),
    ]


def test_csv_single_column_without_header_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("a.jpg\nb.jpg\n")
    assert [e.path for e in read_list(tmp_path / "one.csv")] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    (tmp_path / "t.tsv").write_text("id\tfile_name\n1\ta, b.jpg\n")
    assert [e.path for e in read_list(tmp_path / "t.tsv")] == [str(tmp_path / "a, b.jpg")]


def test_csv_without_a_path_column_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("label,where\ncat,a.jpg\n")
    with pytest.raises(ListError, match="none is named as a path column"):
        read_list(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match=r"part_a.*path column"):
        load_config({"part_a": [str(tmp_path / "bad.csv")]})
    (tmp_path / "latin.csv").write_bytes(b"path\nb\xe9.jpg\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config({"part_a": [str(tmp_path / "latin.csv")]})


def test_only_existing_lists_and_folders_are_partitions(tmp_path: Path) -> None:
    (tmp_path / "image.jpg").write_bytes(b"x")
    assert not is_list(tmp_path / "missing.txt") and not is_list(tmp_path / "image.jpg")
    for bad, why in (("missing.txt", "does not exist"), ("image.jpg", "is neither a folder nor a file list")):
        with pytest.raises(ConfigError, match=why):
            load_config({"part_a": [str(tmp_path / bad)]})


def test_scan_of_a_list_reports_missing_and_repeated_entries(tmp_path: Path, photos: Path) -> None:
    listing = photos / "list.txt"
    listing.write_text("b.png\nsub/a_copy.png\na.png\nmissing.png\nb.png\n./sub/../b.png\n")
    result = scan(_options([listing]))
    assert [f.path for f in result.files] == [str(photos / n) for n in ("a.png", "b.png", "sub/a_copy.png")]
    assert [(r.path, r.kind, r.reason) for r in result.rejected] == [
        (str(photos / "missing.png"), "unreadable", f"No such file or directory (listed in {listing}, line 4)"),
        (f"{listing}:5", "unreadable", f"duplicate entry: {photos / 'b.png'} is listed again (first on line 1)"),
        (f"{listing}:6", "unreadable", f"duplicate entry: {photos / 'b.png'} is listed again (first on line 1)"),
    ]


def test_lists_as_both_partitions_with_a_folder(tmp_path: Path, photos: Path) -> None:
    (tmp_path / "a.csv").write_text("path,label\nphotos/a.png,x\nphotos/c.png,y\n")
    (tmp_path / "b.txt").write_text("photos/sub/a_copy.png\n")
    result = scan(_options([tmp_path / "a.csv", photos / "sub"], [tmp_path / "b.txt"]))
    assert [(os.path.relpath(f.path, photos), f.part, f.dir_index) for f in result.files] == [
        ("a.png", 0, 0),
        ("c.png", 0, 0),
        ("sub/a_copy.png", 1, 2),  # in the folder of A and the list of B: compared as B
    ]
    assert result.shared == 1


def test_num_images_keeps_the_first_images_in_index_order(tmp_path: Path, photos: Path) -> None:
    (photos / "notes.xyz").write_bytes(b"x")
    manifest = run_index(tmp_path / "index", tmp_path / "layout", _options([photos], num_images=2))
    assert manifest["n_files"] == 2 and manifest["n_rejected"] == 1
    assert [r.path for r in read_rejected(tmp_path / "index")] == [str(photos / "notes.xyz")]
    everything = run_index(tmp_path / "index2", tmp_path / "layout2", _options([photos], num_images=100))
    assert everything["n_files"] == 5
    assert read_manifest(tmp_path / "index2")["n_files"] == 5
    with pytest.raises(ConfigError, match="num_images"):
        load_config({"part_a": [str(photos)], "num_images": 0})


@pytest.mark.parametrize("snakemake", [False, True])
def test_run_on_a_list(tmp_path: Path, photos: Path, snakemake: bool) -> None:
    """`fastdiff run list.txt -o out` from another folder, in process and through Snakemake: relative entries
    resolved against the list's folder, the missing and the repeated entry in stats.json and the database, the run
    goes on."""
    listing = photos / "list.txt"
    listing.write_text("a.png\nsub/a_copy.png\nb.png\nmissing.png\na.png\n")
    out = tmp_path / "out"
    run_fastdiff([listing], out, snakemake=snakemake)
    assert json.loads((out / "results.json").read_text()) == {
        str(photos / "a.png"): [[str(photos / "sub/a_copy.png"), 0.0]]
    }
    stats = json.loads((out / "stats.json").read_text())
    assert stats["invalid_files"]["logs"] == {
        str(photos / "missing.png"): f"No such file or directory (listed in {listing}, line 4)",
        f"{listing}:5": f"duplicate entry: {photos / 'a.png'} is listed again (first on line 1)",
    }
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        rows = con.execute("SELECT path, success, error IS NOT NULL FROM directory ORDER BY key").fetchall()
    assert rows == [
        (str(photos / "a.png"), 1, 0),
        (str(photos / "b.png"), 1, 0),
        (str(photos / "sub/a_copy.png"), 1, 0),
        (str(photos / "missing.png"), 0, 1),
        (f"{listing}:5", 0, 1),
    ]


def test_run_on_lists_in_difpy_mode(tmp_path: Path, photos: Path) -> None:
    """compat difpy: a list argument stands for its entries, given relative to base_dir as the list is."""
    listing = photos / "list.csv"
    listing.write_text("filename\nsub/a_copy.png\na.png\nmissing.png\na.png\n")
    out = tmp_path / "out"
    run_fastdiff(
        [], out, "--config", "compat=difpy", f"base_dir={tmp_path}", "part_a=[photos/list.csv]", snakemake=False
    )
    results = json.loads((out / "results.json").read_text())
    assert results == {"photos/sub/a_copy.png": [["photos/a.png", 0.0]]}
    logs = json.loads((out / "stats.json").read_text())["invalid_files"]["logs"]
    assert logs == {
        "photos/missing.png": "No such file or directory (listed in photos/list.csv, line 4)",
        "photos/list.csv:5": "duplicate entry: photos/a.png is listed again (first on line 3)",
    }


def test_run_flags_set_their_keys(tmp_path: Path, photos: Path) -> None:
    args = build_parser().parse_args(
        ["run", str(photos), "--mirror", "--grayscale", "--num-images", "3", "-o", str(tmp_path / "o")]
    )
    raw = resolve_config(args)
    assert (raw["mirror"], raw["grayscale"], raw["num_images"]) == (True, True, 3)
    raw = resolve_config(build_parser().parse_args(["run", str(photos), "--no-mirror", "--no-grayscale"]))
    assert (raw["mirror"], raw["grayscale"], raw.get("num_images")) == (False, False, None)
    raw = resolve_config(build_parser().parse_args(["run", str(photos), "--neighbors", "5", "--outlier-mse", "40"]))
    assert (raw["neighbors"], raw["outlier_mse"]) == (5, 40.0)


def test_run_with_flags(tmp_path: Path, photos: Path) -> None:
    """--mirror matches a mirrored copy, --grayscale a grey one (MSE < 1: 'similar'), --num-images 2 indexes two
    images."""
    base = _image(1)
    assert cv2.imwrite(str(photos / "c.png"), base[:, ::-1])  # a mirror image of a
    assert cv2.imwrite(str(photos / "grey.png"), cv2.cvtColor(_image(2), cv2.COLOR_BGR2GRAY))
    out = tmp_path / "out"
    run_fastdiff([photos], out, "--mirror", "--grayscale", "--similarity", "similar", snakemake=False)
    pairs = {
        tuple(sorted(os.path.basename(p) for p in (head, copy)))
        for head, copies in json.loads((out / "results.json").read_text()).items()
        for copy, _ in copies
    }
    assert ("a.png", "c.png") in pairs and ("b.png", "grey.png") in pairs
    out2 = tmp_path / "out2"
    run_fastdiff([photos], out2, "--num-images", "2", snakemake=False)
    with sqlite3.connect(out2 / "fastdiff.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM directory").fetchone()[0] == 2


def test_trial_run_with_a_list_as_part_b(tmp_path: Path, photos: Path) -> None:
    """Through Snakemake: part B a CSV list, --num-images 3 keeps the first three images of the index order (A's
    two, then B's sorted paths): b's copy other.png (B's first) is found, a's copy sub/a_copy.png (B's second, though
    listed first) is left out."""
    folder_a = tmp_path / "a"
    folder_a.mkdir()
    for name in ("a.png", "b.png"):
        (folder_a / name).write_bytes((photos / name).read_bytes())
    (tmp_path / "b.csv").write_text("split,filepath\nx,photos/sub/a_copy.png\ny,photos/other.png\n")
    out = tmp_path / "out"
    run_fastdiff([folder_a], out, "--part-b", str(tmp_path / "b.csv"), "--num-images", "3")
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        rows = con.execute("SELECT path, part_b FROM directory ORDER BY key").fetchall()
    assert rows == [(str(folder_a / "a.png"), 0), (str(folder_a / "b.png"), 0), (str(photos / "other.png"), 1)]
    results = json.loads((out / "results.json").read_text())
    assert results == {str(photos / "other.png"): [[str(folder_a / "b.png"), 0.0]]}
