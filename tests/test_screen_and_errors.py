"""What `fastdiff run` says: arguments read one way only, counts that add up on the screen, in stats.json and in
`fastdiff query summary`, a bar that moves on both executors (on a pseudo-terminal), errors in one plain line,
Ctrl-C's resume line, and --in-folder with one folder (docs/screen-and-errors.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastdiff.cli import build_parser, main, parse_arguments, resolve_config
from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.device import DeviceError, require_device
from fastdiff.run.preflight import PreflightError, check_executor, check_run, executor_of
from fastdiff.run.runner import RunError, run_workflow

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]), "COLUMNS": "160"}
FASTDIFF = [sys.executable, "-m", "fastdiff.cli"]


def image(path: Path, seed: int, size: tuple[int, int] = (48, 64)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """6 images (a duplicate pair), 3 files that are not images, 2 broken images, 2 hidden entries (a file and a
    folder of 2 images), a link to an image and an ignored folder."""
    root = tmp_path / "messy"
    for i, name in enumerate(["a.png", "b.png", "c.jpg", "sub/d.png", "sub/e.png"]):
        image(root / name, i)
    shutil.copy(root / "a.png", root / "sub/a_copy.png")
    (root / "notes.txt").write_text("hello")
    (root / "logo.svg").write_text("<svg/>")
    (root / "sound.mp3").write_bytes(b"ID3" + bytes(200))
    (root / "broken.jpg").write_bytes((root / "c.jpg").read_bytes()[:300])
    (root / "empty.gif").write_bytes(b"")
    shutil.copy(root / "b.png", root / ".b_hidden.png")
    image(root / ".cache/x.png", 10)
    image(root / ".cache/y.png", 11)
    os.symlink("a.png", root / "link.png")
    image(root / "Thumbs/t.png", 12)
    return root


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*FASTDIFF, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)


# --- 1. arguments that cannot be misread


def test_part_b_takes_one_folder_and_the_next_one_is_partition_a(tmp_path):
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    args = build_parser().parse_args(["run", "--part-b", str(tmp_path / "b"), str(tmp_path / "a"), "-o", "o"])
    raw = resolve_config(args)
    assert (raw["part_a"], raw["part_b"]) == ([str(tmp_path / "a")], [str(tmp_path / "b")])
    args = parse_arguments(build_parser(), ["run", "a", "--part-b", "b", "--part-b", "c", "-o", "o"])
    assert args.part_b == ["b", "c"] and args.dirs == ["a"]
    args = parse_arguments(build_parser(), ["run", "a1", "--part-b", "b", "a2", "-o", "o", "a3"])
    assert args.part_b == ["b"] and args.dirs == ["a1", "a2", "a3"]
    raw = resolve_config(parse_arguments(build_parser(), ["run", "--part-b", str(tmp_path / "b"), str(tmp_path / "a")]))
    assert (raw["part_a"], raw["part_b"]) == ([str(tmp_path / "a")], [str(tmp_path / "b")])


def test_part_b_without_partition_a_is_refused_not_run_on_the_examples(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    assert main(["run", "--part-b", str(tmp_path / "b"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no folder of partition A" in err and "--part-b takes one folder per use" in err
    assert not (tmp_path / "out").exists()


def test_the_bundled_examples_only_without_any_folder_and_the_start_line_says_so(tmp_path):
    proc = run("run", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"fastdiff: searching the bundled examples ({REPO / 'examples' / 'images'}; give folders")
    (tmp_path / "mine").mkdir()
    image(tmp_path / "mine" / "a.png", 0)
    given = run("run", "mine", "-o", str(tmp_path / "out2"), cwd=tmp_path)
    assert given.returncode == 0 and "bundled examples" not in given.stdout, given.stdout


# --- 2. counts that add up


def _screen_counts(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if " found: " in line).removeprefix("fastdiff: ")


def test_counts_add_up_alike_on_screen_in_stats_and_in_query_summary(messy, tmp_path):
    out = tmp_path / "out"
    proc = run("run", str(messy), "-o", str(out), "--config", "ignore_names=[Thumbs]")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    files = stats["files"]
    assert files["images_compared"] == 6
    assert files["not_images"] == {"count": 3, "by_kind": {".mp3": 1, ".svg": 1, ".txt": 1}}
    assert files["unreadable_images"] == {
        "count": 2,
        "by_reason": {"empty file (0 bytes)": 1, "truncated image data": 1},
    }
    assert files["skipped"] == {
        "count": 4,
        "by_reason": {"hidden": 2, "ignored name": 1, "link to a file already counted": 1},
    }
    assert files["found"] == 6 + 3 + 2 + 4
    assert set(stats["skipped_files"]) == {str(messy / n) for n in (".b_hidden.png", ".cache", "Thumbs", "link.png")}
    # difPy's own keys keep their meaning: images searched plus invalid files
    assert stats["total_files"] == stats["process"]["search"]["files_searched"] + stats["invalid_files"]["count"]
    assert stats["invalid_files"]["count"] == 5
    line = _screen_counts(proc.stdout)
    assert line.startswith("15 files found: 6 images compared, 3 files that are not images (1 .mp3, 1 .svg, 1 .txt)")
    assert "2 unreadable images" in line and "4 skipped (2 hidden, 1 ignored name" in line
    assert "6 images compared: 1 group" in proc.stdout
    assert "2 image files could not be read" in proc.stderr
    query = run("query", str(out), "summary", "--json")
    summary = json.loads(query.stdout)
    assert summary["files_by_class"] == files
    assert summary["files"] == files["found"]
    assert (summary["images_compared"], summary["not_images"], summary["unreadable_images"], summary["skipped"]) == (
        6,
        3,
        2,
        4,
    )
    assert _screen_counts(run("query", str(out), "summary").stdout) == line


def test_include_hidden_searches_hidden_files_and_folders(messy, tmp_path):
    out = tmp_path / "out"
    proc = run("run", str(messy), "-o", str(out), "--include-hidden")
    assert proc.returncode == 0, proc.stderr
    files = json.loads((out / "stats.json").read_text())["files"]
    assert files["images_compared"] == 6 + 1 + 2 + 1  # + the hidden copy, the hidden folder's 2, Thumbs' one
    assert "hidden" not in files["skipped"]["by_reason"]
    assert json.loads((out / "results.json").read_text())  # the hidden copy of b.png is found
    assert str(messy / ".b_hidden.png") in (out / "results.json").read_text()


# --- 3. the bar, on a pseudo-terminal


def _screen(args: list[str], interrupt_at: str | None = None) -> tuple[str, int]:
    """Run a command on a pseudo-terminal; return what the terminal showed and the exit status. interrupt_at: a
    regular expression; once the screen shows it, Ctrl-C is typed."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(args[0], args[1:], env=ENV, cwd=str(REPO), encoding="utf-8", timeout=300)
    child.setwinsize(40, 200)
    shown = ""
    if interrupt_at is not None:
        child.expect(interrupt_at)
        shown = child.before + child.after
        child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    shown += child.before
    return shown, child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)


