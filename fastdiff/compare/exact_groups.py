"""Threshold 0 as groups: the images of a compare job whose thumbnails are equal up to a symmetry, found by a join on
hashes (`fastdiff.compare.hash_join.digests`) and checked with one byte comparison per member against its group's first
image, so that a group of n equal images costs n comparisons, not n (n - 1) / 2 pairs. The merge joins the groups of
all jobs (`fastdiff.merge.db.exact`); the pairs between members are a view of the database."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastdiff.compare.hash_join import digests, verify
from fastdiff.core.symmetry import INVERSE, transform
from fastdiff.core.symmetry_group import mask_of


@dataclass
class ExactGroups:
    """Groups of equal thumbnails: every member is T_symmetry of its group's thumbnail
    (`fastdiff.compare.kernel.transform`).

    Attributes
    ----------
    member : array of int64, shape (m,)
        Positions of the members among the job's images, sorted by group, then position.
    group : array of int64, shape (m,)
        The group of each member, 0 .. g - 1.
    symmetry : array of int8, shape (m,)
        Code s with thumbnail(member) = T_s(thumbnail of the group).
    stabiliser : array of uint8, shape (g,)
        Bit mask of the codes k with T_k(thumbnail of the group) = itself (bit k for code k).
    """

    member: np.ndarray
    group: np.ndarray
    symmetry: np.ndarray
    stabiliser: np.ndarray

    @classmethod
    def empty(cls) -> ExactGroups:
        """No groups."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.uint8))


def equal_groups(
    thumbs: np.ndarray,
    codes: tuple[int, ...],
    rule: np.ndarray,
    side: np.ndarray | None = None,
    digests_of: np.ndarray | None = None,
) -> ExactGroups:
    """The groups of thumbnails equal up to one of the symmetries `codes`, inside classes of equal `rule`.

    Parameters
    ----------
    thumbs : numpy.ndarray
        uint8 (n, px, px, 3).
    codes : tuple of int
        The symmetries (`fastdiff.compare.kernel.symmetries`): a group under composition, code 0 first.
    rule : numpy.ndarray
        int64 (n,): images meet only images of equal rule (their size class with same_dim).
    side : numpy.ndarray, optional
        int (n,) 0 or 1: with two partitions, only groups with members on both sides are kept.
    digests_of : numpy.ndarray, optional
        uint64 (n, len(codes)): a digest of each thumbnail in each symmetry, where they are known
        (`fastdiff.compare.hash_join.stored_digests`); else computed (`fastdiff.compare.hash_join.digests`).

    Returns
    -------
    ExactGroups
        Groups of at least two members (and both sides); each member verified byte for byte against the first image
        of its group, so a hash collision never joins a group.
    """
    if codes[0] != 0:
        raise ValueError("the symmetries must start with the identity (code 0)")
    n = len(thumbs)
    dig = digests(thumbs, codes) if digests_of is None else digests_of
    canon = dig.min(axis=1)
    pending = np.lexsort((canon, rule))  # stable: position order inside a class
    new = np.ones(n, bool)
    new[1:] = (rule[pending][1:] != rule[pending][:-1]) | (canon[pending][1:] != canon[pending][:-1])
    bucket = np.cumsum(new) - 1
    members, groups, symmetries, stabilisers = [], [], [], []
    n_groups = 0
    while len(pending):
        # buckets of at least two pending images; the first of each is its group's thumbnail
        first = np.ones(len(pending), bool)
        first[1:] = bucket[1:] != bucket[:-1]
        size = np.diff(np.append(np.flatnonzero(first), len(pending)))
        keep = np.repeat(size >= 2, size)
        pending, bucket, first = pending[keep], bucket[keep], first[keep]
        if not len(pending):
            break
        start = np.flatnonzero(first)
        gid = np.cumsum(first) - 1
        rep = pending[start][gid]
        symmetry = np.full(len(pending), -1, np.int8)
        for c, code in enumerate(codes):  # T_code(member) = rep: member = T_code^-1(rep)
            cand = np.flatnonzero((symmetry < 0) & (dig[pending, c] == dig[rep, 0]))
            same = verify(thumbs, thumbs, rep[cand], pending[cand], np.full(len(cand), code))
            symmetry[cand[same]] = INVERSE[code]
        matched = symmetry >= 0
        count = np.bincount(gid[matched], minlength=len(start))
        kept = count >= 2
        if side is not None:
            both = np.bincount(gid[matched], weights=side[pending[matched]], minlength=len(start))
            kept &= (both > 0) & (both < count)
        out = matched & kept[gid]
        number = np.cumsum(kept) - 1 + n_groups
        members.append(pending[out])
        groups.append(number[gid[out]])
        symmetries.append(symmetry[out])
        reps = pending[start[kept]]
        stabilisers.append(
            np.asarray(
                [
                    mask_of([k for k in codes if np.array_equal(transform(np, thumbs[r], k, (0, 1)), thumbs[r])])
                    for r in reps
                ],
                np.uint8,
            ).reshape(-1)
        )
        n_groups += int(kept.sum())
        pending, bucket = pending[~matched], bucket[~matched]
    if not members:
        return ExactGroups.empty()
    member, group = np.concatenate(members), np.concatenate(groups)
    order = np.lexsort((member, group))
    return ExactGroups(
        member[order].astype(np.int64),
        group[order].astype(np.int64),
        np.concatenate(symmetries)[order],
        np.concatenate(stabilisers),
    )


def _stabiliser(thumb: np.ndarray, codes: tuple[int, ...]) -> int:
    """Bit mask of the codes k with T_k(thumb) = thumb, byte for byte."""
    return mask_of([k for k in codes if np.array_equal(transform(np, thumb, k, (0, 1)), thumb)])
