"""Choice of the array module that runs the compare kernel: numpy on the CPU, or CuPy on a GPU."""

from __future__ import annotations

import logging
import os
from types import ModuleType

import numpy as np

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """device 'gpu' was asked for but no usable GPU is there."""


def array_module(device: str) -> ModuleType:
    """numpy for 'cpu'; cupy for 'gpu' (DeviceError if unusable); for 'auto', cupy when a GPU works, else numpy.

    TF32 matrix products are enabled: they round the inputs to 10 significant bits, which keeps the kernel's
    centred integer inputs (|x| <= 128) exact, so GPU results stay identical to the CPU's.
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
