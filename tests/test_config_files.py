"""The configuration model is the one source of every key: the committed config/config.yaml,
workflow/schemas/config.schema.json and docs/configuration.md are exactly what it writes, and they agree with it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import REPO

from fastdiff.core import config_files
from fastdiff.core.config import Config, load_config


@pytest.mark.parametrize("path", sorted(config_files.GENERATED, key=str), ids=str)
def test_committed_file_is_what_the_model_writes(path):
    expected = config_files.GENERATED[path]()
    assert (REPO / path).read_text(encoding="utf-8") == expected, (
        f"{path} is out of date: run `python -m fastdiff.core.config_files`"
    )


def test_config_yaml_lists_every_key_with_its_default():
    raw = yaml.safe_load((REPO / config_files.CONFIG_YAML).read_text())
    assert list(raw) == list(Config.model_fields)
    from_yaml = load_config(raw, check_environment=False)
    defaults = load_config({**config_files.EXAMPLE_VALUES}, check_environment=False)  # every other key left out
    assert from_yaml == defaults


def test_every_key_is_described():
    assert not [name for name, field in Config.model_fields.items() if not field.description]


def test_schema_accepts_the_config_and_refuses_a_bad_key():
    schema = json.loads((REPO / config_files.SCHEMA_JSON).read_text())
    raw = yaml.safe_load((REPO / config_files.CONFIG_YAML).read_text())
    jsonschema.validate(raw, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**raw, "px_size": 5}, schema)
