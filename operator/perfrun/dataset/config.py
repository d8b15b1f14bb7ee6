"""The --config file of seed/restore: exactly a PerfRun's ``spec.dataset``, YAML or JSON, read
by the one spec-piece reader (``perfrun.api.configfile``): problems name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perfrun.api.configfile import ConfigError, parse_piece, read_document
from perfrun.api.dataset import Dataset

__all__ = ["ConfigError", "load_dataset", "parse_dataset"]


def parse_dataset(document: Any) -> Dataset:
    """A validated Dataset, or ConfigError listing every problem by field."""
    return parse_piece(Dataset, document, "dataset")


def load_dataset(path: Path) -> Dataset:
    """Read and validate a config file."""
    return parse_dataset(read_document(path))
