"""User hash and difference functions: validated before any job, run through the same block pipeline."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from conftest import run_fastdiff
from synth import make_collection
from user_functions import mean_abs_pair

from fastdiff.core.config import ConfigError, load_config
from fastdiff.core.userfn import load_diff_fn


@pytest.mark.parametrize(
    "key, path, message",
    [
        ("cpu_diff", "user_functions.no_such_function", "cannot import"),
        ("cpu_diff", "user_functions.negative", "finite number >= 0"),
        ("cpu_diff", "user_functions.one_argument", "2 positional"),
        ("hash_fn", "user_functions.mean_abs_pair", "1 positional"),
        ("gpu_diff", "nomodule.fn", "cannot import"),
    ],
)
def test_bad_user_functions_stop_the_run(tmp_path, key, path, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"part_a": [str(tmp_path)], key: path})


def test_kind_is_detected():
    assert load_diff_fn("user_functions.mean_abs_block").vectorised
    assert not load_diff_fn("user_functions.mean_abs_pair").vectorised


@pytest.mark.parametrize("fn", ["user_functions.mean_abs_pair", "user_functions.mean_abs_block"])
def test_user_diff_runs_through_the_pipeline(tmp_path, fn):
    data = tmp_path / "data"
    make_collection(data, n_base=12, seed=4, odd_names=False)
    out = tmp_path / "out"
    run_fastdiff(
        [data],
        out,
        "--similarity",
        "3",
        "--no-same-dim",
        "--shard-size",
        "5",
        "--config",
        "block_size=10",
        "--config",
        f"cpu_diff={fn}",
        "--config",
        "hash_fn=user_functions.md5_hex",
        env_pythonpath=True,
    )
    with sqlite3.connect(out / "fastdiff.sqlite") as con:
        got = {(a, b): d for a, b, d in con.execute("SELECT key_a, key_b, dif FROM dif_table")}
        n_hashes = con.execute("SELECT COUNT(*) FROM hash_table WHERE length(hash) = 32").fetchone()[0]
    keys, thumbs = [], []
    for f in sorted((out / "work" / "thumbs").glob("*.npz")):
        z = np.load(f)
        keys += z["keys"].tolist()
        thumbs += list(z["thumbs"])
    expected = {}
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            value = min(mean_abs_pair(thumbs[i], np.rot90(thumbs[j], k)) for k in range(4))
            if value <= 3:
                expected[(keys[i], keys[j])] = value
    assert set(got) == set(expected) and len(got) > 0
    assert all(abs(got[p] - expected[p]) < 1e-9 for p in got)
    assert n_hashes > 0  # md5 hex digests, not sha-256
