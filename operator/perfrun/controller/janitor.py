"""The janitor: delete a perf namespace when its PerfRun is gone (or is another PerfRun by
now) or when its hard deadline passed. Namespaces without our labels are never touched.

One LIST of our namespaces per interval, rather than a kopf daemon per namespace: kopf keeps
a daemon's bookkeeping (finalizer, progress annotations) on the object itself, which cost
nine writes to every run's namespace and held up its deletion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from fnmatch import fnmatchcase
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


def in_scope(patterns: list[str]) -> Callable[[str], bool]:
    """Whether a PerfRun namespace is one this operator serves (kopf's -n globs; none: all)."""
    return lambda ns: not patterns or any(fnmatchcase(ns, p) for p in patterns)


def sweep(kube: Kube, now: datetime, served: Callable[[str], bool]) -> dict[str, str]:
    """Judge every namespace this operator labelled whose PerfRun it serves; delete the
    orphans. Returns {namespace: why} for what it deleted."""
    removed: dict[str, str] = {}
    ours = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
    for namespace in kube.list("v1", "Namespace", label_selector=ours):
        owner_ns = (namespace["metadata"].get("labels") or {}).get(LABEL_PERFRUN_NAMESPACE)
        if owner_ns and not served(owner_ns):
            continue
        reason = judge(kube, namespace, now)
        if reason:
            removed[namespace["metadata"]["name"]] = reason
    return removed


def judge(kube: Kube, namespace: dict[str, Any], now: datetime) -> str | None:
    """Judge one namespace and delete it when it is an orphan; returns the reason."""
    name = namespace["metadata"]["name"]
    labels = namespace["metadata"].get("labels") or {}
    owner_ns = labels.get(LABEL_PERFRUN_NAMESPACE)
    owner = labels.get(LABEL_PERFRUN)
    perfrun = kube.get(API_VERSION, KIND, owner, owner_ns) if owner and owner_ns else None
    reason = orphan_reason(namespace, perfrun, now)
    if reason:
        kube.delete("v1", "Namespace", name)
    return reason
