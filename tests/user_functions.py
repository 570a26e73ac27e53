"""Example user functions for the tests (importable as `user_functions` from tests/)."""

import hashlib

import numpy as np


def mean_abs_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Per pair: mean absolute difference."""
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def mean_abs_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectorised: mean absolute difference of every pair of two blocks."""
    fa = a.reshape(len(a), -1).astype(np.int32)
    fb = b.reshape(len(b), -1).astype(np.int32)
    return np.abs(fa[:, None, :] - fb[None, :, :]).mean(axis=2)


def md5_hex(thumb: np.ndarray) -> str:
    return hashlib.md5(thumb.tobytes()).hexdigest()


def negative(a: np.ndarray, b: np.ndarray) -> float:
    return -1.0


def one_argument(a: np.ndarray) -> float:
    return 0.0


def counted_mean_abs_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean_abs_block that appends one line per call to the file named by $FASTDIFF_TEST_CALLS, with the thumbnail
    side it saw: the validation's probe uses 8 x 8 samples, the compare jobs the real thumbnails."""
    import os

    with open(os.environ["FASTDIFF_TEST_CALLS"], "a") as fh:
        fh.write(f"{a.shape[1]}\n")
    return mean_abs_block(a, b)


def raising_hash(thumb: np.ndarray) -> str:
    """A hash that fails on every thumbnail: its check must stop the run with a one-line config error."""
    raise ZeroDivisionError("no hash today")


def raising_diff(a: np.ndarray, b: np.ndarray) -> float:
    """A difference that fails on every pair."""
    raise KeyError("channel")


def slow_sha256(thumb: np.ndarray) -> str:
    """sha-256 that takes 10 ms a call (4 calls a file): a run slow enough to watch its bar and to interrupt."""
    import time

    time.sleep(0.01)
    return hashlib.sha256(thumb.tobytes()).hexdigest()
