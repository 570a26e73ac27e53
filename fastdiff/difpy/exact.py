"""compat 'difpy': difPy 4.2.1's results reproduced exactly, through the same index / thumbnails / compare / merge jobs.

Line numbers refer to difPy 4.2.1's dif.py (see ../shared/reference/difpy-4.2.1.md). What is reproduced, and how:

* enumeration (L96-173, L811-834): the arguments are string-sorted, each directory is listed by the very `glob` call
  difPy makes (run from `base_dir`, so paths stay as given), paths are `normpath`ed, the extension is the text after
  the last dot of the whole path; image IDs are positions in that list, so failed files consume IDs too.
* tensors (L229-248): Pillow opens the file, converts anything but RGB, and resizes to px x px with BICUBIC; any
  Pillow UserWarning or DecompressionBombWarning makes the file invalid, with difPy's message.
* the metric (L697-717): `mean(square(a - b))` on uint8, so differences and squares wrap modulo 256, minimum over
  rotations 0/90/180 (counter-clockwise) of the image with the higher ID only. Equal tensors are a match with 0.0
  (L445, L456); the wrap-around metric of equal tensors is 0 anyway, so no separate test is needed.
* grouping (L533-562), lower_quality (L564-633, L733-742) and stats (L748-805) follow difPy line by line, over the
  matches only, in Python: they are O(matches), not O(pairs).

The compare stage is vectorised: pairs of a tile are gathered in batches and summed over growing slices of a fixed
permutation of the values; every element contributes 0..255, so a partial sum above the threshold rules a pair out
early and unrelated pairs cost a few hundred values instead of 3 x 7500. With the 'duplicates' threshold a match
needs every difference to be a multiple of 16 (x*x mod 256 == 0 iff x mod 16 == 0), i.e. equal low nibbles, which
are matched by hashing in O(n).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from .. import database, index
from ..atomic import atomic_open, atomic_path
from ..batch import Batch
from ..compare import COMPUTED, CompareOptions, Dims, Pairs, _shape_key, allowed_each, allowed_pairs
from ..config import DEFAULT_EXTENSIONS, Config
from ..merge import _file_rows, load_pairs_in_order, stats_record
from ..special_files import NotRegularFile, open_regular

DIFPY_EXTENSIONS = frozenset(DEFAULT_EXTENSIONS) - {"bmp"}  # dif.py L163
UNIDENTIFIED = "UnidentifiedImageError: file could not be identified as image."
UNSUPPORTED = "Unsupported file type"
NOT_REGULAR = "OSError: file is not a regular file ({kind})."  # difPy would block on it; worded like UNIDENTIFIED
UNIT_BATCH = 16384  # (pair, rotation) units gathered at once (x slice width bytes)
FIRST_SLICE, MAX_SLICE = 256, 4096  # fewest values summed before the first pruning, and the widest slice
DENSE_FRACTION = 0.25  # a tile with at least this fraction of allowed pairs is summed densely
DENSE_BYTES = 2**22  # bytes of one dense difference chunk


# --- index ---------------------------------------------------------------------------------------------------------


def _listing(arg: str, recursive: bool, base: str | None) -> list[str]:
    """difPy's file list of one argument (L131-142): raw glob order, directories dropped."""
    if not os.path.isdir(os.path.join(base or "", arg)):
        return [arg]
    pattern = arg + "/**/*" if recursive else arg + "/*"
    found = glob.glob(pattern, root_dir=base, recursive=recursive)
    return [f for f in found if not os.path.isdir(os.path.join(base or "", f))]


def _stat(path: str) -> tuple[int, float]:
    try:
        st = os.stat(path)
    except OSError:  # a broken link is listed by glob and fails to load, as in difPy
        return -1, -1.0
    return st.st_size, st.st_ctime


