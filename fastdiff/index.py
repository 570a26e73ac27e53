"""Index stage: scan the partitions into sorted, fixed-size shards and plan the compare blocks."""
from __future__ import annotations

import json
import logging
import math
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic import atomic_directory
from .config import Config

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# With block_size 'auto', a compare block holds at least this many images: one block pair is then about
# 16M pairs (seconds of work), which amortises the start-up of a job and the loading of its batches.
AUTO_MIN_BLOCK_IMAGES = 4000
# device 'gpu': a job keeps its two blocks resident on the device; at 131,072 images a block pair is about
# 7e10 pairs, seconds of GPU work, against a second or two of CUDA start-up and batch loading.
AUTO_MIN_BLOCK_IMAGES_GPU = 131072
REJECTED = "rejected.json"


@dataclass(frozen=True)
class IndexedFile:
    """One file that will be decoded; `key` is its position in the global index order."""

    key: int
    path: str
    part: int  # 0 = partition A, 1 = partition B
    section: int  # pairs are only formed inside a section (or across A and B sections)
    size: int
    ctime: float
    dir_index: int  # position of the input directory it was found under (part_a, then part_b)
    mtime_ns: int = -1  # st_mtime_ns at indexing: the thumbnail job detects a file changed since (-1: unknown)


@dataclass(frozen=True)
class RejectedFile:
    """A directory entry that is never decoded, with the reason (shown in stats and the database)."""

    path: str
    part: int
    reason: str
    kind: str  # 'unsupported' | 'unreadable' | 'alias'
    dir_index: int
    size: int = -1
    ctime: float = -1.0


@dataclass(frozen=True)
class Section:
    """A set of files compared among themselves: one partition, or one input folder with in_folder."""

    id: int
    part: int
    folder: str


@dataclass
class Scan:
    files: list[IndexedFile]
    rejected: list[RejectedFile]
    sections: list[Section]


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)


def _extension(name: str) -> str | None:
    return name.rsplit(".", 1)[-1].lower() if "." in name else None


def _walk(root: str, recursive: bool, ignore_names: set[str], ignore_paths: list[str],
          visited: set[tuple[int, int]]) -> list[tuple[str, os.stat_result | OSError]]:
    """All non-hidden file entries below root (sorted), each with its stat result or the error from stat."""
    found: list[tuple[str, os.stat_result | OSError]] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in visited:
                log.warning("skipping %r: directory already scanned (symlink cycle or alias)", directory)
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            found.append((directory, err))
            continue
        subdirs = []
        for entry in entries:
            if _is_hidden(entry.name) or entry.name in ignore_names:
                continue
            path = entry.path
            if ignore_paths and _under(os.path.abspath(path), ignore_paths):
                continue
            try:
                st = entry.stat()  # follows symlinks: a loop or a broken link raises here
            except OSError as err:
                found.append((path, err))
                continue
            if stat.S_ISDIR(st.st_mode):
                if recursive:
                    subdirs.append(path)
            else:
                found.append((path, st))
        stack.extend(reversed(subdirs))
    return found


def scan(config: Config) -> Scan:
    """Scan the configured partitions into a deterministic, sorted list of files to decode."""
    if config.compat == "difpy":  # difPy's order: sorted arguments, then raw glob order
        from .difpy.exact import scan_difpy
        return scan_difpy(config)
    ignore_names = set(config.ignore_names)
    ignore_paths = [os.path.abspath(p) for p in config.ignore_paths]
    allowed = set(config.allowed_extensions)
    all_dirs = config.part_a + config.part_b
    sections: list[Section] = []
    per_section: list[list[tuple[str, os.stat_result | OSError, int]]] = []
    for part, dirs in ((0, config.part_a), (1, config.part_b)):
        ordered = sorted(dirs)
        groups = [[d] for d in ordered] if config.in_folder else ([ordered] if ordered else [])
        for group in groups:
            sections.append(Section(id=len(sections), part=part, folder=group[0] if config.in_folder else ""))
            entries: list[tuple[str, os.stat_result | OSError, int]] = []
            visited: set[tuple[int, int]] = set()
            for root in group:
                dir_index = all_dirs.index(root, len(config.part_a) if part else 0)
                entries += [(p, st, dir_index) for p, st in
                            _walk(root, config.recursive, ignore_names, ignore_paths, visited)]
            per_section.append(sorted(entries, key=lambda e: e[0]))

    files: list[IndexedFile] = []
    rejected: list[RejectedFile] = []
    seen: dict[tuple[int, int], str] = {}
    for section, entries in zip(sections, per_section):
        for path, st, dir_index in entries:
            if isinstance(st, OSError):
                rejected.append(RejectedFile(path, section.part, st.strerror or str(st), "unreadable", dir_index))
                continue
            if not stat.S_ISREG(st.st_mode):
                rejected.append(RejectedFile(path, section.part, "not a regular file", "unreadable", dir_index))
                continue
            if config.limit_extensions and _extension(os.path.basename(path)) not in allowed:
                rejected.append(RejectedFile(path, section.part, "Unsupported file type", "unsupported", dir_index,
                                             st.st_size, st.st_ctime))
                continue
            inode = (st.st_dev, st.st_ino)
            if inode in seen:
                rejected.append(RejectedFile(path, section.part, f"same file as {seen[inode]}", "alias", dir_index,
                                             st.st_size, st.st_ctime))
                continue
            seen[inode] = path
            files.append(IndexedFile(len(files), path, section.part, section.id, st.st_size, st.st_ctime, dir_index,
                                     st.st_mtime_ns))
        log.info("section %d: %d files indexed so far, %d rejected", section.id, len(files), len(rejected))
    return Scan(files, rejected, sections)


