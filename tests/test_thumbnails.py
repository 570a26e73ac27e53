"""fastdiff.thumbnails: one batch whatever decodes it (one thread, forked processes, threads)."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synth import make_collection

from fastdiff.core.options import ThumbnailOptions
from fastdiff.core.records import IndexedFile
from fastdiff.difpy_exact import thumbnails as difpy_thumbnails
from fastdiff.thumbnails import build
from fastdiff.thumbnails.batch import Batch, load_batch, save_batch

OPTIONS = ThumbnailOptions(
    px_size=24,
    shift_amount=0,
    max_pixels=10**7,
    rotate=True,
    mirror=False,
    hash_fn=None,
    compat="default",
    base_dir=None,
    fast_jpeg=False,
    alpha_background=[255, 255, 255],
    grayscale=False,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[IndexedFile]:
    root = tmp_path_factory.mktemp("thumbs")
    make_collection(root, n_base=24)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    paths = sorted(str(p) for p in root.rglob("*") if p.is_file())
    return [IndexedFile(k, p, 0, 0, os.stat(p).st_size, 0.0, 0, os.stat(p).st_mtime_ns) for k, p in enumerate(paths)]


def assert_same_batch(a: Batch, b: Batch) -> None:
    for field in ("keys", "paths", "thumbs", "height", "width", "hashes", "error_keys", "error_messages", "cells"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


@pytest.fixture(params=["processes", "threads"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Decoding in forked processes even for these few files, or in threads (as on macOS and Windows)."""
    if request.param == "processes":
        monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)
    else:
        monkeypatch.setattr(sys, "platform", "darwin")
    return request.param


def decoded_by(files: list[IndexedFile], workers: int) -> set[int]:
    """The process ids that decode files with build_batch's pool choice."""
    with build.decoded(lambda f: os.getpid(), files, workers) as pids:
        return set(pids)


def test_batch_independent_of_decoding_cores(files: list[IndexedFile], mode: str) -> None:
    """Forked processes and threads give the batch of one thread, in file order, with the bad file's error kept."""
    one = build.build_batch(files, OPTIONS, threads=1)
    assert len(one.error_keys) == 1 and len(one.keys) == len(files) - 1
    assert_same_batch(build.build_batch(files, OPTIONS, threads=3), one)
    assert (os.getpid() not in decoded_by(files, 3)) == (mode == "processes" and sys.platform == "linux")


def test_processes_only_for_large_shards(files: list[IndexedFile]) -> None:
    """Below PROCESSES_MIN_FILES the threads of this process decode (forking costs about 40 ms)."""
    assert decoded_by(files, 2) == {os.getpid()}
    assert decoded_by(files, 1) == {os.getpid()}


def test_processes_take_a_closure_and_report_its_errors(files: list[IndexedFile], mode: str) -> None:
    """The decoder is inherited by the forked processes, not pickled: a closure works, and so do its messages."""
    odd = {f.key for f in files[::3]}

    def decoder(f: IndexedFile) -> build.Thumbnail | str:
        if f.key in odd:
            return f"skipped {f.key}"
        return np.full((4, 4, 3), f.key % 256, np.uint8), 4, 4

    options = dataclasses.replace(OPTIONS, px_size=4)
    batch = build.build_batch(files, options, threads=2, thumbnail=decoder)
    assert list(batch.error_keys) == sorted(odd)
    assert list(batch.error_messages) == [f"skipped {k}" for k in sorted(odd)]
    assert [int(t[0, 0, 0]) for t in batch.thumbs] == [f.key % 256 for f in files if f.key not in odd]


def test_a_decoder_that_raises_fails_the_batch(files: list[IndexedFile], mode: str) -> None:
    def decoder(f: IndexedFile) -> build.Thumbnail | str:
        raise RuntimeError(f"decoder bug on {Path(f.path).name}")

    with pytest.raises(RuntimeError, match="decoder bug on"):
        build.build_batch(files, OPTIONS, threads=2, thumbnail=decoder)


def test_process_runs_cover_every_file_once_largest_first() -> None:
    """Consecutive runs of at most 64 files and 1/(8 * workers) of the bytes (a large file alone), largest first."""
    sizes = [10] * 100 + [5000, 7000] + [10] * 300 + [3000] * 3
    files = [IndexedFile(k, f"/f/{k}", 0, 0, size, 0.0, 0) for k, size in enumerate(sizes)]
    runs = build.process_runs(files, workers=2)
    assert sorted(i for run in runs for i in run) == list(range(len(files)))
    assert all(run == list(range(run[0], run[-1] + 1)) for run in runs)
    assert all(len(run) <= 64 for run in runs)
    weights = [sum(sizes[i] for i in run) for run in runs]
    assert weights == sorted(weights, reverse=True)
    assert runs[0] == [101] and runs[1] == [100]  # the two largest files, each alone, first


