"""Test helper: a compare job's exact groups (threshold 0, `fastdiff.compare.exact_groups`) listed as the pairs that the
database's dif_table view derives from them, so that tests written against pairs check the groups too."""

from __future__ import annotations

import dataclasses
from itertools import combinations

import numpy as np

from fastdiff.compare.pairs import COMPUTED, Pairs
from fastdiff.core.symmetry_group import first_rotation
from fastdiff.thumbnails.batch import Batch


def with_group_pairs(p: Pairs, a: Batch | None = None, b: Batch | None = None, two_partitions: bool = False) -> Pairs:
    """p with the pairs between the members of each of its groups added (MSE 0, COMPUTED, the first rotation), as
    compare_blocks(a, b) listed them: only pairs across a and b when they differ, each pair first by path (by key
    when a is not given; a's image with two partitions), sorted by key; no groups left."""
    paths = {} if a is None else dict(zip(a.keys.tolist(), a.paths.tolist()))
    in_a = set(paths)
    if b is not None and b is not a:
        paths.update(zip(b.keys.tolist(), b.paths.tolist()))
    extra = []
    for g in np.unique(p.group):
        at = np.flatnonzero(p.group == g)
        stab = int(p.group_stabiliser[g])
        for x, y in combinations(at.tolist(), 2):
            kx, ky = int(p.group_key[x]), int(p.group_key[y])
            if b is not None and b is not a and (kx in in_a) == (ky in in_a):
                continue
            by_path = (paths[kx], kx) < (paths[ky], ky) if paths else kx < ky
            first_x = kx in in_a if two_partitions else by_path
            (ka, sa), (kb, sb) = ((kx, p.group_symmetry[x]), (ky, p.group_symmetry[y]))[:: 1 if first_x else -1]
            extra.append((ka, kb, 0.0, first_rotation(int(sa), int(sb), stab), COMPUTED))
    if not extra:
        return p
    ka, kb, mse, rot, kind = (np.asarray(v) for v in zip(*extra))
    key_a, key_b = np.concatenate([p.key_a, ka]), np.concatenate([p.key_b, kb])
    order = np.lexsort((key_b, key_a))
    empty = Pairs(p.key_a[:0], p.key_b[:0], p.mse[:0], p.rotation[:0], p.kind[:0])
    return dataclasses.replace(
        p,
        key_a=key_a[order],
        key_b=key_b[order],
        mse=np.concatenate([p.mse, mse]).astype(np.float64)[order],
        rotation=np.concatenate([p.rotation, rot]).astype(np.int8)[order],
        kind=np.concatenate([p.kind, kind]).astype(np.int8)[order],
        group_key=empty.group_key,
        group=empty.group,
        group_symmetry=empty.group_symmetry,
        group_stabiliser=empty.group_stabiliser,
    )
