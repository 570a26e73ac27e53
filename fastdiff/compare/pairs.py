"""The on-disk format of a compare job's output: the matching pairs of one block pair, as .npz."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from fastdiff._shared.atomic import atomic_path
from fastdiff.core.made_by import FIELD as MADE_BY

# dif_table.success codes, Fast-Diff-Py's meaning: computed, found by equal thumbnail hashes, skipped by a size rule
COMPUTED, HASH_MATCH, SIZE_MISMATCH = 1, 2, 3
GROUP_FIELDS = ("group_key", "group", "group_symmetry", "group_stabiliser")
NEIGHBOR_FIELDS = ("key", "neighbor", "mse")  # stored as nn_key, nn_neighbor, nn_mse


@dataclass
class Neighbors:
    """Nearest-neighbour candidates of a block pair (config key `neighbors`, `fastdiff.compare.neighbors`): for each
    image
    of either block, its k closest images of the other block.

    Attributes
    ----------
    key, neighbor : arrays of int64, shape (n,)
        The image and one of its neighbours: layout keys as a compare job writes them; index keys after
        `load_pairs_in_order`.
    mse : array of float64, shape (n,)
        Their MSE, exact, as `Pairs.mse`.
    """

    key: np.ndarray
    neighbor: np.ndarray
    mse: np.ndarray

    def __len__(self) -> int:
        return len(self.key)


@dataclass
class Pairs:
    """Matching pairs (a, b), a before b in the index order (`fastdiff.compare.pairing.pair_ranks`), sorted by
    (key_a, key_b).

    Attributes
    ----------
    key_a, key_b : arrays of int64, shape (n,)
        Layout keys as a compare job writes them; index keys after `load_pairs_in_order`.
    mse : array of float64, shape (n,)
        Mean squared error over px*px*3 values on the 0-255 scale, minimum over the rotations; 0 for hash matches,
        -1 for SIZE_MISMATCH.
    rotation : array of int8, shape (n,)
        The first k such that mse = MSE(a, rot90(b, k)); -1 for hash matches and size mismatches.
    kind : array of int8, shape (n,)
        COMPUTED, HASH_MATCH or SIZE_MISMATCH.
    started, finished : float
        Seconds since the epoch: when the compare job started and finished (difPy's stats).
    neighbors : Neighbors or None
        The block pair's nearest-neighbour candidates, when the run asks for them (config key `neighbors`).
    group_key, group, group_symmetry : arrays of int64, int64, int8, shape (m,)
        Threshold 0: the members of groups of equal thumbnails (`fastdiff.compare.exact_groups.ExactGroups`), by key
        (layout
        keys as a compare job writes them), their group (0 .. g - 1) and symmetry; the pairs between them are not
        listed in key_a, key_b.
    group_stabiliser : array of uint8, shape (g,)
        The stabiliser of each group's thumbnail (bit mask of symmetry codes).
    """

    key_a: np.ndarray
    key_b: np.ndarray
    mse: np.ndarray
    rotation: np.ndarray
    kind: np.ndarray
    started: float = 0.0
    finished: float = 0.0
    group_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group_symmetry: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    group_stabiliser: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    neighbors: Neighbors | None = None

    def __len__(self) -> int:
        return len(self.key_a)


def save_pairs(pairs: Pairs, path: str | os.PathLike[str], made_by: str = "") -> None:
    """Write a block pair's matching pairs as .npz, atomically, with the digest of the job that made them
    (`fastdiff.core.made_by`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            key_a=pairs.key_a,
            key_b=pairs.key_b,
            mse=pairs.mse,
            rotation=pairs.rotation,
            kind=pairs.kind,
            timing=np.asarray([pairs.started, pairs.finished]),
            **(
                {}
                if pairs.neighbors is None
                else {f"nn_{name}": getattr(pairs.neighbors, name) for name in NEIGHBOR_FIELDS}
            ),
            group_key=pairs.group_key,
            group=pairs.group,
            group_symmetry=pairs.group_symmetry,
            group_stabiliser=pairs.group_stabiliser,
            **{MADE_BY: np.asarray(made_by)},
        )


def load_pairs(path: str | os.PathLike[str]) -> Pairs:
    """Read what save_pairs wrote (an output written before exact groups existed has none)."""
    with np.load(path, allow_pickle=False) as z:
        timing = z["timing"]
        found = all(f"nn_{name}" in z.files for name in NEIGHBOR_FIELDS)
        groups = {k: z[k] for k in GROUP_FIELDS if k in z.files}
        return Pairs(
            key_a=z["key_a"],
            key_b=z["key_b"],
            mse=z["mse"],
            rotation=z["rotation"],
            kind=z["kind"],
            started=float(timing[0]),
            finished=float(timing[1]),
            neighbors=Neighbors(*(z[f"nn_{name}"] for name in NEIGHBOR_FIELDS)) if found else None,
            **groups,
        )


def load_pairs_in_order(path: str | os.PathLike[str], order: np.ndarray) -> Pairs:
    """A block output with the layout's keys replaced by this run's index order (each pair stays first < second).

    Parameters
    ----------
    path : str or os.PathLike
        A compare job's output.
    order : array of int64
        The index's order.npy: layout key -> index key, -1 for keys no longer used.

    Returns
    -------
    Pairs
        With index keys (group members too), key_a < key_b, in the file's order (not necessarily sorted by the new
        keys; the merge sorts every pair into dif_table).

    Raises
    ------
    RuntimeError
        If a pair is not in index order or names a file no longer indexed (a stale output).
    """
    p = load_pairs(path)
    p.key_a, p.key_b, p.group_key = order[p.key_a], order[p.key_b], order[p.group_key]
    if len(p) and not ((p.key_a >= 0) & (p.key_a < p.key_b)).all():
        raise RuntimeError(f"{path}: a pair is not in index order or names a file that is no longer indexed")
    if p.neighbors is not None:
        nn = p.neighbors
        nn.key, nn.neighbor = order[nn.key], order[nn.neighbor]
        if len(nn) and not ((nn.key >= 0) & (nn.neighbor >= 0)).all():
            raise RuntimeError(f"{path}: a nearest neighbour names a file that is no longer indexed")
    if (p.group_key < 0).any():
        raise RuntimeError(f"{path}: an exact group names a file that is no longer indexed")
    return p