@pytest.mark.skipif(sys.platform != "linux", reason="decoding processes are forked on Linux only")
def test_a_decoding_process_that_dies_fails_the_batch(
    files: list[IndexedFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-shard (the OOM killer, a crash in a decoder) fails the job instead of hanging it."""
    monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)
    parent = os.getpid()

    def decoder(f: IndexedFile) -> build.Thumbnail | str:
        if f.key == 7 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return np.zeros((4, 4, 3), np.uint8), 4, 4

    with pytest.raises(build.DecodingProcessError, match="ended abruptly"):
        build.build_batch(files, dataclasses.replace(OPTIONS, px_size=4), threads=2, thumbnail=decoder)


def test_kept_decoding_processes_serve_the_next_job_of_the_same_settings(
    files: list[IndexedFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one run (`decoding_processes_kept`) the thumbnail jobs decode on the same processes, giving the batches of
    fresh ones; other settings get new processes; all end with the block (or when told)."""
    monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)

    def pids(key: object) -> set[int]:
        """The processes that decode files; each file takes 5 ms, so that both processes of a pool take part (a pool
        starts them as work arrives, and one fast process could take every run)."""
        with build.decoded(lambda f: time.sleep(0.005) or os.getpid(), files, 2, key=key) as found:
            return set(found)

    half = len(files) // 2
    fresh = [build.build_batch(part, OPTIONS, threads=2) for part in (files[:half], files[half:])]
    assert pids("a") != pids("a")  # outside the block: new processes each time
    with build.decoding_processes_kept() as end:
        assert_same_batch(build.build_batch(files[:half], OPTIONS, threads=2), fresh[0])
        assert_same_batch(build.build_batch(files[half:], OPTIONS, threads=2), fresh[1])
        first = pids("a")
        assert pids("a") == first and os.getpid() not in first
        assert pids("b") != first  # other settings
        kept = pids("b")
        end()
        assert pids("b") != kept
        assert pids(None) != pids(None)  # no settings given: never kept
    assert pids("b") != pids("b")


def test_the_next_jobs_files_are_decoded_ahead(
    files: list[IndexedFile], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`decode_ahead`: in one run the next job's files go to the kept processes behind this job's, and the next job
    takes their results (the batches of fresh processes); a job of other files does not (those runs are cancelled),
    and outside the block nothing is decoded ahead."""
    monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)
    half = len(files) // 2
    parts = (files[:half], files[half:])
    fresh = [build.build_batch(part, OPTIONS, threads=2) for part in parts]
    taken = "files handed to the decoding processes ahead"
    caplog.set_level(logging.INFO, logger=build.__name__)
    with build.decoding_processes_kept():
        build.decode_ahead(parts[1])
        assert_same_batch(build.build_batch(parts[0], OPTIONS, threads=2), fresh[0])
        assert taken not in caplog.text
        build.decode_ahead(None)
        assert_same_batch(build.build_batch(parts[1], OPTIONS, threads=2), fresh[1])
        assert f"{len(parts[1])} {taken}" in caplog.text
        caplog.clear()
        build.decode_ahead(files[:3])  # announced, but another job comes next
        assert_same_batch(build.build_batch(parts[0], OPTIONS, threads=2), fresh[0])
        assert_same_batch(build.build_batch(parts[1], OPTIONS, threads=2), fresh[1])
        build.decode_ahead(parts[0])  # announced, but the run ends
    build.decode_ahead(parts[1])  # outside the block: nothing is kept, nothing decoded ahead
    assert_same_batch(build.build_batch(parts[0], OPTIONS, threads=2), fresh[0])
    assert_same_batch(build.build_batch(parts[1], OPTIONS, threads=2), fresh[1])
    assert taken not in caplog.text


@pytest.mark.skipif(sys.platform != "linux", reason="decoding processes are forked on Linux only")
def test_a_decoding_process_that_dies_while_decoding_ahead_fails_a_job(
    files: list[IndexedFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed on a file of the next job, decoded ahead, fails this job or the next one with
    DecodingProcessError (not the executor's own error), and the run's processes end."""
    monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)
    half = len(files) // 2
    parent = os.getpid()

    def decoder(f: IndexedFile) -> build.Thumbnail | str:
        if f.key == files[half].key and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return np.zeros((4, 4, 3), np.uint8), 4, 4

    options = dataclasses.replace(OPTIONS, px_size=4)
    with pytest.raises(build.DecodingProcessError, match="ended abruptly"), build.decoding_processes_kept():
        build.decode_ahead(files[half:])
        build.build_batch(files[:half], options, threads=2, thumbnail=decoder)
        build.decode_ahead(None)
        build.build_batch(files[half:], options, threads=2, thumbnail=decoder)


def test_difpy_exact_jobs_decode_ahead_too(
    files: list[IndexedFile], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The difPy-exact decoder is a value (equal settings, equal decoders), so its jobs keep their processes and take
    the files decoded ahead, with the batches of fresh processes."""
    monkeypatch.setattr(build, "PROCESSES_MIN_FILES", 1)
    options = dataclasses.replace(OPTIONS, compat="difpy")
    half = len(files) // 2
    parts = (files[:half], files[half:])
    fresh = [difpy_thumbnails.build_batch(part, options, 2, build.sha256_hex) for part in parts]
    caplog.set_level(logging.INFO, logger=build.__name__)
    with build.decoding_processes_kept():
        build.decode_ahead(parts[1])
        assert_same_batch(difpy_thumbnails.build_batch(parts[0], options, 2, build.sha256_hex), fresh[0])
        build.decode_ahead(None)
        assert_same_batch(difpy_thumbnails.build_batch(parts[1], options, 2, build.sha256_hex), fresh[1])
    assert f"{len(parts[1])} files handed to the decoding processes ahead" in caplog.text


def test_a_user_hash_is_kept_whole(files: list[IndexedFile], tmp_path) -> None:
    """A hash_fn's strings of any length reach the batch on disk uncut (they were cut to 64 characters)."""
    long = "0123456789abcdef" * 8  # 128 characters

    batch = build.build_batch(files[:3], OPTIONS, threads=1, hash_fn=lambda thumb: long)
    save_batch(batch, tmp_path / "b.npz")
    assert load_batch(tmp_path / "b.npz").hashes[0, 0] == long
