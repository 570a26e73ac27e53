"""Checks of a run's settings that would otherwise fail only inside a job: run before Snakemake starts any.

`fastdiff run` calls them before it starts Snakemake, and workflow/rules/common.smk right after validating the
config, so a plain `snakemake` refuses too. The GPU check applies only where the jobs run in this Python
environment on this machine: a cluster executor or a conda / container environment is checked by its jobs.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastdiff.core.config import Config
from fastdiff.core.device import DeviceError, require_device

# Snakemake options that run jobs in another software environment or on other machines
_ELSEWHERE_FLAGS = (
    "--executor",
    "-e",
    "--use-conda",
    "--use-singularity",
    "--use-apptainer",
    "--use-envmodules",
    "--sdm",
    "--software-deployment-method",
)
_ELSEWHERE_KEYS = (
    "use-conda",
    "use-singularity",
    "use-apptainer",
    "use-envmodules",
    "sdm",
    "software-deployment-method",
)


class PreflightError(ValueError):
    """A setting that cannot work; the one-line message says which and how to fix it."""


def jobs_run_here(profile: Mapping[str, Any], snakemake_args: Iterable[str]) -> bool:
    """Whether Snakemake will run the jobs locally, in this Python environment.

    Parameters
    ----------
    profile : mapping
        The workflow profile's settings (its config.yaml).
    snakemake_args : iterable of str
        The extra Snakemake arguments of the command line.

    Returns
    -------
    bool
        False when the profile or the arguments choose a non-local executor or a software deployment method.
    """
    if profile.get("executor") not in (None, "local") or any(profile.get(k) for k in _ELSEWHERE_KEYS):
        return False
    return not any(arg == flag or arg.startswith(flag + "=") for arg in snakemake_args for flag in _ELSEWHERE_FLAGS)


def check_output_dir(path: str) -> None:
    """The output folder exists or can be created, and files can be written in it.

    Parameters
    ----------
    path : str
        The config's output_dir.

    Raises
    ------
    PreflightError
        It cannot be created or written (read-only file system, permission, a file of that name).
    """
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise PreflightError(
            f"cannot write to the output folder {path}: {err.strerror or err}; choose another output_dir (-o)"
        ) from None


def check_cores(cores: int | None) -> None:
    """Refuse fewer than one core: Snakemake would wait forever for a core to run the first job.

    Parameters
    ----------
    cores : int or None
        Snakemake's --cores; None when not given (a cluster executor).

    Raises
    ------
    PreflightError
        cores is below 1.
    """
    if cores is not None and cores < 1:
        raise PreflightError(f"--cores must be at least 1 (got {cores}): no job could ever start")


# Snakemake's executors that need no plugin
_BUILT_IN_EXECUTORS = (None, "local", "dryrun", "touch")


def executor_of(profile: Mapping[str, Any], snakemake_args: Sequence[str]) -> str | None:
    """The executor a run uses: the last --executor / -e of the arguments, else the profile's."""
    executor = profile.get("executor")
    for i, arg in enumerate(snakemake_args):
        if arg in ("--executor", "-e") and i + 1 < len(snakemake_args):
            executor = snakemake_args[i + 1]
        elif arg.startswith("--executor="):
            executor = arg.partition("=")[2]
    return executor


def check_executor(executor: str | None, chosen_by: str) -> None:
    """Refuse an executor whose Snakemake plugin is not installed, before Snakemake would (its message,
    "invalid choice: 'slurm'", does not say that a plugin is missing).

    Parameters
    ----------
    executor : str or None
        `executor_of` the run.
    chosen_by : str
        What chose it, for the message: "the profile 'slurm'", "--executor".

    Raises
    ------
    PreflightError
        snakemake-executor-plugin-EXECUTOR cannot be imported here.
    """
    if executor in _BUILT_IN_EXECUTORS:
        return
    package = f"snakemake-executor-plugin-{executor}"
    try:
        found = importlib.util.find_spec(package.replace("-", "_")) is not None
    except ImportError:  # an import hook that refuses it
        found = False
    if not found:
        extra = " (or pip install 'fastdiff[slurm]')" if executor == "slurm" else ""
        raise PreflightError(
            f"{chosen_by} runs the jobs with Snakemake's {executor!r} executor, whose plugin is not installed: "
            f"pip install {package}{extra}"
        )


def check_gpu_diff(config: Config, jobs_here: bool) -> None:
    """Refuse a gpu_diff that cannot run, unless cpu_diff is set too (then the CPU uses cpu_diff): with device
    'cpu', or 'auto' where the jobs run here and no GPU is usable, the compare would silently use the MSE.

    Raises
    ------
    PreflightError
        gpu_diff without cpu_diff, and the compare would run on the CPU.
    """
    if not config.gpu_diff or config.cpu_diff:
        return
    if config.device == "cpu":
        raise PreflightError(
            "gpu_diff is set but device is 'cpu', so the MSE would be used instead: set device: gpu (or auto) on a "
            "machine with a GPU, or also set cpu_diff (used where no GPU is)"
        )
    if config.device == "auto" and jobs_here:
        try:
            require_device("gpu")
        except DeviceError as err:
            raise PreflightError(
                f"gpu_diff is set but device 'auto' finds no usable GPU here ({err}), so the MSE would be used "
                "instead: also set cpu_diff (used where no GPU is), or run on a machine with a GPU"
            ) from None


def check_run(config: Config, jobs_here: bool, cores: int | None = None) -> None:
    """Every check of a validated config that needs the machine: cores, device if jobs run here, output folder.

    Parameters
    ----------
    config : Config
        The validated configuration.
    jobs_here : bool
        The jobs run on this machine in this environment (see jobs_run_here): only then is device 'gpu' checked.
    cores : int or None
        Snakemake's --cores for local jobs, None when not given.

    Raises
    ------
    fastdiff.core.device.DeviceError
        device is 'gpu' and this machine has no usable GPU (checked first: nothing is created then).
    PreflightError
        Fewer than one core, a gpu_diff that would not run (check_gpu_diff), or the output folder cannot be
        written.
    """
    check_cores(cores)
    if jobs_here:
        require_device(config.device)
    check_gpu_diff(config, jobs_here)
    check_output_dir(config.output_dir)
