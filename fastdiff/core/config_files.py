"""The files written from the configuration model (`fastdiff.core.config.Config`), its one source:
config/config.yaml (every key with its default), workflow/schemas/config.schema.json (JSON Schema, for editors and
tools) and docs/configuration.md (the key table). `python -m fastdiff.core.config_files` rewrites them in a
checkout; tests/test_config_files.py checks that the committed files match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from fastdiff.core.config import Config

# The section each key opens in config/config.yaml and docs/configuration.md, in the model's order.
SECTIONS = {
    "compat": "semantics",
    "part_a": "what to scan (index stage)",
    "px_size": "thumbnails stage",
    "threshold": "compare stage",
    "hash_fn": "user functions (dotted import paths, checked on a tiny sample before any job runs)",
    "output_dir": "outputs",
}
# Values config/config.yaml gives where the model has no default: the bundled examples of a checkout.
EXAMPLE_VALUES: dict[str, Any] = {"part_a": ["examples/images"]}
# The files, relative to a checkout's top level.
CONFIG_YAML = Path("config/config.yaml")
SCHEMA_JSON = Path("workflow/schemas/config.schema.json")
CONFIG_DOC = Path("docs/configuration.md")


def default_value(field: FieldInfo) -> Any:
    """A field's default as YAML and JSON write it (tuples as lists); PydanticUndefined where it is required."""
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    value = field.default
    return list(value) if isinstance(value, tuple) else value


def _flow(value: Any) -> str:
    """One YAML value in flow style (`[a, b]`, `null`, `true`), wrapped at 120 characters."""
    return yaml.safe_dump(value, default_flow_style=True, width=100).strip().removesuffix("\n...").strip()


def config_yaml() -> str:
    """The text of config/config.yaml: every key with its default (or example value) and description."""
    lines = [
        "# fastdiff configuration, written from fastdiff/core/config.py (python -m fastdiff.core.config_files).",
        "# Every key is validated before any job runs; paths are relative to the folder snakemake runs in.",
    ]
    for name, field in Config.model_fields.items():
        if name in SECTIONS:
            lines += ["", f"# --- {SECTIONS[name]}"]
        value = EXAMPLE_VALUES.get(name, default_value(field))
        lines.append(f"# {field.description}")
        lines.append(f"{name}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def config_schema() -> str:
    """The text of workflow/schemas/config.schema.json: the model's JSON Schema (validation mode)."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def _cell(value: Any) -> str:
    if value is PydanticUndefined:
        return "(required)"
    text = json.dumps(value) if not isinstance(value, str) else value
    if isinstance(value, list) and len(text) > 30:
        text = f"{len(value)} values"
    return f"`{text}`"


def config_doc() -> str:
    """The text of docs/configuration.md: one table row per key, by section."""
    lines = [
        "# Configuration",
        "",
        "Every key of a run, validated by one pydantic model (`fastdiff/core/config.py`) before any job starts: a bad",
        "key or value stops the run with a message naming the key. Set keys in `config/config.yaml` (plain",
        "`snakemake`), with `fastdiff run --config KEY=VALUE` (repeatable) or the flags of `fastdiff run`. This page",
        "is written from the model (`python -m fastdiff.core.config_files`); so are `config/config.yaml` and",
        "`workflow/schemas/config.schema.json`.",
        "",
        "Changing a key reruns only the stage that uses it and what follows (`fastdiff.core.options`).",
    ]
    for name, field in Config.model_fields.items():
        if name in SECTIONS:
            lines += ["", f"## {SECTIONS[name][0].upper()}{SECTIONS[name][1:]}", "", "| key | default | meaning |"]
            lines.append("|---|---|---|")
        lines.append(f"| `{name}` | {_cell(default_value(field))} | {field.description} |")
    return "\n".join(lines) + "\n"


GENERATED = {CONFIG_YAML: config_yaml, SCHEMA_JSON: config_schema, CONFIG_DOC: config_doc}


def main(root: str = ".") -> int:
    """Write the generated files under a checkout's top level `root`; print what changed."""
    for path, text in GENERATED.items():
        target = Path(root) / path
        new = text()
        if not target.is_file() or target.read_text(encoding="utf-8") != new:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(new, encoding="utf-8")
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
