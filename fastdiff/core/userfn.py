"""User functions named in the config by dotted import path: a thumbnail hash and a pair difference.

`hash_fn(thumb) -> str` replaces sha-256. `cpu_diff` / `gpu_diff` replace the MSE: either per pair,
`f(a, b) -> float` on two (px, px, 3) uint8 thumbnails, or vectorised over blocks, `f(A, B) -> (n, m) array`
on (n, px, px, 3) and (m, px, px, 3). Which of the two a function is, is found out once, on a tiny sample.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from fastdiff.core.symmetry import codes_of, transform


class UserFunctionError(ValueError):
    """A configured user function cannot be imported or does not behave as required."""


def load_function(path: str) -> Callable[..., Any]:
    """Import 'package.module:function' or 'package.module.function'.

    Raises
    ------
    UserFunctionError
        If the path is malformed, cannot be imported or names something that is not callable.
    """
    module_name, _sep, name = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not name:
        raise UserFunctionError(f"{path!r} is not a dotted path 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise UserFunctionError(f"cannot import {path!r}: {err}") from None
    except Exception as err:  # the module itself fails as it is imported (SyntaxError, its own errors)
        raise UserFunctionError(f"importing {path!r} failed: {_one_line(err)}; fix its module") from None
    if not callable(fn):
        raise UserFunctionError(f"{path!r} is not a function")
    return fn


def _one_line(err: BaseException) -> str:
    """An exception as 'Type: message' on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _try(path: str, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in the check on a sample; an exception it raises becomes the one-line UserFunctionError."""
    try:
        return fn(*args)
    except Exception as err:
        shapes = ", ".join(f"{a.dtype} array of shape {a.shape}" for a in args)
        raise UserFunctionError(
            f"{path!r} raised {_one_line(err)} when checked on a sample ({shapes}); fix the function or remove the key"
        ) from None


def _sample(px: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, px, px, 3), dtype=np.uint8)


def _check_arity(fn: Callable[..., Any], n: int, path: str) -> None:
    try:
        inspect.signature(fn).bind(*range(n))
    except TypeError as err:
        raise UserFunctionError(f"{path!r} must accept {n} positional argument(s): {err}") from None
    except ValueError:  # builtins without a signature: the sample call below decides
        pass


@functools.cache
def load_hash_fn(path: str) -> Callable[[np.ndarray], str]:
    """Load and check a hash function: uint8 (px, px, 3) RGB thumbnail -> str, equal for equal thumbnails.

    Raises
    ------
    UserFunctionError
        As load_function, or if it does not take one argument, raises on a sample thumbnail or does not return the
        same str for it and its copy.
    """
    fn = load_function(path)
    _check_arity(fn, 1, path)
    thumb = _sample()[0]
    value = _try(path, fn, thumb)
    if not isinstance(value, str) or value != _try(path, fn, thumb.copy()):
        raise UserFunctionError(f"{path!r} must return the same str for equal thumbnails, got {value!r}")
    return fn


@dataclass(frozen=True)
class DiffFunction:
    """A user difference, per pair or vectorised over blocks.

    Attributes
    ----------
    fn : callable
        `f(a, b) -> float` on two uint8 (px, px, 3) thumbnails, or, vectorised, `f(A, B) -> (n, m)` on uint8
        (n, px, px, 3) and (m, px, px, 3); values are finite and >= 0, compared with the threshold like the MSE.
    vectorised : bool
    """

    fn: Callable[..., Any]
    vectorised: bool

    def tile(
        self, xp: ModuleType, a: Any, b: Any, allowed: Any, threshold: float, rotations: int | tuple[int, ...]
    ) -> tuple[Any, Any, Any, Any]:
        """The allowed pairs of a tile whose difference is <= threshold (minimum over the symmetries of b).

        A per-pair function is called on the allowed pairs only, on the host; a vectorised one on the whole tile.

        Parameters
        ----------
        xp : module
            numpy or cupy (`fastdiff.core.device.array_module`).
        a, b : arrays
            uint8 (n, px, px, 3) and (m, px, px, 3) thumbnails.
        allowed : array
            bool (n, m): the pairs the pairing rules allow (`fastdiff.compare.pairing.allowed_pairs`).
        threshold : float
        rotations : int or tuple of int
            A count of rotations (1 or 4), or the symmetry codes to try (`fastdiff.compare.kernel.symmetries`).

        Returns
        -------
        i, j : arrays of int
            Indices into a and b.
        difference : array of float64
            The minimum over the rotations.
        rotation : array of int8
            The first symmetry code that reaches it.
        """
        codes = codes_of(rotations)
        if self.vectorised:
            values = xp.stack([xp.asarray(self.fn(a, transform(xp, b, k)), dtype=xp.float64) for k in codes])
            best, rot = values.min(axis=0), xp.asarray(np.asarray(codes, np.int8))[values.argmin(axis=0)]
            i, j = xp.nonzero(allowed & (best <= threshold))
            return i, j, best[i, j], rot[i, j].astype(xp.int8)
        i, j = (np.asarray(v.get() if hasattr(v, "get") else v) for v in xp.nonzero(allowed))
        values = np.array(
            [
                [float(self.fn(a[p], transform(xp, b[q], k, axes=(0, 1)))) for k in codes]
                for p, q in zip(i.tolist(), j.tolist())
            ]
        ).reshape(len(i), len(codes))
        best, rot = values.min(axis=1), np.asarray(codes, np.int8)[values.argmin(axis=1)]
        keep = best <= threshold
        return i[keep], j[keep], best[keep], rot[keep]


@functools.cache
def load_diff_fn(path: str, probe: bool = True) -> DiffFunction:
    """Load a difference function; with probe, call it on a tiny sample to check it and find its kind.

    Parameters
    ----------
    path : str
        'package.module:function' or 'package.module.function'.
    probe : bool
        Call it on three random 8x8 thumbnails: vectorised if f(A[:2], B[1:]) has shape (2, 2). Without probe, a
        `vectorised` attribute of the function decides.

    Returns
    -------
    DiffFunction

    Raises
    ------
    UserFunctionError
        As load_function, if it does not take two arguments, raises on a sample pair, or if a sample value is not a
        finite number >= 0.
    """
    fn = load_function(path)
    _check_arity(fn, 2, path)
    if not probe:
        return DiffFunction(fn, vectorised=getattr(fn, "vectorised", False))
    t = _sample()
    try:
        block = np.asarray(fn(t[:2], t[1:]), dtype=np.float64)
        vectorised = block.shape == (2, 2)
    except Exception:
        vectorised = False
    values = block.ravel().tolist() if vectorised else [_try(path, fn, t[0], t[1]), _try(path, fn, t[1], t[1])]
    for v in values:
        if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v) or v < 0:
            got = f"{type(v).__name__} of shape {v.shape}" if hasattr(v, "shape") and v.shape else repr(v)
            raise UserFunctionError(f"{path!r} must return a finite number >= 0 on a sample pair, got {got}")
    return DiffFunction(fn, vectorised)