def _shards(files: list[IndexedFile], shard_size: int) -> list[list[IndexedFile]]:
    """Split into shards of at most shard_size files; a shard never spans two sections."""
    shards: list[list[IndexedFile]] = []
    for f in files:
        if not shards or len(shards[-1]) == shard_size or shards[-1][-1].section != f.section:
            shards.append([])
        shards[-1].append(f)
    return shards


def _blocks(shards: list[list[IndexedFile]], per_block: int) -> list[list[int]]:
    """Group consecutive shards of one section into blocks of at most per_block shards."""
    blocks: list[list[int]] = []
    for sid, shard in enumerate(shards):
        if not blocks or len(blocks[-1]) == per_block or shards[blocks[-1][-1]][0].section != shard[0].section:
            blocks.append([])
        blocks[-1].append(sid)
    return blocks


def _pairs(blocks: list[list[int]], shards: list[list[IndexedFile]], two_partitions: bool) -> list[tuple[int, int]]:
    """Block pairs to compare: every A x B pair, or every i <= j pair inside one section."""
    meta = [(shards[b[0]][0].part, shards[b[0]][0].section) for b in blocks]
    pairs = []
    for i, (part_i, sec_i) in enumerate(meta):
        for j in range(i, len(blocks)):
            part_j, sec_j = meta[j]
            if two_partitions and part_i == 0 and part_j == 1:
                pairs.append((i, j))
            elif not two_partitions and sec_i == sec_j:
                pairs.append((i, j))
    return pairs


def plan_blocks(shards: list[list[IndexedFile]], config: Config) -> tuple[list[list[int]], list[tuple[int, int]]]:
    """Blocks and block pairs; with block_size 'auto' blocks hold at least AUTO_MIN_BLOCK_IMAGES images and
    grow until the number of block pairs fits max_compare_jobs."""
    two = bool(config.part_b)
    if config.block_size != "auto":
        per_block = max(1, math.ceil(config.block_size / config.shard_size))
        blocks = _blocks(shards, per_block)
        return blocks, _pairs(blocks, shards, two)
    min_images = AUTO_MIN_BLOCK_IMAGES_GPU if config.device == "gpu" else AUTO_MIN_BLOCK_IMAGES
    per_block = max(1, math.ceil(min_images / config.shard_size))
    while True:
        blocks = _blocks(shards, per_block)
        pairs = _pairs(blocks, shards, two)
        if len(pairs) <= config.max_compare_jobs or per_block >= len(shards):
            return blocks, pairs
        per_block = max(per_block + 1, math.ceil(per_block * math.sqrt(len(pairs) / config.max_compare_jobs)))


def shard_name(shard_id: int) -> str:
    return f"{shard_id:05d}"


def write_index(config: Config, out_dir: str | os.PathLike[str]) -> dict:
    """Scan and write `out_dir`/{manifest.json, rejected.json, shards/NNNNN.json} atomically; return the manifest."""
    result = scan(config)
    shards = _shards(result.files, config.shard_size)
    blocks, pairs = plan_blocks(shards, config)
    manifest = {
        "n_files": len(result.files),
        "n_rejected": len(result.rejected),
        "sections": [asdict(s) for s in result.sections],
        "shards": [{"id": shard_name(i), "part": s[0].part, "section": s[0].section, "n": len(s),
                    "first_key": s[0].key} for i, s in enumerate(shards)],
        "blocks": blocks,
        "pairs": [list(p) for p in pairs],
    }
    with atomic_directory(out_dir) as tmp:
        (tmp / "shards").mkdir()
        for i, shard in enumerate(shards):
            (tmp / "shards" / f"{shard_name(i)}.json").write_text(json.dumps([asdict(f) for f in shard]))
        (tmp / REJECTED).write_text(json.dumps([asdict(r) for r in result.rejected]))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    log.info("indexed %d files (%d rejected) into %d shards, %d blocks, %d block pairs",
             len(result.files), len(result.rejected), len(shards), len(blocks), len(pairs))
    return manifest


def read_manifest(index_dir: str | os.PathLike[str]) -> dict:
    return json.loads((Path(index_dir) / MANIFEST).read_text())


def read_shard(path: str | os.PathLike[str]) -> list[IndexedFile]:
    return [IndexedFile(**f) for f in json.loads(Path(path).read_text())]


def read_rejected(index_dir: str | os.PathLike[str]) -> list[RejectedFile]:
    return [RejectedFile(**r) for r in json.loads((Path(index_dir) / REJECTED).read_text())]
