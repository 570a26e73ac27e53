"""The result database `OUT/fastdiff.sqlite`: its schema (`schema`), how the merge writes it (`writer`, `build`),
and how people read it (`reader`; `from fastdiff.merge.db import ResultDB`)."""

from fastdiff.merge.db.reader import ResultDB

__all__ = ["ResultDB"]
