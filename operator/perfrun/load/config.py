"""Reading the load config: a file holding exactly a PerfRun's ``spec.load`` (YAML or JSON),
validated by the same model as the CRD through the one spec-piece reader
(``perfrun.api.configfile``), then its templates compiled. Problems name the field
(``load.budget.maxRps: ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perfrun.api.configfile import ConfigError, parse_piece, read_document
from perfrun.api.load import LoadSpec
from perfrun.load.templates import TemplateError, compile_scenarios

__all__ = ["ConfigError", "load_file", "parse_load"]


def parse_load(data: Any) -> LoadSpec:
    """A validated LoadSpec whose templates compile, or ConfigError naming every bad field."""
    spec = parse_piece(LoadSpec, data, "load")
    try:
        compile_scenarios(spec)
    except TemplateError as exc:
        raise ConfigError(f"load.{exc}") from None
    return spec


def load_file(path: str | Path) -> LoadSpec:
    """Read and validate a config file (JSON is YAML, so one parser reads both)."""
    return parse_load(read_document(path))
