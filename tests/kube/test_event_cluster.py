"""``Kube.event`` against the real API server: the Event `kubectl describe` shows, on the
object it names, with the operator as its source; a message over the 1 KiB the operator keeps
is cut, not refused."""

from __future__ import annotations

import pytest
from tests.support.cluster import KubeCluster

from perfrun.kube.client import FIELD_MANAGER, Kube, load_api_client

pytestmark = pytest.mark.cluster


def test_an_event_names_its_object_and_source(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    kube = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    involved = kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "described", "namespace": kube_namespace},
        }
    )
    kube.event(involved, "Warning", "TooLong", "x" * 5000, "2026-12-02T10:00:00Z")
    kube.event(involved, "Normal", "Provisioning", "namespace perf-x", "2026-12-02T10:00:01Z")
    events = kube.list("v1", "Event", kube_namespace)
    by_reason = {e["reason"]: e for e in events}
    assert set(by_reason) == {"TooLong", "Provisioning"}, events
    event = by_reason["Provisioning"]
    assert event["type"] == "Normal" and event["message"] == "namespace perf-x"
    assert event["metadata"]["name"].startswith("described.")
    named = {k: event["involvedObject"].get(k) for k in ("apiVersion", "kind", "name", "uid")}
    assert named == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "described",
        "uid": involved["metadata"]["uid"],
    }
    assert event["involvedObject"]["namespace"] == kube_namespace
    assert event["source"] == {"component": FIELD_MANAGER}
    assert event["lastTimestamp"] == "2026-12-02T10:00:01Z"
    assert len(by_reason["TooLong"]["message"]) == 1024
