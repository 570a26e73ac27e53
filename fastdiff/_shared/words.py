"""Words for people: counts with the right plural."""

from __future__ import annotations


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 file', '2 files', '1,000 files' (or the plural given, e.g. 'copies')."""
    return f"{n:,} {one}" if n == 1 else f"{n:,} {many or one + 's'}"
