"""The bounded report that outlives the run's namespace: a ConfigMap beside the PerfRun (in
the PerfRun's own namespace, owned by it, so it goes when the PerfRun is deleted and not when
the run's namespace is torn down)."""

from __future__ import annotations

from typing import Any

from perfrun.api.perfrun import API_VERSION, KIND
from perfrun.kube.client import Kube

# A ConfigMap may hold 1 MiB; stay well below so status and etcd stay healthy.
MAX_REPORT_BYTES = 512 * 1024
# The same keys, with the same meaning, as on the run's own objects (perfrun.render.context,
# which kube may not import): perfrun.dev/perfrun is the PerfRun's name, perfrun.dev/run the
# run id (``<name>-<suffix>``, the run namespace without ``perf-``).
LABEL_PERFRUN = "perfrun.dev/perfrun"
LABEL_RUN = "perfrun.dev/run"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "perfrun-operator"


def report_name(run_name: str) -> str:
    return f"perfrun-report-{run_name}"[:253]


def report_labels(run_name: str, run_id: str | None = None) -> dict[str, str]:
    """``perfrun.dev/perfrun: <name>``, plus ``perfrun.dev/run: <run id>`` when the run has one."""
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_PERFRUN: run_name[:63]}
    if run_id:
        labels[LABEL_RUN] = run_id
    return labels


def report_body(
    run: dict[str, Any], files: dict[str, str], run_id: str | None = None
) -> dict[str, Any]:
    """The ConfigMap manifest; ``files`` must already fit MAX_REPORT_BYTES (ValueError if not)."""
    size = sum(len(k) + len(v.encode()) for k, v in files.items())
    if size > MAX_REPORT_BYTES:
        raise ValueError(f"report is {size} bytes, more than {MAX_REPORT_BYTES}")
    meta = run["metadata"]
    owner = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta.get("uid"),
        "controller": False,
        "blockOwnerDeletion": False,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": report_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": report_labels(meta["name"], run_id),
            "ownerReferences": [owner] if meta.get("uid") else [],
        },
        "data": files,
    }


def write_report(
    kube: Kube, run: dict[str, Any], files: dict[str, str], run_id: str | None = None
) -> str:
    """Apply the report ConfigMap; returns its name (for status.report)."""
    body = report_body(run, files, run_id)
    kube.apply(body)
    return str(body["metadata"]["name"])


def read_report(kube: Kube, namespace: str, name: str) -> dict[str, str] | None:
    obj = kube.get("v1", "ConfigMap", name, namespace)
    if obj is None:
        return None
    return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
