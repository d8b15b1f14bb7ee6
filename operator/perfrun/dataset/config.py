"""The --config file of seed/restore: exactly a PerfRun's ``spec.dataset``, YAML or JSON.

Problems are reported one per line as ``dataset.<field path>: <message>``, the same shape
``perfrun validate`` uses, so the dataset Job's log names the field to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from perfrun.api.dataset import Dataset
from perfrun.api.validate import error_lines


class ConfigError(ValueError):
    """An unreadable or invalid dataset config; the message names each bad field."""


def parse_dataset(document: Any) -> Dataset:
    """A validated Dataset, or ConfigError listing every problem by field."""
    if not isinstance(document, dict):
        raise ConfigError(f"dataset: must be a mapping, got {type(document).__name__}")
    try:
        return Dataset.model_validate(document)
    except ValidationError as exc:
        raise ConfigError("\n".join(error_lines(exc, "dataset"))) from exc


def load_dataset(path: Path) -> Dataset:
    """Read and validate a config file (JSON is YAML, so one parser reads both)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML or JSON: {exc}") from exc
    return parse_dataset(document)