def _frames(screen: str) -> list[str]:
    return [f.strip() for f in re.split(r"[\r\n]+", screen) if f.strip()]


@pytest.mark.parametrize("executor", ["in process", "snakemake"])
def test_the_bar_moves_from_the_first_file_and_ends_above_the_summary(tmp_path, executor):
    for i in range(24):
        image(tmp_path / "in" / f"{i:02d}.png", i)
    how = ["--snakemake"] if executor == "snakemake" else []
    cmd = [*FASTDIFF, "run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--cores", "2", *how]
    screen, status = _screen([*cmd, "--config", "hash_fn=user_functions.slow_sha256"])
    assert status == 0, screen
    frames = _frames(screen)
    partly = [f for f in frames if (m := re.match(r"decoding: (\d+)/24 files", f)) and 0 < int(m.group(1)) < 24]
    assert partly, f"the bar never showed a shard in part decoded:\n{screen}"
    assert not any(re.search(r"\|\s*,|, ,|: ,", f) for f in frames), screen
    done = next(i for i, f in enumerate(frames) if f.startswith("done: 24/24 files, 276/276 pairs"))
    assert "100%" in frames[done]
    assert frames[done + 1].startswith("fastdiff: 24 files found: 24 images compared"), screen


# --- 4. errors in one plain line


