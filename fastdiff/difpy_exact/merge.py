"""difPy-exact merge stage: difPy 4.2.1's grouping (dif.py L533-562), lower_quality (L564-633, L733-742) and stats
(L748-805), line by line over the matches only, plus the same database as the default mode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from fastdiff._shared.special_files import open_regular
from fastdiff.compare.pairs import COMPUTED, load_pairs_in_order
from fastdiff.core.options import MergeOptions
from fastdiff.difpy_exact.index import UNSUPPORTED
from fastdiff.merge.db import writer
from fastdiff.merge.db.build import MergeInputs, file_rows, new_database
from fastdiff.merge.difpy_outputs import LOWER_QUALITY, RESULTS, STATS, stats_record, write_json
from fastdiff.merge.keeper import DIFPY_REASON


def sort_by_size(paths: list[str], base_dir: str | None) -> list[str]:
    """difPy's keeper order (L733-742): width + height of the file as Pillow opens it, then path, both descending."""
    sizes = []
    for p in paths:
        with open_regular(os.path.join(base_dir or "", p)) as fh, Image.open(fh) as im:
            sizes.append((sum(im.size), p))
    return [p for _, p in sorted(sizes, reverse=True)]


def group_matches(key_a: np.ndarray, key_b: np.ndarray, mse: np.ndarray) -> dict[int, list[tuple[int, float]]]:
    """difPy's grouping (dif.py L533-562) of its matches.

    Each image is a value once; keys are not marked, so an image can be a key and a value, and a match whose partner
    is already a value is dropped.

    Parameters
    ----------
    key_a, key_b : ndarray of int64, shape (n,)
        The matches in difPy's image IDs, key_a < key_b, sorted by (key_a, key_b).
    mse : ndarray of float64, shape (n,)
        difPy's wrap-around MSE of each match.

    Returns
    -------
    dict
        Image ID -> [(image ID, mse), ...] in match order: results.json's groups before paths are put in.
    """
    groups: dict[int, list[tuple[int, float]]] = {}
    added: set[int] = set()
    for a, b, m in zip(key_a.tolist(), key_b.tolist(), mse.tolist()):
        if b not in added:
            groups.setdefault(a, []).append((b, m))
            added.add(b)
    return groups


def lower_quality_and_counts(
    result: dict, base_dir: str | None, similarity: float, in_folder: bool
) -> tuple[list[str], list[str], int, int]:
    """difPy's lower_quality (L564-633; in first-seen order instead of set order), the kept image of every group,
    and the duplicate / similar counts."""
    lower: dict[str, None] = {}
    keep: dict[str, None] = {}
    duplicates = similar = 0
    for groups in result.values() if in_folder else [result]:
        for key, values in groups.items():
            ranked = sort_by_size([key] + [v for v, _ in values], base_dir)
            keep[ranked[0]] = None
            lower.update(dict.fromkeys(ranked[1:]))
            zeros = sum(1 for _, m in values if m == 0)
            duplicates += len(values) if similarity == 0 else zeros
            similar += 0 if similarity == 0 else len(values) - zeros
    return list(lower), list(keep), duplicates, similar


def kept_pairs(result: dict, base_dir: str | None, in_folder: bool) -> list[tuple[str, str]]:
    """(copy, kept) for every lower-quality copy of every group of difPy's result, by difPy's keeper rule (the
    ranking of `lower_quality_and_counts`)."""
    pairs = []
    for groups in result.values() if in_folder else [result]:
        for key, values in groups.items():
            ranked = sort_by_size([key] + [v for v, _ in values], base_dir)
            pairs += [(copy, ranked[0]) for copy in ranked[1:]]
    return pairs


def merge(inputs: MergeInputs, out_dir: Path, options: MergeOptions) -> None:
    """The merge stage in difPy-exact mode: the database plus difPy's result, lower_quality and stats files.

    A path listed twice (nested input folders) keeps both IDs in difPy's files, as in difPy, but has one row in the
    database (directory paths are unique there); its second ID's pairs are left out of dif_table.
    """
    build: list[tuple[float, float]] = []
    index_order = inputs.order
    blocks = [load_pairs_in_order(p, index_order) for p in inputs.pair_paths]
    search = [(p.started, p.finished) for p in blocks]
    key_a, key_b, mse, rot = (
        np.concatenate([getattr(p, c) for p in blocks]) if blocks else np.zeros(0, np.int64)
        for c in ("key_a", "key_b", "mse", "rotation")
    )
    order = np.lexsort((key_b, key_a))
    key_a, key_b, mse, rot = key_a[order], key_b[order], mse[order], rot[order]
    matched = set(key_a.tolist()) | set(key_b.tolist())

    path: dict[int, str] = {}  # of matched keys and of the first valid image of each input argument
    dir_of: dict[int, int] = {}  # input argument of matched keys
    first_valid: dict[int, int] = {}  # dir_index -> key (difPy's in_folder key is the dirname of that image)
    failures: dict[str, str] = {}
    unsupported: list[str] = []
    n_valid = 0
    dropped: set[int] = set()
    seen: set[str] = set()
    with new_database(out_dir) as con:
        for rows, hashes in file_rows(inputs, index_order, build):
            for key, p, error, success, *_rest, dir_index, _part, _inode, _device in rows:
                if success == 1:
                    n_valid += 1
                    first_valid.setdefault(dir_index, key)
                    if key in matched or first_valid[dir_index] == key:
                        path[key], dir_of[key] = p, dir_index
                elif success == 0:
                    failures[str(Path(p))] = error
                else:
                    unsupported.append(str(Path(p)))
                if p in seen:
                    dropped.add(key)
                seen.add(p)
            writer.insert_files(
                con, [r for r in rows if r[0] not in dropped], [h for h in hashes if h[0] not in dropped]
            )
        writer.insert_pairs(
            con,
            (
                (a, b, m, COMPUTED, r)
                for a, b, m, r in zip(key_a.tolist(), key_b.tolist(), mse.tolist(), rot.tolist())
                if a not in dropped and b not in dropped
            ),
        )
        writer.finish(con, options.run_config, options.prefer, options.keep)
        groups = group_matches(key_a, key_b, mse)
        con.executemany(
            "INSERT INTO best_copy_group VALUES (?, ?, ?, ?)",
            (
                (b, a, m, DIFPY_REASON)
                for a, members in groups.items()
                for b, m in members
                if a not in dropped and b not in dropped
            ),
        )
        con.commit()

        result: dict = {}
        if options.in_folder:
            folder_of = {d: os.path.dirname(path[k]) for d, k in first_valid.items()}
            for a, members in groups.items():
                folder = result.setdefault(folder_of[dir_of[a]], {})
                folder[path[a]] = [[path[b], m] for b, m in members]
        else:
            result = {path[a]: [[path[b], m] for b, m in members] for a, members in groups.items()}
        lower, _, duplicates, similar = lower_quality_and_counts(
            result, options.base_dir, options.threshold_value, options.in_folder
        )
        logs = {**failures, **dict.fromkeys(unsupported, UNSUPPORTED)}
        stats = stats_record(options, sorted(options.part_a), n_valid, logs, duplicates, similar, build, search)
        for name, obj in ((RESULTS, result), (LOWER_QUALITY, lower), (STATS, stats)):
            write_json(out_dir, name, obj)
