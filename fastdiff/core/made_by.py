"""What made an output: a digest of the options and inputs of the job that wrote it (`fastdiff.run.plan`).

Thumbnail batches and compare outputs carry it inside (an array `made_by` of their .npz); the merge and the report,
whose outputs are several files or a folder, in a record beside them (`fastdiff.run.plan`). A reader that expects
another digest removes the file, so that it is made again, whoever wrote it and whichever executor runs next.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

FIELD = "made_by"
STALE = "stale output"  # in the one log line of a removed output (the runner looks for it, `fastdiff.run.runner`)


class StaleOutputError(RuntimeError):
    """An input was made with other options or from other inputs than the job expects; it has been removed."""


def digest(*parts: object) -> str:
    """The sha-256 (hex) of JSON-able parts: the same parts give the same digest in every process."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def read(path: str | os.PathLike[str]) -> str | None:
    """The digest stored in an .npz output, or None when it has none or cannot be read (only that array is read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return str(z[FIELD]) if FIELD in z.files else None
    except Exception:  # missing, truncated, not an npz: as stale as one without a digest
        return None


def require(paths: list[str], expected: list[str]) -> None:
    """Check that each .npz in paths was made by the job of the expected digest.

    Raises
    ------
    StaleOutputError
        For the first that was not (or cannot be read); it has been removed, and the error logged in one line.
    """
    for path, want in zip(paths, expected, strict=True):
        if read(path) != want:
            raise stale(path, "it was made with other options or from other files")


def stale(path: str | os.PathLike[str], reason: str) -> StaleOutputError:
    """Remove a stale output (so that it is made again) and return the error to raise."""
    return StaleOutputError(remove_to_remake(path, STALE, reason))


def remove_to_remake(path: str | os.PathLike[str], what: str, reason: str) -> str:
    """Remove an input that cannot be used (stale, corrupt) so that the next run makes it again; log and return the
    one line that says so: `{what} {path}: {reason}; {what was done}`."""
    try:
        os.unlink(path)
        action = "it was removed; run the same command again to make it again"
    except FileNotFoundError:
        action = "it is missing; run the same command again to make it"
    except OSError as err:
        action = f"it could not be removed ({err.strerror}); delete it and run again"
    message = f"{what} {os.fspath(path)}: {reason}; {action}"
    log.error("%s", message)
    return message
