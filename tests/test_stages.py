"""The contract of the stages: options that are their Snakemake params, one implementation table, no import circle,
validation once, and a run with nothing changed that recomputes nothing."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, run_fastdiff

from fastdiff.core.config import load_config
from fastdiff.core.options import STAGE_OPTIONS, stage_params
from fastdiff.run import resources
from fastdiff.run.stages import IMPLEMENTATIONS


@pytest.fixture
def raw(tmp_path: Path) -> dict:
    (tmp_path / "in").mkdir()
    return {"part_a": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out")}


def test_options_round_trip_through_params(raw):
    config = load_config(raw)
    for stage, cls in STAGE_OPTIONS.items():
        params = stage_params(config, stage)
        assert json.loads(json.dumps(params)) == params, stage  # plain data, as Snakemake stores params
        assert cls.from_params(params) == cls.from_config(config), stage


@pytest.mark.parametrize(
    ("key", "value", "stages"),
    [
        ("threshold", "similar", {"compare", "merge"}),
        ("px_size", 32, {"thumbnails", "merge"}),
        ("rotate", False, {"thumbnails", "compare", "merge"}),
        ("shard_size", 7, {"index", "merge"}),  # the merge stores the run's config (run_config)
        ("tile_size", 256, {"compare", "merge"}),
        ("report_page_size", 5, {"report"}),
        ("report", True, set()),
        ("mirror", True, {"thumbnails", "compare", "merge"}),  # the mirrored hashes, the symmetries compared
        ("grayscale", True, {"thumbnails", "merge"}),  # luma thumbnails: compare reruns on the new batches
        ("keep", ["oldest", "pixels"], {"merge"}),  # the keeper order: groups and ranks only
    ],
)
def test_a_key_reruns_exactly_the_stages_that_use_it(raw, key, value, stages):
    """The keys a stage depends on are derived from its options: changing one changes the params of exactly the
    stages that read it (Snakemake reruns those and what follows)."""
    before, after = load_config(raw), load_config({**raw, key: value})
    changed = {s for s in STAGE_OPTIONS if stage_params(before, s) != stage_params(after, s)}
    assert changed == stages


def test_both_modes_implement_every_stage_with_one_signature():
    default, difpy = IMPLEMENTATIONS["default"], IMPLEMENTATIONS["difpy"]
    for field in dataclasses.fields(default):
        if field.name == "on_gpu":
            continue
        a, b = getattr(default, field.name), getattr(difpy, field.name)
        assert a is not b, field.name
        shared = list(inspect.signature(b).parameters)  # the default mode's may take optional extras after these
        assert list(inspect.signature(a).parameters)[: len(shared)] == shared, field.name


def _imports(package: Path) -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, imported name)} for every import inside the package, lazy ones included."""
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    found: dict[str, set[tuple[str, str]]] = {}
    for name, path in names.items():
        own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        tree = ast.parse(path.read_text())
        type_checking = {  # imports for annotations only: no edge at run time
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_checking:
                continue
            if isinstance(node, ast.ImportFrom):
                base = own_package.split(".")[: len(own_package.split(".")) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    target = f"{module}.{alias.name}"
                    edges.add((target, "") if target in names else (module, alias.name))
            elif isinstance(node, ast.Import):
                edges.update((a.name, "") for a in node.names)
        found[name] = {(m, n) for m, n in edges if m in names and m != name}
    return found


def test_no_import_circle_and_no_private_name_across_modules():
    imports = _imports(REPO / "fastdiff")
    private = sorted(
        f"{m} imports {t}.{n}" for m, e in imports.items() for t, n in e if n.startswith("_") and not n.endswith("__")
    )
    assert not private
    graph = {m: {t for t, _ in e} for m, e in imports.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(t == goal or (t not in seen and not seen.add(t) and reaches(t, goal, seen)) for t in graph[start])

    circles = sorted(m for m in graph if reaches(m, m, set()))
    assert not circles


# The package's layers, lowest first: a module imports only from its own subpackage or a lower layer, so that the
# import graph reads top-down along the pipeline (index -> thumbnails -> compare -> merge) over the shared layers.
LAYERS = (
    ("fastdiff._shared",),
    ("fastdiff.core",),
    ("fastdiff.index",),
    ("fastdiff.thumbnails",),
    ("fastdiff.compare",),
    ("fastdiff.merge",),
    ("fastdiff.actions", "fastdiff.difpy_exact"),
    ("fastdiff.run",),
    ("fastdiff.difpy", "fastdiff"),  # the difPy API and command; the top folder: the public API and command line
)


def _layer(module: str) -> tuple[int, str]:
    """(rank, subpackage) of a module: the longest LAYERS prefix it falls under."""
    best = max(
        (
            (rank, name)
            for rank, names in enumerate(LAYERS)
            for name in names
            if module == name or module.startswith(name + ".")
        ),
        key=lambda r: len(r[1]),
    )
    return best


def test_imports_point_down_the_pipeline_or_into_the_shared_layers():
    imports = _imports(REPO / "fastdiff")
    upward = sorted(
        f"{m} -> {t}"
        for m, edges in imports.items()
        for t, _ in edges
        if _layer(t)[1] != _layer(m)[1] and _layer(t)[0] >= _layer(m)[0]
    )
    assert not upward
    top = sorted(p.name for p in (REPO / "fastdiff").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "query.py"]  # the top folder: the public API and the command line


def test_resource_models():
    # two blocks of 4,000 thumbnails at px 50 with rotations: 594 MB for the kernel, 553 MB for the bounds of the
    # pruned compare (docs/how-it-works.md, "Job sizes and memory")
    assert resources.compare_mem_mb(4000, 4000, 50, True, None) == 1147
    assert resources.compare_mem_mb(4000, 4000, 50, True, None, attempt=2) == 1147 + 573
    assert resources.compare_mem_mb(100, 100, 50, False, None) < resources.compare_mem_mb(100, 100, 50, True, None)
    defaults = {"max_pixels": 89_478_485, "shard_size": 2500, "px_size": 50}
    assert resources.thumbnails_mem_mb(threads=2, **defaults, attempt=1) == 2448 + 54
    assert resources.thumbnails_mem_mb(threads=2, **defaults, attempt=2) == 2 * (2448 + 54)
    assert resources.thumbnails_mem_mb(threads=1, **defaults, attempt=1) == 1424 + 54
    # the shard's thumbnails: 3 copies of 2,500 x 500 x 500 x 3 bytes at px_size 500
    assert resources.thumbnails_mem_mb(threads=1, **{**defaults, "px_size": 500}, attempt=1) == 1424 + 5365
    # brute force: 16M pairs x 4 rotations at 1.5M/s is 43 s, 1 minute over the start-up's 10; one block: half
    assert resources.compare_runtime(4000, 4000, False, 50, True, False, False, 1) == 11
    assert resources.compare_runtime(40_000, 40_000, False, 50, True, False, False, 1) == 10 + 72
    assert resources.compare_runtime(40_000, 40_000, True, 50, True, False, False, 1) == 10 + 36
    assert resources.compare_runtime(40_000, 40_000, True, 50, True, False, False, 2) == 2 * (10 + 36)
    # pruned: 1.6e9 pairs x 4 rotations at 1e8/s = 64 s
    assert resources.compare_runtime(40_000, 40_000, False, 50, True, False, True, 1) == 10 + 2
    assert resources.merge_runtime(1000, 1000, 1) == 80
    assert resources.index_mem_mb(2) == 2 * resources.INDEX_MEM_MB


def test_user_function_is_probed_once_per_run(tmp_path, raw):
    """The config is validated once: the CLI probes the user difference on its 8 x 8 sample; neither Snakemake's
    process nor the compare jobs probe it again (they only call it on real thumbnails)."""
    images = Path(raw["part_a"][0])
    from synth import make_tiny_set

    make_tiny_set(images)
    calls = tmp_path / "calls.txt"
    os.environ["FASTDIFF_TEST_CALLS"] = str(calls)
    try:
        run_fastdiff(
            [images],
            tmp_path / "out",
            "--config",
            "cpu_diff=user_functions.counted_mean_abs_block",
            env_pythonpath=True,
        )
    finally:
        del os.environ["FASTDIFF_TEST_CALLS"]
    sides = calls.read_text().split()
    assert sides.count("8") == 1 and set(sides) - {"8"} == {"50"}


def test_a_run_with_nothing_changed_recomputes_nothing(tmp_path, raw):
    images = Path(raw["part_a"][0])
    from synth import make_tiny_set

    make_tiny_set(images)
    out = tmp_path / "out"
    run_fastdiff([images], out)
    outputs = sorted(p for p in out.rglob("*") if p.is_file() and "work" not in p.relative_to(out).parts[:1])
    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_fastdiff([images], out)
    assert "rule merge" not in again.stdout + again.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps
    (images / "new.txt").write_text("not an image")  # only a rejected entry more: the index changed, so merge reruns
    third = run_fastdiff([images], out)
    assert "rule merge" in third.stdout + third.stderr
    assert "new.txt" in (out / "stats.json").read_text()
