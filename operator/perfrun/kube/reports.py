"""The bounded report that outlives the run's namespace and the PerfRun itself: a ConfigMap
beside the PerfRun (in the PerfRun's own namespace) that the PerfRun does not own, so a GitOps
prune, a hook's delete policy or a `kubectl delete perfrun` leaves it; it has a retention of
its own instead (annotation ``perfrun.dev/keep-until``, enforced by the operator's janitor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
LABEL_COMPONENT = "app.kubernetes.io/component"
REPORT_COMPONENT = "report"
REPORT_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_COMPONENT}={REPORT_COMPONENT}"
# When the janitor may delete the report (RFC 3339); without it the report is kept.
ANNOTATION_KEEP_UNTIL = "perfrun.dev/keep-until"
# The uid of the PerfRun it reports on (the PerfRun itself may be long gone).
ANNOTATION_PERFRUN_UID = "perfrun.dev/perfrun-uid"


def report_name(run_name: str) -> str:
    return f"perfrun-report-{run_name}"[:253]


def report_labels(run_name: str, run_id: str | None = None) -> dict[str, str]:
    """``perfrun.dev/perfrun: <name>``, plus ``perfrun.dev/run: <run id>`` when the run has one."""
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: REPORT_COMPONENT,
        LABEL_PERFRUN: run_name[:63],
    }
    if run_id:
        labels[LABEL_RUN] = run_id
    return labels


def report_body(
    run: dict[str, Any],
    files: dict[str, str],
    run_id: str | None = None,
    keep_until: str | None = None,
) -> dict[str, Any]:
    """The ConfigMap manifest; ``files`` must already fit MAX_REPORT_BYTES (ValueError if not).
    Not owned by the PerfRun: it outlives it until ``keep_until`` (None: for ever)."""
    size = sum(len(k) + len(v.encode()) for k, v in files.items())
    if size > MAX_REPORT_BYTES:
        raise ValueError(f"report is {size} bytes, more than {MAX_REPORT_BYTES}")
    meta = run["metadata"]
    annotations = {}
    if meta.get("uid"):
        annotations[ANNOTATION_PERFRUN_UID] = str(meta["uid"])
    if keep_until:
        annotations[ANNOTATION_KEEP_UNTIL] = keep_until
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": report_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": report_labels(meta["name"], run_id),
            "annotations": annotations,
        },
        "data": files,
    }


def expired(report: dict[str, Any], now: datetime) -> bool:
    """Whether a report ConfigMap's keep-until has passed (pure); one without is kept."""
    until = ((report.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_KEEP_UNTIL)
    if not until:
        return False
    try:
        return datetime.fromisoformat(str(until).replace("Z", "+00:00")) <= now
    except ValueError:
        return False  # not ours to judge: kept


def list_reports(kube: Kube) -> list[dict[str, Any]]:
    """Every report ConfigMap, in any namespace."""
    return kube.list("v1", "ConfigMap", label_selector=REPORT_SELECTOR)


def write_report(
    kube: Kube,
    run: dict[str, Any],
    files: dict[str, str],
    run_id: str | None = None,
    keep_until: str | None = None,
) -> str:
    """Apply the report ConfigMap; returns its name (for status.report)."""
    body = report_body(run, files, run_id, keep_until)
    kube.apply(body)
    return str(body["metadata"]["name"])


def read_report(kube: Kube, namespace: str, name: str) -> dict[str, str] | None:
    obj = kube.get("v1", "ConfigMap", name, namespace)
    if obj is None:
        return None
    return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
