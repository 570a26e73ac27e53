"""The one configuration model of fastdiff, validated before any rule runs."""

from __future__ import annotations

import difflib
import os
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from fastdiff.core import userfn
from fastdiff.core.file_lists import LIST_EXTENSIONS, ListError, is_list, read_list
from fastdiff.core.formats import OPTIONAL_EXTENSIONS

# difPy 4.2.1's allowed extensions (dif.py L163) plus bmp, which OpenCV and Pillow both read.
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "apng",
    "bw",
    "cdf",
    "cur",
    "dcx",
    "dds",
    "dib",
    "emf",
    "eps",
    "fli",
    "flc",
    "fpx",
    "ftex",
    "fits",
    "gd",
    "gd2",
    "gif",
    "gbr",
    "icb",
    "icns",
    "iim",
    "ico",
    "im",
    "imt",
    "j2k",
    "jfif",
    "jfi",
    "jif",
    "jp2",
    "jpe",
    "jpeg",
    "jpg",
    "jpm",
    "jpf",
    "jpx",
    "mic",
    "mpo",
    "msp",
    "nc",
    "pbm",
    "pcd",
    "pcx",
    "pgm",
    "png",
    "ppm",
    "psd",
    "pixar",
    "ras",
    "rgb",
    "rgba",
    "sgi",
    "spi",
    "spider",
    "sun",
    "tga",
    "tif",
    "tiff",
    "vda",
    "vst",
    "wal",
    "webp",
    "xbm",
    "xpm",
    "bmp",
)
NAMED_THRESHOLDS: dict[str, int] = {"duplicates": 0, "similar": 5}
KeepCriterion = Literal["pixels", "prefer", "regular", "oldest", "fewer_copy_marks", "shortest_path"]
"""The criteria of the keeper order (`fastdiff.merge.keeper` gives each its SQL), for the config key `keep`."""
DEFAULT_KEEP: tuple[KeepCriterion, ...] = get_args(KeepCriterion)
"""The default of `keep`: more pixels, a preferred folder, a regular file, older, fewer copy marks, a shorter path."""
PILLOW_MAX_IMAGE_PIXELS = 89_478_485  # Pillow's MAX_IMAGE_PIXELS default (2**30 // 4 // 3)
SUBFOLDERS = "subfolders"  # in_folder: each direct subfolder of each part_a folder on its own (fastdiff.index)


class ConfigError(ValueError):
    """A configuration key has a bad value; the message names the key."""


def _check_lists(paths: list[str], base: str) -> None:
    """Read each file list among paths (under base), so that a bad one is a configuration error."""
    for path in paths:
        if is_list(os.path.join(base, path)):
            try:
                read_list(path, base)
            except ListError as err:
                raise ValueError(str(err)) from None


def _check_environment(info: ValidationInfo) -> bool:
    """Whether validation looks outside the mapping (folders, user functions): see load_config."""
    return (info.context or {}).get("check_environment", True)


