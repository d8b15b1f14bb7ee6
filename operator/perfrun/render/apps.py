"""Deployments, StatefulSets and Services: the same selector and label rules for every part
of the run (selector = run + component, immutable; template labels = run + component +
role)."""

from __future__ import annotations

from typing import Any

from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, obj


def deployment(
    ctx: RunContext,
    name: str,
    role: str,
    replicas: int,
    template: dict[str, Any],
    *,
    progress_deadline_s: int | None = None,
) -> Manifest:
    """A Deployment; ``progress_deadline_s`` makes it report Progressing=False
    (ProgressDeadlineExceeded) by itself when its pods never become ready."""
    out = obj("apps/v1", "Deployment", ctx, name, component=name, role=role)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "revisionHistoryLimit": 1,
        "selector": {"matchLabels": ctx.selector(name)},
        "template": template,
    }
    if progress_deadline_s is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_s
    out["spec"] = spec
    return out


def statefulset(
    ctx: RunContext,
    name: str,
    role: str,
    template: dict[str, Any],
    *,
    service_name: str,
    claims: list[dict[str, Any]] | None = None,
) -> Manifest:
    """A one-replica StatefulSet (stable name and volume; the components are single nodes)."""
    out = obj("apps/v1", "StatefulSet", ctx, name, component=name, role=role)
    spec: dict[str, Any] = {
        "replicas": 1,
        "serviceName": service_name,
        "revisionHistoryLimit": 1,
        "selector": {"matchLabels": ctx.selector(name)},
        "template": template,
    }
    if claims:
        spec["volumeClaimTemplates"] = claims
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Delete",
            "whenScaled": "Delete",
        }
    out["spec"] = spec
    return out


def service(
    ctx: RunContext,
    name: str,
    component: str,
    role: str,
    ports: list[tuple[str, int]],
    *,
    headless: bool = False,
    publish_not_ready: bool | None = None,
) -> Manifest:
    """A Service selecting ``component``'s pods; named ports target the same-named container
    ports. A headless one (no ClusterIP) also publishes not-ready pods (StatefulSet identity,
    init) unless ``publish_not_ready`` is False."""
    out = obj("v1", "Service", ctx, name, component=component, role=role)
    spec: dict[str, Any] = {
        "selector": ctx.selector(component),
        "ports": [
            {"name": pname, "port": port, "targetPort": pname, "protocol": "TCP"}
            for pname, port in ports
        ],
    }
    if headless:
        spec["clusterIP"] = "None"
        if publish_not_ready is not False:
            spec["publishNotReadyAddresses"] = True
    else:
        spec["type"] = "ClusterIP"
    out["spec"] = spec
    return out


def volume_claim(
    ctx: RunContext,
    component: str,
    role: str,
    size: str,
    *,
    data_source: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A volumeClaimTemplate named ``data`` (``ctx.storage_class`` when set)."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if ctx.storage_class:
        spec["storageClassName"] = ctx.storage_class
    if data_source:
        spec["dataSource"] = data_source
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": ctx.part_labels(component, role)},
        "spec": spec,
    }
