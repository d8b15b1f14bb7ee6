"""The janitor's judgement of one perf namespace: delete it when its PerfRun is gone (or is
another PerfRun by now) or when its hard deadline passed. Namespaces without our labels are
never touched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perfrun.api.perfrun import API_VERSION, KIND
from perfrun.controller.machine import parse_time
from perfrun.kube.client import Kube
from perfrun.render.context import (
    ANNOTATION_PERFRUN_UID,
    LABEL_MANAGED_BY,
    LABEL_PERFRUN,
    LABEL_PERFRUN_NAMESPACE,
    MANAGED_BY,
)


def orphan_reason(
    namespace: dict[str, Any], perfrun: dict[str, Any] | None, now: datetime
) -> str | None:
    """Why ``namespace`` should go, or None to keep it (pure)."""
    meta = namespace["metadata"]
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    if (namespace.get("status") or {}).get("phase") == "Terminating":
        return None
    if perfrun is None:
        return "its PerfRun no longer exists"
    uid = (meta.get("annotations") or {}).get(ANNOTATION_PERFRUN_UID)
    if uid and perfrun["metadata"].get("uid") != uid:
        return "its PerfRun was deleted and re-created"
    status = perfrun.get("status") or {}
    expires = status.get("expiresAt")
    finished = status.get("finishedAt")
    if expires and not finished and now >= parse_time(expires):
        # the run's own reconcile marks it Expired; this is the backstop if it cannot
        return f"expiresAt {expires} passed"
    return None


def sweep(kube: Kube, name: str, now: datetime) -> str | None:
    """Judge one namespace and delete it when it is an orphan; returns the reason."""
    namespace = kube.get("v1", "Namespace", name)
    if namespace is None:
        return None
    labels = namespace["metadata"].get("labels") or {}
    owner_ns = labels.get(LABEL_PERFRUN_NAMESPACE)
    owner = labels.get(LABEL_PERFRUN)
    perfrun = kube.get(API_VERSION, KIND, owner, owner_ns) if owner and owner_ns else None
    reason = orphan_reason(namespace, perfrun, now)
    if reason:
        kube.delete("v1", "Namespace", name)
    return reason
