"""Offline validation of PerfRun documents with the same models the CRD comes from.

Problems are one line each, ``<field path>: <message>``, in the order they appear."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from perfrun.api.perfrun import PerfRun


class DocumentError(ValueError):
    """A document that is not YAML, or not a mapping."""


def load_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file; each must be a mapping."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise DocumentError(f"not valid YAML: {exc}") from exc
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise DocumentError(f"document {i + 1} is a {type(doc).__name__}, not a mapping")
    return docs


@cache
def _known_keys() -> frozenset[str]:
    keys: set[str] = set()

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            keys.add(field.alias or name)
            for arg in _model_args(field.annotation):
                if arg.__name__ not in seen:
                    seen.add(arg.__name__)
                    walk(arg)

    seen: set[str] = set()
    walk(PerfRun)
    return frozenset(keys)


def _model_args(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _model_args(arg)


def _path(loc: tuple[int | str, ...], root: str = "") -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("int", "str") or "[" in part:
            continue  # union branch names pydantic adds, e.g. Threshold's int | str
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(error: Any, root: str = "") -> str:
    loc = tuple(error["loc"])
    path = _path(loc, root)
    ctx = error.get("ctx") or {}
    if error["type"] == "perfrun_rule":
        field_path = ctx.get("field_path", "")
        full = f"{path}{field_path}" if path else field_path.lstrip(".")
        return f"{full}: {ctx['message']}" if full else str(ctx["message"])
    if error["type"] == "extra_forbidden":
        unknown = str(loc[-1])
        hint = difflib.get_close_matches(unknown, sorted(_known_keys()), n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"{path}: unknown field {unknown!r}{suffix}"
    if error["type"] == "missing":
        return f"{path}: required field is missing"
    if error["type"] == "literal_error" and "expected" in ctx:
        return f"{path}: must be one of {ctx['expected']}, got {error['input']!r}"
    if error["type"] == "enum" and "expected" in ctx:
        return f"{path}: must be one of {ctx['expected']}, got {error['input']!r}"
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{path}: {msg}"


def error_lines(exc: ValidationError, root: str = "") -> list[str]:
    """One ``<field path>: <message>`` line per problem, paths starting at ``root`` (e.g.
    ``load`` for a file holding exactly ``spec.load``). Every ``perfrun`` program that reads
    a piece of the spec reports its problems this way."""
    lines: list[str] = []
    for error in exc.errors():
        line = _line(error, root)
        if line not in lines:
            lines.append(line)
    return lines


API_VERSION = "perfrun.dev/v1alpha1"
KIND = "PerfRun"


def not_a_perfrun(document: dict[str, Any]) -> str | None:
    """Why ``document`` is no PerfRun at all (another kind, another version, a List, no
    apiVersion or kind, which kubectl would refuse), or None. One line: its fields are not
    worth judging against the PerfRun schema."""
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if api_version == API_VERSION and kind == KIND:
        return None
    expected = f"expected apiVersion {API_VERSION} and kind {KIND}"
    if api_version is None or kind is None:
        missing = " and ".join(
            k for k, v in (("apiVersion", api_version), ("kind", kind)) if v is None
        )
        return f"{missing}: required ({expected}; kubectl refuses a document without them)"
    if kind == "List" or (str(kind).endswith("List") and "items" in document):
        return (
            f"not a PerfRun but a {api_version} {kind}: give each PerfRun its own YAML "
            "document (separated by ---)"
        )
    return f"not a PerfRun: apiVersion {api_version!r}, kind {kind!r} ({expected})"


def _metadata_problems(document: dict[str, Any]) -> list[str]:
    """What the API server would refuse in ``metadata`` before our schema is consulted."""
    meta = document.get("metadata")
    if meta is None:
        return ["metadata.name: required field is missing (or metadata.generateName)"]
    if not isinstance(meta, dict):
        return [f"metadata: must be a mapping, got a {type(meta).__name__}"]
    found = [
        f"metadata.{key}: must be a string, got {type(meta[key]).__name__}"
        for key in ("name", "generateName", "namespace")
        if key in meta and not isinstance(meta[key], str)
    ]
    if not meta.get("name") and not meta.get("generateName"):
        found.append("metadata.name: required field is missing (or metadata.generateName)")
    return found


def label(document: dict[str, Any]) -> str:
    """How a document is named in messages: its metadata.name, else ``?``."""
    meta = document.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name else "?"


def problems(document: dict[str, Any]) -> list[str]:
    """Every problem with one PerfRun document, one line each; empty when valid. A document
    that is no PerfRun gets that one line only."""
    foreign = not_a_perfrun(document)
    if foreign:
        return [foreign]
    found = _metadata_problems(document)
    try:
        PerfRun.model_validate(document)
    except ValidationError as exc:
        found += [line for line in error_lines(exc) if line not in found]
    return found


def parse(document: dict[str, Any]) -> PerfRun:
    """A validated PerfRun, or ValueError with every problem, one per line."""
    found = problems(document)
    if found:
        raise ValueError("\n".join(found))
    return PerfRun.model_validate(document)
