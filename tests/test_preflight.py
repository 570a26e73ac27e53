"""Settings that could only fail inside a job are refused before any job starts, by `fastdiff run` and by a plain
`snakemake` alike: fewer than one core, device 'gpu' without a usable GPU, an output folder that cannot be written,
a file given as a folder."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from synth import make_tiny_set

from fastdiff import cli
from fastdiff.core.config import load_config
from fastdiff.core.device import DeviceError, require_device
from fastdiff.run import preflight

REPO = Path(__file__).resolve().parents[1]
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # no GPU is visible, also on a machine that has one


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """cmd with this checkout first on PYTHONPATH; a hang (Snakemake waiting for a core forever) fails the test."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def fastdiff_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "fastdiff.cli", "run", "d", "-o", "out", *args], tmp_path, env)


def snakemake(
    tmp_path: Path, cores: str, *config: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """A plain `snakemake --cores CORES --config part_a=[tmp_path/d] output_dir=tmp_path/out CONFIG`."""
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(tmp_path), "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--configfile", str(REPO / "config/config.yaml"), "--cores", cores, "--config"]
    cmd += [f"part_a=[{tmp_path / 'd'}]", f"output_dir={tmp_path / 'out'}", *config]
    return run(cmd, REPO, env)


@pytest.fixture(autouse=True)
def photos(tmp_path: Path) -> None:
    make_tiny_set(tmp_path / "d")


def no_job_ran(tmp_path: Path) -> bool:
    return not (tmp_path / "out" / "work" / "index").exists() and not (tmp_path / "out" / "work" / "logs").exists()


# --- cores -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cores", ["0", "-2", "two"])
def test_fastdiff_run_refuses_fewer_than_one_core(tmp_path, capsys, cores):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--cores", cores])
    assert exit_.value.code == 2
    assert f"argument --cores: must be a whole number >= 1, got '{cores}'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_plain_snakemake_refuses_zero_cores_instead_of_waiting_forever(tmp_path):
    proc = snakemake(tmp_path, "0")
    assert proc.returncode != 0 and "--cores must be at least 1 (got 0)" in proc.stdout + proc.stderr
    assert no_job_ran(tmp_path)


def test_check_cores():
    preflight.check_cores(None)  # a cluster executor: no --cores
    preflight.check_cores(1)
    with pytest.raises(preflight.PreflightError, match="at least 1"):
        preflight.check_cores(0)


# --- device ----------------------------------------------------------------------------------------------------------


def test_require_device_passes_cpu_and_auto_and_refuses_gpu_in_one_line(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    require_device("cpu")
    require_device("auto")
    with pytest.raises(DeviceError) as err:
        require_device("gpu")
    message = str(err.value)
    assert "\n" not in message and message.startswith("device 'gpu' was requested but CuPy cannot use a GPU")
    assert "device: cpu" in message  # how to fix it


def test_fastdiff_run_refuses_gpu_without_one_before_any_job(tmp_path):
    proc = fastdiff_run(tmp_path, "--config", "device=gpu", env=NO_GPU)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("fastdiff: device 'gpu' was requested") and line.endswith("or set device: cpu")
    assert not (tmp_path / "out").exists()


def test_plain_snakemake_refuses_gpu_without_one_before_any_job(tmp_path):
    proc = snakemake(tmp_path, "1", "device=gpu", env=NO_GPU)
    assert proc.returncode != 0 and "device 'gpu' was requested" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert no_job_ran(tmp_path) and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("profile", "args", "here"),
    [
        ({"scheduler": "greedy"}, [], True),
        ({"executor": "local"}, ["--keep-going"], True),
        ({"executor": "slurm"}, [], False),
        ({}, ["--executor", "slurm"], False),
        ({}, ["--executor=slurm"], False),
        ({}, ["--use-conda"], False),
        ({}, ["--sdm", "conda"], False),
        ({"software-deployment-method": ["conda"]}, [], False),
    ],
)
def test_the_gpu_is_checked_only_where_the_jobs_run(profile, args, here):
    assert preflight.jobs_run_here(profile, args) is here


def test_a_cluster_run_does_not_check_the_gpu_of_the_submit_host(tmp_path, monkeypatch):
    checked = []
    monkeypatch.setattr(preflight, "require_device", checked.append)
    config = load_config({"part_a": [str(tmp_path)], "device": "gpu", "output_dir": str(tmp_path / "out")})
    preflight.check_run(config, jobs_here=False, cores=None)
    assert checked == []
    preflight.check_run(config, jobs_here=True, cores=2)
    assert checked == ["gpu"]


# --- output folder and input folders ---------------------------------------------------------------------------------


def test_an_output_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    proc = fastdiff_run(tmp_path, "-o", "file/out")  # the last -o wins
    assert proc.returncode == 2 and "cannot write to the output folder" in proc.stderr
    assert "Not a directory" in proc.stderr
    proc = snakemake(tmp_path, "1", f"output_dir={tmp_path}/file/o")  # the later output_dir wins
    assert proc.returncode != 0 and "cannot write to the output folder" in proc.stdout + proc.stderr


def test_a_read_only_output_folder_is_refused(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(preflight.PreflightError, match="Read-only file system; choose another output_dir"):
        preflight.check_output_dir(str(tmp_path))


@pytest.mark.parametrize("flag", ["dirs", "--part-b"])
def test_a_file_given_as_a_folder_is_refused_before_any_job(tmp_path, flag):
    given = ["d/a.png"] if flag == "dirs" else ["d", "--part-b", "d/a.png"]
    proc = run([sys.executable, "-m", "fastdiff.cli", "run", *given, "-o", "out"], tmp_path)
    assert proc.returncode == 2 and "is neither a folder nor a file list" in proc.stderr
    assert not (tmp_path / "out").exists()
