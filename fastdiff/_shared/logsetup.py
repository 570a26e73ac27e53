"""Logging for stage jobs: to the rule's log file and to stderr, with the traceback of any failure."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def logging_to(path: str | os.PathLike[str], echo: bool = True) -> Iterator[logging.Logger]:
    """Send fastdiff's log records to `path` (and stderr, with echo) for the duration of a job; log any exception."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    logger = logging.getLogger("fastdiff")
    logger.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8", errors="backslashreplace")]
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    try:
        yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
