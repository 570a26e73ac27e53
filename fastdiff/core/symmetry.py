"""The symmetries of the square on thumbnails, by code k: the rotations, and with mirror the flipped rotations.

Every stage uses the same codes: the thumbnail stage hashes each symmetry, the compare stage minimises over them, and
the database stores the code of each pair (`dif_table.rotation`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

# The symmetries of the square, by code k (dif_table.rotation): T_k(b) = rot90(b, k) for k < 4 and
# rot90(fliplr(b), k - 4) for k >= 4 (np.rot90 counter-clockwise on the pixel axes; fliplr mirrors left and right).
ALL_CODES = tuple(range(8))
# T_k^-1: rotations invert as 0, 3, 2, 1; every flipped transform is a reflection, its own inverse
INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def symmetries(rotate: bool, mirror: bool = False) -> tuple[int, ...]:
    """The codes of the symmetries the difference is minimised over: (0,), (0, 1, 2, 3), (0, 4) or 0..7."""
    return tuple(k for k in ALL_CODES if (rotate or k % 4 == 0) and (mirror or k < 4))


def codes_of(symmetry: int | tuple[int, ...]) -> tuple[int, ...]:
    """A set of symmetries given as codes, or as a count of rotations (1 or 4; 8: all eight)."""
    return tuple(range(symmetry)) if isinstance(symmetry, int) else tuple(symmetry)


def transform(xp: ModuleType, x: Any, k: int, axes: tuple[int, int] = (1, 2)) -> Any:
    """T_k of images whose (row, column) axes are `axes` (a view): rot90(x, k), or rot90(fliplr(x), k - 4)."""
    if k >= 4:
        x = xp.flip(x, axis=axes[1])
    return xp.rot90(x, k % 4, axes=axes)
