"""Notebook views of a run's database: its groups and pairs as an HTML gallery that Jupyter renders (`_repr_html_`),
one page at a time, the thumbnails inline.

    db = ResultDB("results")
    db                                    # the summary and the first page of best-copy groups
    db.groups(page=2, page_size=20)       # a page of groups; kind="components" (with max_mse) as ResultDB.clusters
    db.pairs_page(page=1, max_mse=2.0)    # a page of matching pairs, closest first in index order

The thumbnails are the very pixels compared, read from the run's thumbnail batches in OUT/work
(`fastdiff.merge.thumbnail_pngs`, as the HTML report); where OUT/work was removed, the figures say "no thumbnail".
Each view is also a sequence of what it shows (`Cluster`s or `Pair`s).
"""

from __future__ import annotations

import html
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from fastdiff._shared.words import plural
from fastdiff.merge.figures import CSS, figure
from fastdiff.merge.thumbnail_pngs import run_batches, thumbnail_pngs

if TYPE_CHECKING:  # the reader imports this module for its notebook views
    from fastdiff.merge.db.reader import Cluster, ClusterKind, Pair, ResultDB

SCOPE = "fastdiff-gallery"
MAX_COPIES_SHOWN = 100  # copies shown of one group: a group of thousands would stall the notebook


def scoped_css(css: str, scope: str = SCOPE) -> str:
    """The report's style sheet with every rule limited to elements inside class `scope` (a notebook page holds other
    output); rules for the page itself (body) are left out."""
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        names = [s.strip() for s in selectors.split(",") if s.strip() != "body"]
        if names:
            rules.append(", ".join(f".{scope} {s}" for s in names) + " {" + body + "}")
    return "\n".join(rules)


def _pngs(db: ResultDB, keys: set[int]) -> dict[int, bytes]:
    """The thumbnails of keys as PNGs, from the run's batches; {} where they are gone."""
    found = run_batches(db.path.parent)
    return dict(thumbnail_pngs(*found, keys)) if found is not None and keys else {}


def _check_page(page: int, page_size: int) -> None:
    if page < 1 or page_size < 1:
        raise ValueError(f"page and page_size must be >= 1, got page={page}, page_size={page_size}")


class _View(ABC):
    """A page of items of a database: the page number, its size, the total and the HTML around the items."""

    noun = "item"
    method = ""

    def __init__(self, db: ResultDB, items: list, page: int, page_size: int, total: int, call: str) -> None:
        self._db = db
        self.items, self.page, self.page_size, self.total = items, page, page_size, total
        self._call = call  # the arguments besides page, as the user would write them

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, math.ceil(self.total / self.page_size))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __getitem__(self, i: int) -> object:
        return self.items[i]

    def _link(self, page: int) -> str:
        return f"<code>db.{self.method}(page={page}{html.escape(self._call, quote=False)})</code>"

    def _nav(self) -> str:
        first = (self.page - 1) * self.page_size + 1
        shown = (
            f"{self.noun}s {first}&ndash;{first + len(self.items) - 1} of {self.total}"
            if self.items
            else f"no {self.noun}s on this page ({self.total} in all)"
        )
        parts = [shown, f"page {self.page} of {self.pages}"]
        parts += [f"previous: {self._link(self.page - 1)}"] if self.page > 1 else []
        parts += [f"next: {self._link(self.page + 1)}"] if self.page < self.pages else []
        return f'<p class="nav">{" &middot; ".join(parts)}</p>'

    @abstractmethod
    def _sections(self, pngs: dict[int, bytes]) -> list[str]:
        """The HTML section of each item, with the thumbnails in pngs (index key -> PNG)."""

    @abstractmethod
    def _keys(self) -> set[int]:
        """The index keys of the images shown."""

    def _repr_html_(self) -> str:
        """The page as HTML: navigation, then a section per item with the thumbnails inline (data: URIs)."""
        sections = self._sections(_pngs(self._db, self._keys()))
        return (
            f'<div class="{SCOPE}"><style>{scoped_css(CSS)}</style>{self._nav()}'
            f"{''.join(sections)}{self._nav() if len(self.items) > 3 else ''}</div>"
        )


