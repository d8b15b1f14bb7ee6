"""Reading a file that holds exactly one piece of a PerfRun's spec (``spec.load``,
``spec.dataset``), YAML or JSON, into its model. Problems come one per line as
``<piece>.<field path>: <message>``, the shape ``perfrun validate`` uses, so a Job's log names
the field to fix. One reader for every in-pod program."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from perfrun.api.validate import error_lines

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """The config cannot be used; the message has one ``field: problem`` line per problem."""


def parse_piece(model: type[M], document: Any, root: str) -> M:
    """``document`` validated as ``model`` (``spec.<root>`` of a PerfRun), or ConfigError
    naming every bad field under ``root``."""
    if not isinstance(document, dict):
        raise ConfigError(
            f"{root}: must be a mapping (spec.{root} of a PerfRun), not {type(document).__name__}"
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ConfigError("\n".join(error_lines(exc, root))) from None


def read_document(path: str | Path) -> Any:
    """A file's YAML or JSON document (JSON is YAML, so one parser reads both)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML or JSON: {exc}") from None
