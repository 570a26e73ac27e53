"""Index stage: scan the partitions in a deterministic order, then lay the files out in shards and compare blocks
(fastdiff.index.layout, which keeps the layout of earlier runs)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

import numpy as np

from fastdiff._shared.atomic import atomic_directory, atomic_open
from fastdiff._shared.special_files import kind_of
from fastdiff.core.config import SUBFOLDERS
from fastdiff.core.file_counts import HIDDEN, IGNORED_NAME, IGNORED_PATH, UNSUPPORTED
from fastdiff.core.file_lists import entry_name, is_list, read_list, split_duplicates
from fastdiff.core.formats import missing_decoder
from fastdiff.core.options import IndexOptions
from fastdiff.core.records import IndexedFile, RejectedFile, Scan, Section, as_dict
from fastdiff.index import layout

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTED = "rejected.json"
ORDER = "order.npy"


class OverlapError(ValueError):
    """Every file of part_a is also in part_b: nothing would be compared."""


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)


def _extension(name: str) -> str | None:
    return name.rsplit(".", 1)[-1].lower() if "." in name else None


def _walk(
    root: str,
    recursive: bool,
    ignore_names: set[str],
    ignore_paths: list[str],
    visited: set[tuple[int, int]],
    include_hidden: bool = False,
) -> list[tuple[str, os.stat_result | OSError | str]]:
    """All file entries below root (sorted), each with its stat result, the error from stat, or, for an entry
    skipped unread (hidden, ignored name or path; a skipped folder is one entry), why (`fastdiff.core.file_counts`)."""
    found: list[tuple[str, os.stat_result | OSError | str]] = []
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
            path = entry.path
            if entry.name in ignore_names:
                found.append((path, IGNORED_NAME))
                continue
            if ignore_paths and _under(os.path.abspath(path), ignore_paths):
                found.append((path, IGNORED_PATH))
                continue
            if _is_hidden(entry.name) and not include_hidden:
                found.append((path, HIDDEN))
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


def _subfolders(root: str, ignore_names: set[str], ignore_paths: list[str], include_hidden: bool) -> list[str]:
    """The direct subfolders of root that a scan enters (not hidden unless include_hidden, not ignored), sorted."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []  # the walk of root reports the error
    return [
        e.path
        for e in entries
        if _is_dir(e)
        and e.name not in ignore_names
        and not (ignore_paths and _under(os.path.abspath(e.path), ignore_paths))
        and (include_hidden or not _is_hidden(e.name))
    ]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _section_folders(
    dirs: list[str], config: IndexOptions, ignore_names: set[str], ignore_paths: list[str]
) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """The sections of one partition: (folder, [(root to walk, its input folder, recursive), ...]) each.

    in_folder false: one section of all the folders; true: one per input folder; 'subfolders': per input folder,
    one of the files directly in it and one per direct subfolder (with recursive; `fastdiff run --in-folder` with
    one folder).
    """
    if not dirs:
        return []
    if not config.in_folder:
        return [("", [(d, d, config.recursive) for d in dirs])]
    if config.in_folder != SUBFOLDERS:
        return [(d, [(d, d, config.recursive)]) for d in dirs]
    sections = []
    for d in dirs:
        sections.append((d, [(d, d, False)]))
        if config.recursive:
            for sub in _subfolders(d, ignore_names, ignore_paths, config.include_hidden):
                sections.append((sub, [(sub, d, True)]))
    return sections


def _listed(
    list_path: str, ignore_names: set[str], ignore_paths: list[str]
) -> tuple[list[tuple[str, os.stat_result | OSError]], list[tuple[str, str]]]:
    """The entries of a file list (`fastdiff.core.file_lists`), each with its stat result or the error from stat (naming
    the list and line), and (name, reason) of each repeated entry. ignore_names and ignore_paths apply as in a
    folder; hidden names are kept (a list names its files on purpose)."""
    unique, repeats = split_duplicates(read_list(list_path))
    found: list[tuple[str, os.stat_result | OSError]] = []
    for entry in unique:
        path = entry.path
        if os.path.basename(path) in ignore_names or (ignore_paths and _under(os.path.abspath(path), ignore_paths)):
            continue
        try:
            found.append((path, os.stat(path)))
        except OSError as err:
            why = f"{err.strerror or err} (listed in {list_path}, line {entry.line})"
            found.append((path, OSError(err.errno, why)))
    duplicates = [
        (
            entry_name(list_path, again.line),
            f"duplicate entry: {again.path} is listed again (first on line {first.line})",
        )
        for again, first in repeats
    ]
    return found, duplicates


