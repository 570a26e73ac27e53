"""The grid cells of a thumbnail: integer sums over a grid of cells per channel, which rot90 maps onto itself.

The thumbnail stage stores them with each batch and the pruned compare bounds the SSE of a pair by them
(`fastdiff.compare.prune`, whose docstring gives the bound).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

GRID = 5  # cells per side of the grid bound (benchmarks/prune.py grid: 5 keeps the fewest survivors per cost)
SUM_CHUNK = 2**22  # int64 row sums at a time when summing cells


def grid_cuts(px: int, g: int) -> np.ndarray:
    """Cut points 0 = c_0 < ... < c_g = px of a grid of g cells per side that rot90 maps onto itself.

    Parameters
    ----------
    px : int
        Thumbnail side in pixels.
    g : int
        Cells per side, 1 <= g <= px.

    Returns
    -------
    numpy.ndarray
        int64 (g + 1,), with c_(g - i) = px - c_i (cuts closed under x -> px - x); (g,) when px is odd and g even,
        whose middle cut cannot be symmetric.
    """
    low = [(i * px) // g for i in range((g + 1) // 2)]  # the cuts below the middle
    middle = [px // 2] if g % 2 == 0 and px % 2 == 0 else []  # (odd px, even g: the middle cells are one)
    return np.asarray(low + middle + [px - c for c in reversed(low)], np.int64)


def cell_sums(xp: ModuleType, thumbs: Any, cuts: np.ndarray, dtype: Any = None) -> Any:
    """Integer sums of each grid cell of each channel.

    Parameters
    ----------
    xp : module
        numpy or cupy.
    thumbs : array
        uint8 (n, px, px, 3) on xp's device.
    cuts : numpy.ndarray
        int64 (g + 1,) cut points (`grid_cuts`).
    dtype : dtype, optional
        Of the result; float64 by default.

    Returns
    -------
    array
        (n, g, g, 3) holding exact integers (each <= 255 px^2 < 2**53; summed as int64).
    """
    n, px, g = thumbs.shape[0], thumbs.shape[1], len(cuts) - 1
    dtype = xp.float64 if dtype is None else dtype
    step = max(1, SUM_CHUNK // (g * px * 3))
    parts = []
    for s in range(0, n, step):
        x = thumbs[s : s + step]
        rows = xp.stack([x[:, cuts[i] : cuts[i + 1]].sum(axis=1, dtype=xp.int64) for i in range(g)], axis=1)
        cells = xp.stack([rows[:, :, cuts[j] : cuts[j + 1]].sum(axis=2) for j in range(g)], axis=2)
        parts.append(cells.astype(dtype))
    return xp.concatenate(parts) if parts else xp.zeros((0, g, g, 3), dtype)


def image_cuts(px: int) -> np.ndarray:
    """The cut points of the grid the compare uses for thumbnails of side px: int64 (g + 1,), g = min(GRID, px)."""
    return grid_cuts(px, min(GRID, px))


def image_cells(thumbs: np.ndarray) -> np.ndarray:
    """The integer cell sums the pruned compare needs, as the thumbnail stage stores them with each batch
    (`fastdiff.thumbnails.batch`): `cell_sums` over `image_cuts(px)`, int32 (int64 when 255 px^2 does not fit in int32).

    Parameters
    ----------
    thumbs : numpy.ndarray
        uint8 (n, px, px, 3).

    Returns
    -------
    numpy.ndarray
        (n, g, g, 3); the channel sums and the image sum follow from them exactly (`Pruner`).
    """
    px = thumbs.shape[1]
    dtype = np.int32 if 255 * px * px < 2**31 else np.int64
    return cell_sums(np, thumbs, image_cuts(px), dtype)
