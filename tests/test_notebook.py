"""The notebook view of a run's database: groups and pairs as HTML galleries (`_repr_html_`), thumbnails inline,
paginated, paths escaped; checked on the HTML itself, without Jupyter."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_fastdiff

from fastdiff.merge.db import ResultDB, gallery
from fastdiff.merge.db.gallery import scoped_css
from fastdiff.thumbnails.build import make_thumbnail
from fastdiff.thumbnails.decode import decode_image

ODD = "a <b> & \"q'.png"  # a name that must be escaped in HTML text and attributes


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), (48, 40), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run over 5 groups: g0..g4.png each with a copy in copies/ (g0's copy under ODD), plus a near copy of g1
    (MSE > 0) and an image without copies."""
    root = tmp_path_factory.mktemp("nb")
    photos = root / "photos"
    (photos / "copies").mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(photos / f"g{i}.png"), _image(i))
        cv2.imwrite(str(photos / "copies" / (ODD if i == 0 else f"g{i}_copy.png")), _image(i))
    near = _image(1).astype(np.int16)
    near[0, 0] += 9
    cv2.imwrite(str(photos / "copies" / "g1_near.png"), np.clip(near, 0, 255).astype(np.uint8))
    cv2.imwrite(str(photos / "alone.png"), _image(99))
    run_fastdiff([photos], root / "out", "--similarity", "similar", snakemake=False)
    return root / "out"


class _Tags(HTMLParser):
    """Counts of opened and closed tags, the img sources and the text."""

    VOID = frozenset({"img", "br", "meta"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.srcs: list[str] = []
        self.alts: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])
            self.alts.append(dict(attrs)["alt"])
        elif tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    tags.close()
    assert tags.open == []  # every element closed, in order
    return tags


def _png(src: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(src[len(prefix) :]), np.uint8), 1), 4)


def test_database_shows_summary_and_first_groups(out: Path) -> None:
    with ResultDB(out) as db:
        page = db._repr_html_()
        groups = list(db.clusters("best_copy"))
    tags = _parse(page)
    text = "".join(tags.text)
    assert "best copy groups" in text and "lower quality" in text
    assert len(groups) == 5 and text.count("Group ") == 5
    shown = sum(g.size for g in groups)
    assert len(tags.srcs) == shown == 11  # every grouped image has its thumbnail inline
    assert "alone.png" not in page


def test_thumbnails_are_the_compared_pixels(out: Path) -> None:
    """Each inline PNG is the thumbnail fastdiff compared (px_size 50): decode and thumbnail of the file."""
    with ResultDB(out) as db:
        view = db.groups(page_size=5)
        tags = _parse(view._repr_html_())
        images = [i for g in view for i in (g.best_copy, *(c.image for c in g.copies))]
    assert len(images) == len(tags.srcs)
    for image, src in zip(images, tags.srcs):
        assert np.array_equal(_png(src), make_thumbnail(decode_image(image.path).rgb, 50)), image.path


def test_names_are_escaped(out: Path) -> None:
    with ResultDB(out) as db:
        page = db.groups(page_size=5)._repr_html_()
    assert ODD not in page and "<b> &" not in page
    assert "a &lt;b&gt; &amp; &quot;q&#x27;.png" in page
    tags = _parse(page)
    assert ODD in tags.alts and any(ODD in t for t in tags.text)  # what the browser shows is the real name


def test_pagination(out: Path) -> None:
    with ResultDB(out) as db:
        pages = [db.groups(page=p, page_size=2) for p in (1, 2, 3, 4)]
        everything = list(db.clusters("best_copy"))
        with pytest.raises(ValueError, match="page and page_size must be >= 1"):
            db.groups(page=0)
        with pytest.raises(ValueError, match="page and page_size must be >= 1"):
            db.pairs_page(page_size=0)
        html = [p._repr_html_() for p in pages]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [g for p in pages for g in p] == everything  # the pages split the groups in order
    assert all(p.pages == 3 and p.total == 5 for p in pages)
    assert "groups 3&ndash;4 of 5" in html[1] and "page 2 of 3" in html[1]
    assert "db.groups(page=1, page_size=2)" in html[1] and "db.groups(page=3, page_size=2)" in html[1]
    assert "previous" not in html[0] and "next" not in html[2]
    assert "Group 5 " in html[2] and "Group 1 " not in html[2]
    assert "no groups on this page (5 in all)" in html[3] and "data:image" not in html[3]


def test_pairs_page(out: Path) -> None:
    with ResultDB(out) as db:
        view = db.pairs_page(page_size=3)
        near = db.pairs_page(max_mse=0.0, page_size=100)
        pairs = list(db.pairs())
        page = view._repr_html_()
    assert view.total == len(pairs) == 7 and list(view) == pairs[:3] and view.pages == 3  # g1, copy, near: 3 pairs
    tags = _parse(page)
    assert len(tags.srcs) == 6 and page.count("Pair ") == 3
    assert "db.pairs_page(page=2, page_size=3)" in page
    assert near.total == 5 and all(p.mse == 0 for p in near)


def test_components_view(out: Path) -> None:
    """Connected components at max_mse 0; the link to the next page is the call a user types, quotes unescaped."""
    with ResultDB(out) as db:
        view = db.groups(kind="components", max_mse=0.0, page_size=2)
        page = view._repr_html_()
    assert view.total == 5 and len(view) == 2 and view.kind == "components"
    assert "db.groups(page=2, page_size=2, kind='components', max_mse=0.0)" in page


def test_large_group_shows_its_first_copies(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most MAX_COPIES_SHOWN copies of a group are drawn; the rest are named by the call that lists them."""
    monkeypatch.setattr(gallery, "MAX_COPIES_SHOWN", 1)
    with ResultDB(out) as db:
        view = db.groups(page_size=5)
        tags = _parse(view._repr_html_())
        number = next(i for i, g in enumerate(view) if len(g.copies) == 2)
        assert db.cluster(number, kind="best_copy") == view[number]
    assert len(tags.srcs) == 5 + 5  # each best copy and one copy
    assert f"and 1 more copy, not shown: db.cluster({number}, kind='best_copy').copies" in "".join(tags.text)


def test_without_intermediates_no_thumbnail(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("work"))
    with ResultDB(copy) as db:
        page = db.groups()._repr_html_()
    assert "data:image" not in page and page.count("no thumbnail") == 11


def test_css_is_scoped() -> None:
    css = scoped_css("body { margin: 0; }\nfigure, .thumb img { width: 1px; }")
    assert css == ".fastdiff-gallery figure, .fastdiff-gallery .thumb img { width: 1px; }"
    assert re.search(r"(^|\n)body", css) is None
