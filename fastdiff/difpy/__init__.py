"""difPy 4.2.1's Python API (`build`, `search`) on fastdiff's workflow: `from fastdiff.difpy import build, search`.

With `exact=True` (config `compat: difpy`) the results are difPy 4.2.1's, byte for byte (see exact.py); by default
they are fastdiff's (true MSE, four rotations, each image in one group under its best copy) in difPy's formats.
Parameters are validated with difPy's rules and messages. `build` only checks its arguments: the index and thumbnail
stages run with the first `search`, and later searches on the same build reuse them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

from fastdiff.actions import safe_files
from fastdiff.actions.file_checks import Comparison, comparison_of_run
from fastdiff.core.config import ConfigError
from fastdiff.difpy_exact.merge import kept_pairs, lower_quality_and_counts
from fastdiff.run.runner import INTERRUPTED, RESUME_LINE, RunError, default_config, run_workflow
from fastdiff.run.screen import PROGRESS, QUIET

__all__ = ["build", "search"]

EXTENSION_MESSAGE = "{} is fastdiff's extension: difPy has no such option, so exact mode (--difpy-exact) refuses it"
LAZY_MESSAGE = 'Parameter "-la" / "lazy" was renamed to "-dim" / "same_dim" with difPy v4.2. Please update your script.'


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    if "lazy" in kwargs:  # difPy ignores any other unknown keyword (L942-944)
        raise ValueError(LAZY_MESSAGE)


def _check_bool(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, bool):
            raise ValueError(f'Invalid value for "{name}" parameter: must be of type BOOL.')


def _check_processes(processes: Any) -> int:
    if not isinstance(processes, int) or isinstance(processes, bool):
        raise ValueError('Invalid value for "processes" parameter: must be of type INT.')
    if processes < 1:
        raise ValueError('Invalid value for "processes" parameter: must be >= 1.')
    if processes > (os.cpu_count() or 1):
        raise ValueError(
            'Invalid value for "processes" parameter: must be <= the number of CPU cores (os.cpu_count()).'
        )
    return processes


def _directories(directory: tuple[Any, ...]) -> list[str]:
    """difPy's directory arguments (L811-834): strings (or paths), or lists of them; each must exist, no repeats."""
    if not directory:
        raise ValueError("Invalid directory parameter: no directory provided.")
    if all(isinstance(d, list) for d in directory):
        flat = [item for sub in directory for item in sub]
    elif all(isinstance(d, (str, os.PathLike)) for d in directory):
        flat = list(directory)
    else:
        raise ValueError("Invalid directory parameter: directories must be of type LIST or STRING.")
    flat = [os.fspath(d) for d in flat]
    for d in flat:
        if not (os.path.isdir(d) or os.path.isfile(d)):
            raise FileNotFoundError(f'Directory "{Path(d)}" does not exist')
    if len(set(flat)) != len(flat):
        raise ValueError("Invalid directory parameters: invalid attempt to compare a directory with itself.")
    return flat


def _similarity(similarity: Any) -> str | float:
    """difPy's similarity (L854-874): 'duplicates', 'similar' or a number >= 0."""
    if similarity in ("low", "normal", "high"):
        raise ValueError(
            'Since difPy v3.0.8, "similarity" parameter only accepts "duplicates" and "similar" as input options.'
        )
    if similarity in ("duplicates", "similar"):
        return similarity
    try:
        value = float(similarity)
    except (TypeError, ValueError):
        value = -1.0
    if not value >= 0:
        raise ValueError(
            'Invalid value for "similarity" parameter: must be "duplicates", "similar" or of type INT or FLOAT.'
        )
    return value


