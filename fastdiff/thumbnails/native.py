"""The C kernels compiled with the package: area_kernel.c (`fastdiff.thumbnails.area_resize`) and composite_kernel.c
(`fastdiff.thumbnails.composite`), built by setup.py into one optional extension, fastdiff/thumbnails/_kernels*.so,
and called through ctypes (which releases the GIL during each call). Where it was not built (no C compiler at install
time), `kernel` returns None and the callers do the same work with OpenCV: the same bytes, slower.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import logging
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parent
VERSION = 3  # kernels_version.c: the arguments and buffers the kernels take; raise both together


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The compiled library, loaded once per process; None where it is missing or built from other sources
    (kernels_version.c)."""
    found = [FOLDER / f"_kernels{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        log.debug("no compiled kernels in %s: OpenCV does their work", FOLDER)
        return None
    try:
        library = ctypes.CDLL(str(path))
    except OSError as e:  # damaged, or built for another machine
        log.warning("cannot load %s (%s); OpenCV does the kernels' work", path.name, e)
        return None
    built = getattr(library, "kernels_version", None)
    library_version = built() if built is not None else None
    if library_version != VERSION:
        log.warning(
            "%s is version %s of the kernels, not %d (rebuild: pip install -e .); OpenCV does their work",
            path.name,
            library_version,
            VERSION,
        )
        return None
    return library


def kernel(name: str, argtypes: list[type]) -> ctypes._CFuncPtr | None:
    """The C function `name` of the compiled library (returning void, taking argtypes), or None where the library is
    missing."""
    library = _library()
    if library is None:
        return None
    function = library[name]  # a new function object: its argtypes are its own
    function.argtypes = argtypes
    function.restype = None
    return function
