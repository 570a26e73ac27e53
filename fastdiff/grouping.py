"""Best-copy groups: every image in at most one group, keyed by its best copy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from . import database


@dataclass(frozen=True)
class Group:
    head: int  # key of the best copy (largest pixel count, then larger file, then index order)
    members: list[tuple[int, float]]  # (key, MSE to the head) of its lower-quality copies, in key order


def best_copy_groups(con: sqlite3.Connection) -> Iterator[Group]:
    """Greedy star groups over dif_table.

    Images are visited best first; each image not yet in a group becomes a head, and its direct matches
    that are not yet in a group become its members. So every member matched its head directly (its MSE to
    the head is known and within the threshold), and a copy is never grouped under a worse image.
    """
    # one byte per directory key (keys are dense), not a Python set: 1M matched images would take ~60 MB in a set
    grouped = bytearray(
        con.execute("""SELECT COALESCE(MAX(k), -1) + 1 FROM (SELECT MAX(key) AS k FROM directory
        UNION ALL SELECT MAX(key_a) FROM dif_table UNION ALL SELECT MAX(key_b) FROM dif_table)""").fetchone()[0]
    )
    for head in database.matched_keys_by_quality(con):
        if grouped[head]:
            continue
        members = [(k, dif) for k, dif in database.matches_of(con, head) if not grouped[k]]
        if members:
            grouped[head] = 1
            for k, _ in members:
                grouped[k] = 1
            yield Group(head, members)