class build:
    """difPy.build: the images of the directories (or files) to search, and how to read them."""

    def __init__(
        self,
        *directory: str | os.PathLike[str] | list,
        recursive: bool = True,
        in_folder: bool = False,
        limit_extensions: bool = True,
        px_size: int = 50,
        show_progress: bool = True,
        processes: int = os.cpu_count() or 1,
        exact: bool = False,
        work_dir: str | None = None,
        grayscale: bool = False,
        **kwargs: Any,
    ) -> None:
        """exact: reproduce difPy 4.2.1 exactly. work_dir: where the workflow keeps its intermediate files (a run
        killed there resumes); by default a temporary folder, removed with this object. grayscale (fastdiff's, not
        difPy's): compare luma thumbnails, so that greyscale copies match their colour originals."""
        _check_kwargs(kwargs)
        self.directory = _directories(directory)
        _check_bool(
            recursive=recursive,
            in_folder=in_folder,
            limit_extensions=limit_extensions,
            show_progress=show_progress,
            exact=exact,
            grayscale=grayscale,
        )
        if exact and grayscale:
            raise ValueError(EXTENSION_MESSAGE.format("grayscale"))
        if not isinstance(px_size, int) or isinstance(px_size, bool):
            raise ValueError('Invalid value for "px_size" parameter: must be of type INT.')
        if not 10 <= px_size <= 5000:
            raise ValueError('Invalid value for "px_size" parameter: must be between 10 and 5000.')
        self.base_dir = os.getcwd()
        if not exact and not all(os.path.isdir(d) for d in self.directory):
            raise ValueError("file arguments are only supported with exact=True (--difpy-exact); give directories")
        self.exact, self.processes = exact, _check_processes(processes)
        self.config: dict[str, Any] = {
            "recursive": recursive,
            "in_folder": in_folder,
            "limit_extensions": limit_extensions,
            "px_size": px_size,
            "threads": self.processes,
            **({"grayscale": True} if grayscale else {}),
            **(
                {"compat": "difpy", "base_dir": self.base_dir, "part_a": self.directory}
                if exact
                else {"part_a": [os.path.abspath(d) for d in self.directory]}
            ),
        }
        self.stats: dict[str, Any] | None = None  # difPy fills it during build; here the last search's stats
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fastdiff-difpy-"))
        if work_dir is None:
            weakref.finalize(self, shutil.rmtree, self.work_dir, True)

    def close(self) -> None:
        """Remove the intermediate files now."""
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def run(self, search_config: dict[str, Any], show_progress: bool, cores: int) -> dict[str, Any]:
        """Run the workflow with the search options; return results, lower_quality and stats as paths are given."""
        raw = {**default_config(), **self.config, **search_config, "output_dir": str(self.work_dir.absolute())}
        try:
            code = run_workflow(raw, cores, show=PROGRESS if show_progress else QUIET)
        except (ConfigError, RunError) as err:
            raise ValueError(str(err)) from None
        if code == INTERRUPTED:  # Ctrl-C: the runner showed the resume line; the caller sees the interruption
            raise KeyboardInterrupt(RESUME_LINE)
        if code != 0:
            raise RuntimeError(
                f"the fastdiff workflow failed (exit code {code}); its logs are in {self.work_dir / 'work' / 'logs'}"
            )
        out = {
            name: json.loads((self.work_dir / f"{name}.json").read_text())
            for name in ("results", "lower_quality", "stats")
        }
        return out if self.exact else self._as_given(out)

    def _as_given(self, out: dict[str, Any]) -> dict[str, Any]:
        """Default mode: the workflow's absolute paths shown under the directory arguments as the caller gave them."""
        roots = sorted(((os.path.abspath(d), d) for d in self.directory), key=lambda r: -len(r[0]))

        def show(path: str) -> str:
            for root, given in roots:
                if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                    return os.path.normpath(os.path.join(given, os.path.relpath(path, root)))
            return path

        def groups(result: dict[str, Any]) -> dict[str, Any]:
            return {show(k): [[show(p), m] for p, m in v] for k, v in result.items()}

        results = out["results"]
        stats = out["stats"]
        stats["directory"] = sorted(self.directory)
        stats["invalid_files"]["logs"] = {show(p): m for p, m in stats["invalid_files"]["logs"].items()}
        stats["skipped_files"] = {show(p): m for p, m in stats.get("skipped_files", {}).items()}
        return {
            "results": {show(f): groups(g) for f, g in results.items()}
            if self.config["in_folder"]
            else groups(results),
            "lower_quality": [show(p) for p in out["lower_quality"]],
            "stats": stats,
        }


