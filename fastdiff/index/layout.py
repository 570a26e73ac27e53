"""The shard and block layout, kept from run to run so that a run after files were added, removed or changed
reuses every thumbnail batch and block output that is still valid (incremental runs).

A shard is a list of file records named `NNNNN-DIGEST`: a sequence number and the digest of its records. Every
output derived from a shard or a block is named after that content, so a shard whose files change gets a new name
and everything computed from it is computed again, while unchanged shards and blocks keep their names and outputs.

* A file keeps its key and shard while it exists; a changed file (size, times) stays in its shard under its key,
  which gives that shard a new digest. Removed files leave their shard; a shard left empty is dropped.
* New files go into new shards (in index order), and new shards into new blocks: only new x all is compared.
* Keys are stable, not the index order of a run from scratch: `order` maps each key to its position in that order
  (the keys the outputs use), and each compared pair is oriented by path order (fastdiff.compare).

The layout is made again from scratch when the settings that shape it change (see `_plan`), in difPy-compatible mode
(whose results depend on difPy's own file order), and when its files cannot be read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastdiff._shared.atomic import atomic_open
from fastdiff.core.options import IndexOptions
from fastdiff.core.records import IndexedFile, as_dict

log = logging.getLogger(__name__)

LAYOUT = "layout.json"
VERSION = 1
# With block_size 'auto', a compare block holds at least this many images: one block pair is then about
# 2e8 pairs, about 7 s of pruned compare on real images at 2.9e7 pairs/s (benchmarks/prune.py run; 1.5 minutes
# brute force), well beyond the ~2 s start-up of a job and the loading of its batches (150 MB a block at px 50).
# At 10^7 images, max_compare_jobs (2,000) makes blocks of about 160,000 images: a job is then about 15 minutes of
# pruned compare, and its memory (fastdiff.run.resources.compare_mem_mb) about 4 GB.
AUTO_MIN_BLOCK_IMAGES = 20000
# device 'gpu': a job keeps its two blocks resident on the device; at 131,072 images a block pair is about
# 7e10 pairs, seconds of GPU work, against a second or two of CUDA start-up and batch loading.
AUTO_MIN_BLOCK_IMAGES_GPU = 131072


@dataclass(frozen=True)
class Shard:
    """The files of one thumbnail job, named after their content.

    Attributes
    ----------
    name : str
        ``f"{seq:05d}-{digest}"``: a sequence number and the first 12 hex digits of the sha-256 of its records.
    files : tuple of IndexedFile
        In index order, all of one section; their `key` is the stable layout key.
    """

    name: str
    files: tuple[IndexedFile, ...]

    @property
    def section(self) -> int:
        """The section of its files (pairs are formed inside a section, or across the A and B sections)."""
        return self.files[0].section

    @property
    def part(self) -> int:
        """0 for partition A, 1 for partition B."""
        return self.files[0].part


@dataclass(frozen=True)
class Block:
    """The shards of one side of a compare job.

    Attributes
    ----------
    name : str
        The first 12 hex digits of the sha-256 of its shard names: a block output is reused exactly when its
        blocks are unchanged.
    shards : tuple of str
        Shard names, consecutive shards of one section.
    """

    name: str
    shards: tuple[str, ...]


@dataclass
class Layout:
    """The shards and blocks of a run, kept in `work/layout/` for the next run.

    Attributes
    ----------
    plan : dict
        The settings the layout was made for (`_plan`); another value of any of them means a layout from scratch.
    shards, blocks : list
        In the order they were made; new shards and blocks are appended.
    block_target : int
        Images per block that new blocks are filled to (block_size, or with 'auto' as planned by `_fit_blocks`).
    next_key, next_seq : int
        The layout key and shard sequence number the next new file and shard get.
    """

    plan: dict[str, object]
    shards: list[Shard]
    blocks: list[Block]
    block_target: int  # images per block that new blocks are filled to
    next_key: int
    next_seq: int

    def pairs(self) -> list[tuple[str, str]]:
        """Block pairs to compare: every A x B pair, or every pair (i <= j) of blocks of one section."""
        first = {s.name: s for s in self.shards}
        meta = [(first[b.shards[0]].part, first[b.shards[0]].section) for b in self.blocks]
        two = bool(self.plan["two_partitions"])
        pairs = []
        for i, (bi, (part_i, sec_i)) in enumerate(zip(self.blocks, meta)):
            for j, (bj, (part_j, sec_j)) in enumerate(zip(self.blocks, meta)):
                if (part_i == 0 and part_j == 1) if two else (i <= j and sec_i == sec_j):
                    pairs.append((bi.name, bj.name))
        return pairs


def _plan(config: IndexOptions) -> dict[str, object]:
    """The settings a layout was made for; another value of any of them means a layout from scratch."""
    return {
        "version": VERSION,
        "compat": config.compat,
        "two_partitions": bool(config.part_b),
        "in_folder": config.in_folder,
        "sections": [*sorted(config.part_a), "|", *sorted(config.part_b)],
        "shard_size": config.shard_size,
        "block_size": config.block_size,
        "max_compare_jobs": config.max_compare_jobs,
        "gpu_blocks": config.device == "gpu",
    }


def _digest(files: tuple[IndexedFile, ...] | list[IndexedFile]) -> str:
    return hashlib.sha256(json.dumps([as_dict(f) for f in files]).encode()).hexdigest()[:12]


def _shard(seq: int, files: list[IndexedFile]) -> Shard:
    return Shard(f"{seq:05d}-{_digest(files)}", tuple(files))


def _block(shards: list[str]) -> Block:
    return Block(hashlib.sha256("\n".join(shards).encode()).hexdigest()[:12], tuple(shards))


def _group(shards: list[Shard], target: int) -> list[Block]:
    """Consecutive shards of one section into blocks of about `target` images (whole shards, at least one)."""
    groups: list[list[Shard]] = []
    for s in shards:
        if not groups or groups[-1][0].section != s.section or sum(len(g.files) for g in groups[-1]) >= target:
            groups.append([])
        groups[-1].append(s)
    return [_block([s.name for s in g]) for g in groups]


def _fit_blocks(layout: Layout, config: IndexOptions, keep: list[Block]) -> None:
    """Blocks for the shards not in `keep` (new blocks filled to the block target); with block_size 'auto', all
    blocks are planned again, larger, when the block pairs would be more than max_compare_jobs."""
    kept = {n for b in keep for n in b.shards}
    layout.blocks = keep + _group([s for s in layout.shards if s.name not in kept], layout.block_target)
    if config.block_size != "auto":
        return
    total = sum(len(s.files) for s in layout.shards)
    while (n_pairs := len(layout.pairs())) > config.max_compare_jobs and layout.block_target < total:
        layout.block_target = max(
            layout.block_target + 1, math.ceil(layout.block_target * math.sqrt(n_pairs / config.max_compare_jobs))
        )
        layout.blocks = _group(sorted(layout.shards, key=lambda s: s.section), layout.block_target)
        log.info("%d block pairs would exceed max_compare_jobs: blocks of %d images", n_pairs, layout.block_target)


def _empty(config: IndexOptions) -> Layout:
    if config.block_size == "auto":
        target = AUTO_MIN_BLOCK_IMAGES_GPU if config.device == "gpu" else AUTO_MIN_BLOCK_IMAGES
    else:
        target = max(config.block_size, 1)
    return Layout(_plan(config), [], [], target, 0, 0)


def load(layout_dir: str | os.PathLike[str], config: IndexOptions) -> Layout:
    """The layout of the previous run, or an empty one when there is none it could reuse.

    A layout is not reused in difPy-exact mode (its results depend on difPy's own file order), when it was made for
    other settings, or when its files cannot be read or a shard does not match its digest (logged, never raised).
    """
    path = Path(layout_dir) / LAYOUT
    empty = _empty(config)
    if config.compat == "difpy" or not path.is_file():
        return empty
    try:
        state = json.loads(path.read_text())
        if state["plan"] != empty.plan:
            log.info("the layout of the previous run was made for other settings: a new layout")
            return empty
        shards = []
        for name in state["shards"]:
            files = tuple(IndexedFile(**f) for f in json.loads((Path(layout_dir) / f"{name}.json").read_text()))
            if not name.endswith("-" + _digest(files)):
                raise ValueError(f"shard {name} does not match its digest")
            shards.append(Shard(name, files))
        blocks = [Block(b["name"], tuple(b["shards"])) for b in state["blocks"]]
        return Layout(
            empty.plan, shards, blocks, int(state["block_target"]), int(state["next_key"]), int(state["next_seq"])
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("the layout of the previous run cannot be read (%s): a new layout", err)
        return empty


def update(previous: Layout, files: list[IndexedFile], config: IndexOptions) -> tuple[Layout, np.ndarray]:
    """The layout for the files of this run's scan, reusing `previous`.

    A file keeps its layout key and shard while it exists; a changed file stays in its shard under its key (the
    shard gets a new name); removed files leave their shard; new files go into new shards, in index order.

    Parameters
    ----------
    previous : Layout
        The previous run's layout (`load`), possibly empty.
    files : list of IndexedFile
        This run's scan, whose `key` is the index key (position in this run's index order).
    config : IndexOptions

    Returns
    -------
    layout : Layout
    order : ndarray of int64, shape (layout.next_key,)
        Layout key -> index key, -1 for layout keys no longer used.
    """
    found = {f.path: f for f in files}
    old_key: dict[str, int] = {}  # path -> key, of the files that stay in their shard
    layout = Layout(previous.plan, [], [], previous.block_target, previous.next_key, previous.next_seq)
    renamed: dict[str, str] = {}  # old shard name -> its name now (absent: no file left)
    for shard in previous.shards:
        kept = []
        for old in shard.files:
            new = found.get(old.path)
            if new is not None and (new.part, new.section) == (old.part, old.section):
                kept.append(dataclasses.replace(new, key=old.key))
                old_key[old.path] = old.key
        if kept:
            now = shard if tuple(kept) == shard.files else _shard(int(shard.name.split("-")[0]), kept)
            layout.shards.append(now)
            renamed[shard.name] = now.name
    order = np.full(previous.next_key + len(files), -1, np.int64)
    groups: list[list[IndexedFile]] = []  # new files, in index order, into new shards
    for f in files:  # (a path listed twice, as difPy lists nested folders, is two files)
        if f.path in old_key:
            order[old_key[f.path]] = f.key
            continue
        if not groups or len(groups[-1]) == config.shard_size or groups[-1][-1].section != f.section:
            groups.append([])
        groups[-1].append(dataclasses.replace(f, key=layout.next_key))
        order[layout.next_key] = f.key
        layout.next_key += 1
    for group in groups:
        layout.shards.append(_shard(layout.next_seq, group))
        layout.next_seq += 1
    keep = [_block([renamed[n] for n in b.shards if n in renamed]) for b in previous.blocks]
    _fit_blocks(layout, config, [b for b in keep if b.shards])
    order = order[: layout.next_key]
    reused = sum(1 for name, now in renamed.items() if name == now)
    log.info(
        "layout: %d shards (%d unchanged, %d changed, %d new), %d blocks; %d files added",
        len(layout.shards),
        reused,
        len(renamed) - reused,
        len(groups),
        len(layout.blocks),
        sum(len(g) for g in groups),
    )
    return layout, order


def save(layout: Layout, layout_dir: str | os.PathLike[str]) -> None:
    """Write the shards that are new, then layout.json (atomically), then remove shard files no longer used."""
    layout_dir = Path(layout_dir)
    layout_dir.mkdir(parents=True, exist_ok=True)
    names = {s.name for s in layout.shards}
    for s in layout.shards:
        target = layout_dir / f"{s.name}.json"
        if not target.exists():
            with atomic_open(target, "w", encoding="utf-8") as fh:
                fh.write(json.dumps([as_dict(f) for f in s.files]))  # dumps: the C encoder (dump's is Python's)
    state = {
        "plan": layout.plan,
        "shards": [s.name for s in layout.shards],
        "blocks": [{"name": b.name, "shards": list(b.shards)} for b in layout.blocks],
        "block_target": layout.block_target,
        "next_key": layout.next_key,
        "next_seq": layout.next_seq,
    }
    with atomic_open(layout_dir / LAYOUT, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1)
    for p in layout_dir.glob("*.json"):
        if p.name != LAYOUT and p.stem not in names:
            p.unlink()


def read_shard(path: str | os.PathLike[str]) -> list[IndexedFile]:
    """The file records of a shard file (`work/layout/NNNNN-DIGEST.json`), keyed by layout key."""
    return [IndexedFile(**f) for f in json.loads(Path(path).read_text())]


def remove_stale(directory: str | os.PathLike[str], keep: list[str]) -> int:
    """Delete the .npz outputs in `directory` that are not in `keep` (left by earlier layouts); return how many."""
    wanted = {os.path.abspath(p) for p in keep}
    stale = [p for p in Path(directory).glob("*.npz") if os.path.abspath(p) not in wanted]
    for p in stale:
        p.unlink()
    return len(stale)
