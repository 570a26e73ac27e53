"""A bad config key or value stops the run before any job, with a message naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, run_fastdiff

from fastdiff.core.config import ConfigError, load_config


@pytest.mark.parametrize(
    "key, value",
    [
        ("px_size", 5),
        ("threshold", "very"),
        ("shift_amount", 9),
        ("match_aspect_by", 0.5),
        ("no_such_key", 1),
        ("part_a", ["/no/such/dir"]),
        ("alpha_background", "pink"),
        ("alpha_background", [255, 255]),
        ("alpha_background", [0, 256, 0]),
        ("alpha_background", [0.5, 0, 0]),
        ("fast_jpeg", "sometimes"),
    ],
)
def test_bad_values_name_the_key(tmp_path, key, value):
    raw = {"part_a": [str(tmp_path)], key: value}
    with pytest.raises(ConfigError, match=key):
        load_config(raw)


@pytest.mark.parametrize("value, rgb", [("white", (255, 255, 255)), ("Black", (0, 0, 0)), ([10, 20, 30], (10, 20, 30))])
def test_alpha_background_values(tmp_path, value, rgb):
    assert load_config({"part_a": [str(tmp_path)], "alpha_background": value}).alpha_background == rgb
    message = "must be 'white', 'black' or \\[r, g, b\\] with three integers 0-255"
    with pytest.raises(ConfigError, match=f"alpha_background': .*{message}"):
        load_config({"part_a": [str(tmp_path)], "alpha_background": [1, 2, 300]})


def test_fastdiff_run_rejects_bad_config_before_any_job(tmp_path):
    proc = run_fastdiff([tmp_path], tmp_path / "out", "--config", "px_size=3", check=False)
    assert proc.returncode == 2
    assert "px_size" in proc.stderr
    assert not (tmp_path / "out" / "work" / ".snakemake").exists()


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "1",
            "--directory",
            str(tmp_path),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            str(REPO / "config/config.yaml"),
            "--config",
            f"part_a=[{tmp_path}]",
            "rotate=maybe",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert "rotate" in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("results/work/*"))


def test_in_folder_with_part_b_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="in_folder"):
        load_config({"part_a": [str(tmp_path)], "part_b": [str(tmp_path / "..")], "in_folder": True})
