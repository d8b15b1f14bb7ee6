"""Reading the load config: a file holding exactly a PerfRun's ``spec.load`` (YAML or JSON),
validated by the same model as the CRD. Problems name the field (``load.budget.maxRps: ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from perfrun.api.load import LoadSpec
from perfrun.api.validate import error_lines
from perfrun.load.templates import TemplateError, compile_scenarios


class ConfigError(ValueError):
    """The config cannot be run; the message has one ``field: problem`` line per problem."""


def parse_load(data: Any) -> LoadSpec:
    """A validated LoadSpec whose templates compile, or ConfigError naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"load: must be a mapping (spec.load of a PerfRun), not {type(data).__name__}"
        )
    try:
        spec = LoadSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(error_lines(exc, "load"))) from None
    try:
        compile_scenarios(spec)
    except TemplateError as exc:
        raise ConfigError(f"load.{exc}") from None
    return spec


def load_file(path: str | Path) -> LoadSpec:
    """Read and validate a config file (JSON is YAML, so one parser reads both)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML or JSON: {exc}") from None
    return parse_load(data)
