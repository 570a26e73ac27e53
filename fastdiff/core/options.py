"""The options of each stage: plain, JSON-able dataclasses built once from the validated config.

Each is what the stage's Snakemake rule passes as `params: options=...` (so a change of any field reruns that stage
and what follows, and nothing else), and what its job reads back (`from_params`); jobs never see the whole config
and never validate it again. The set of config keys a stage depends on is therefore derived from these fields, not
listed by hand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Self

from fastdiff.core.config import Config
from fastdiff.core.userfn import load_diff_fn

# tile_size 'auto': cache-sized products on a CPU, large ones on a GPU (measured: benchmarks/README.md)
CPU_TILE, GPU_TILE = 1024, 8192
# Presentation-only keys: changing them reruns the report, never the merge.
REPORT_KEYS = frozenset({"report", "report_page_size"})


def default(key: str) -> Any:
    """The default of a config key in the configuration model, the one source of defaults."""
    return Config.model_fields[key].default


def search_k(neighbors: int | None, outlier_mse: float | None) -> int | None:
    """How many neighbours the compare stage finds for each image: the config key `neighbors`, or 1 when only
    `outlier_mse` is set (outliers follow from the nearest neighbour); None: none."""
    return neighbors or (1 if outlier_mse is not None else None)


class _StageOptions:
    """Conversion between an options dataclass and its Snakemake params."""

    def to_params(self) -> dict[str, Any]:
        """The options as the plain dict a rule's `params: options=` holds."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """The options a job received as `snakemake.params.options`."""
        return cls(**dict(params))

    @classmethod
    def _select(cls, config: Config, **derived: Any) -> Self:
        """The config keys named like the fields, plus `derived` values for the other fields."""
        names = {f.name for f in fields(cls)} - set(derived)  # type: ignore[arg-type]
        return cls(**config.model_dump(include=names), **derived)


