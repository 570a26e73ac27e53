"""The result database `OUT/fastdiff.sqlite`: its schema (`schema`), how the merge writes it (`writer`, `build`),
and how people read it (`reader`; `from fastdiff.db import ResultDB`)."""

from .reader import ResultDB

__all__ = ["ResultDB"]
