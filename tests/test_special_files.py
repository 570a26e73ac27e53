"""Named pipes, sockets, devices and links to them among the inputs: reported with a reason in every mode, never
read (reading a named pipe blocks until a writer appears). Every run here is bounded by a timeout and killed with
its whole process group if it hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastdiff._shared import special_files
from fastdiff.actions import safe_files
from fastdiff.difpy_exact import merge as exact_merge
from fastdiff.difpy_exact import thumbnails as exact
from fastdiff.thumbnails.decode import DecodeError, decode_image

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds for one whole workflow run on four files
KINDS = {"pipe.jpg": "named pipe", "sock.jpg": "socket", "null.jpg": "character device", "link.jpg": "named pipe"}


def make_special(folder: Path) -> dict[str, str]:
    """Two equal images and the four special files of KINDS in folder; {name: kind}."""
    folder.mkdir(parents=True)
    rgb = np.random.default_rng(7).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    Image.fromarray(rgb).save(folder / "b.png", compress_level=0)
    os.mkfifo(folder / "pipe.jpg")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "sock.jpg"))  # the socket file stays after the socket is closed
    os.symlink("/dev/null", folder / "null.jpg")
    os.symlink("pipe.jpg", folder / "link.jpg")
    return KINDS


@pytest.fixture
def special(tmp_path: Path) -> Path:
    make_special(tmp_path / "in")
    return tmp_path / "in"


def bounded(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run cmd, failing the test (and killing its process group) if it does not finish within TIMEOUT."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {TIMEOUT} s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture
def alarm():
    """Fail an in-process test that blocks for more than 20 s (a blocking open() is interrupted by the signal)."""

    def hung(signum, frame):
        raise TimeoutError("blocked on a special file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- the guard itself ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KINDS))
def test_open_regular_refuses_special_files_without_blocking(special, alarm, name):
    with pytest.raises(special_files.NotRegularFile) as err:
        special_files.open_regular(special / name)
    assert err.value.kind == KINDS[name] and str(special / name) in str(err.value)


def test_open_regular_reads_regular_files_and_reports_others_like_open(special, alarm):
    with special_files.open_regular(special / "a.png") as fh:
        assert fh.read() == (special / "a.png").read_bytes()
    with pytest.raises(IsADirectoryError):
        special_files.open_regular(special)
    with pytest.raises(FileNotFoundError, match="No such file"):
        special_files.open_regular(special / "missing.png")


def test_a_file_swapped_for_a_pipe_after_the_check_is_refused_on_the_descriptor(special, alarm, monkeypatch):
    monkeypatch.setattr(special_files, "check_regular", lambda path: None)  # as if it was regular when checked
    with pytest.raises(special_files.NotRegularFile, match="named pipe"):
        special_files.open_regular(special / "pipe.jpg")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_decoders_of_both_modes_report_special_files(special, alarm, name):
    with pytest.raises(DecodeError, match=f"not a regular file \\({KINDS[name]}\\)"):
        decode_image(str(special / name))
    assert exact.thumbnail(name, 50, str(special)) == exact.NOT_REGULAR.format(kind=KINDS[name])


def test_exact_keeper_order_never_blocks(special, alarm):
    with pytest.raises(special_files.NotRegularFile):
        exact_merge.sort_by_size(["a.png", "pipe.jpg"], str(special))


# --- every mode: the run finishes and reports each special file ------------------------------------------------------


def test_fastdiff_run(special, tmp_path):
    proc = bounded([sys.executable, "-m", "fastdiff.cli", "run", str(special), "-o", "out", "--cores", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = json.loads((tmp_path / "out" / "stats.json").read_text())["invalid_files"]["logs"]
    assert {os.path.basename(p): m for p, m in logs.items()} == {
        name: f"not a regular file ({kind})" for name, kind in KINDS.items()
    }


@pytest.mark.parametrize("exact_mode", [False, True], ids=["default", "exact"])
def test_difpy_command(special, tmp_path, exact_mode):
    cmd = [sys.executable, "-m", "fastdiff.difpy.cli", "-D", "in", "-Z", "out", "-p", "False", "-mv", "moved"]
    proc = bounded(cmd + (["--difpy-exact"] if exact_mode else []), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (stats,) = (tmp_path / "out").glob("*_stats.json")
    logs = json.loads(stats.read_text())["invalid_files"]["logs"]
    expected = exact.NOT_REGULAR if exact_mode else "not a regular file ({kind})"
    assert logs == {f"in/{name}": expected.format(kind=kind) for name, kind in KINDS.items()}
    assert len(os.listdir(tmp_path / "moved")) == 1  # a.png or b.png: the pair of images still matches


API = """
import json, sys
from fastdiff.difpy import build, search
dif = build("in", show_progress=False, processes=1, exact=sys.argv[1] == "exact")
se = search(dif, show_progress=False, processes=1)
print(json.dumps(se.stats["invalid_files"]["logs"]))
se.delete(silent_del=True, trash="trash")
"""


@pytest.mark.parametrize("mode", ["default", "exact"])
def test_difpy_api_and_delete(special, tmp_path, mode):
    proc = bounded([sys.executable, "-c", API, mode], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = json.loads(proc.stdout.splitlines()[0])
    assert sorted(logs) == [f"in/{name}" for name in sorted(KINDS)]
    assert "Deleted 1 file(s)" in proc.stdout and len(os.listdir(tmp_path / "trash")) == 2  # the file, manifest


def test_move_and_delete_leave_special_files_alone(special, tmp_path, alarm, capsys):
    listed = [str(special / name) for name in sorted(KINDS)]
    assert not safe_files.move(listed, [], str(tmp_path / "moved"), str(tmp_path / "m.json")).done
    assert not safe_files.delete(listed, [], str(tmp_path / "trash"), str(tmp_path / "d.json"), True).done
    out = capsys.readouterr().out
    assert all(f"left alone: {special / name} (is not a regular file ({KINDS[name]}))" in out for name in KINDS)
    assert all(os.path.lexists(p) for p in listed)
