"""Best-copy groups: every image in at most one group, under its best copy (the first in the keeper order,
`fastdiff.merge.keeper`), or, with partition B, under the B image it matches best."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from fastdiff.merge.keeper import PART_B_REASON, reason_sql, stored_keep


@dataclass(frozen=True)
class BestCopyGroup:
    """One group of results.json.

    Attributes
    ----------
    best_copy : int
        Key of the best copy: the first in the keeper order (`fastdiff.merge.keeper`); with partition B, a B image.
    copies : list of (int, float)
        (key, MSE to the best copy) of its lower-quality copies, in key order.
    """

    best_copy: int
    copies: list[tuple[int, float]]


def matched_keys_by_rank(con: sqlite3.Connection) -> Iterator[int]:
    """Keys of every image with at least one match, in the keeper order (directory.keeper_rank): in a computed pair,
    or a member of an exact group (a compare job keeps only groups whose members all have a pair in them)."""
    yield from (
        k
        for (k,) in con.execute("""
        SELECT key FROM directory WHERE key IN (
            SELECT key_a FROM computed_pair WHERE success IN (1, 2)
            UNION SELECT key_b FROM computed_pair WHERE success IN (1, 2)
            UNION SELECT member FROM exact_group)
        ORDER BY keeper_rank""")
    )


def matches_of(con: sqlite3.Connection, key: int) -> list[tuple[int, float]]:
    """(other index key, MSE) of every matching pair that contains `key`, in key order."""
    return con.execute(
        """
        SELECT key_b, dif FROM dif_pair WHERE key_a = ?1 AND success IN (1, 2)
        UNION ALL SELECT key_a, dif FROM dif_pair WHERE key_b = ?1 AND success IN (1, 2) ORDER BY 1""",
        (key,),
    ).fetchall()


def has_partition_b(con: sqlite3.Connection) -> bool:
    """Whether the run had a partition B (then every pair is A x B)."""
    return con.execute("SELECT EXISTS (SELECT 1 FROM directory WHERE part_b = 1)").fetchone()[0] == 1


def reference_groups(con: sqlite3.Connection) -> Iterator[BestCopyGroup]:
    """Groups against partition B, the reference: every A image that matches a B image is a copy of the B image it
    matches best (the smallest MSE, then the first in the keeper order); B images are never copies.

    Yields
    ------
    BestCopyGroup
        In the order of the best copies' index keys, copies in key order.
    """
    rows = con.execute("""
        SELECT head, member, dif FROM (
            SELECT t.key_b AS head, t.key_a AS member, t.dif AS dif,
                ROW_NUMBER() OVER (PARTITION BY t.key_a ORDER BY t.dif, b.keeper_rank) AS n
            FROM dif_pair t JOIN directory b ON b.key = t.key_b
            WHERE t.success IN (1, 2) AND b.part_b = 1)
        WHERE n = 1 ORDER BY head, member""")
    for best_copy, group in groupby(rows, key=itemgetter(0)):
        yield BestCopyGroup(best_copy, [(copy, mse) for _, copy, mse in group])


def best_copy_groups(con: sqlite3.Connection) -> Iterator[BestCopyGroup]:
    """Greedy best-copy groups over dif_table.

    Images are visited best first; each image not yet in a group becomes a best copy, and its direct matches that
    are not yet in a group become its copies. So every copy matched its best copy directly (its MSE to it is known
    and within the threshold), and a copy is never grouped under a worse image.

    Yields
    ------
    BestCopyGroup
        In the keeper order of the best copies, copies in key order.
    """
    # one byte per directory key (keys are dense), not a Python set: 1M matched images would take ~60 MB in a set
    grouped = bytearray(
        con.execute("""SELECT COALESCE(MAX(k), -1) + 1 FROM (SELECT MAX(key) AS k FROM directory
        UNION ALL SELECT MAX(key_a) FROM computed_pair UNION ALL SELECT MAX(key_b) FROM computed_pair
        UNION ALL SELECT MAX(member) FROM exact_group)""").fetchone()[0]
    )
    for best in matched_keys_by_rank(con):
        if grouped[best]:
            continue
        copies = [(k, mse) for k, mse in matches_of(con, best) if not grouped[k]]
        if copies:
            grouped[best] = 1
            for k, _ in copies:
                grouped[k] = 1
            yield BestCopyGroup(best, copies)


def store_best_copy_groups(con: sqlite3.Connection) -> int:
    """Write the groups of dif_table into the empty best_copy_group table (member = copy, head = best copy,
    Fast-Diff-Py's column names): `reference_groups` with partition B, else `best_copy_groups`; commit; return the
    number of groups.

    Each row's `kept_because` says why its head is kept rather than it: with partition B, PART_B_REASON; else the
    first criterion of the stored keeper order on which the two differ (`fastdiff.merge.keeper.reason_sql`)."""
    n_groups = 0
    reference = has_partition_b(con)
    for group in reference_groups(con) if reference else best_copy_groups(con):
        rows = ((k, group.best_copy, mse, PART_B_REASON) for k, mse in group.copies)
        con.executemany("INSERT INTO best_copy_group VALUES (?, ?, ?, ?)", rows)
        n_groups += 1
    if not reference:
        con.execute(f"""
            UPDATE best_copy_group SET kept_because = (
                SELECT {reason_sql(stored_keep(con))} FROM directory h, directory m
                WHERE h.key = best_copy_group.head AND m.key = best_copy_group.member)""")
    con.commit()
    return n_groups
