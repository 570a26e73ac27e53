"""Words for people: counts with the right plural, file sizes."""

from __future__ import annotations


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 file', '2 files', '1,000 files' (or the plural given, e.g. 'copies')."""
    return f"{n:,} {one}" if n == 1 else f"{n:,} {many or one + 's'}"


def size_text(n: int) -> str:
    """A file size in bytes as people read it: '812 B', '3.4 KB', '12.0 MB' (1 KB = 1024 bytes)."""
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"
