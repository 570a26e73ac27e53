"""The visual report: the best-copy groups as HTML pages, thumbnails side by side with MSE, file size and resolution.

OUT/report/index.html sums up the run and links the pages page-0001.html, page-0002.html, ... of at most
`groups_per_page` groups each (and at most MAX_IMAGES_PER_PAGE images: a larger group continues on the next page).
Every page is self-contained: the thumbnails are embedded as small PNGs taken from the thumbnail batches.
"""

from __future__ import annotations

import html
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np

from fastdiff._shared.words import plural
from fastdiff.core.config import NAMED_THRESHOLDS
from fastdiff.index.scan import read_order
from fastdiff.merge.db.reader import Cluster, ResultDB
from fastdiff.merge.figures import CSS, figure
from fastdiff.merge.thumbnail_pngs import thumbnail_pngs

log = logging.getLogger(__name__)

MAX_IMAGES_PER_PAGE = 500


def _store_thumbnails(db: ResultDB, batch_paths: list[str], order: np.ndarray, store: sqlite3.Connection) -> None:
    """PNGs of the thumbnails of every grouped image into store.thumb (keyed as in the database: `order` maps the
    batches' keys to them); one batch in memory at a time."""
    grouped = {i.key for g in db.clusters("best_copy") for i in (g.best_copy, *(c.image for c in g.copies))}
    store.execute("CREATE TABLE thumb (key INTEGER PRIMARY KEY, png BLOB NOT NULL)")
    store.executemany("INSERT INTO thumb VALUES (?, ?)", thumbnail_pngs(batch_paths, order, grouped))
    store.commit()


def _group(number: int, group: Cluster, start: int, stop: int, store: sqlite3.Connection) -> str:
    """One best-copy group's section: the best copy and copies[start:stop] (a large group is split over pages)."""

    def png(key: int) -> bytes | None:
        row = store.execute("SELECT png FROM thumb WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    figures = [figure(group.best_copy, png(group.best_copy.key), None)]
    figures += [figure(c.image, png(c.image.key), c.mse) for c in group.copies[start:stop]]
    split = len(group.copies) > stop - start
    continued = f", copies {start + 1}&ndash;{stop} of {len(group.copies)}" if split else ""
    return (
        f'<section class="group" id="group-{number}" data-group="{number}" data-size="{group.size}">'
        f"<h2>Group {number} <span>{plural(group.size, 'image')}{continued} &middot; kept because: "
        f'<span class="reason">{html.escape(group.kept_because)}</span></span></h2>'
        f'<div class="images">{"".join(figures)}</div></section>'
    )


def _page(title: str, nav: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head>\n<body><header><h1>{title}</h1><nav>{nav}</nav></header>\n<main>{body}</main>"
        f"\n<footer><nav>{nav}</nav></footer></body></html>\n"
    )


def page_name(n: int) -> str:
    """The file name of the n-th group page (1-based): page-0001.html, ..."""
    return f"page-{n:04d}.html"


def _pages(db: ResultDB, store: sqlite3.Connection, groups_per_page: int) -> Iterator[tuple[int, int, list[str]]]:
    """(first group, last group, sections) of each page, in order."""
    sections: list[str] = []
    first = last = images = 0
    for number, group in enumerate(db.clusters("best_copy"), 1):
        for start in range(0, len(group.copies), MAX_IMAGES_PER_PAGE - 1):
            stop = min(start + MAX_IMAGES_PER_PAGE - 1, len(group.copies))
            if sections and (len(sections) == groups_per_page or images + 1 + stop - start > MAX_IMAGES_PER_PAGE):
                yield first, last, sections
                sections, images = [], 0
            if not sections:
                first = number
            sections.append(_group(number, group, start, stop, store))
            images += 1 + stop - start
            last = number
    if sections:
        yield first, last, sections


def write_report(
    db_path: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    batch_paths: list[str],
    out_dir: str | os.PathLike[str],
    groups_per_page: int = 50,
) -> int:
    """Write out_dir/index.html and the pages of the best-copy groups.

    Parameters
    ----------
    db_path : str or os.PathLike
        The run's database (or OUT), read through `ResultDB`.
    index_dir : str or os.PathLike
        The index folder: its order.npy maps the batches' layout keys to the database's index keys.
    batch_paths : list of str
        The thumbnail batches; the thumbnails of grouped images are embedded as PNG (RGB, px x px).
    out_dir : str or os.PathLike
        Created if missing.
    groups_per_page : int
        At most this many groups per page (and at most MAX_IMAGES_PER_PAGE images).

    Returns
    -------
    int
        The number of group pages (0 when there are no groups).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ResultDB(db_path) as db, closing(sqlite3.connect("")) as store:  # "": a temporary on-disk database
        _store_thumbnails(db, batch_paths, read_order(index_dir), store)
        ranges: list[tuple[int, int]] = []
        pages = _pages(db, store, groups_per_page)
        page = next(pages, None)
        while page is not None:
            following = next(pages, None)  # one page ahead: is there a next page to link?
            n = len(ranges) + 1
            links = ['<a href="index.html">index</a>']
            links += [f'<a href="{page_name(n - 1)}" rel="prev">previous</a>'] if n > 1 else []
            links += [f'<a href="{page_name(n + 1)}" rel="next">next</a>'] if following else []
            first, last, sections = page
            (out_dir / page_name(n)).write_text(
                _page(f"fastdiff report: groups {first}&ndash;{last}", " ".join(links), "\n".join(sections)),
                encoding="utf-8",
            )
            ranges.append((first, last))
            page = following
        summary = db.summary()
        config = db.config()
    threshold = config.get("threshold")
    threshold = f"{NAMED_THRESHOLDS[threshold]} ({threshold})" if threshold in NAMED_THRESHOLDS else threshold
    matching = f"MSE &lt;= {threshold}" if config.get("do_compare", True) else "equal thumbnail hashes"
    rows = [
        ("images compared", summary["compared"]),
        ("groups", summary["best_copy_groups"]),
        ("lower-quality copies", summary["lower_quality"]),
        ("matching pairs", summary["pairs"]),
        ("pairs match by", matching),
        ("files not compared", summary["errors"] + summary["disallowed"]),
    ]
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    links = "".join(
        f'<li><a href="{page_name(n)}">page {n}</a>: ' + (f"group {a}" if a == b else f"groups {a}&ndash;{b}") + "</li>"
        for n, (a, b) in enumerate(ranges, 1)
    )
    body = f'<table class="summary">{table}</table>' + (
        f'<h2>{plural(len(ranges), "page")}</h2><ol class="pages">{links}</ol>'
        if ranges
        else "<p>No duplicate groups were found.</p>"
    )
    (out_dir / "index.html").write_text(_page("fastdiff report", "", body), encoding="utf-8")
    log.info("report: %d groups on %d pages in %s", summary["best_copy_groups"], len(ranges), out_dir)
    return len(ranges)
