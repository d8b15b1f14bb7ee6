"""The rendered manifests on a real API server: accepted (schema, strict field validation,
admission) without a PodSecurity warning at the run's level, and -- applied for real -- every
pod of the run is admitted by the run's own ResourceQuota and LimitRange.

The run's namespace name is derived from its uid, so the manifests are moved into the test's
fresh namespace first."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.render.helpers import context, render_everything
from tests.support.cluster import KubeCluster
from tests.support.waiting import poll_until

from perfrun.api import PerfRun

pytestmark = pytest.mark.cluster


def _into(manifests: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    out = []
    for m in copy.deepcopy(manifests):
        m["metadata"]["namespace"] = namespace
        for subject in m.get("subjects", []):
            subject["namespace"] = namespace
        out.append(m)
    return out


def _apply(kube_cluster: KubeCluster, items: list[dict[str, Any]], *args: str) -> Any:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    return kube_cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=perfrun-operator",
        "--validate=strict",
        *args,
        "-f",
        "-",
        input=doc,
    )


def _set_level(kube_cluster: KubeCluster, namespace: str, level: str) -> None:
    kube_cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "--overwrite",
        f"pod-security.kubernetes.io/warn={level}",
        f"pod-security.kubernetes.io/enforce={level}",
    )


def test_server_accepts_every_manifest(
    run: PerfRun, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    _set_level(kube_cluster, kube_namespace, run.spec.environment.pod_security)
    everything = render_everything(run, context(run))
    ns, rest = everything[0], everything[1:]
    items = [ns, *_into(rest, kube_namespace)]
    proc = _apply(kube_cluster, items, "--dry-run=server")
    assert "PodSecurity" not in proc.stderr, proc.stderr
    assert "unknown field" not in proc.stderr, proc.stderr
    created = [line for line in proc.stdout.splitlines() if "(server dry run)" in line]
    assert len(created) == len(items), proc.stdout


def test_quota_admits_every_pod_of_the_run(
    full: PerfRun, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    _set_level(kube_cluster, kube_namespace, full.spec.environment.pod_security)
    manifests = _into(render_everything(full, context(full))[1:], kube_namespace)
    _apply(kube_cluster, manifests)
    expected = sum(
        m["spec"].get("replicas", m["spec"].get("parallelism", 1))
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    )

    def pods() -> int | None:
        items = kube_cluster.get_json("pods", "-n", kube_namespace)["items"]
        return len(items) if len(items) >= expected else None

    def refusals() -> list[str]:
        events = kube_cluster.get_json("events", "-n", kube_namespace)["items"]
        return [e["message"] for e in events if "forbidden" in e.get("message", "")]

    try:
        poll_until(pods, timeout=90, what=f"{expected} pods in {kube_namespace}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; refusals: {refusals()}") from exc
    assert refusals() == []