def scan_difpy(config: Config) -> index.Scan:
    """The files in difPy's order and with difPy's IDs as keys; unsupported extensions are rejected."""
    args = sorted(config.part_a)
    groups = [[a] for a in args] if config.in_folder else [args]
    files: list[index.IndexedFile] = []
    rejected: list[index.RejectedFile] = []
    sections = []
    for group in groups:
        section = index.Section(id=len(sections), part=0, folder=group[0] if config.in_folder else "")
        sections.append(section)
        for arg in group:
            dir_index = config.part_a.index(arg)
            for path in map(os.path.normpath, _listing(arg, config.recursive, config.base_dir)):
                size, ctime = _stat(os.path.join(config.base_dir or "", path))
                if config.limit_extensions and path.split(".")[-1].lower() not in DIFPY_EXTENSIONS:
                    rejected.append(index.RejectedFile(path, 0, UNSUPPORTED, "unsupported", dir_index, size, ctime))
                else:
                    files.append(index.IndexedFile(len(files), path, 0, section.id, size, ctime, dir_index))
    return index.Scan(files, rejected, sections)


# --- thumbnails ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def difpy_warnings() -> Iterator[None]:
    """Pillow warnings as errors (L233-234), process-wide for the duration (the filters are global in Python 3.11-3.13,
    so the decoding threads started inside see them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def thumbnail(path: str, px_size: int, base_dir: str | None) -> tuple[np.ndarray, int, int] | str:
    """difPy's tensor of a file (L236-241) with its full-resolution (height, width), or difPy's error message."""
    full = os.path.join(base_dir or "", path)
    try:
        with open_regular(full) as fh, Image.open(fh) as img:
            rgb = img if img.getbands() == ("R", "G", "B") else img.convert("RGB")
            rgb.load()
            return np.asarray(rgb.resize((px_size, px_size), resample=Image.BICUBIC)), rgb.height, rgb.width
    except NotRegularFile as err:
        return NOT_REGULAR.format(kind=err.kind)
    except Exception as err:
        if type(err).__name__ == "UnidentifiedImageError":
            return UNIDENTIFIED
        if isinstance(err, OSError) and err.filename == full:  # report the path as difPy lists it
            err = type(err)(err.errno, err.strerror, path)
        return str(err)


# --- compare -------------------------------------------------------------------------------------------------------


def _zero_pairs(flat_a: np.ndarray, stack_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, k) with wrap-around SSE(a_i, rot_k(b_j)) == 0, i.e. equal values modulo 16, found by hashing."""
    by_nibbles: dict[bytes, list[int]] = {}
    for i, row in enumerate(flat_a & 15):
        by_nibbles.setdefault(row.tobytes(), []).append(i)
    found = [
        (i, j, k)
        for k, side in enumerate(stack_b)
        for j, row in enumerate(side & 15)
        for i in by_nibbles.get(row.tobytes(), ())
    ]
    return tuple(np.asarray(v, dtype=np.int64).reshape(-1) for v in (zip(*found) if found else ([], [], [])))


