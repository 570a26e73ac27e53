"""The symmetries of the square as a group (codes as `fastdiff.compare.kernel.transform`): composition, inverses and the
first code that maps one image of an exact group onto another."""

from __future__ import annotations

import numpy as np

from fastdiff.core.symmetry import ALL_CODES, INVERSE, transform


def _composition() -> np.ndarray:
    """int8 (8, 8): COMPOSE[g, h] is the code of T_g(T_h(x)), found on a 3 x 3 pattern with no symmetry."""
    pattern = np.arange(9).reshape(3, 3)
    images = [transform(np, pattern, k, axes=(0, 1)) for k in ALL_CODES]
    table = np.empty((8, 8), np.int8)
    for g in ALL_CODES:
        for h in ALL_CODES:
            gh = transform(np, images[h], g, axes=(0, 1))
            table[g, h] = next(k for k in ALL_CODES if np.array_equal(images[k], gh))
    return table


COMPOSE = _composition()


def compose(g: int, h: int) -> int:
    """The code of T_g after T_h (T_h applied first)."""
    return int(COMPOSE[g, h])


def inverse(g: int) -> int:
    """The code of T_g's inverse."""
    return INVERSE[g]


def mask_of(codes: list[int] | tuple[int, ...]) -> int:
    """A set of codes as a bit mask (bit k for code k)."""
    return sum(1 << k for k in set(codes))


def codes_in(mask: int) -> list[int]:
    """The codes of a bit mask, ascending."""
    return [k for k in ALL_CODES if mask >> k & 1]


def conjugate(mask: int, g: int) -> int:
    """The stabiliser of T_g(x) given the stabiliser (mask) of x: {g s g^-1}."""
    return mask_of([compose(compose(g, s), inverse(g)) for s in codes_in(mask)])


def canonical(g: int, stabiliser: int) -> int:
    """The smallest code of the coset g.Stab: every h with T_h(x) = T_g(x) for an x with that stabiliser."""
    return min(compose(g, s) for s in codes_in(stabiliser))


def first_rotation(sym_a: int, sym_b: int, stabiliser: int) -> int:
    """The smallest code k with a = T_k(b), for a = T_sym_a(x) and b = T_sym_b(x) of an image x with the given
    stabiliser (dif_table.rotation of the pair a, b: the first symmetry reaching MSE 0)."""
    return min(compose(compose(sym_a, s), inverse(sym_b)) for s in codes_in(stabiliser))