class search:
    """difPy.search: the matches of a build, with `.result`, `.lower_quality`, `.stats`, `.move_to`, `.delete`."""

    def __init__(
        self,
        difpy_obj: build,
        similarity: str | float = "duplicates",
        rotate: bool = True,
        same_dim: bool = True,
        show_progress: bool = True,
        processes: int = os.cpu_count() or 1,
        chunksize: int | None = None,
        mirror: bool = False,
        **kwargs: Any,
    ) -> None:
        """mirror (fastdiff's, not difPy's): also match mirror images (the minimum over the 8 symmetries)."""
        _check_kwargs(kwargs)
        self._build = difpy_obj
        threshold = _similarity(similarity)
        _check_bool(rotate=rotate, same_dim=same_dim, show_progress=show_progress, mirror=mirror)
        if mirror and difpy_obj.exact:
            raise ValueError(EXTENSION_MESSAGE.format("mirror"))
        _check_processes(processes)
        if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
            raise ValueError(
                'Invalid value for "chunksize" parameter: must be of type INT or None.'
                if not isinstance(chunksize, int)
                else 'Invalid value for "chunksize" parameter: must be >= 1.'
            )
        search_config = {"threshold": threshold, "rotate": rotate, "same_dim": same_dim}
        out = difpy_obj.run({**search_config, **({"mirror": True} if mirror else {})}, show_progress, processes)
        self.result: dict[str, Any] = out["results"]
        self.lower_quality: list[str] = out["lower_quality"]
        self.stats: dict[str, Any] = out["stats"]
        # what was compared (sizes, times, inodes, groups, folders), checked again before any move or delete
        self.comparison = comparison_of_run(difpy_obj.work_dir)[0]
        if difpy_obj.exact:  # difPy's groups and keepers, not the database's best-copy groups
            pairs = kept_pairs(self.result, difpy_obj.base_dir, difpy_obj.config["in_folder"])
            self.comparison.kept_of = Comparison.of([], pairs, [], difpy_obj.base_dir).kept_of
        # the workflow reports the build's processes; chunksize is only echoed, as in difPy's <= 5000-image path
        self.stats["process"]["search"]["parameters"].update(processes=processes, chunksize=chunksize)
        difpy_obj.stats = self.stats

    def kept(self) -> list[str]:
        """The image kept in each group: the best copy (default mode), or difPy's keeper (exact mode)."""
        in_folder = self._build.config["in_folder"]
        if self._build.exact:
            return lower_quality_and_counts(self.result, self._build.base_dir, 0, in_folder)[1]
        return [k for groups in (self.result.values() if in_folder else [self.result]) for k in groups]

    def _absolute(self, paths: list[str]) -> list[str]:
        return [os.path.join(self._build.base_dir, p) for p in paths]

    def move_to(self, destination_path: str, dry_run: bool = False, manifest: str | None = None) -> safe_files.Outcome:
        """Move the lower-quality images into destination_path (safe_files.move: each file checked against what was
        compared, no overwrite, undo journal, by default `difPy_<time>_manifest.json` in the destination). Returns
        what was moved, what failed and what was skipped; the files not moved stay in lower_quality under their
        old paths. Raises safe_files.Interrupted on Ctrl-C, after the file at hand."""
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        manifest = manifest or os.path.join(destination_path, f"difPy_{stamp}_manifest.json")
        outcome = safe_files.move(
            self._absolute(self.lower_quality),
            self._absolute(self.kept()),
            destination_path,
            manifest,
            dry_run=dry_run,
            comparison=self.comparison,
        )
        if not dry_run:
            left = [source for source, _ in outcome.failed + outcome.skipped]
            self.lower_quality = [target for _, target in outcome.done] + left
        return outcome

    def delete(
        self, silent_del: bool = False, dry_run: bool = False, trash: str | None = None, manifest: str | None = None
    ) -> safe_files.Outcome:
        """Delete the lower-quality images: they are moved into a trash folder (by default `difPy_<time>_deleted`
        in the current directory, with its manifest), after a confirmation unless silent_del. Returns what was
        deleted and what failed."""
        _check_bool(silent_del=silent_del)
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        trash = trash or os.path.abspath(f"difPy_{stamp}_deleted")
        return safe_files.delete(
            self._absolute(self.lower_quality),
            self._absolute(self.kept()),
            trash,
            manifest or os.path.join(trash, "manifest.json"),
            assume_yes=silent_del,
            dry_run=dry_run,
            comparison=self.comparison,
        )