def first_images(result: Scan, num_images: int | None) -> Scan:
    """The scan with only its first num_images files (index order); rejected entries are all kept. None: all."""
    if num_images is None or num_images >= len(result.files):
        return result
    log.info("num_images %d: %d of %d files are indexed", num_images, num_images, len(result.files))
    return Scan(result.files[:num_images], result.rejected, result.sections, result.shared)


def scan(config: IndexOptions) -> Scan:
    """Scan the configured partitions into a deterministic, sorted list of files to decode.

    Parameters
    ----------
    config : IndexOptions

    Returns
    -------
    Scan
        Files in index order (partition A, then B; sorted paths in each section), the rejected entries and the
        sections. A file reached twice (nested folders, symlinks, bind mounts: the same st_dev and st_ino) is
        indexed once, and a file in both partitions as partition B's (`Scan.shared` counts them); a path listed
        twice is one entry.

    Raises
    ------
    OverlapError
        If part_b is set and every file of part_a is also in part_b.
    """
    ignore_names = set(config.ignore_names)
    ignore_paths = [os.path.abspath(p) for p in config.ignore_paths]
    allowed = set(config.allowed_extensions)
    all_dirs = config.part_a + config.part_b
    sections: list[Section] = []
    per_section: list[list[tuple[str, os.stat_result | OSError | str, int, bool]]] = []
    repeated: list[list[RejectedFile]] = []
    for part, dirs in ((0, config.part_a), (1, config.part_b)):
        for folder, walks in _section_folders(sorted(dirs), config, ignore_names, ignore_paths):
            sections.append(Section(id=len(sections), part=part, folder=folder))
            entries: list[tuple[str, os.stat_result | OSError | str, int, bool]] = []
            visited: set[tuple[int, int]] = set()
            repeated.append([])
            for root, top, recursive in walks:
                dir_index = all_dirs.index(top, len(config.part_a) if part else 0)
                if is_list(root):
                    found, duplicates = _listed(root, ignore_names, ignore_paths)
                    repeated[-1] += [RejectedFile(n, part, why, "unreadable", dir_index) for n, why in duplicates]
                else:
                    found = _walk(root, recursive, ignore_names, ignore_paths, visited, config.include_hidden)
                entries += [(p, st, dir_index, os.path.islink(p)) for p, st in found]
            per_section.append(sorted(entries, key=lambda e: e[0]))

    # Partition B is the reference: its sections claim files first, so a file in both partitions (B nested in A, the
    # same folder twice, a symlink or bind mount) is compared as B only. A path listed twice is one entry. In a
    # section, regular files claim before symbolic links, so a link to a file that is also found under its own name
    # is the alias, never the file indexed.
    kept: dict[int, list[tuple[str, os.stat_result, int, bool]]] = {}
    refused: dict[int, list[RejectedFile]] = {}
    seen: dict[tuple[int, int], tuple[str, int]] = {}  # (st_dev, st_ino) -> (path, part) of the file indexed
    listed: set[str] = set()
    shared = 0
    for i in sorted(range(len(sections)), key=lambda i: -sections[i].part):
        section, kept[i], refused[i] = sections[i], [], []
        for path, st, dir_index, link in sorted(per_section[i], key=lambda e: e[3]):  # stable: path order kept
            if path in listed:
                shared += section.part == 0 and bool(config.part_b)
                continue
            listed.add(path)
            if isinstance(st, str):
                refused[i].append(RejectedFile(path, section.part, st, "skipped", dir_index))
            elif isinstance(st, OSError):
                refused[i].append(RejectedFile(path, section.part, st.strerror or str(st), "unreadable", dir_index))
            elif not stat.S_ISREG(st.st_mode):
                reason = f"not a regular file ({kind_of(st.st_mode)})"
                refused[i].append(RejectedFile(path, section.part, reason, "unreadable", dir_index))
            elif (reason := missing_decoder(_extension(os.path.basename(path)))) or (
                config.limit_extensions and _extension(os.path.basename(path)) not in allowed
            ):
                reason = reason or UNSUPPORTED
                refused[i].append(
                    RejectedFile(path, section.part, reason, "unsupported", dir_index, st.st_size, st.st_ctime)
                )
            elif (st.st_dev, st.st_ino) in seen:
                first, part = seen[(st.st_dev, st.st_ino)]
                shared += part != section.part
                reason = f"same file as {first}"
                refused[i].append(RejectedFile(path, section.part, reason, "alias", dir_index, st.st_size, st.st_ctime))
            else:
                seen[(st.st_dev, st.st_ino)] = (path, section.part)
                kept[i].append((path, st, dir_index, link))
        kept[i].sort(key=lambda e: e[0])
        refused[i].sort(key=lambda r: r.path)

    files: list[IndexedFile] = []
    for section in sections:
        for path, st, dir_index, link in kept[section.id]:
            files.append(
                IndexedFile(
                    len(files),
                    path,
                    section.part,
                    section.id,
                    st.st_size,
                    st.st_ctime,
                    dir_index,
                    st.st_mtime_ns,
                    st.st_ino,
                    st.st_dev,
                    link,
                )
            )
        log.info("section %d: %d files indexed so far", section.id, len(files))
    rejected = [r for section in sections for r in refused[section.id] + repeated[section.id]]
    if shared:
        log.warning("%d files of part_a are also in part_b: they are compared as part_b (the reference) only", shared)
        if not any(f.part == 0 for f in files):
            raise OverlapError(
                f"part_a and part_b overlap completely: all {shared} files of part_a are also in part_b, so no "
                "A x B pair is left to compare; give part_a folders that hold files outside part_b"
            )
    return Scan(files, rejected, sections, shared)


