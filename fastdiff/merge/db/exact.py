"""The exact groups of a run (threshold 0): the groups of equal thumbnails that the compare jobs found
(`fastdiff.compare.exact_groups`) joined over all jobs, each member with its symmetry against the group's first image,
for
the database's exact_group table; dif_table lists the pairs between members through a view
(`fastdiff.merge.db.schema`)."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fastdiff.compare.pairs import Pairs
from fastdiff.core.symmetry import ALL_CODES
from fastdiff.core.symmetry_group import canonical, compose, conjugate, first_rotation, inverse


@dataclass
class _Forest:
    """Union-find over index keys with a symmetry on each link: thumbnail(x) = T_link[x](thumbnail(parent[x]))."""

    parent: array
    link: bytearray
    stabiliser: dict[int, int]  # root -> bit mask of the symmetries that leave its thumbnail unchanged

    def find(self, x: int) -> tuple[int, int]:
        """(root, h) with thumbnail(x) = T_h(thumbnail(root)); compresses the path."""
        path = []
        while self.parent[x] != x:
            path.append(x)
            x = self.parent[x]
        root, h = x, 0
        for y in reversed(path):  # nearest to the root first: h composes the links from the root down to y
            h = compose(self.link[y], h)
            self.parent[y], self.link[y] = root, h
        return root, (self.link[path[0]] if path else 0)

    def join(self, x: int, m: int, g: int) -> None:
        """Record thumbnail(x) = T_g(thumbnail(m))."""
        rx, hx = self.find(x)
        rm, hm = self.find(m)
        if rx == rm:
            return
        # thumbnail(rx) = T_hx^-1 T_g T_hm (thumbnail(rm))
        self.parent[rx] = rm
        self.link[rx] = compose(inverse(hx), compose(g, hm))
        self.stabiliser.pop(rx, None)


class ExactGroupJoin:
    """The run's exact groups, joined over the compare jobs' groups that share an image (union-find over index
    keys): memory for one link per image, whatever the number of jobs and groups.

    Parameters
    ----------
    n_keys : int
        One more than the largest index key.
    """

    def __init__(self, n_keys: int) -> None:
        self._forest = _Forest(array("q", range(n_keys)), bytearray(n_keys), {})
        self._members = bytearray(n_keys)

    def add(self, p: Pairs) -> None:
        """Join the groups of one compare output (index keys, `fastdiff.compare.pairs.load_pairs_in_order`)."""
        forest = self._forest
        if not len(p.group_key):
            return
        starts = np.flatnonzero(np.diff(p.group, prepend=-1))
        for g, (s, e) in enumerate(zip(starts.tolist(), np.append(starts[1:], len(p.group)).tolist())):
            keys, syms = p.group_key[s:e].tolist(), p.group_symmetry[s:e].tolist()
            m, r = keys[0], syms[0]  # thumbnail(x) = T_sx(G), thumbnail(m) = T_r(G): x = T_sx T_r^-1 (m)
            root, h = forest.find(m)
            if root not in forest.stabiliser:  # thumbnail(root) = T_h^-1 T_r (G)
                forest.stabiliser[root] = conjugate(int(p.group_stabiliser[g]), compose(inverse(h), r))
            self._members[m] = 1
            for x, sx in zip(keys[1:], syms[1:]):
                self._members[x] = 1
                forest.join(x, m, compose(sx, inverse(r)))

    def rows(self) -> tuple[list[tuple[int, int, int, int]], set[int]]:
        """The members of the joined groups.

        Returns
        -------
        rows : list of tuple
            (member, group, symmetry, stabiliser) in member order: the group is its smallest member's key, symmetry
            the smallest code s with thumbnail(member) = T_s(thumbnail(group)), stabiliser the bit mask of the codes
            that leave the group's thumbnail unchanged.
        stabilisers : set of int
            The distinct stabilisers (`rotation_rows`).
        """
        forest = self._forest
        found = [k for k in range(len(self._members)) if self._members[k]]
        roots: dict[int, tuple[int, int]] = {}
        for k in found:
            root, h = forest.find(k)
            roots.setdefault(root, (k, h))  # the smallest member: keys ascend
        rows, stabilisers = [], set()
        for k in found:
            root, h = forest.find(k)
            first, hf = roots[root]  # thumbnail(first) = T_hf(R): thumbnail(k) = T_h T_hf^-1 (thumbnail(first))
            stab = conjugate(forest.stabiliser[root], hf)
            rows.append((k, first, canonical(compose(h, inverse(hf)), stab), stab))
            stabilisers.add(stab)
        return rows, stabilisers


def rotation_rows(stabilisers: set[int]) -> Iterator[tuple[int, int, int, int]]:
    """(stabiliser, symmetry_a, symmetry_b, rotation) for the exact_rotation table: the first code k with
    a = T_k(b) for a = T_symmetry_a(x), b = T_symmetry_b(x) and x with that stabiliser
    (`fastdiff.core.symmetry_group`)."""
    for stab in sorted(stabilisers):
        for sa in ALL_CODES:
            for sb in ALL_CODES:
                yield stab, sa, sb, first_rotation(sa, sb, stab)


def count_pairs(con: sqlite3.Connection, max_mse: float | None = None) -> int:
    """The number of matching pairs of dif_table (success 1 or 2, MSE <= max_mse if given), counting the pairs of
    each exact group from its size instead of listing them."""
    return con.execute(
        """
        SELECT (SELECT COUNT(*) FROM computed_pair WHERE success IN (1, 2) AND (?1 IS NULL OR dif <= ?1))
            + CASE WHEN ?1 IS NULL OR ?1 >= 0 THEN (SELECT COALESCE(SUM(n), 0) FROM (
                SELECT CASE WHEN MAX(part_b) IS NULL THEN COUNT(*) * (COUNT(*) - 1) / 2
                    ELSE SUM(part_b = 0) * SUM(part_b = 1) END AS n
                FROM exact_group GROUP BY grp)) ELSE 0 END""",
        (max_mse,),
    ).fetchone()[0]
