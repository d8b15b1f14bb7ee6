"""The janitor against the real API server (function calls, no operator process): its sweep
and its reading of the peering object."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.waiting import poll_until

from perfrun.controller.janitor import KOPF_FINALIZER, Peering, in_scope, paused, sweep
from perfrun.kube.client import Kube, load_api_client

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kube_cluster: KubeCluster) -> Kube:
    return Kube(load_api_client(str(kube_cluster.kubeconfig)))


@pytest.fixture
def stuck_namespaces(kube_cluster: KubeCluster) -> Iterator[list[str]]:
    """Namespaces the test creates; afterwards released from every finalizer and deleted."""
    names: list[str] = []
    yield names
    for name in names:
        kube_cluster.kubectl(
            "patch",
            "namespace",
            name,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
        kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def phase(cluster: KubeCluster, name: str) -> str | None:
    if not cluster.exists("namespace", name):
        return None
    got: str = cluster.get_json("namespace", name)["status"]["phase"]
    return got


def test_janitor_releases_our_namespaces_an_old_janitor_left_terminating(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    kube: Kube,
    stuck_namespaces: list[str],
) -> None:
    """An old janitor (a kopf daemon per namespace) left kopf's finalizer on our namespaces:
    deleted, they hang Terminating. A sweep strips that finalizer (and only that one) from
    ours, and leaves a look-alike without our managed-by label as it is."""
    ns = kube_namespace
    ours, look_alike = f"{ns[:50]}-ours", f"{ns[:50]}-alike"
    owner = {"perfrun.dev/perfrun": "gone", "perfrun.dev/perfrun-namespace": ns}
    other = "example.com/keep-me"

    def manifest(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "finalizers": [KOPF_FINALIZER]},
        }

    stuck_namespaces.extend([ours, look_alike])
    ours_labels = {**owner, "app.kubernetes.io/managed-by": "perfrun-operator"}
    kube_cluster.apply(
        yaml.safe_dump_all([manifest(ours, ours_labels), manifest(look_alike, owner)])
    )
    kube_cluster.kubectl("delete", "namespace", ours, look_alike, "--wait=false")
    for name in (ours, look_alike):
        poll_until(lambda n=name: phase(kube_cluster, n) == "Terminating", what=f"{name} going")

    # the namespace controller empties them, then they hang on kopf's finalizer
    def hanging(name: str) -> bool:
        obj = kube_cluster.get_json("namespace", name)
        return not obj["spec"].get("finalizers") and obj["metadata"]["finalizers"] == [
            KOPF_FINALIZER
        ]

    for name in (ours, look_alike):
        poll_until(lambda n=name: hanging(n), what=f"{name} hanging on {KOPF_FINALIZER}")

    # an operator serving other PerfRun namespaces leaves ours to theirs
    assert sweep(kube, datetime.now(UTC), in_scope(["elsewhere-*"])).released == []
    assert hanging(ours)
    assert kube.writes == 0

    swept = sweep(kube, datetime.now(UTC), in_scope([ns]))
    assert swept.released == [ours]
    assert swept.deleted == {}  # a Terminating namespace is not deleted again
    assert kube.writes == 1

    poll_until(lambda: phase(kube_cluster, ours) is None, timeout=30, what=f"{ours} gone")
    alike = kube_cluster.get_json("namespace", look_alike)
    assert alike["status"]["phase"] == "Terminating"
    assert alike["metadata"]["finalizers"] == [KOPF_FINALIZER]

    # only kopf's finalizer goes: another one keeps the namespace
    kept = f"{ns[:50]}-kept"
    stuck_namespaces.append(kept)
    doc = manifest(kept, ours_labels)
    doc["metadata"]["finalizers"] = [other, KOPF_FINALIZER]
    kube_cluster.apply(yaml.safe_dump(doc))
    kube_cluster.kubectl("delete", "namespace", kept, "--wait=false")
    poll_until(lambda: phase(kube_cluster, kept) == "Terminating", what=f"{kept} going")
    assert sweep(kube, datetime.now(UTC), in_scope([ns])).released == [kept]
    assert kube_cluster.get_json("namespace", kept)["metadata"]["finalizers"] == [other]


def test_janitor_reads_the_cluster_peering_as_kopf_does(
    kube_cluster: KubeCluster, kube: Kube, perfrun_crds: None, request: pytest.FixtureRequest
) -> None:
    """The cluster-wide mode (the chart's): the ClusterKopfPeering as the API server stores
    it, judged by kopf's rule."""
    name = f"janitor-{secrets.token_hex(4)}"
    me = Peering(identity="me", priority=10, name=name, mandatory=True)
    now = datetime.now(UTC)
    assert "does not exist" in str(paused(kube, me, now))
    assert paused(kube, replace(me, standalone=True), now) is None

    def seen(ago: float, lifetime: int = 60) -> dict[str, Any]:
        return {"lastseen": (now - timedelta(seconds=ago)).isoformat(), "lifetime": lifetime}

    def peering(**status: dict[str, Any]) -> None:
        doc = {
            "apiVersion": "kopf.dev/v1",
            "kind": "ClusterKopfPeering",
            "metadata": {"name": name},
            "status": status,
        }
        kube_cluster.kubectl("replace", "--force", "-f", "-", input=yaml.safe_dump(doc))

    request.addfinalizer(
        lambda: kube_cluster.kubectl("delete", "clusterkopfpeering", name, check=False)
    )
    peering(me={"priority": 10, **seen(1)}, low={"priority": 5, **seen(1)})
    assert paused(kube, me, now) is None
    peering(me={"priority": 10, **seen(1)}, high={"priority": 50, **seen(5, lifetime=10)})
    assert "high (priority 50)" in str(paused(kube, me, now))
    peering(me={"priority": 10, **seen(1)}, high={"priority": 50, **seen(11, lifetime=10)})
    assert paused(kube, me, now) is None  # its keep-alive expired: dead
    # a namespaced operator looks in the namespaces it serves, not at the cluster's peering
    assert paused(kube, replace(me, namespaces=(f"{name}-none",)), now) is None
