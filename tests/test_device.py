"""CPU/GPU choice: auto falls back with one log line, gpu fails clearly, and a GPU gives identical pairs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import run_fastdiff
from synth import make_tiny_set

from fastdiff.compare.blocks import compare_blocks
from fastdiff.core.device import DeviceError, array_module
from fastdiff.core.options import CompareOptions
from fastdiff.thumbnails.batch import Batch


def _gpu_available() -> bool:
    try:
        return array_module("auto") is not np
    except Exception:
        return False


GPU = _gpu_available()


def test_cpu_is_numpy():
    assert array_module("cpu") is np


@pytest.mark.skipif(GPU, reason="a GPU is present: the fallback cannot be observed here")
def test_auto_falls_back_with_one_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="fastdiff.core.device"):
        assert array_module("auto") is np
    assert len(caplog.records) == 1 and "comparing on the CPU" in caplog.text


@pytest.mark.skipif(GPU, reason="a GPU is present")
def test_gpu_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(DeviceError, match="device 'gpu' was requested"):
        array_module("gpu")
    make_tiny_set(tmp_path / "data")
    proc = run_fastdiff([tmp_path / "data"], tmp_path / "out", "--config", "device=gpu", check=False)
    assert proc.returncode != 0
    assert "device 'gpu' was requested" in proc.stdout + proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU with CuPy (pip install -e .[gpu])")
@pytest.mark.parametrize("rotate, same_dim", [(True, False), (False, True)])
def test_gpu_and_cpu_give_identical_pairs(rotate, same_dim):
    rng = np.random.default_rng(3)
    n = 3000
    base = rng.integers(0, 256, (400, 50, 50, 3), dtype=np.uint8)
    t = base[rng.integers(0, 400, n)]
    t[::2] = np.clip(t[::2].astype(int) + rng.integers(-3, 4, t[::2].shape), 0, 255)
    t[1::7] = np.rot90(t[1::7], 1, axes=(1, 2))
    dims = rng.choice(np.array([[480, 640], [640, 480], [500, 500]]), n)
    batch = Batch(
        keys=np.arange(n),
        paths=np.char.zfill(np.arange(n).astype(str), 12),
        thumbs=t,
        height=dims[:, 0],
        width=dims[:, 1],
        hashes=np.full((n, 4), "", dtype="<U64"),
        error_keys=np.zeros(0, np.int64),
        error_messages=np.zeros(0, str),
        started=0.0,
        finished=0.0,
    )
    cupy = array_module("gpu")
    for tile in (1024, 8192):
        opts = CompareOptions(threshold=5.0, rotate=rotate, same_dim=same_dim, tile_size=tile)
        cpu = compare_blocks(batch, batch, opts, same_block=True, xp=np)
        gpu = compare_blocks(batch, batch, opts, same_block=True, xp=cupy)
        assert len(cpu) > n // 4
        for field in ("key_a", "key_b", "mse", "rotation", "kind"):
            assert np.array_equal(getattr(cpu, field), getattr(gpu, field)), field
