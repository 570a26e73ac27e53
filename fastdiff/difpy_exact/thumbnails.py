"""difPy-exact thumbnail stage: difPy 4.2.1's tensors (dif.py L229-248), Pillow BICUBIC."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fastdiff._shared.special_files import NotRegularFile, open_regular
from fastdiff.core.options import ThumbnailOptions
from fastdiff.core.records import IndexedFile
from fastdiff.thumbnails import build
from fastdiff.thumbnails.batch import Batch

UNIDENTIFIED = "UnidentifiedImageError: file could not be identified as image."
NOT_REGULAR = "OSError: file is not a regular file ({kind})."  # difPy would block on it; worded like UNIDENTIFIED


@contextlib.contextmanager
def difpy_warnings() -> Iterator[None]:
    """Pillow warnings as errors (L233-234), process-wide for the duration (the filters are global in Python 3.11-3.13,
    so the decoding threads started inside see them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


@dataclass(frozen=True)
class Thumbnails:
    """`thumbnail` of a file record, with the stage's settings: a value (equal settings are equal), so the thumbnail
    jobs of one run decode on the same processes (`fastdiff.thumbnails.build.decoding_processes_kept`)."""

    px_size: int
    base_dir: str | None

    def __call__(self, f: IndexedFile) -> tuple[np.ndarray, int, int] | str:
        return thumbnail(f.path, self.px_size, self.base_dir)


def thumbnail(path: str, px_size: int, base_dir: str | None) -> tuple[np.ndarray, int, int] | str:
    """difPy's tensor of a file (dif.py L236-241), or difPy's error message.

    Parameters
    ----------
    path : str
        As difPy lists it (relative to base_dir).
    px_size : int
        Side of the square tensor in pixels.
    base_dir : str or None
        Where difPy ran.

    Returns
    -------
    (ndarray, int, int) or str
        uint8 (px_size, px_size, 3) RGB made as difPy makes it (Pillow, convert to RGB, BICUBIC resize), with the
        full-resolution height and width; or the message difPy logs for the file (any Pillow warning is an error
        under difpy_warnings; a FIFO, socket or device is refused by NOT_REGULAR instead of blocking).
    """
    full = os.path.join(base_dir or "", path)
    try:
        with open_regular(full) as fh, Image.open(fh) as img:
            rgb = img if img.getbands() == ("R", "G", "B") else img.convert("RGB")
            rgb.load()
            return np.asarray(rgb.resize((px_size, px_size), resample=Image.BICUBIC)), rgb.height, rgb.width
    except NotRegularFile as err:
        return NOT_REGULAR.format(kind=err.kind)
    except Exception as err:
        if type(err).__name__ == "UnidentifiedImageError":
            return UNIDENTIFIED
        if isinstance(err, OSError) and err.filename == full:  # report the path as difPy lists it
            err = type(err)(err.errno, err.strerror, path)
        return str(err)


def build_batch(
    files: list[IndexedFile],
    options: ThumbnailOptions,
    threads: int,
    hash_fn: Callable[[np.ndarray], str],
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """The thumbnail batch of a shard as difPy builds its tensors (paths relative to options.base_dir), with
    Pillow's warnings as errors for the duration (difpy_warnings); progress as
    `fastdiff.thumbnails.build.build_batch`."""
    with difpy_warnings():
        return build.build_batch(
            files,
            options,
            threads,
            hash_fn,
            progress,
            thumbnail=Thumbnails(options.px_size, options.base_dir),
        )
