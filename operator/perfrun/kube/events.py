"""Events the cluster's controllers post about a run's objects, read as plain records: today
the StatefulSet and Job controllers' ``FailedCreate`` (a pod or claim the API server refused
to create), which no status field of those kinds carries. One LIST with a field selector on
the run's own namespace; callers read it only while something waits, so it costs nothing
per tick once all is running. The operator's informer cache
serves it from one cluster-wide watch of these Events (controller/caching.py)."""

from __future__ import annotations

from dataclasses import dataclass

from perfrun.kube.cache import Reader

FAILED_CREATES = "reason=FailedCreate,type=Warning"


@dataclass(frozen=True)
class ObjectEvent:
    """One Event about an object: which (kind, name, uid), why, when last seen."""

    kind: str
    name: str
    uid: str
    reason: str
    message: str
    last_seen: str


def failed_creates(kube: Reader, namespace: str) -> list[ObjectEvent]:
    """The Warning ``FailedCreate`` Events in ``namespace``, oldest first."""
    items = kube.list("v1", "Event", namespace, field_selector=FAILED_CREATES)
    out = []
    for item in items:
        involved = item.get("involvedObject") or {}
        series = item.get("series") or {}
        last = (
            series.get("lastObservedTime")
            or item.get("lastTimestamp")
            or item.get("eventTime")
            or (item.get("metadata") or {}).get("creationTimestamp")
            or ""
        )
        out.append(
            ObjectEvent(
                kind=str(involved.get("kind") or ""),
                name=str(involved.get("name") or ""),
                uid=str(involved.get("uid") or ""),
                reason=str(item.get("reason") or ""),
                message=" ".join(str(item.get("message") or "").split()),
                last_seen=str(last),
            )
        )
    return sorted(out, key=lambda e: e.last_seen)
