"""One image as HTML: its thumbnail, name, size and MSE, as the report's pages and the notebook gallery show it."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from fastdiff._shared.paths import display
from fastdiff._shared.words import size_text

if TYPE_CHECKING:
    from fastdiff.merge.db.reader import Image

BOX = 160  # CSS pixels of the longer side of a shown thumbnail

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
nav a { margin-right: 1em; }
table.summary td { padding: 0.1em 1em 0.1em 0; }
.group { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 1em 0; padding: 0.5em 1em; }
.group h2 { font-size: 1.1em; margin: 0.3em 0; }
.group h2 span { font-weight: normal; color: #666; }
.images { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 200px; padding: 6px; border: 2px solid #ddd; border-radius: 4px; }
figure.kept { border-color: #2a8a2a; background: #f0faf0; }
.thumb { height: 165px; display: flex; align-items: center; justify-content: center; }
.thumb img { image-rendering: pixelated; }
figcaption { font-size: 0.8em; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 0.4em; border-radius: 3px; color: #fff; background: #999; }
.kept .badge { background: #2a8a2a; }
.path { color: #555; }
"""


def _file_url(path: str) -> str:
    """A file:// link to the original file, percent-encoded (spaces, #, ?, non-ASCII) and escaped for HTML."""
    return html.escape(Path(os.path.abspath(path)).as_uri(), quote=True)


def _text(text: str) -> str:
    """A path as HTML text: undecodable bytes shown as escapes (`fastdiff._shared.paths.display`), newlines as \\n."""
    return html.escape(display(text).replace("\n", "\\n"))


def figure(image: Image, png: bytes | None, mse: float | None, badge: str | None = None) -> str:
    """One image's figure (HTML): its thumbnail (a PNG, or None: "no thumbnail"), name, size and MSE to the best
    copy (None: it is the best copy, unless a badge is given: then the two did not match directly), under a badge:
    by default "kept" for the best copy and "copy" for the others."""
    kept = mse is None and badge is None
    w, h = image.width, image.height
    scale = BOX / max(w, h, 1)
    dw, dh = (max(1, round(w * scale)), max(1, round(h * scale))) if w > 0 and h > 0 else (BOX, BOX)
    img = (
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" width="{dw}" height="{dh}" '
        f'alt="{_text(os.path.basename(image.path))}">'
        if png
        else "no thumbnail"
    )
    badge = badge or ("kept" if kept else "copy")
    shown = "best copy" if kept else "no direct match" if mse is None else f"MSE {mse:.6g}"
    return (
        f'<figure class="image {badge}" data-key="{image.key}"><div class="thumb">{img}</div>'
        f'<figcaption><span class="badge">{badge}</span> <a href="{_file_url(image.path)}"><b>'
        f"{_text(os.path.basename(image.path))}</b></a><br>"
        f'{w}&times;{h} px &middot; <span title="{image.file_size} bytes">{size_text(image.file_size)}</span>'
        f' &middot; <span class="mse">{shown}</span><br><span class="path">{_text(image.path)}</span>'
        f"</figcaption></figure>"
    )
