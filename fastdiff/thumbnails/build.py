"""Thumbnail stage: decode one index shard into a batch of square uint8 thumbnails."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from fastdiff.core.cells import image_cells
from fastdiff.core.options import ThumbnailOptions
from fastdiff.core.records import IndexedFile
from fastdiff.core.symmetry import symmetries, transform
from fastdiff.thumbnails.area_resize import resize_area
from fastdiff.thumbnails.batch import Batch
from fastdiff.thumbnails.decode import DecodeError, decode_image
from fastdiff.thumbnails.frames import later_frames

log = logging.getLogger(__name__)


def make_thumbnail(rgb: np.ndarray, px_size: int) -> np.ndarray:
    """Resize an RGB image to px_size x px_size (aspect ratio not kept, as difPy does): area-averaged (OpenCV's
    INTER_AREA, through `resize_area`), or bicubic (INTER_CUBIC) where a side is shorter than px_size."""
    if min(rgb.shape[:2]) >= px_size:
        return resize_area(rgb, px_size, px_size)
    return np.ascontiguousarray(cv2.resize(rgb, (px_size, px_size), interpolation=cv2.INTER_CUBIC))


def luma(thumb: np.ndarray) -> np.ndarray:
    """The greyscale thumbnail: ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B of the uint8 RGB thumbnail, exactly
    as OpenCV computes it (cv2.cvtColor RGB2GRAY: fixed point, rounded), in all three channels (Y, Y, Y).

    The MSE over px*px*3 values of two such thumbnails equals the MSE over their px*px luma values, so the kernel,
    the bounds and the hashes work unchanged; a grey thumbnail (g, g, g) is its own luma (the weights add up to 1).
    """
    y = cv2.cvtColor(np.ascontiguousarray(thumb), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(np.repeat(y[:, :, None], 3, axis=2))


def sha256_hex(thumb: np.ndarray) -> str:
    """The default thumbnail hash."""
    return hashlib.sha256(np.ascontiguousarray(thumb).tobytes()).hexdigest()


def rotation_hashes(
    thumb: np.ndarray,
    shift_amount: int,
    rotate: bool,
    hash_fn: Callable[[np.ndarray], str] = sha256_hex,
    mirror: bool = False,
) -> list[str]:
    """Hash (sha-256 or a user hash_fn) of the thumbnail after the bit shift, for each symmetry code k = 0..7
    (`fastdiff.compare.kernel.transform`: rotations 0/90/180/270, then the same of the mirror image); '' for the
    symmetries not used (rotate off: 1-3 and 5-7; mirror off: 4-7).

    shift_amount > 0 keeps the top 8-s bits of each value (a prefix), < 0 the low bits (a suffix).
    """
    if shift_amount > 0:
        thumb = np.right_shift(thumb, shift_amount)
    elif shift_amount < 0:
        thumb = np.left_shift(thumb, -shift_amount)
    used = symmetries(rotate, mirror)
    return [hash_fn(transformed(thumb, k)) if k in used else "" for k in range(8)]


# np.rot90(x, k) turns counter-clockwise; OpenCV names its rotations by the clockwise turn.
_CV2_ROTATIONS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def transformed(thumb: np.ndarray, k: int) -> np.ndarray:
    """A C-contiguous copy of `fastdiff.core.symmetry.transform` T_k (k = 0..7) of one thumbnail, shape (h, w, c).

    uint8 thumbnails of 1 to 4 channels are turned by cv2.flip and cv2.rotate, the same bytes as numpy's copy of the
    strided view at a sixth of its cost (on a 50x50x3 thumbnail, 5 against 30 us: numpy copies a turned view
    element by element); other arrays by numpy.
    """
    if thumb.dtype != np.uint8 or thumb.ndim != 3 or not 1 <= thumb.shape[2] <= 4:
        return np.ascontiguousarray(transform(np, thumb, k, axes=(0, 1)))
    x = cv2.flip(thumb, 1) if k >= 4 else thumb
    turned = cv2.rotate(x, _CV2_ROTATIONS[k % 4]) if k % 4 else np.ascontiguousarray(x)
    return turned.reshape(thumb.shape[:2][:: -1 if k % 2 else 1] + thumb.shape[2:])


def _changed_since_indexing(f: IndexedFile) -> str | None:
    """Why the file is not the one the index recorded (size or modification time differ), or None."""
    st = os.stat(f.path)
    if st.st_size != f.size:
        return f"file changed since indexing (size {f.size} -> {st.st_size})"
    if f.mtime_ns >= 0 and st.st_mtime_ns != f.mtime_ns:
        return "file changed since indexing (modification time)"
    return None


def _later_thumbnails(path: str, px_size: int, max_pixels: int, background: tuple[int, int, int]) -> np.ndarray:
    """Thumbnails of the frames after the first of a multi-frame file (`fastdiff.thumbnails.frames.later_frames`), uint8
    (frames - 1, px, px, 3); (0, px, px, 3) for a single frame. Each frame is decoded and made small in turn."""
    thumbs = [make_thumbnail(rgb, px_size) for rgb in later_frames(path, max_pixels, background)]
    return np.stack(thumbs) if thumbs else np.zeros((0, px_size, px_size, 3), np.uint8)


def _one(
    f: IndexedFile, px_size: int, max_pixels: int, fast_jpeg: bool, background: tuple[int, int, int]
) -> Thumbnail | str:
    """Thumbnail, original (h, w) and later frames' thumbnails of a file, or its error message. Also checks the file
    did not change.

    fast_jpeg lets JPEGs be decoded at a reduced DCT scale (decode_image's reduce_to); background is the colour
    transparent pixels are composited onto.
    """
    try:
        changed = _changed_since_indexing(f)
        if changed:
            return changed
        decoded = decode_image(f.path, max_pixels, px_size if fast_jpeg else None, background)
        try:
            later = _later_thumbnails(f.path, px_size, max_pixels, background)
        except (OSError, ValueError) as err:  # the first frame decoded, a later one did not
            return f"cannot read a later frame: {err}"
        changed = _changed_since_indexing(f)  # also while it was decoded
        if changed:
            return changed
    except DecodeError as err:
        return str(err)
    except OSError as err:
        return f"cannot read file: {err.strerror or err}"
    except Exception as err:  # a decoder bug must not stop the run: record it with the file
        return f"{type(err).__name__}: {err}"
    return make_thumbnail(decoded.rgb, px_size), decoded.height, decoded.width, later


Thumbnail = tuple[np.ndarray, int, int] | tuple[np.ndarray, int, int, np.ndarray]
"""(thumbnail uint8 (px, px, 3) RGB, original height, original width[, thumbnails of the later frames uint8
(frames - 1, px, px, 3)]); without the fourth item a file is one frame (difPy-exact mode's decoder)."""
Decoder = Callable[[IndexedFile], Thumbnail | str]
T = TypeVar("T")  # what a decoding process returns per file
_worker_decoder: Callable[[IndexedFile], object] | None = None  # set in each forked decoding process by _start_worker


# Forked processes pay about 40 ms to start and stop and some IPC per file; below this many files threads are
# faster (20 small photos: 15 against 51 ms; 200: 121 against 158 ms), above it processes (2,000 small photos: 1.07
# against 1.15 s; 7,000 clipart PNGs: 8.5 against 11.8 s).
PROCESSES_MIN_FILES = 500
_MAX_CHUNK = 64  # files handed to a process at once, at most (`process_runs`)
# glibc's malloc hands each block above its mmap threshold (128 KiB to 32 MiB, adjusted as it goes) back to the
# kernel when it is freed, and trims the heap above 128 KiB, so the next image's pixels are page-faulted in again,
# zeroed page by page: on 7,000 clipart PNGs and wallpapers 3.6 of 25 CPU s were system time. A decoding process keeps
# them instead (mallopt(3): M_MMAP_THRESHOLD (-3) 256 MiB, M_TRIM_THRESHOLD (-1) 512 MiB): 2.3 s of system time, 13.8
# s wall against 15.9-17.6 s. Its peak stays the largest image's, and it ends with its job.
_KEEP_FREED_BYTES = {-3: 256 << 20, -1: 512 << 20}


def _start_worker(decoder: Callable[[IndexedFile], object]) -> None:
    """Initialise a forked decoding process: its decoder (inherited, not pickled), and Ctrl-C left to the parent
    (one message, not one traceback per process)."""
    global _worker_decoder
    _worker_decoder = decoder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed blocks for the next image (`_KEEP_FREED_BYTES`); elsewhere nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    for param, value in _KEEP_FREED_BYTES.items():
        mallopt(ctypes.c_int(param), ctypes.c_int(value))


def _decode_in_worker(files: list[IndexedFile]) -> list[object]:
    return [_worker_decoder(f) for f in files]


def process_runs(files: list[IndexedFile], workers: int) -> list[list[int]]:
    """Runs of consecutive file positions handed to a decoding process at once, largest (in bytes) first.

    Parameters
    ----------
    files : list of IndexedFile
        One shard; IndexedFile.size (bytes) stands for the cost of a decode.
    workers : int
        Decoding processes.

    Returns
    -------
    list of list of int
        Every position in files exactly once, in runs of consecutive positions. A run ends at _MAX_CHUNK files or at
        1/(8 * workers) of the shard's bytes, so each process gets several runs and a large file stands alone; the
        runs are sorted by their bytes, largest first (longest-processing-time-first scheduling), so that no process
        is left with a run of large files (a folder of wallpapers, say) while the others idle at the end of a shard
        (7,000 clipart PNGs and wallpapers: the last of 3 thumbnail jobs 4.2 s instead of 5.7 s).
    """
    budget = sum(f.size for f in files) / (8 * workers)
    runs: list[list[int]] = [[]]
    weight = 0
    for i, f in enumerate(files):
        if runs[-1] and (len(runs[-1]) == _MAX_CHUNK or weight + f.size > budget):
            runs.append([])
            weight = 0
        runs[-1].append(i)
        weight += f.size
    return sorted(runs, key=lambda run: -sum(files[i].size for i in run))


class DecodingProcessError(RuntimeError):
    """A decoding process ended abruptly (killed, e.g. for memory, or crashed in a native decoder): the shard's job
    fails, so that Snakemake can run it again (with more memory on a retry)."""


def _decoded_in_order(
    pool: ProcessPoolExecutor, files: list[IndexedFile], workers: int, ahead: list[IndexedFile] | None
) -> Iterator[T]:
    """The decoder's results for files, in file order, from runs decoded largest first (`process_runs`).

    The runs of files already handed to kept processes (`decode_ahead`) are taken as they are. Once this call's runs
    are handed out, the next job's files (ahead), where given, are handed out behind them on the same processes.

    Raises
    ------
    DecodingProcessError
        Where a decoding process died.
    """
    pending: dict[int, T] = {}
    position = 0
    try:
        runs, futures = _taken_ahead(pool, files) or _submitted(pool, files, workers)
        if _kept is not None and _kept.pool is pool and ahead and len(ahead) >= PROCESSES_MIN_FILES:
            _kept.ahead = (ahead, *_submitted(pool, ahead, workers))
        for run, future in zip(runs, futures):
            pending.update(zip(run, future.result()))
            while position in pending:
                yield pending.pop(position)
                position += 1
    except BrokenProcessPool as e:
        raise DecodingProcessError(
            "a decoding process ended abruptly (killed, e.g. for memory, or crashed in a decoder) while this "
            "shard was decoded; the job fails so that it can be run again"
        ) from e


def _submitted(
    pool: ProcessPoolExecutor, files: list[IndexedFile], workers: int
) -> tuple[list[list[int]], list[Future[list[T]]]]:
    """The runs of files (`process_runs`) and their futures, handed to pool's processes in that order."""
    runs = process_runs(files, workers)
    return runs, [pool.submit(_decode_in_worker, [files[i] for i in run]) for run in runs]


def _taken_ahead(
    pool: ProcessPoolExecutor, files: list[IndexedFile]
) -> tuple[list[list[int]], list[Future[list[T]]]] | None:
    """The runs and futures of files handed to pool's processes ahead of their job (`decode_ahead`), or None; runs
    handed out for other files are cancelled (those running finish unread)."""
    if _kept is None or _kept.pool is not pool or _kept.ahead is None:
        return None
    ahead_files, runs, futures = _kept.ahead
    _kept.ahead = None
    if ahead_files == files:
        log.info("%d files handed to the decoding processes ahead, during the previous job", len(files))
        return runs, futures
    for future in futures:
        future.cancel()
    return None


@dataclass
class _KeptProcesses:
    """Decoding processes kept for the next thumbnail job: their pool and the settings (`decoded`'s key) they have."""

    key: object
    pool: ProcessPoolExecutor
    ahead: tuple[list[IndexedFile], list[list[int]], list[Future[list[object]]]] | None = None  # `decode_ahead`


_kept: _KeptProcesses | None = None  # while decoding_processes_kept() is active: the processes kept, if any
_keeping = False
_ahead_files: list[IndexedFile] | None = None  # the next thumbnail job's files (`decode_ahead`)


@contextmanager
def decoding_processes_kept() -> Iterator[Callable[[], None]]:
    """Within the block, the decoding processes of a thumbnail job (`decoded`) are kept for the next job of the same
    settings (the thumbnail jobs of one run) instead of being forked for each job and ended after it, so the cores
    do not wait between jobs for a pool to end and the next to start. They end with the block, or when the callable
    it yields is called (before this process forks for other work)."""
    global _keeping, _ahead_files
    _keeping, _ahead_files = True, None
    try:
        yield _end_kept
    except BaseException:
        _end_kept(wait=False)  # Ctrl-C, a failed job: the runs in hand are not waited for
        raise
    finally:
        _keeping, _ahead_files = False, None
        _end_kept()


def decode_ahead(files: list[IndexedFile] | None) -> None:
    """Name the files of the thumbnail job that follows the next one, or None.

    Within `decoding_processes_kept`, once the next job (`build_batch`) has handed its own files to the kept
    processes, these are handed out behind them, so that the processes go on decoding while this one collects,
    stacks and writes that job's batch, and no core waits for the last file of a job. The job that follows takes
    the results where its files and settings are the same (else the runs are cancelled); outside the block, or where
    the next job does not decode in kept processes, nothing is decoded ahead.
    """
    global _ahead_files
    _ahead_files = files


def _end_kept(wait: bool = True) -> None:
    """End the kept processes, if any: the runs not started are cancelled (runs decoded ahead for a job that did not
    come), the ones running are waited for unless wait is false (the processes then end after them)."""
    global _kept
    if _kept is not None:
        _kept.pool.shutdown(wait=wait, cancel_futures=True)
        _kept = None


def _process_pool(decoder: Callable[[IndexedFile], object], workers: int, key: object) -> ProcessPoolExecutor:
    """The kept decoding processes where they have these settings, else new ones (kept where keeping is on)."""
    global _kept
    if _kept is not None and _kept.key == (key, workers):
        return _kept.pool
    _end_kept()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(decoder,))
    if _keeping and key is not None:
        _kept = _KeptProcesses((key, workers), pool)
    return pool


@contextmanager
def decoded(
    decoder: Callable[[IndexedFile], T], files: list[IndexedFile], workers: int, key: object = None
) -> Iterator[Iterator[T]]:
    """decoder's result for each of files, in file order, computed on `workers` cores while the block runs.

    Where the platform forks (Linux), workers > 1 and there are at least PROCESSES_MIN_FILES files, they are decoded
    by forked processes (concurrent.futures' ProcessPoolExecutor, which reports a process that died as
    DecodingProcessError here), in runs (`process_runs`): a decode's Python parts (headers, the compositing calls)
    hold the GIL, so threads used 1.7 of 2 cores on 7,000 clipart PNGs against 2.0 for processes. When the block
    ends early (an error, Ctrl-C) the runs not started are cancelled and the processes end after their current run.
    Otherwise (fewer files; macOS and Windows, where forking a process that has loaded these libraries is unsafe or
    impossible) a pool of threads: OpenCV and Wuffs release the GIL while they decode.

    `key` stands for everything the decoder does (equal keys: equal decoders); inside `decoding_processes_kept` the
    processes of a key are kept for the next call with an equal key.
    """
    global _kept, _ahead_files
    ahead, _ahead_files = _ahead_files, None  # announced for the job after this one only
    if workers > 1 and sys.platform == "linux" and len(files) >= PROCESSES_MIN_FILES:
        pool = _process_pool(decoder, workers, key)
        try:
            yield _decoded_in_order(pool, files, workers, ahead)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            if _kept is not None and _kept.pool is pool:
                _kept = None
            raise
        if _kept is None or _kept.pool is not pool:
            pool.shutdown()
    else:
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as threads:
            yield threads.map(decoder, files)


def build_batch(
    files: list[IndexedFile],
    options: ThumbnailOptions,
    threads: int = 1,
    hash_fn: Callable[[np.ndarray], str] = sha256_hex,
    progress: Callable[[int], None] | None = None,
    thumbnail: Decoder | None = None,
) -> Batch:
    """Decode and thumbnail `files` on `threads` cores (`decoded`: forked processes or threads).

    Parameters
    ----------
    files : list of IndexedFile
        One shard.
    options : ThumbnailOptions
    threads : int
        Cores that decode (config `threads`): processes or threads, see `decoded`.
    hash_fn : callable
        Thumbnail -> str, for the rotation hashes (sha256_hex, or a user hash).
    progress : callable, optional
        Called with the number of files done after each file (`fastdiff.thumbnails.progress.DecodeProgress`).
    thumbnail : callable, optional
        File -> (thumbnail, height, width[, later frames' thumbnails]) (`Thumbnail`) or an error message; by
        default this mode's decoder (`_one`, with options.fast_jpeg and options.alpha_background); the difPy-exact
        mode passes difPy's (`fastdiff.difpy_exact.thumbnails`), whose files are one frame each.

    Returns
    -------
    Batch
        The valid files' thumbnails, hashes and cell sums (`fastdiff.compare.prune.image_cells`), and the others' error
        messages.
    """
    started = time.time()
    cv2.setNumThreads(1)
    keys, paths, thumbs, heights, widths, hashes, err_keys, err_msgs = [], [], [], [], [], [], [], []
    frame_keys, frame_thumbs = [], []
    px_size, shift_amount, rotate, mirror = options.px_size, options.shift_amount, options.rotate, options.mirror
    background = tuple(options.alpha_background)
    decode_one = thumbnail or (lambda f: _one(f, px_size, options.max_pixels, options.fast_jpeg, background))

    def finished(f: IndexedFile) -> tuple[np.ndarray, int, int, list[str], list[np.ndarray]] | str:
        """The decoder's result with the greyscale conversion (of every frame) and the rotation hashes, computed by
        the decoding process or thread that holds the pixels (not serially in this one)."""
        res = decode_one(f)
        if isinstance(res, str):
            return res
        thumb, h, w, *later = res
        frames = list(later[0]) if later else []
        if options.grayscale:
            thumb, frames = luma(thumb), [luma(frame) for frame in frames]
        return thumb, h, w, rotation_hashes(thumb, shift_amount, rotate, hash_fn, mirror), frames

    with decoded(finished, files, threads, key=(options, hash_fn, thumbnail)) as results:
        for done, (f, res) in enumerate(zip(files, results), 1):
            if isinstance(res, str):
                log.warning("invalid image %r: %s", f.path, res)
                err_keys.append(f.key)
                err_msgs.append(res)
            else:
                thumb, h, w, hs, frames = res
                for frame in frames:
                    frame_keys.append(f.key)
                    frame_thumbs.append(frame)
                keys.append(f.key)
                paths.append(f.path)
                thumbs.append(thumb)
                heights.append(h)
                widths.append(w)
                hashes.append(hs)
            if progress is not None:
                progress(done)
            if done % 200 == 0 or done == len(files):
                log.info("decoded %d/%d files (%.1f files/s)", done, len(files), done / (time.time() - started))
    stacked = np.stack(thumbs) if thumbs else np.zeros((0, px_size, px_size, 3), np.uint8)
    return Batch(
        keys=np.asarray(keys, dtype=np.int64),
        paths=np.asarray(paths, dtype=str),
        thumbs=stacked,
        height=np.asarray(heights, dtype=np.int64),
        width=np.asarray(widths, dtype=np.int64),
        hashes=np.asarray(hashes, dtype=str).reshape(-1, 8),  # as long as the longest (a user hash_fn's)
        error_keys=np.asarray(err_keys, dtype=np.int64),
        error_messages=np.asarray(err_msgs, dtype=str),
        started=started,
        finished=time.time(),
        cells=image_cells(stacked),  # the pruned compare's integer sums, once per image (fastdiff.thumbnails.batch)
        frame_keys=np.asarray(frame_keys, dtype=np.int64),
        frame_thumbs=np.stack(frame_thumbs) if frame_thumbs else np.zeros((0, px_size, px_size, 3), np.uint8),
    )