class GroupsView(_View):
    """A page of the groups of `ResultDB.clusters` (best-copy groups by default), shown as a gallery in Jupyter.

    Attributes
    ----------
    items : list of Cluster
        The groups of this page.
    page, page_size, total : int
        The page number (from 1), groups per page, and groups in all.
    kind : {"best_copy", "components"}
    """

    noun = "group"
    method = "groups"

    def __init__(
        self, db: ResultDB, page: int, page_size: int, kind: ClusterKind, max_mse: float | None = None
    ) -> None:
        _check_page(page, page_size)
        self.kind = kind
        self._max_mse = f", max_mse={max_mse!r}" if max_mse is not None else ""
        start = (page - 1) * page_size
        clusters: list[Cluster] = list(islice(db.clusters(kind, max_mse), start, start + page_size))
        call = f", page_size={page_size}" + (f", kind={kind!r}" if kind != "best_copy" else "") + self._max_mse
        super().__init__(db, clusters, page, page_size, db.cluster_count(kind, max_mse), call)

    def _keys(self) -> set[int]:
        return {i.key for g in self.items for i in (g.best_copy, *(c.image for c in g.copies[:MAX_COPIES_SHOWN]))}

    def _sections(self, pngs: dict[int, bytes]) -> list[str]:
        first = (self.page - 1) * self.page_size + 1
        sections = []
        for i, group in enumerate(self.items):
            shown = group.copies[:MAX_COPIES_SHOWN]
            figures = [figure(group.best_copy, pngs.get(group.best_copy.key), None)]
            figures += [figure(c.image, pngs.get(c.image.key), c.mse, "copy") for c in shown]
            more = len(group.copies) - len(shown)
            where = f"db.cluster({first + i - 1}, kind={self.kind!r}{self._max_mse}).copies"
            rest = f'<p class="nav">and {plural(more, "more copy", "more copies")}, not shown: <code>{where}</code></p>'
            rest = rest if more else ""
            sections.append(
                f'<section class="group" data-group="{first + i}"><h2>Group {first + i} '
                f'<span>{plural(group.size, "image")}</span></h2><div class="images">{"".join(figures)}</div>'
                f"{rest}</section>"
            )
        return sections


class PairsView(_View):
    """A page of the matching pairs of `ResultDB.pairs`, shown side by side in Jupyter.

    Attributes
    ----------
    items : list of Pair
        The pairs of this page, in index key order.
    page, page_size, total : int
        The page number (from 1), pairs per page, and pairs in all.
    """

    noun = "pair"
    method = "pairs_page"

    def __init__(self, db: ResultDB, page: int, page_size: int, max_mse: float | None = None) -> None:
        _check_page(page, page_size)
        start = (page - 1) * page_size
        pairs: list[Pair] = list(islice(db.pairs(max_mse), start, start + page_size))
        call = f", page_size={page_size}" + (f", max_mse={max_mse!r}" if max_mse is not None else "")
        super().__init__(db, pairs, page, page_size, db.pair_count(max_mse), call)

    def _keys(self) -> set[int]:
        return {k for p in self.items for k in (p.key_a, p.key_b)}

    def _sections(self, pngs: dict[int, bytes]) -> list[str]:
        first = (self.page - 1) * self.page_size + 1
        sections = []
        for number, pair in enumerate(self.items, first):
            how = " (equal hashes)" if pair.hash_match else ""
            figures = [
                figure(self._db.image(key), pngs.get(key), pair.mse, badge)
                for key, badge in ((pair.key_a, "A"), (pair.key_b, "B"))
            ]
            sections.append(
                f'<section class="group" data-pair="{number}"><h2>Pair {number} '
                f"<span>MSE {pair.mse:.6g}{how}</span></h2>"
                f'<div class="images">{"".join(figures)}</div></section>'
            )
        return sections


def summary_html(db: ResultDB) -> str:
    """The counts of `ResultDB.summary` as an HTML table, with the database's path."""
    rows = "".join(f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v}</td></tr>" for k, v in db.summary().items())
    return f'<p>fastdiff results: <code>{html.escape(str(db.path))}</code></p><table class="summary">{rows}</table>'
