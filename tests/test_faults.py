"""Faults: a corrupt thumbnail batch is detected and rebuilt (never compared), an image changed after indexing is
detected, and a full or read-only output folder gives a clear error and never a partial results file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, read_json, run_fastdiff
from synth import make_tiny_set

from fastdiff.thumbnails.batch import Batch, CorruptBatchError, load_batch, save_batch

RESULTS = ("results.json", "lower_quality.json", "stats.json", "fastdiff.sqlite")


def _batch(n: int = 3) -> Batch:
    rng = np.random.default_rng(0)
    return Batch(
        keys=np.arange(n, dtype=np.int64),
        paths=np.char.zfill(np.arange(n).astype(str), 12),
        thumbs=rng.integers(0, 256, (n, 20, 20, 3), dtype=np.uint8),
        height=np.full(n, 120, np.int64),
        width=np.full(n, 160, np.int64),
        hashes=np.full((n, 4), "ab" * 32, dtype="<U64"),
        error_keys=np.asarray([n], np.int64),
        error_messages=np.asarray(["truncated image data"]),
        started=1.0,
        finished=2.0,
    )


def _rewrite(path: Path, change) -> None:
    """Rewrite a batch as a valid .npz with one array changed and the stored checksums kept."""
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


DAMAGE = {
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "pixels": lambda p: _rewrite(p, lambda a: a["thumbs"].__setitem__((0, 0, 0, 0), a["thumbs"][0, 0, 0, 0] ^ 1)),
    "keys": lambda p: _rewrite(p, lambda a: a["keys"].__setitem__(0, 7)),
    "no checksum": lambda p: _rewrite(p, lambda a: [a.pop("sha256_meta"), a.pop("sha256_thumbs")]),
    # the format before the stored cell sums (fastdiff.compare.prune.image_cells): rebuilt like any older batch
    "no cell sums": lambda p: _rewrite(p, lambda a: [a.pop(k) for k in ("cells", "cell_cuts", "sha256_cells")]),
    "cell sums": lambda p: _rewrite(p, lambda a: a["cells"].__setitem__((0, 0, 0, 0), a["cells"][0, 0, 0, 0] + 1)),
    "another grid": lambda p: _rewrite(p, _other_grid),
}


def _other_grid(arrays: dict) -> None:
    """Cell sums of a 4 x 4 grid (not this fastdiff's), with a matching checksum."""
    from fastdiff.core import cells
    from fastdiff.thumbnails.batch import CELL_FIELDS, _sha256

    arrays["cell_cuts"] = cells.grid_cuts(20, 4)
    arrays["cells"] = cells.cell_sums(np, arrays["thumbs"], arrays["cell_cuts"], np.int32)
    arrays["sha256_cells"] = np.asarray(_sha256(arrays, CELL_FIELDS))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_corrupt_batch_is_detected_and_removed(tmp_path, damage):
    path = tmp_path / "00000.npz"
    save_batch(_batch(), path)
    DAMAGE[damage](path)
    with pytest.raises(CorruptBatchError, match=r"corrupt thumbnail batch .*00000.npz"):
        load_batch(path)
    assert not path.exists(), "a corrupt batch must be removed so that the workflow rebuilds it"


def test_intact_batch_loads_and_metadata_reads_skip_the_pixels(tmp_path):
    path = tmp_path / "00000.npz"
    save_batch(_batch(), path)
    got = load_batch(path)
    assert np.array_equal(got.thumbs, _batch().thumbs) and got.error_messages.tolist() == ["truncated image data"]
    from fastdiff.core import cells

    assert np.array_equal(got.cells, cells.image_cells(_batch().thumbs)) and got.cells.dtype == np.int32
    DAMAGE["pixels"](path)
    assert load_batch(path, thumbs=False).keys.tolist() == [0, 1, 2]  # the merge reads no pixels
    with pytest.raises(CorruptBatchError, match="checksum mismatch \\(thumbnails\\)"):
        load_batch(path)  # ... a compare job does


@pytest.mark.parametrize("thumbs", [True, False])
def test_batch_without_cell_sums_is_an_older_format(tmp_path, thumbs):
    """A batch written before the cell sums were stored is removed and rebuilt, whoever reads it (a compare job
    or the merge): never compared with sums computed on the fly."""
    path = tmp_path / "00000.npz"
    save_batch(_batch(), path)
    DAMAGE["no cell sums"](path)
    with pytest.raises(CorruptBatchError, match=r"no cell sums \(written by an older fastdiff\)"):
        load_batch(path, thumbs=thumbs)
    assert not path.exists()


def test_corrupt_batch_before_compare_is_rebuilt_not_compared(tmp_path):
    """Batches damaged between the thumbnail and the compare jobs: the compare job removes them and fails,
    `fastdiff run` runs the workflow again, which rebuilds them: the results equal an undamaged run's."""
    images = tmp_path / "images"
    make_tiny_set(images)
    out, args = tmp_path / "out", ["--shard-size", "2"]
    run_fastdiff([images], out, *args)
    clean = out.rename(tmp_path / "clean")

    run_fastdiff([images], out, *args, "--", "--until", "index")
    batches = [
        out / "work" / "thumbs" / f"{s['name']}.npz"
        for s in read_json(out / "work" / "index" / "manifest.json")["shards"][:3]
    ]
    run_fastdiff([images], out, *args, "--", *map(str, batches))
    assert not (out / "results.json").exists() and len(list((out / "work" / "thumbs").glob("*.npz"))) == 3
    DAMAGE["truncated"](batches[1])
    # the valid-looking kind: every pixel of sub/a_copy.png's thumbnail changed, the zip and its CRCs intact;
    # compared, the exact copy a.png / sub/a_copy.png would no longer match
    _rewrite(batches[2], lambda a: a["thumbs"].__setitem__(0, a["thumbs"][0] // 2))
    proc = run_fastdiff([images], out, *args)

    assert "checksum mismatch (thumbnails)" in proc.stderr and batches[2].name in proc.stderr
    assert "fastdiff: a corrupt thumbnail batch was removed; running again to rebuild it" in proc.stderr
    for name in RESULTS[:2] + RESULTS[3:]:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    for batch in sorted((out / "work" / "thumbs").glob("*.npz")):
        load_batch(batch)  # rebuilt, intact
    assert len(read_json(out / "results.json")) == 1


def test_image_changed_between_indexing_and_thumbnails_is_detected(tmp_path):
    images = tmp_path / "images"
    make_tiny_set(images)
    out = tmp_path / "out"
    run_fastdiff([images], out, "--", "--until", "index")
    size = (images / "b.jpg").stat().st_size
    with open(images / "b.jpg", "ab") as fh:  # grows
        fh.write(b"\0" * 10)
    st = (images / "c.png").stat()  # same size, rewritten later
    (images / "c.png").write_bytes((images / "c.png").read_bytes())
    os.utime(images / "c.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    run_fastdiff([images], out, "--", "--forcerun")  # (no rescan: as if the files changed during this run)

    logs = read_json(out / "stats.json")["invalid_files"]["logs"]
    assert logs == {
        str(images / "b.jpg"): f"file changed since indexing (size {size} -> {size + 10})",
        str(images / "c.png"): "file changed since indexing (modification time)",
    }
    assert read_json(out / "results.json") == {str(images / "a.png"): [[str(images / "sub" / "a_copy.png"), 0.0]]}


# --- a full or read-only output folder, on a small file system mounted in a private mount namespace -----------

DRIVER = textwrap.dedent("""
    import json, os, subprocess, sys
    mnt, images, report, plan = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    subprocess.run(["mount", "-t", "tmpfs", "-o", plan["mount"], "tmpfs", mnt], check=True)
    steps = []
    for step in plan["steps"]:
        if step == "fill":  # leave about 24 kB free
            st = os.statvfs(mnt)
            with open(os.path.join(mnt, "filler"), "wb") as fh:
                fh.write(bytes(max(0, st.f_bavail * st.f_frsize - 24 * 1024)))
            continue
        if step == "unfill":
            os.unlink(os.path.join(mnt, "filler"))
            continue
        proc = subprocess.run([sys.executable, "-m", "fastdiff.cli", "run", images, "-o", os.path.join(mnt, "out"),
                               "--cores", "2", "--snakemake", "-v", *step], capture_output=True, text=True)
        out = os.path.join(mnt, "out")
        files = {}
        for name in ("results.json", "lower_quality.json", "stats.json"):
            if os.path.exists(os.path.join(out, name)):
                files[name] = open(os.path.join(out, name)).read()
        tmp = [os.path.join(d, f) for d, _, fs in os.walk(mnt) for f in fs if f.endswith(".tmp")]
        steps.append({"rc": proc.returncode, "stderr": proc.stderr[-6000:], "files": files, "tmp": tmp})
    json.dump(steps, open(report, "w"))
""")


def _on_small_disk(tmp_path: Path, mount_options: str, steps: list) -> list[dict]:
    """Run fastdiff steps with the output folder on a tmpfs of its own (unshare: nothing leaks to the host)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs unshare and mount (util-linux) to mount a small file system privately")
    probe = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "mount", "-t", "tmpfs", "tmpfs", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs (unshare --map-root-user --mount): {probe.stderr.strip()}")
    images, mnt, report = tmp_path / "images", tmp_path / "mnt", tmp_path / "report.json"
    make_tiny_set(images)
    mnt.mkdir()
    subprocess.run(
        [
            "unshare",
            "--map-root-user",
            "--mount",
            sys.executable,
            "-c",
            DRIVER,
            str(mnt),
            str(images),
            str(report),
            json.dumps({"mount": mount_options, "steps": steps}),
        ],
        check=True,
        cwd=REPO,
        timeout=600,
    )
    return json.loads(report.read_text())


@pytest.mark.slow  # heavy arithmetic or decoding: seconds on 2 cores
def test_full_disk_gives_a_clear_error_and_no_partial_results(tmp_path):
    first, full, freed = _on_small_disk(
        tmp_path, "size=8m", [[], "fill", ["--similarity", "similar"], "unfill", ["--similarity", "similar"]]
    )
    assert first["rc"] == 0
    assert full["rc"] != 0
    assert "fastdiff: the run failed because the disk of" in full["stderr"] and "is full" in full["stderr"]
    for _name, text in full["files"].items():  # a results file is there in full (an earlier run's) or not at all
        json.loads(text)
    assert not full["tmp"] and not freed["tmp"]
    assert freed["rc"] == 0  # the same command again, with space: it finishes
    assert set(freed["files"]) == set(RESULTS[:3])
    assert json.loads(freed["files"]["stats.json"])["process"]["search"]["parameters"]["similarity_mse"] == 5


def test_read_only_output_folder_gives_a_clear_error(tmp_path):
    (ro,) = _on_small_disk(tmp_path, "ro,size=1m", [[]])
    assert ro["rc"] == 2
    assert "fastdiff: cannot write to the output folder" in ro["stderr"]
    assert "Read-only file system" in ro["stderr"] and "Traceback" not in ro["stderr"]
    assert not ro["files"]