def test_config_errors_speak_plainly(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config({"part_a": [str(tmp_path / "nonexistent")]})
    message = str(err.value)
    assert "\n" not in message and "Value error" not in message and "got [" not in message
    assert message == f"invalid configuration: config key 'part_a': '{tmp_path / 'nonexistent'}' does not exist; " + (
        "give the folders (or file lists: .csv, .lst, .tsv, .txt) to search"
    )
    with pytest.raises(ConfigError, match=r"config key 'threshold': must be a valid number or 'duplicates' or "):
        load_config({"part_a": [str(tmp_path)], "threshold": "x"})
    with pytest.raises(
        ConfigError, match=r"^invalid configuration: config key 'px_size': must be greater .* \(got 3\)$"
    ):
        load_config({"part_a": [str(tmp_path)], "px_size": 3})


@pytest.mark.parametrize(
    "key, path, raised",
    [
        ("hash_fn", "user_functions.raising_hash", "ZeroDivisionError: no hash today"),
        ("cpu_diff", "user_functions.raising_diff", "KeyError: 'channel'"),
    ],
)
def test_a_user_function_that_raises_in_its_check_is_a_config_error(tmp_path, key, path, raised):
    with pytest.raises(ConfigError) as err:
        load_config({"part_a": [str(tmp_path)], key: path})
    message = str(err.value)
    assert f"config key '{key}': '{path}' raised {raised} when checked on a sample" in message
    assert "fix the function or remove the key" in message and "\n" not in message


def test_a_user_function_error_through_the_command_line(tmp_path):
    proc = run("run", str(tmp_path), "-o", str(tmp_path / "out"), "--config", "hash_fn=user_functions.raising_hash")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("fastdiff: invalid configuration: config key 'hash_fn'")


def test_a_missing_executor_plugin_is_named_before_snakemake_starts(tmp_path):
    assert executor_of({"executor": "slurm"}, []) == "slurm"
    assert executor_of({}, ["--executor", "cluster-generic"]) == "cluster-generic"
    assert executor_of({"executor": "slurm"}, ["-e", "local"]) == "local"
    check_executor("local", "--executor")
    with pytest.raises(PreflightError, match=r"pip install snakemake-executor-plugin-no-such-thing$"):
        check_executor("no-such-thing", "--executor")
    image(tmp_path / "in" / "a.png", 0)
    raw = {"part_a": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out")}
    with pytest.raises(RunError, match=r"^--executor runs the jobs with Snakemake's 'no-such-thing' executor, whose"):
        run_workflow(raw, 1, snakemake_args=["--executor", "no-such-thing"])


def test_snakemake_refusing_its_arguments_says_why_on_screen(tmp_path):
    image(tmp_path / "in" / "a.png", 0)
    proc = run("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--", "--no-such-snakemake-option")
    assert proc.returncode != 0
    assert re.search(r"error: unrecognized arguments: --no-such-snakemake-option", proc.stderr), proc.stderr


def test_a_gpu_diff_that_cannot_run_is_refused_unless_cpu_diff_is_set(tmp_path):
    base = {"part_a": [str(tmp_path)], "output_dir": str(tmp_path / "out"), "gpu_diff": "user_functions.mean_abs_block"}
    with pytest.raises(PreflightError, match=r"gpu_diff is set but device is 'cpu'.*also set cpu_diff"):
        check_run(load_config({**base, "device": "cpu"}), jobs_here=True)
    try:
        require_device("gpu")
        gpu_here = True
    except DeviceError:
        gpu_here = False
    auto = load_config({**base, "device": "auto"})
    if gpu_here:
        check_run(auto, jobs_here=True)
    else:
        with pytest.raises(PreflightError, match=r"device 'auto' finds no usable GPU here.*also set cpu_diff"):
            check_run(auto, jobs_here=True)
    check_run(auto, jobs_here=False)  # cluster jobs: checked by the job on its node
    check_run(load_config({**base, "device": "auto", "cpu_diff": "user_functions.mean_abs_block"}), jobs_here=True)


SLOW_DIFPY = (
    "import sys, time; import fastdiff.thumbnails.build as t; hashes = t.rotation_hashes; "
    "t.rotation_hashes = lambda *a: (time.sleep(0.05), hashes(*a))[1]; "
    "from fastdiff.difpy.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("command", ["fastdiff", "difpy"])
def test_ctrl_c_shows_the_resume_line(tmp_path, command):
    for i in range(40):
        image(tmp_path / "in" / f"{i:02d}.png", i)
    if command == "fastdiff":
        args = [*FASTDIFF, "run", str(tmp_path / "in"), "-o", str(tmp_path / "out")]
        args += ["--config", "hash_fn=user_functions.slow_sha256"]
    else:
        args = [sys.executable, "-c", SLOW_DIFPY, "-D", str(tmp_path / "in"), "-Z", str(tmp_path / "out")]
    screen, status = _screen(args, interrupt_at=r"decoding: [1-9]\d*/40 files")
    assert status == 130, screen
    assert "interrupted; run the same command to resume" in screen
    assert screen.count("run the same command to resume") == 1, screen
    assert "failed" not in screen and "Traceback" not in screen, screen


# --- 5. --in-folder with one folder


def test_in_folder_with_one_folder_compares_each_subfolder_on_its_own(tmp_path):
    root = tmp_path / "photos"
    image(root / "a" / "x.png", 1)
    for copy in ("a/x_copy.png", "b/x.png", "top_x.png", "top_x2.png"):
        (root / copy).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "a" / "x.png", root / copy)
    image(root / "a" / "deeper" / "y.png", 2)
    shutil.copy(root / "a" / "deeper" / "y.png", root / "a" / "y_copy.png")
    out = tmp_path / "out"
    proc = run("run", str(root), "-o", str(out), "--in-folder")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    groups = sorted(
        sorted([os.path.relpath(h, root), *(os.path.relpath(m, root) for m, _ in ms)])
        for h, ms in results[str(root)].items()
    )
    assert groups == [
        ["a/deeper/y.png", "a/y_copy.png"],  # a subfolder with its own subfolders is one section
        ["a/x.png", "a/x_copy.png"],
        ["top_x.png", "top_x2.png"],  # the files directly in the folder, among themselves
    ]
    together = run("run", str(root), "-o", str(tmp_path / "out2"))
    assert len(json.loads((tmp_path / "out2" / "results.json").read_text())) == 2  # the x group spans all folders
    assert together.returncode == 0