def write_index(
    result: Scan, config: IndexOptions, out_dir: str | os.PathLike[str], layout_dir: str | os.PathLike[str]
) -> dict:
    """Update the layout kept in `layout_dir` with the files of a scan, and write `out_dir`/{manifest.json,
    rejected.json, order.npy} atomically; return the manifest.

    The manifest's "version" is a digest of the whole index. A marker file named after it is kept in `layout_dir`
    (version_path) and only written when the index changed, so a rule that takes the marker as input (the merge)
    runs again exactly when the index changed, although the index itself is written on every run.
    """
    plan, order = layout.update(layout.load(layout_dir, config), result.files, config)
    layout.save(plan, layout_dir)
    pairs = plan.pairs()
    manifest = {
        "n_files": len(result.files),
        "n_rejected": len(result.rejected),
        "n_shared": result.shared,
        "sections": [as_dict(s) for s in result.sections],
        "shards": [{"name": s.name, "part": s.part, "section": s.section, "n": len(s.files)} for s in plan.shards],
        "blocks": [{"name": b.name, "shards": list(b.shards)} for b in plan.blocks],
        "pairs": [list(p) for p in pairs],
    }
    rejected = json.dumps([as_dict(r) for r in result.rejected])
    digest = hashlib.sha256(json.dumps(manifest).encode() + rejected.encode() + order.tobytes())
    manifest["version"] = digest.hexdigest()[:16]
    with atomic_directory(out_dir) as tmp:
        (tmp / REJECTED).write_text(rejected)
        np.save(tmp / ORDER, order)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    _keep_version_marker(Path(layout_dir), manifest["version"])
    log.info(
        "indexed %d files (%d rejected) into %d shards, %d blocks, %d block pairs",
        len(result.files),
        len(result.rejected),
        len(plan.shards),
        len(plan.blocks),
        len(pairs),
    )
    return manifest


def version_path(layout_dir: str | os.PathLike[str], version: str) -> Path:
    """The marker file of an index version (see write_index)."""
    return Path(layout_dir) / f"index-{version}.version"


def _keep_version_marker(layout_dir: Path, version: str) -> None:
    """Create the marker of this version unless it exists (its time stamp must not change); remove older ones."""
    marker = version_path(layout_dir, version)
    if not marker.exists():
        with atomic_open(marker, "w", encoding="ascii") as fh:
            fh.write(version + "\n")
    for old in layout_dir.glob("index-*.version"):
        if old != marker:
            old.unlink()


def read_manifest(index_dir: str | os.PathLike[str]) -> dict:
    """The manifest that write_index wrote: n_files, n_rejected, n_shared, sections, shards, blocks, pairs,
    version."""
    return json.loads((Path(index_dir) / MANIFEST).read_text())


def read_rejected(index_dir: str | os.PathLike[str]) -> list[RejectedFile]:
    """The rejected entries of the index, in index order (they follow the indexed files in the database)."""
    return [RejectedFile(**r) for r in json.loads((Path(index_dir) / REJECTED).read_text())]


def read_order(index_dir: str | os.PathLike[str]) -> np.ndarray:
    """The map from layout keys to index keys.

    Returns
    -------
    numpy.ndarray
        int64 (number of layout keys,): `order[layout_key]` is the file's position in this run's index order (the
        `directory.key` of the database), -1 for layout keys no longer used.
    """
    return np.load(Path(index_dir) / ORDER)
