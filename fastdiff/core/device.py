"""Choice of the array module that runs the compare kernel: numpy on the CPU, or CuPy on a GPU."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """device 'gpu' was asked for but no usable GPU is there."""


# run in a child process, so that the check leaves no CUDA context (and its GPU memory) in the caller
_GPU_PROBE = """
import sys
from fastdiff.core.device import DeviceError, array_module
try:
    array_module("gpu")
except DeviceError as err:
    print(err)
    sys.exit(1)
"""
PROBE_TIMEOUT_S = 120


def array_module(device: str) -> ModuleType:
    """numpy for 'cpu'; cupy for 'gpu'; for 'auto', cupy when a GPU works, else numpy.

    TF32 matrix products are enabled: they round the inputs to 10 significant bits, which keeps the kernel's
    centred integer inputs (|x| <= 128) exact, so GPU results stay identical to the CPU's.

    Parameters
    ----------
    device : {"cpu", "gpu", "auto"}

    Returns
    -------
    module
        numpy or cupy, with a CUDA context created (cupy).

    Raises
    ------
    DeviceError
        For 'gpu' when CuPy cannot be imported or no CUDA device works.
    """
    if device == "cpu":
        return np
    os.environ.setdefault("CUPY_TF32", "1")
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device is visible")
        cupy.zeros(1).sum()  # creates the context now, so a broken driver fails here
    except Exception as err:  # ImportError, CUDA runtime errors
        if device == "gpu":
            raise DeviceError(
                f"device 'gpu' was requested but CuPy cannot use a GPU: {err}; install "
                f"'fastdiff[gpu]' on a machine with an NVIDIA GPU, or set device: cpu"
            ) from None
        log.info("device auto: no usable GPU (%s); comparing on the CPU", err)
        return np
    log.info(
        "comparing on GPU %d: %s",
        cupy.cuda.Device().id,
        cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode(),
    )
    return cupy


def require_device(device: str) -> None:
    """Refuse a device that cannot be used here, before any job starts: 'gpu' needs CuPy and a working CUDA GPU.

    The check is array_module('gpu') in a child process (the compare job's own test), so no CUDA context stays
    open in the caller. 'cpu' and 'auto' always pass ('auto' falls back to the CPU).

    Parameters
    ----------
    device : str
        The config's device: 'cpu', 'gpu' or 'auto'.

    Raises
    ------
    DeviceError
        device is 'gpu' and no usable GPU is there; the one-line message says what is missing and how to fix it.
    """
    if device != "gpu":
        return
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _GPU_PROBE], capture_output=True, text=True, env=env, timeout=PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise DeviceError(
            f"device 'gpu' was requested but the GPU did not answer within {PROBE_TIMEOUT_S} s; "
            "check the driver with nvidia-smi, or set device: cpu"
        ) from None
    if proc.returncode != 0:
        last = (proc.stdout.strip() or proc.stderr.strip() or "the GPU check failed").splitlines()[-1]
        raise DeviceError(last)


def to_host(array: Any) -> np.ndarray:
    """A device array (CuPy) as a numpy array; numpy input is returned as it is (no copy)."""
    return array.get() if hasattr(array, "get") else np.asarray(array)
