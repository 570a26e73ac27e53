"""Where the workflow keeps its intermediate files under OUT/work: the one definition, for the rules
(`rules/common.smk`), the in-process executor (`fastdiff.run.in_process`) and the progress screen
(`fastdiff.run.screen`)."""

from __future__ import annotations

import os

StrPath = str | os.PathLike[str]


def index_dir(work: StrPath) -> str:
    """The index checkpoint's folder (manifest.json, rejected.json, order.npy)."""
    return f"{os.fspath(work)}/index"


def layout_dir(work: StrPath) -> str:
    """The shards and blocks of the previous run, kept by the index job (`fastdiff.index.layout`)."""
    return f"{os.fspath(work)}/layout"


def shard_path(work: StrPath, shard: str) -> str:
    """A shard's file records (`fastdiff.index.layout.read_shard`), kept in the layout folder."""
    return f"{layout_dir(work)}/{shard}.json"


def batch_path(work: StrPath, shard: str) -> str:
    """The thumbnail batch of a shard."""
    return f"{os.fspath(work)}/thumbs/{shard}.npz"


def block_output(work: StrPath, bi: str, bj: str) -> str:
    """The matching pairs of a block pair."""
    return f"{os.fspath(work)}/compare/{bi}_{bj}.npz"


def log_path(work: StrPath, stage: str, name: str | None = None) -> str:
    """A job's log: logs/STAGE.log, or logs/STAGE/NAME.log for the jobs of one stage."""
    return f"{os.fspath(work)}/logs/{stage}.log" if name is None else f"{os.fspath(work)}/logs/{stage}/{name}.log"


def record_path(work: StrPath, stage: str) -> str:
    """The digest of the job that made a stage's outputs, for the stages whose outputs cannot carry it inside
    (the merge's several files, the report's folder; `fastdiff.run.plan`)."""
    return f"{os.fspath(work)}/made/{stage}.json"