def _dense_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) wrap-around SSE of every row of a with every row of b, in row chunks of about DENSE_BYTES."""
    out = np.empty((len(a), len(b)), np.uint32)
    rows = max(1, DENSE_BYTES // max(1, b.size))
    for r in range(0, len(a), rows):
        diff = a[r : r + rows, None, :] - b[None, :, :]  # uint8: wraps modulo 256
        np.multiply(diff, diff, out=diff)  # the square wraps modulo 256 too
        diff.sum(axis=2, dtype=np.uint32, out=out[r : r + rows])
    return out


def _prune(
    flat_a: np.ndarray, stack_b: np.ndarray, units: tuple[np.ndarray, ...], start: int, width: int, threshold: float
) -> tuple[np.ndarray, ...]:
    """Continue the sums of units (i, j, k, sse over values [0, start)) over growing slices of the values, dropping
    a unit once its partial mean exceeds the threshold; return the units left, with their full sums."""
    d = flat_a.shape[1]
    done = []
    for s in range(0, max(1, len(units[0])), UNIT_BATCH):
        ui, uj, uk, sse = (u[s : s + UNIT_BATCH] for u in units)
        at, w = start, width
        while at < d and len(ui):
            end = min(d, at + w)
            diff = flat_a[ui, at:end] - stack_b[uk, uj, at:end]
            np.multiply(diff, diff, out=diff)
            sse = sse + diff.sum(axis=1, dtype=np.uint32)
            keep = sse / d <= threshold  # float64, as numpy's mean: exact sum / count
            ui, uj, uk, sse = ui[keep], uj[keep], uk[keep], sse[keep]
            at, w = end, min(2 * w, MAX_SLICE)
        done.append((ui, uj, uk, sse))
    return tuple(np.concatenate([u[c] for u in done]) for c in range(4))


def _tile_matches(
    flat_a: np.ndarray, stack_b: np.ndarray, ia: np.ndarray, ib: np.ndarray, mask: np.ndarray, threshold: float
) -> tuple[np.ndarray, ...]:
    """Units (i, j, k, sse) of the allowed pairs of a tile whose full wrap-around mean is <= threshold.

    The first slice of values is summed for all pairs of a dense tile at once (row chunks x all columns, no gather);
    a sparse tile gathers its pairs instead. Survivors continue in _prune.
    """
    d, rotations = flat_a.shape[1], stack_b.shape[0]
    width = min(d, max(FIRST_SLICE, 1 << math.ceil(math.log2(max(1.0, threshold * d / 100)))))
    ri, rj = np.nonzero(mask)
    if len(ri) >= DENSE_FRACTION * mask.size:
        a = flat_a[ia, :width]
        sums = [_dense_sums(a, stack_b[k][ib, :width])[ri, rj].astype(np.int64) for k in range(rotations)]
        sse = np.concatenate(sums)
        units = (np.tile(ia[ri], rotations), np.tile(ib[rj], rotations), np.repeat(np.arange(rotations), len(ri)), sse)
        keep = sse / d <= threshold
        return _prune(flat_a, stack_b, tuple(u[keep] for u in units), width, 2 * width, threshold)
    units = (
        np.repeat(ia[ri], rotations),
        np.repeat(ib[rj], rotations),
        np.tile(np.arange(rotations), len(ri)),
        np.zeros(len(ri) * rotations, np.int64),
    )
    return _prune(flat_a, stack_b, units, 0, width, threshold)


def _per_pair_minimum(i: np.ndarray, j: np.ndarray, mse: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, ...]:
    """One row per pair (i, j): its smallest mse over the rotations, and the first rotation reaching it."""
    first = np.lexsort((rot, mse, j, i))
    if len(first):
        first = first[np.r_[True, (np.diff(i[first]) != 0) | (np.diff(j[first]) != 0)]]
    return i[first], j[first], mse[first], rot[first]


def compare_blocks_difpy(a: Batch, b: Batch, opts: CompareOptions, same_block: bool) -> Pairs:
    """difPy's matches among the pairs of a x b (key_a < key_b; the image with the higher key is rotated)."""
    started = time.time()
    opts = dataclasses.replace(opts, match_aspect_by=None)  # difPy knows only same_dim
    if not same_block and len(a.keys) and len(b.keys) and a.keys.max() >= b.keys.min():
        raise ValueError("difPy's rotation rule needs every key of block a below every key of block b")
    d = int(np.prod(a.thumbs.shape[1:]))
    flat_a = a.thumbs.reshape(len(a.keys), d)
    stack_b = np.stack(
        [np.rot90(b.thumbs, k, axes=(1, 2)).reshape(len(b.keys), d) for k in range(3 if opts.rotate else 1)]
    )
    dims_a, dims_b = Dims.of(np, a, a.keys), Dims.of(np, b, b.keys)  # difPy pairs images in key order
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # (ia, ib, mse, rotation)
    if not 1 / d <= opts.threshold:  # only a zero sum matches
        ia, ib, rot = _zero_pairs(flat_a, stack_b)
        ok = allowed_each(np, dims_a, ia, dims_b, ib, opts, same_block)
        found.append(_per_pair_minimum(ia[ok], ib[ok], np.zeros(int(ok.sum())), rot[ok]))
    else:
        perm = np.random.default_rng(0).permutation(d)  # any order is exact; a spread one prunes sooner
        flat_a, stack_b = flat_a[:, perm], stack_b[:, :, perm]
        order_a = np.argsort(_shape_key(a, opts), kind="stable")
        order_b = np.argsort(_shape_key(b, opts), kind="stable")
        t = opts.tile_size
        for ta in range(0, len(order_a), t):
            for tb in range(0, len(order_b), t):
                ia, ib = order_a[ta : ta + t], order_b[tb : tb + t]
                mask = allowed_pairs(np, dims_a, ia, dims_b, ib, opts, same_block)
                if mask.any():
                    ui, uj, uk, sse = _tile_matches(flat_a, stack_b, ia, ib, mask, opts.threshold)
                    found.append(_per_pair_minimum(ui, uj, sse / d, uk))
    ia, ib, mse, rot = (np.concatenate([f[c] for f in found]) if found else np.zeros(0) for c in range(4))
    key_a, key_b = a.keys[ia.astype(np.int64)], b.keys[ib.astype(np.int64)]
    order = np.lexsort((key_b, key_a))
    return Pairs(
        key_a=key_a[order],
        key_b=key_b[order],
        mse=mse[order].astype(np.float64),
        rotation=rot[order].astype(np.int8),
        kind=np.full(len(order), COMPUTED, np.int8),
        started=started,
        finished=time.time(),
    )


