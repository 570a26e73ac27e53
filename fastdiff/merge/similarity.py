"""Merge of the nearest neighbours (config keys `neighbors`, `outlier_mse`): the global k closest images of every
image from the block pairs' candidates (`fastdiff.compare.neighbors`), the database's neighbors and outlier tables, and
OUT/similarity.csv.

Each pair of images lies in exactly one block pair, and each block pair keeps, for each of its images, the k first
candidates in the order (MSE, the other image's index key) (its path order inside the block is that order): the k
first of all candidates are therefore the k first of all images.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fastdiff._shared.atomic import atomic_open
from fastdiff._shared.paths import from_bytes
from fastdiff.compare.pairs import Neighbors, load_pairs_in_order

SIMILARITY = "similarity.csv"
SIMILARITY_HEADER = ("from", "to", "mse")


def top_k(nn: Neighbors, k: int) -> Neighbors:
    """The k first neighbours of each image in the order (MSE, neighbour key), sorted by key then that order.

    Parameters
    ----------
    nn : Neighbors
        Candidates with index keys, each (key, neighbor) at most once.
    k : int
        Neighbours per image, >= 1.

    Returns
    -------
    Neighbors
    """
    order = np.lexsort((nn.neighbor, nn.mse, nn.key))
    key, other, mse = nn.key[order], nn.neighbor[order], nn.mse[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    within = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    keep = within < k
    return Neighbors(key=key[keep], neighbor=other[keep], mse=mse[keep])


def collect(pair_paths: list[str], order: np.ndarray, k: int) -> Neighbors:
    """The k nearest neighbours of every image from the compare jobs' outputs, with index keys.

    Memory stays at k neighbours per image plus one output: each output is merged into the running top k.

    Parameters
    ----------
    pair_paths : list of str
        The compare jobs' outputs (`fastdiff.compare.pairs`).
    order : numpy.ndarray
        int64: layout key -> index key.
    k : int
        Neighbours per image.

    Raises
    ------
    RuntimeError
        If an output holds no neighbours (written without `neighbors`) or names a file no longer indexed.
    """
    empty = np.zeros(0, np.int64)
    best = Neighbors(key=empty, neighbor=empty, mse=np.zeros(0))
    for path in pair_paths:
        nn = load_pairs_in_order(path, order).neighbors
        if nn is None:
            raise RuntimeError(f"{path}: no nearest neighbours in this compare output; run the workflow again")
        best = top_k(
            Neighbors(
                key=np.concatenate([best.key, nn.key]),
                neighbor=np.concatenate([best.neighbor, nn.neighbor]),
                mse=np.concatenate([best.mse, nn.mse]),
            ),
            k,
        )
    return best


def rows(nn: Neighbors) -> Iterator[tuple[int, int, int, float]]:
    """The neighbors table's rows (key, rank, neighbor_key, mse) of `top_k`'s result: rank 1 is the closest."""
    rank = 0
    previous = None
    for key, other, mse in zip(nn.key.tolist(), nn.neighbor.tolist(), nn.mse.tolist()):
        rank = rank + 1 if key == previous else 1
        previous = key
        yield key, rank, other, mse


def store(con: sqlite3.Connection, nn: Neighbors, outlier_mse: float | None) -> int:
    """Fill the neighbors table, and the outlier table when outlier_mse is given; commit.

    An outlier is a compared image (decoded) whose nearest neighbour's MSE exceeds outlier_mse, or that has no
    neighbour at all (no image it may be compared with: the size rules, part_b, in_folder).

    Returns
    -------
    int
        The number of outliers (0 without outlier_mse).
    """
    con.executemany("INSERT INTO neighbors (key, rank, neighbor_key, mse) VALUES (?, ?, ?, ?)", rows(nn))
    count = 0
    if outlier_mse is not None:
        count = con.execute(
            "INSERT INTO outlier (key, nearest_mse) SELECT d.key, n.mse FROM directory d "
            "LEFT JOIN neighbors n ON n.key = d.key AND n.rank = 1 "
            "WHERE d.success = 1 AND (n.mse IS NULL OR n.mse > ?) ORDER BY d.key",
            (outlier_mse,),
        ).rowcount
    con.commit()
    return count


def outlier_stats(con: sqlite3.Connection, outlier_mse: float) -> dict[str, object]:
    """stats.json's `outliers`: the threshold, the count, and each outlier's path with its nearest MSE (None: no
    neighbour), in index order."""
    found = con.execute(
        "SELECT d.path_bytes, o.nearest_mse FROM outlier o JOIN directory d ON d.key = o.key ORDER BY o.key"
    ).fetchall()
    return {"outlier_mse": outlier_mse, "count": len(found), "files": {from_bytes(raw): mse for raw, mse in found}}


def write_csv(con: sqlite3.Connection, path: Path) -> int:
    """OUT/similarity.csv, atomically: one row (from, to, mse) per neighbour, closest first for each image, images
    in index order; paths as in results.json (their exact bytes in the file). Returns the number of rows."""
    query = (
        "SELECT a.path_bytes, b.path_bytes, n.mse FROM neighbors n JOIN directory a ON a.key = n.key "
        "JOIN directory b ON b.key = n.neighbor_key ORDER BY n.key, n.rank"
    )
    count = 0
    with atomic_open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(SIMILARITY_HEADER)
        for raw_a, raw_b, mse in con.execute(query):
            out.writerow((from_bytes(raw_a), from_bytes(raw_b), repr(mse)))
            count += 1
    return count
