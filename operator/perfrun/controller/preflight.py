"""Checks of a spec that passed the schema but cannot run. A problem here ends the run
``Invalid`` (Stalled, reason InvalidSpec) before any namespace is created."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from perfrun.api.analysis import Metric
from perfrun.api.environment import ComponentKind
from perfrun.api.perfrun import PerfRun, PerfRunSpec
from perfrun.render import jobs as render_jobs
from perfrun.render.all import environment as render_environment
from perfrun.render.context import RunContext


def preflight(spec: PerfRunSpec) -> list[str]:
    """Every reason the run cannot work, one sentence each."""
    problems: list[str] = []
    env = spec.environment
    target = urlsplit(spec.load.target)
    host, port = target.hostname or "", target.port or (443 if target.scheme == "https" else 80)
    workloads = {w.name: w for w in env.workloads}
    if host not in workloads:
        known = ", ".join(sorted(workloads)) or "none"
        problems.append(
            f"load.target host {host!r} is not a workload of this run (workloads: {known}); "
            "egress leaves the namespace only to egressAllow CIDRs"
        )
    elif workloads[host].port != port:
        problems.append(
            f"load.target port {port} does not match workload {host!r} port {workloads[host].port}"
        )
    kinds = {c.kind for c in env.components}
    for gate in spec.analysis.gates:
        if gate.metric == Metric.QUEUE_DEPTH and ComponentKind.RABBITMQ not in kinds:
            problems.append(
                f"analysis gate {gate.name!r} measures queueDepth but the environment has "
                "no rabbitmq component"
            )
    if spec.dataset is not None and spec.dataset.synthetic is not None:
        for table in spec.dataset.synthetic.tables:
            for column in table.columns:
                if column.generator == "parent" and table.per_parent is None:
                    problems.append(
                        f"dataset table {table.name!r} column {column.name!r} uses the parent "
                        "generator but the table has no perParent"
                    )
    return problems


# Kubernetes refuses a ConfigMap whose data (keys and values) is over 1 MiB.
CONFIGMAP_LIMIT = 1024 * 1024
# Where each rendered ConfigMap's content comes from, for the message.
_SOURCES = {
    "load-config": "spec.load (scenarios, their paths, headers and bodies)",
    "dataset-config": "spec.dataset (schema and synthetic tables)",
}


def configmap_size(manifest: dict[str, Any]) -> int:
    """Bytes a ConfigMap's data counts against the limit, as the API server counts them."""
    size = 0
    for key, value in (manifest.get("data") or {}).items():
        size += len(key.encode()) + len(str(value).encode())
    for key, value in (manifest.get("binaryData") or {}).items():
        size += len(key.encode()) + len(str(value).encode()) * 3 // 4
    return size


def rendered_sizes(
    run: PerfRun, ctx: RunContext, environment: list[dict[str, Any]] | None = None
) -> list[str]:
    """A problem for every ConfigMap the run would render over Kubernetes' limit: found
    here, before the namespace exists, instead of as a refusal half-way through the run.
    ``environment``: the run's environment when the caller rendered it already."""
    problems: list[str] = []
    for manifest in everything_rendered(run, ctx, environment):
        if manifest["kind"] != "ConfigMap":
            continue
        size = configmap_size(manifest)
        if size > CONFIGMAP_LIMIT:
            name = manifest["metadata"]["name"]
            source = _SOURCES.get(name, "the spec")
            problems.append(
                f"ConfigMap {name} would hold {size} bytes, over Kubernetes' limit of "
                f"{CONFIGMAP_LIMIT} bytes: shorten {source}"
            )
    return problems


def everything_rendered(
    run: PerfRun, ctx: RunContext, environment: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    return (
        (render_environment(run, ctx) if environment is None else environment)
        + render_jobs.migrations_job(run, ctx)
        + render_jobs.dataset_job(run, ctx)
        + render_jobs.load_job(run, ctx)
    )