# --- merge ---------------------------------------------------------------------------------------------------------


def sort_by_size(paths: list[str], base_dir: str | None) -> list[str]:
    """difPy's keeper order (L733-742): width + height of the file as Pillow opens it, then path, both descending."""
    sizes = []
    for p in paths:
        with open_regular(os.path.join(base_dir or "", p)) as fh, Image.open(fh) as im:
            sizes.append((sum(im.size), p))
    return [p for _, p in sorted(sizes, reverse=True)]


def group_matches(key_a: np.ndarray, key_b: np.ndarray, mse: np.ndarray) -> dict[int, list[tuple[int, float]]]:
    """difPy's grouping (L533-562) of matches sorted by (key_a, key_b): each image is a value once; keys are not
    marked, so an image can be a key and a value, and a match whose partner is already a value is dropped."""
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


def merge_difpy(
    config: Config,
    index_dir: str | os.PathLike[str],
    shard_paths: list[str],
    batch_paths: list[str],
    pair_paths: list[str],
    out_dir: str | os.PathLike[str],
) -> None:
    """The merge stage in compat 'difpy': fastdiff.sqlite plus difPy's result, lower_quality and stats.

    A path listed twice (nested input folders) keeps both IDs in difPy's files, as in difPy, but has one row in the
    database (directory paths are unique there); its second ID's pairs are left out of dif_table.
    """
    index_dir, out_dir = Path(index_dir), Path(out_dir)
    build: list[tuple[float, float]] = []
    index_order = index.read_order(index_dir)
    blocks = [load_pairs_in_order(p, index_order) for p in pair_paths]
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
    with atomic_path(out_dir / "fastdiff.sqlite") as db_path:
        db_path.unlink()
        con = database.create(db_path)
        for rows, hashes in _file_rows(index_dir, shard_paths, batch_paths, index_order, build):
            for key, p, _, error, success, *_rest, dir_index, _part in rows:
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
            database.insert_files(
                con, [r for r in rows if r[0] not in dropped], [h for h in hashes if h[0] not in dropped]
            )
        database.insert_pairs(
            con,
            (
                (a, b, m, COMPUTED, r)
                for a, b, m, r in zip(key_a.tolist(), key_b.tolist(), mse.tolist(), rot.tolist())
                if a not in dropped and b not in dropped
            ),
        )
        database.finish(con, config.model_dump())
        groups = group_matches(key_a, key_b, mse)
        con.executemany(
            "INSERT INTO best_copy_group VALUES (?, ?, ?)",
            ((b, a, m) for a, members in groups.items() for b, m in members if a not in dropped and b not in dropped),
        )
        con.commit()
        con.close()

        result: dict = {}
        if config.in_folder:
            folder_of = {d: os.path.dirname(path[k]) for d, k in first_valid.items()}
            for a, members in groups.items():
                folder = result.setdefault(folder_of[dir_of[a]], {})
                folder[path[a]] = [[path[b], m] for b, m in members]
        else:
            result = {path[a]: [[path[b], m] for b, m in members] for a, members in groups.items()}
        lower, _, duplicates, similar = lower_quality_and_counts(
            result, config.base_dir, config.threshold_value, config.in_folder
        )
        logs = {**failures, **dict.fromkeys(unsupported, UNSUPPORTED)}
        stats = stats_record(config, sorted(config.part_a), n_valid, logs, duplicates, similar, build, search)
        for name, obj in (("results.json", result), ("lower_quality.json", lower), ("stats.json", stats)):
            with atomic_open(out_dir / name, "w", encoding="ascii") as fh:
                json.dump(obj, fh)