@dataclass(frozen=True)
class IndexOptions(_StageOptions):
    """What the index stage scans and how it lays the files out (see `fastdiff.index`, `fastdiff.index.layout`)."""

    part_a: list[str]
    part_b: list[str]
    recursive: bool
    in_folder: bool | str
    include_hidden: bool
    ignore_names: list[str]
    ignore_paths: list[str]
    limit_extensions: bool
    allowed_extensions: list[str]
    shard_size: int
    block_size: int | str
    max_compare_jobs: int
    device: str
    compat: str
    base_dir: str | None
    num_images: int | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The keys of the same names of a validated config."""
        return cls._select(config)


@dataclass(frozen=True)
class ThumbnailOptions(_StageOptions):
    """How each file becomes a thumbnail (see `fastdiff.thumbnails`).

    Attributes
    ----------
    px_size : int
        Side of the square thumbnail in pixels.
    shift_amount : int
        Bit shift applied to the pixels before hashing (-7..7; Fast-Diff-Py's hash rule).
    max_pixels : int
        The largest image decoded, in pixels (width x height); a larger file gets "image too large: ...".
    rotate, mirror : bool
        The symmetries hashed (`fastdiff.thumbnails.build.rotation_hashes`): the 4 rotations, and with mirror the
        mirrored ones (else only hash_0 is written, the others '').
    hash_fn : str or None
        A user hash's import path (`fastdiff.core.userfn`); None: sha-256.
    compat : str
        'default', or 'difpy' for difPy 4.2.1's thumbnails (`fastdiff.run.stages`).
    base_dir : str or None
        difPy-exact mode: the folder relative part_a paths are resolved against (and reported as given).
    fast_jpeg : bool
        Decode JPEGs at a reduced DCT scale (faster; a JPEG and a lossless copy then differ slightly).
    alpha_background : list of int
        [r, g, b] (0-255) that transparent pixels are composited onto (`fastdiff.thumbnails.composite`).
    grayscale : bool
        Store the luma thumbnail (BT.601, as cv2.cvtColor RGB2GRAY) in all three channels.
    """

    px_size: int
    shift_amount: int
    max_pixels: int
    rotate: bool
    mirror: bool
    grayscale: bool
    hash_fn: str | None
    compat: str
    base_dir: str | None
    fast_jpeg: bool
    alpha_background: list[int]

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The keys of the same names of a validated config; alpha_background as [r, g, b]."""
        return cls._select(config, alpha_background=list(config.alpha_background))


@dataclass(frozen=True)
class CompareOptions(_StageOptions):
    """Which pairs of two blocks are compared and which match (see `fastdiff.compare`).

    Attributes
    ----------
    threshold : float
        Pairs with MSE <= threshold match (MSE on the 0-255 scale over px*px*3 values).
    rotate : bool
        The MSE is the minimum over the rotations 0/90/180/270 of the second image.
    mirror : bool
        ... and over their mirror images (the 8 symmetries, `fastdiff.compare.kernel.symmetries`).
    same_dim, match_aspect_by : bool, float or None
        Size rules (`fastdiff.compare.pairing.compatible_pairs`).
    skip_matching_hash : bool
        Pairs whose rotation hashes intersect are recorded as hash matches without computing.
    keep_non_matching_aspects : bool
        Also record the pairs the size rules skipped (Fast-Diff-Py's success 3).
    tile_size : int or None
        Images per side of one matrix-product tile; None ('auto') chooses by device (`tile`).
    two_partitions : bool
        Blocks of partition A are compared with blocks of partition B.
    device : str
        'cpu', 'gpu' or 'auto' (`fastdiff.core.device.array_module`).
    cpu_diff, gpu_diff : str or None
        Import paths of user differences replacing the MSE.
    diff_vectorised : bool
        Whether `cpu_diff` works on stacks of thumbnails, as found out once when the config was validated.
    compat : str
        'default', or 'difpy' for difPy 4.2.1's metric (`fastdiff.run.stages`).
    prune : bool
        Skip pairs by exact lower bounds before the exact kernel (`fastdiff.compare.prune`); False is brute force, the
        reference in tests and benchmarks. The results are the same either way.
    neighbors : int or None
        Also find the k closest images of every image (`fastdiff.compare.neighbors`): the config key `neighbors`, or 1
        when
        only `outlier_mse` is set (outliers follow from the nearest neighbour); None: no neighbours.
    """

    threshold: float
    rotate: bool = default("rotate")
    mirror: bool = default("mirror")
    same_dim: bool = default("same_dim")
    match_aspect_by: float | None = default("match_aspect_by")
    skip_matching_hash: bool = default("skip_matching_hash")
    keep_non_matching_aspects: bool = default("keep_non_matching_aspects")
    tile_size: int | None = None
    two_partitions: bool = False
    device: str = default("device")
    cpu_diff: str | None = default("cpu_diff")
    gpu_diff: str | None = default("gpu_diff")
    diff_vectorised: bool = False
    compat: str = default("compat")
    prune: bool = default("prune")
    neighbors: int | None = default("neighbors")

    def tile(self, on_gpu: bool) -> int:
        """The tile side: tile_size, or for 'auto' CPU_TILE on the CPU and GPU_TILE on a GPU."""
        return self.tile_size or (GPU_TILE if on_gpu else CPU_TILE)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The compare options of a validated config: the threshold as a number, tile_size 'auto' as None,
        two_partitions from part_b, and whether `cpu_diff` is vectorised (probed once, here, by importing it)."""
        vectorised = load_diff_fn(config.cpu_diff, probe=True).vectorised if config.cpu_diff else False
        return cls._select(
            config,
            threshold=config.threshold_value,
            tile_size=None if config.tile_size == "auto" else config.tile_size,
            two_partitions=bool(config.part_b),
            diff_vectorised=vectorised,
            neighbors=search_k(config.neighbors, config.outlier_mse),
        )


@dataclass(frozen=True)
class MergeOptions(_StageOptions):
    """What the merge stage writes into the database and difPy's files (see `fastdiff.merge`).

    `run_config` is the validated configuration stored in the database's run_config table, without the
    presentation-only keys (REPORT_KEYS), so that changing those does not rerun the merge. `neighbors` (k, or None)
    and `outlier_mse` are the nearest-neighbour keys (`fastdiff.merge.similarity`).
    """

    part_a: list[str]
    part_b: list[str]
    recursive: bool
    in_folder: bool | str
    limit_extensions: bool
    px_size: int
    threads: int
    threshold: float | str
    rotate: bool
    mirror: bool
    same_dim: bool
    match_aspect_by: float | None
    do_compare: bool
    compat: str
    base_dir: str | None
    prefer: list[str]
    keep: list[str]
    cpu_diff: str | None
    gpu_diff: str | None
    neighbors: int | None = None
    outlier_mse: float | None = None
    run_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The merge options of a validated config, with the whole config as JSON but REPORT_KEYS in run_config."""
        return cls._select(config, run_config=config.model_dump(mode="json", exclude=set(REPORT_KEYS)))

    @property
    def threshold_value(self) -> float:
        """The MSE threshold as a number ('duplicates' is 0, 'similar' 5)."""
        return Config.threshold_number(self.threshold)


@dataclass(frozen=True)
class ReportOptions(_StageOptions):
    """The HTML report: groups per page."""

    report_page_size: int

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The report_page_size of a validated config."""
        return cls._select(config)


STAGE_OPTIONS: dict[str, type[_StageOptions]] = {
    "index": IndexOptions,
    "thumbnails": ThumbnailOptions,
    "compare": CompareOptions,
    "merge": MergeOptions,
    "report": ReportOptions,
}


def stage_params(config: Config, stage: str) -> dict[str, Any]:
    """The Snakemake params of a stage's rule: its options built from the validated config, as a dict.

    Raises
    ------
    KeyError
        For a stage name not in STAGE_OPTIONS.
    """
    return STAGE_OPTIONS[stage].from_config(config).to_params()  # type: ignore[attr-defined]