class Config(BaseModel):
    """Every option of a fastdiff run. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Every key: its type, default, bounds and description, the one source of config/config.yaml,
    # workflow/schemas/config.schema.json and docs/configuration.md (fastdiff.core.config_files writes them).
    # compat and base_dir come first: the part_a check depends on them.
    compat: Literal["default", "difpy"] = Field(
        "default", description="'difpy': reproduce difPy 4.2.1 exactly, part_a being difPy's arguments"
    )
    base_dir: str | None = Field(
        None, description="compat difpy: relative part_a paths (files or folders) are resolved here"
    )
    part_a: list[str] = Field(min_length=1, description="folders or file lists compared all-to-all")
    part_b: list[str] = Field(
        default_factory=list,
        description="folders or file lists; if set, only pairs A x B are compared, B the reference",
    )
    prefer: list[str] = Field(
        default_factory=list, description="folders whose copies are kept when quality ties, most preferred first"
    )
    keep: list[str] = Field(
        default_factory=lambda: list(DEFAULT_KEEP),
        description="the keeper order, first difference wins: " + ", ".join(DEFAULT_KEEP) + " (byte order last)",
    )
    recursive: bool = Field(True, description="scan subfolders (symlinked folders followed once; cycles skipped)")
    in_folder: bool | Literal["subfolders"] = Field(
        False,
        description="compare only inside each part_a folder (results.json nested per folder); 'subfolders': inside "
        "each direct subfolder of each (and among the files directly in it)",
    )
    include_hidden: bool = Field(
        False, description="also search hidden files and folders (names starting with '.'); else skipped, counted"
    )
    ignore_names: list[str] = Field(default_factory=list, description="file or folder names skipped anywhere")
    ignore_paths: list[str] = Field(default_factory=list, description="folders whose subtrees are skipped")
    limit_extensions: bool = Field(True, description="only files with an allowed extension (case-insensitive)")
    allowed_extensions: list[str] = Field(
        default_factory=lambda: [*DEFAULT_EXTENSIONS, *OPTIONAL_EXTENSIONS],
        validate_default=True,
        description="extensions indexed: difPy's, bmp, HEIC, AVIF and JPEG XL (read where a decoder is installed)",
    )
    num_images: int | None = Field(
        None, ge=1, description="index only the first N images (index order), for trial runs; null: all"
    )
    shard_size: int = Field(2500, ge=1, description="files per index shard, that is per thumbnail job")
    block_size: int | Literal["auto"] = Field(
        "auto", description="images per compare block; 'auto': just large enough for max_compare_jobs jobs"
    )
    max_compare_jobs: int = Field(2000, ge=1, description="the most compare jobs block_size 'auto' makes")
    px_size: int = Field(50, ge=10, le=5000, description="thumbnail side in pixels (difPy's default 50)")
    shift_amount: int = Field(
        0, ge=-7, le=7, description="bit shift before hashing: > 0 keeps the top bits of each value, < 0 the low bits"
    )
    max_pixels: int = Field(
        PILLOW_MAX_IMAGE_PIXELS, ge=1, description="larger images are rejected before decoding (decompression bombs)"
    )
    threads: int = Field(
        2, ge=1, description="cores decoding in each thumbnail job; BLAS threads of the compare job when it is alone"
    )
    fast_jpeg: bool = Field(
        False, description="JPEGs decoded at 1/2-1/8 scale: faster, but no longer equal to a lossless copy"
    )
    alpha_background: tuple[int, int, int] = Field(
        (255, 255, 255), description="colour under transparent pixels: 'white', 'black' or [r, g, b] (0-255)"
    )
    grayscale: bool = Field(
        False, description="compare luma thumbnails (BT.601 as OpenCV), so a grey copy matches its colour original"
    )
    threshold: float | Literal["duplicates", "similar"] = Field(
        "duplicates", description="'duplicates' (MSE 0), 'similar' (MSE 5) or a number; pairs with MSE <= it match"
    )
    rotate: bool = Field(True, description="the MSE is the minimum over rotations 0/90/180/270")
    mirror: bool = Field(
        False, description="also over the mirror images: the minimum over the 8 symmetries of the square"
    )
    same_dim: bool = Field(True, description="only compare images of equal dimensions in either orientation (difPy)")
    match_aspect_by: float | None = Field(
        None, description="Fast-Diff-Py: 0 same size or transposed; x >= 1 aspect ratios within a factor x"
    )
    skip_matching_hash: bool = Field(
        False, description="pairs whose thumbnail hashes intersect are recorded (success 2, dif 0) without computing"
    )
    keep_non_matching_aspects: bool = Field(
        False, description="debugging: also record the pairs the size rules skipped (success 3, dif -1)"
    )
    tile_size: int | Literal["auto"] = Field(
        "auto", description="images per side of one matrix-product tile; 'auto': 1024 on a CPU, 8192 on a GPU"
    )
    prune: bool = Field(
        True, description="exact pruning by lower bounds, equal to brute force bit for bit; false: brute force"
    )
    device: Literal["cpu", "gpu", "auto"] = Field(
        "auto", description="'gpu': CuPy; 'auto': a GPU when one is usable, else the CPU"
    )
    do_compare: bool = Field(True, description="false: hash-only mode, only exact-thumbnail duplicates, no compare job")
    neighbors: int | None = Field(
        None, ge=1, description="also give every image its k closest images (exact; OUT/similarity.csv); null: off"
    )
    outlier_mse: float | None = Field(
        None, ge=0, description="images whose nearest neighbour is farther than this MSE are listed as outliers"
    )
    hash_fn: str | None = Field(
        None, description="dotted path of f(thumbnail) -> str replacing sha-256 for the rotation hashes"
    )
    cpu_diff: str | None = Field(None, description="dotted path of a difference replacing the MSE on the CPU")
    gpu_diff: str | None = Field(None, description="the same on a GPU (gets CuPy arrays)")
    output_dir: str = Field("results", description="where the output files go; intermediates in output_dir/work")
    report: bool = Field(False, description="also write the HTML report output_dir/report/")
    report_page_size: int = Field(50, ge=1, description="groups per report page")

    @field_validator("part_a", "part_b")
    @classmethod
    def _directories_exist(cls, dirs: list[str], info: ValidationInfo) -> list[str]:
        if not _check_environment(info):
            return dirs
        if info.data.get("compat") == "difpy":  # difPy's arguments: files or directories, exact strings unique
            base = info.data.get("base_dir") or ""
            missing = [d for d in dirs if not os.path.exists(os.path.join(base, d))]
            if missing or len(set(dirs)) != len(dirs):
                raise ValueError(
                    f"does not exist: {missing[0]!r}; give an existing file or folder"
                    if missing
                    else "the same path is given twice; give it once"
                )
            _check_lists(dirs, base)
            return dirs
        for d in dirs:
            if not os.path.isdir(d) and not is_list(d):
                what = "does not exist" if not os.path.lexists(d) else "is neither a folder nor a file list"
                lists = ", ".join(sorted(LIST_EXTENSIONS))
                raise ValueError(f"{d!r} {what}; give the folders (or file lists: {lists}) to search")
        _check_lists(dirs, "")
        if len(set(map(os.path.realpath, dirs))) != len(dirs):
            raise ValueError("the same folder is given twice; give it once")
        return dirs

    @field_validator("prefer")
    @classmethod
    def _preferred_folders(cls, dirs: list[str], info: ValidationInfo) -> list[str]:
        if _check_environment(info):
            missing = [d for d in dirs if not os.path.isdir(d)]
            if missing:
                raise ValueError(f"{missing[0]!r} is not a folder; give an existing folder")
        if len(set(map(os.path.abspath, dirs))) != len(dirs):
            raise ValueError("the same folder is given twice")
        return dirs

    @field_validator("keep")
    @classmethod
    def _keep_criteria(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in DEFAULT_KEEP:
                close = difflib.get_close_matches(name, list(DEFAULT_KEEP), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"unknown criterion {name!r}{hint}; the criteria are {', '.join(DEFAULT_KEEP)}")
        if len(set(names)) != len(names):
            raise ValueError("a criterion is given twice")
        return names

    @field_validator("hash_fn")
    @classmethod
    def _hash_function(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is not None and _check_environment(info):
            userfn.load_hash_fn(path)
        return path

    @field_validator("cpu_diff", "gpu_diff")
    @classmethod
    def _diff_function(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is not None and _check_environment(info):
            userfn.load_diff_fn(path, probe=info.field_name == "cpu_diff")
        return path

    @field_validator("allowed_extensions")
    @classmethod
    def _normalise_extensions(cls, exts: list[str]) -> list[str]:
        return sorted({e.lower().lstrip(".") for e in exts})

    @field_validator("alpha_background", mode="before")
    @classmethod
    def _background_colour(cls, value: Any) -> tuple[int, int, int]:
        named = {"white": (255, 255, 255), "black": (0, 0, 0)}
        if isinstance(value, str) and value.lower() in named:
            return named[value.lower()]
        if (
            isinstance(value, (list, tuple))
            and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
        ):
            return tuple(value)
        raise ValueError("must be 'white', 'black' or [r, g, b] with three integers 0-255")

    @field_validator("threshold")
    @classmethod
    def _non_negative(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not value >= 0:
            raise ValueError("must be 'duplicates', 'similar' or a number >= 0")
        return value

    @field_validator("block_size")
    @classmethod
    def _positive_block(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be 'auto' or an integer >= 1")
        return value

    @field_validator("match_aspect_by")
    @classmethod
    def _aspect_factor(cls, value: float | None) -> float | None:
        if value is not None and value != 0 and value < 1:
            raise ValueError("must be empty, 0 (same size or transposed) or a factor >= 1")
        return value

    @model_validator(mode="after")
    def _partition_modes(self) -> Config:
        if self.in_folder and self.part_b:
            raise ValueError("in_folder compares inside each folder of part_a; it cannot be combined with part_b")
        if self.in_folder == SUBFOLDERS and (self.compat == "difpy" or not self.do_compare):
            raise ValueError(
                "in_folder 'subfolders' needs the default mode with do_compare true; use in_folder: true (each "
                "part_a folder on its own) with compat 'difpy' or do_compare false"
            )
        if self.compat == "difpy" and (self.prefer or self.keep != list(DEFAULT_KEEP)):
            raise ValueError("compat 'difpy' keeps difPy's keeper rule: prefer and keep are not allowed")
        if self.compat == "difpy" and (self.part_b or not self.do_compare):
            raise ValueError("compat 'difpy' compares all pairs of part_a: part_b and do_compare false are not allowed")
        if self.compat == "difpy" and (self.cpu_diff or self.gpu_diff):
            raise ValueError("compat 'difpy' uses difPy's own metric: cpu_diff and gpu_diff are not allowed")
        if self.compat == "difpy" and (self.mirror or self.grayscale):
            raise ValueError(
                "compat 'difpy' reproduces difPy, which has neither mirrored nor greyscale matching: mirror and "
                "grayscale must be false (use the default mode)"
            )
        if self.neighbors is not None or self.outlier_mse is not None:
            key = "neighbors" if self.neighbors is not None else "outlier_mse"
            if self.compat == "difpy" or not self.do_compare or self.cpu_diff or self.gpu_diff:
                raise ValueError(
                    f"{key} ranks images by the MSE of the default mode's compare: it needs compat 'default', "
                    "do_compare true and no cpu_diff / gpu_diff"
                )
        return self

    @property
    def threshold_value(self) -> float:
        """The MSE threshold as a number: 'duplicates' is 0 and 'similar' is 5."""
        return self.threshold_number(self.threshold)

    @staticmethod
    def threshold_number(threshold: float | str) -> float:
        """A threshold value ('duplicates', 'similar' or a number) as a number (NAMED_THRESHOLDS)."""
        return float(NAMED_THRESHOLDS[threshold]) if isinstance(threshold, str) else float(threshold)


def load_config(raw: dict[str, Any], check_environment: bool = True) -> Config:
    """Validate a raw config mapping.

    Parameters
    ----------
    raw : dict
        The config as YAML or Snakemake give it.
    check_environment : bool
        Also check what lies outside the mapping: the input folders exist and the user functions import and behave
        on a tiny sample. False where that was already done for this very mapping (`fastdiff.run.runner`).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Naming every bad key with its value.
    """
    try:
        return Config.model_validate(raw, context={"check_environment": check_environment})
    except ValidationError as err:
        lines = _describe_all(err.errors())
        if len(lines) == 1:
            raise ConfigError(f"invalid configuration: {lines[0]}") from None
        raise ConfigError(f"invalid configuration ({len(lines)} problems):\n  " + "\n  ".join(lines)) from None


def _describe_all(errors: list[Any]) -> list[str]:
    """Each problem in one line; the alternatives of one key (a union such as threshold) in one line together."""
    by_key: dict[tuple[str, ...], list[Any]] = {}
    for e in errors:
        loc = tuple(str(p) for p in e["loc"])
        alternative = e["type"] not in ("value_error", "extra_forbidden") and len(loc) == 2 and not loc[1].isdigit()
        by_key.setdefault(loc[:1] if alternative else loc, []).append(e)
    lines = []
    for loc, group in by_key.items():
        if len(group) == 1:
            lines.append(_describe(group[0]))
            continue
        wanted = [e["msg"].replace("Input should be ", "").split(", ")[0] for e in group]
        lines.append(f"config key '{loc[0]}': must be {' or '.join(wanted)} (got {group[0].get('input')!r})")
    return lines


def _describe(error: Any) -> str:
    """One problem of a pydantic ValidationError as one line in plain words: the key, what is wrong, the value
    given where the words do not show it; never pydantic's own wording ('Value error, ...', 'Input should be')."""
    loc = [str(p) for p in error["loc"]]
    key = loc[0] if loc else ""
    item = f" (item {int(loc[1]) + 1})" if len(loc) > 1 and loc[1].isdigit() else ""
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(Config.model_fields), n=1)
        return f"unknown config key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "; remove it")
    if error["type"] in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
        message, got = str(error["ctx"]["error"]), ""  # our validators' own words, which name the value
    else:
        if error["type"] == "missing":
            return f"config key '{key}' is required"
        message = error["msg"].replace("Input should be", "must be")
        value = error.get("input")
        got = f" (got {value!r})" if "input" in error and not isinstance(value, dict) and loc else ""
    return f"config key '{key}'{item}: {message}{got}" if key else message
