"""difPy-exact index stage: difPy 4.2.1's file list (dif.py L96-173, L811-834) and IDs."""

from __future__ import annotations

import glob
import os

from fastdiff.core.config import DEFAULT_EXTENSIONS
from fastdiff.core.file_lists import entry_name, is_list, read_list, split_duplicates
from fastdiff.core.options import IndexOptions
from fastdiff.core.records import IndexedFile, RejectedFile, Scan, Section

DIFPY_EXTENSIONS = frozenset(DEFAULT_EXTENSIONS) - {"bmp"}  # dif.py L163
UNSUPPORTED = "Unsupported file type"


def _listing(arg: str, recursive: bool, base: str | None) -> list[str]:
    """difPy's file list of one argument (L131-142): raw glob order, directories dropped."""
    if not os.path.isdir(os.path.join(base or "", arg)):
        return [arg]
    pattern = arg + "/**/*" if recursive else arg + "/*"
    found = glob.glob(pattern, root_dir=base, recursive=recursive)
    return [f for f in found if not os.path.isdir(os.path.join(base or "", f))]


def _list_entries(list_path: str, base: str | None, dir_index: int) -> tuple[list[str], list[RejectedFile]]:
    """The entries of a file list in list order (relative to base as the list is), and the rejected ones: a missing
    entry (unreadable, naming the list and line) and a repeated one (under the name 'LIST:LINE')."""
    unique, repeats = split_duplicates(read_list(list_path, base))
    paths, rejected = [], []
    for entry in unique:
        if os.path.lexists(os.path.join(base or "", entry.path)):
            paths.append(entry.path)
        else:
            why = f"No such file or directory (listed in {list_path}, line {entry.line})"
            rejected.append(RejectedFile(entry.path, 0, why, "unreadable", dir_index))
    for again, first in repeats:
        why = f"duplicate entry: {again.path} is listed again (first on line {first.line})"
        rejected.append(RejectedFile(entry_name(list_path, again.line), 0, why, "unreadable", dir_index))
    return paths, rejected


def _stat(path: str) -> tuple[int, float, int, int]:
    """size, ctime, inode, device; -1 each for a file that cannot be read. (No mtime_ns: it would take part in the
    keeper order, which difPy's does not know.)"""
    try:
        st = os.stat(path)
    except OSError:  # a broken link is listed by glob and fails to load, as in difPy
        return -1, -1.0, -1, -1
    return st.st_size, st.st_ctime, st.st_ino, st.st_dev


def scan(config: IndexOptions) -> Scan:
    """The files in difPy's order and with difPy's IDs as keys; unsupported extensions are rejected."""
    args = sorted(config.part_a)
    groups = [[a] for a in args] if config.in_folder else [args]
    files: list[IndexedFile] = []
    rejected: list[RejectedFile] = []
    sections = []
    for group in groups:
        section = Section(id=len(sections), part=0, folder=group[0] if config.in_folder else "")
        sections.append(section)
        for arg in group:
            dir_index = config.part_a.index(arg)
            if is_list(os.path.join(config.base_dir or "", arg)):
                listed, refused = _list_entries(arg, config.base_dir, dir_index)
                rejected += refused
            else:
                listed = _listing(arg, config.recursive, config.base_dir)
            for path in map(os.path.normpath, listed):
                size, ctime, inode, device = _stat(os.path.join(config.base_dir or "", path))
                if config.limit_extensions and path.split(".")[-1].lower() not in DIFPY_EXTENSIONS:
                    rejected.append(RejectedFile(path, 0, UNSUPPORTED, "unsupported", dir_index, size, ctime))
                else:
                    files.append(
                        IndexedFile(len(files), path, 0, section.id, size, ctime, dir_index, inode=inode, device=device)
                    )
    return Scan(files, rejected, sections)
