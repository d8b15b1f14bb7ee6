"""Object skeletons: every manifest of a run gets the same identity fields, so the janitor,
teardown and the tests can rely on them without knowing which renderer made the object."""

from __future__ import annotations

from typing import Any

from perfrun.render.context import RunContext

Manifest = dict[str, Any]


def obj(
    api_version: str,
    kind: str,
    ctx: RunContext,
    name: str,
    *,
    component: str | None = None,
    role: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """A namespaced object of the run, labelled with it (and with its part, when given)."""
    labels = ctx.part_labels(component, role or component) if component else ctx.labels()
    metadata: dict[str, Any] = {"name": name, "namespace": ctx.namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def config_map(
    ctx: RunContext, name: str, data: dict[str, str], *, component: str, role: str
) -> Manifest:
    out = obj("v1", "ConfigMap", ctx, name, component=component, role=role)
    out["data"] = dict(data)
    return out


def env_key(name: str) -> str:
    """A component name as an environment variable prefix: ``my-db`` -> ``MY_DB``."""
    return name.upper().replace("-", "_")
