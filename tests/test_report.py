"""The visual report (config key `report`): paginated HTML pages of the groups, in Snakemake's report, in Chromium."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, read_json, run_fastdiff

from fastdiff.merge import report
from fastdiff.merge.db import ResultDB
from fastdiff.merge.db import writer as database
from fastdiff.merge.grouping import store_best_copy_groups
from fastdiff.thumbnails.batch import Batch, save_batch

PER_PAGE = 5
CHROMIUM = shutil.which("chromium")


class _Groups(HTMLParser):
    """group number -> [(data-key, 'kept' | 'copy', caption text)] of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[int, list[list]] = {}
        self.links: list[str] = []
        self._figure: list | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section" and "group" in a.get("class", "").split():
            self.groups[int(a["data-group"])] = []
        elif tag == "figure":
            self._figure = [int(a["data-key"]), a["class"].split()[1], ""]
            self.groups[max(self.groups)].append(self._figure)
        elif tag == "a":
            self.links.append(a["href"])

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self._figure[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None


def _parse(path: Path) -> _Groups:
    parser = _Groups()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def report_run(collection, tmp_path_factory) -> Path:
    root, _ = collection
    out = tmp_path_factory.mktemp("report") / "out"
    run_fastdiff(
        [root],
        out,
        "--similarity",
        "similar",
        "--no-same-dim",
        "--config",
        "report=true",
        "--config",
        f"report_page_size={PER_PAGE}",
    )
    return out


def test_report_pages_show_every_group_with_its_kept_copy(report_run):
    out = report_run
    results = read_json(out / "results.json")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["fastdiff.sqlite", "results.json", "lower_quality.json", "stats.json", "work", "report"]
    )
    pages = sorted((out / "report").glob("page-*.html"))
    assert len(results) > PER_PAGE and len(pages) == math.ceil(len(results) / PER_PAGE)
    index = _parse(out / "report" / "index.html")
    assert [link for link in index.links if link.startswith("page-")] == [p.name for p in pages]

    shown: dict[int, list[list]] = {}
    for n, page in enumerate(pages, 1):
        parsed = _parse(page)
        assert 0 < len(parsed.groups) <= PER_PAGE
        assert (f"page-{n + 1:04d}.html" in parsed.links) == (n < len(pages))
        assert (f"page-{n - 1:04d}.html" in parsed.links) == (n > 1)
        shown.update(parsed.groups)
    assert sorted(shown) == list(range(1, len(results) + 1))

    with ResultDB(out) as db:
        groups = list(db.clusters("best_copy"))
    assert [(g.best_copy.path, [[c.image.path, c.mse] for c in g.copies]) for g in groups] == list(results.items())
    for number, group in enumerate(groups, 1):
        figures = shown[number]
        assert [(key, role) for key, role, _ in figures] == [(group.best_copy.key, "kept")] + [
            (c.image.key, "copy") for c in group.copies
        ]
        best_caption = figures[0][2]
        assert f"{group.best_copy.width}×{group.best_copy.height} px" in best_caption
        assert Path(group.best_copy.path).name.replace("\n", "\\n") in best_caption
        for (_, _, caption), copy in zip(figures[1:], group.copies):
            assert f"MSE {copy.mse:.6g}" in caption


def test_report_is_in_snakemakes_report(report_run, tmp_path):
    out = report_run
    archive = tmp_path / "snakemake-report.zip"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(out / "work"),
            "--configfile",
            str(out / "work" / "config.yaml"),
            "--report",
            str(archive),
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    names = zipfile.ZipFile(archive).namelist()
    ours = {Path(n).name for n in names if "/data/raw/" in n}
    assert {"index.html", "page-0001.html"} <= ours
    assert {p.name for p in (out / "report").glob("*.html")} <= ours


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report_run, tmp_path):
    pages = report_run / "report"
    dom = _chromium(tmp_path / "profile", "--dump-dom", (pages / "index.html").as_uri()).stdout
    assert "page-0001.html" in dom and "groups" in dom

    page = pages / "page-0001.html"
    dom = _chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    groups = re.findall(r'<section class="group" id="group-(\d+)"', dom)
    assert groups == [str(i) for i in range(1, PER_PAGE + 1)]
    assert dom.count('class="image kept"') == PER_PAGE and 'src="data:image/png;base64,' in dom

    shot = tmp_path / "page-0001.png"
    _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    pixels = cv2.imread(str(shot))
    assert pixels is not None and pixels.shape[:2] == (900, 1200)
    colourful = (pixels.max(axis=2).astype(int) - pixels.min(axis=2)) > 40  # the page itself is white and grey
    assert np.mean(colourful) > 0.03, "no thumbnails visible in the screenshot"


def test_large_groups_continue_on_the_next_page(tmp_path, monkeypatch):
    n = 9  # key 0 is the best copy (largest), 1..7 its copies, 8 matches nothing
    con = database.create(tmp_path / "fastdiff.sqlite")
    database.insert_files(
        con, [(k, f"/p/{k}.png", None, 1, 20 - k, 20, 1, 100, 0.0, -1, 0, 0, 0) for k in range(n)], []
    )
    database.insert_pairs(con, [(0, k, k / 10, 1, 0) for k in range(1, 8)])
    database.finish(con, {"threshold": 1.0}, [])
    store_best_copy_groups(con)
    con.close()
    rng = np.random.default_rng(0)
    save_batch(
        Batch(
            keys=np.arange(n),
            paths=np.asarray([f"/p/{k}.png" for k in range(n)]),
            thumbs=rng.integers(0, 256, (n, 10, 10, 3), dtype=np.uint8),
            height=np.full(n, 20),
            width=np.full(n, 20),
            hashes=np.full((n, 4), ""),
            error_keys=np.zeros(0, np.int64),
            error_messages=np.zeros(0, str),
            started=0.0,
            finished=0.0,
        ),
        tmp_path / "0.npz",
    )
    monkeypatch.setattr(report, "MAX_IMAGES_PER_PAGE", 4)
    out = tmp_path / "report"
    (tmp_path / "index").mkdir()
    np.save(tmp_path / "index" / "order.npy", np.arange(n))
    assert report.write_report(tmp_path / "fastdiff.sqlite", tmp_path / "index", [str(tmp_path / "0.npz")], out) == 3
    figures = [_parse(out / report.page_name(i)).groups[1] for i in (1, 2, 3)]
    assert [[key for key, *_ in f] for f in figures] == [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7]]
    assert 'kept because: <span class="reason">more pixels</span>' in (out / report.page_name(1)).read_text()
    assert "copies 4–6 of 7" in (out / report.page_name(2)).read_text(encoding="utf-8").replace("&ndash;", "–")
    assert all(role == "kept" for f in figures for key, role, _ in f if key == 0)


def test_empty_result_gives_an_index_without_pages(tmp_path):
    con = database.create(tmp_path / "fastdiff.sqlite")
    database.finish(con, {"threshold": 0.0}, [])
    con.close()
    (tmp_path / "index").mkdir()
    np.save(tmp_path / "index" / "order.npy", np.zeros(0, np.int64))
    assert report.write_report(tmp_path / "fastdiff.sqlite", tmp_path / "index", [], tmp_path / "report") == 0
    assert [p.name for p in (tmp_path / "report").iterdir()] == ["index.html"]
    assert "No duplicate groups were found." in (tmp_path / "report" / "index.html").read_text()
