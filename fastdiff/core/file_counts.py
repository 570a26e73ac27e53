"""What became of every entry a run found, counted one way for the screen, stats.json and `fastdiff query summary`.

Each row of the database's directory table falls in exactly one class, so the counts add up to the rows:

- compared: decoded and compared;
- not an image: a file type outside the extension list, or a file whose content is no image format, by kind
  (its extension);
- unreadable image: an image file that could not be read (truncated, corrupt, empty, permission, ...), by reason;
- skipped: hidden, an ignored name or path, a second path of a file already counted (a link, a bind mount), or too
  large (max_pixels), by reason.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from fastdiff._shared.paths import from_bytes
from fastdiff._shared.words import plural

UNSUPPORTED = "Unsupported file type"  # difPy's invalid_files text for a file outside the extension list
NOT_AN_IMAGE = "not a recognised image format"  # `fastdiff.thumbnails.decode`: content of no image format
SKIPPED_PREFIX = "skipped: "  # the directory.error of an entry the scan skipped (fastdiff.index)
HIDDEN = SKIPPED_PREFIX + "hidden (include_hidden: true searches it)"
IGNORED_NAME = SKIPPED_PREFIX + "ignored name (ignore_names)"
IGNORED_PATH = SKIPPED_PREFIX + "ignored path (ignore_paths, or the output folder)"
SAME_FILE_PREFIX = "same file as "  # a second path of a file already indexed (fastdiff.index)
TOO_LARGE_PREFIX = "image too large"  # fastdiff.thumbnails.decode's message for an image over max_pixels


@dataclass
class FileCounts:
    """The entries of a run, by what became of them.

    Attributes
    ----------
    compared : int
        Images decoded and compared.
    not_images : Counter
        Kind (extension, e.g. '.txt') -> files that are not images.
    unreadable : Counter
        Reason -> image files that could not be read.
    skipped : Counter
        Reason ('hidden', 'ignored name', 'ignored path', 'link to a file already counted', 'too large') -> entries
        not searched.
    """

    compared: int = 0
    not_images: Counter[str] = field(default_factory=Counter)
    unreadable: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def found(self) -> int:
        """Every entry found: the sum of the four classes."""
        return self.compared + sum(self.not_images.values()) + sum(self.unreadable.values()) + self.n_skipped

    @property
    def n_skipped(self) -> int:
        """Entries skipped, of every reason."""
        return sum(self.skipped.values())

    def add(self, path: str, error: str | None, success: int) -> None:
        """Count one directory row (its path, error text and success code)."""
        if success == 1:
            self.compared += 1
        elif error is None:  # not attempted, no reason: cannot happen after a merge; counted, never lost
            self.unreadable["not read"] += 1
        elif error in (UNSUPPORTED, NOT_AN_IMAGE):
            ext = os.path.splitext(os.path.basename(path))[1].lower() or "no extension"
            self.not_images[ext if error == UNSUPPORTED else f"{ext} without image content"] += 1
        elif error.startswith(SKIPPED_PREFIX):
            self.skipped[error.removeprefix(SKIPPED_PREFIX).split(" (")[0]] += 1
        elif error.startswith(SAME_FILE_PREFIX):
            self.skipped["link to a file already counted"] += 1
        elif error.startswith(TOO_LARGE_PREFIX):
            self.skipped["too large"] += 1
        else:
            self.unreadable[error.split(": ")[0]] += 1

    def to_json(self) -> dict[str, object]:
        """The counts as stats.json's "files" record (each class's count and its breakdown, most frequent first)."""

        def part(counter: Counter[str], by: str) -> dict[str, object]:
            return {"count": sum(counter.values()), by: dict(_ordered(counter))}

        return {
            "found": self.found,
            "images_compared": self.compared,
            "not_images": part(self.not_images, "by_kind"),
            "unreadable_images": part(self.unreadable, "by_reason"),
            "skipped": part(self.skipped, "by_reason"),
        }

    def line(self) -> str:
        """One line for the screen: found = compared + not images + unreadable + skipped, with the breakdowns."""
        parts = [plural(self.compared, "image") + " compared"]
        for counter, one, many in (
            (self.not_images, "file that is not an image", "files that are not images"),
            (self.unreadable, "unreadable image", "unreadable images"),
            (self.skipped, "skipped", "skipped"),
        ):
            n = sum(counter.values())
            if n:
                detail = ", ".join(f"{count:,} {what}" for what, count in _ordered(counter))
                parts.append(f"{plural(n, one, many)} ({detail})")
        return f"{plural(self.found, 'file')} found: " + ", ".join(parts)


def _ordered(counter: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first, then by name."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def count_files(con: sqlite3.Connection) -> FileCounts:
    """The FileCounts of a result database's directory table (deleted rows included: they were found)."""
    counts = FileCounts()
    for raw, error, success in con.execute("SELECT path_bytes, error, success FROM directory"):
        counts.add(from_bytes(raw), error, success)
    return counts
