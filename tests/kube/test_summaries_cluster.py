"""kube/summaries.py against the real API server: load pods writing their summaries into the
run's ConfigMap at the same moment (each its own key; the first creates the ConfigMap, the
others lose the create race and patch) lose nothing, a lost create race becomes a patch, and
a pod that writes again replaces only its own key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.cluster import KubeCluster

from perfrun.kube.summaries import ConfigMapRef, summary_key, write_key

pytestmark = pytest.mark.cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = {"perfrun.dev/part": "load-summary"}

# One load pod's last step, as its own process: connect first, then write at the agreed
# instant, so the writers really race for the create (the audit log shows the lost creates).
WRITER = """
import json, sys, time
from perfrun.kube.summaries import ConfigMapRef, core_api, summary_key, write_key
namespace, name, index, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
text = json.dumps({"pod": index, "requests": 1000 + index})
api = core_api()
time.sleep(max(0.0, at - time.time()))
write_key(ConfigMapRef(namespace, name), summary_key(index), text, LABELS, api=api)
"""


def _write_concurrently(
    kube_cluster: KubeCluster, ref: ConfigMapRef, indexes: list[int], delay_s: float = 3.0
) -> None:
    at = time.time() + delay_s  # after every writer has imported the kubernetes client
    code = f"LABELS = {LABELS!r}\n" + WRITER
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, ref.namespace, ref.name, str(i), str(at)],
            env=kube_cluster.env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in indexes
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def _data(kube_cluster: KubeCluster, ref: ConfigMapRef) -> tuple[dict[str, str], dict[str, str]]:
    cm = kube_cluster.get_json("-n", ref.namespace, "configmap", ref.name)
    return cm.get("data") or {}, cm["metadata"].get("labels") or {}


def test_four_pods_writing_at_once_lose_no_summary(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ref = ConfigMapRef(kube_namespace, "load-summary")
    _write_concurrently(kube_cluster, ref, [0, 1, 2, 3])
    data, labels = _data(kube_cluster, ref)
    assert sorted(data) == [summary_key(i) for i in range(4)]
    for i in range(4):
        assert json.loads(data[summary_key(i)]) == {"pod": i, "requests": 1000 + i}
    assert labels == LABELS


def test_a_pod_writing_again_replaces_only_its_own_key(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ref = ConfigMapRef(kube_namespace, "load-summary")
    kube_cluster.kubectl(
        "-n", kube_namespace, "create", "configmap", ref.name, "--from-literal=other=kept"
    )
    _write_concurrently(kube_cluster, ref, [1, 2], delay_s=2.0)
    _write_concurrently(kube_cluster, ref, [2], delay_s=2.0)  # pod 2 restarted
    data, labels = _data(kube_cluster, ref)
    assert sorted(data) == ["other", summary_key(1), summary_key(2)]
    assert data["other"] == "kept"
    assert json.loads(data[summary_key(2)]) == {"pod": 2, "requests": 1002}
    assert labels == {}  # an existing ConfigMap is patched, not re-created


class _LosesTheCreateRace:
    """A real CoreV1Api whose create is overtaken: just before it goes out, another pod
    writes its summary (and so creates the ConfigMap) for real."""

    def __init__(self, api: Any, first: Callable[[], None]) -> None:
        self._api = api
        self._first = first

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def create_namespaced_config_map(self, *args: Any, **kwargs: Any) -> Any:
        self._first()
        return self._api.create_namespaced_config_map(*args, **kwargs)


def test_a_lost_create_race_becomes_a_patch(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    from kubernetes import client, config

    ref = ConfigMapRef(kube_namespace, "load-summary")
    # its own client: no process-wide kubernetes configuration (other tests have theirs)
    api = client.CoreV1Api(config.new_client_from_config(str(kube_cluster.kubeconfig)))

    def pod_0_first() -> None:
        write_key(ref, summary_key(0), '{"pod": 0}', LABELS, api=api)

    # pod 1: its patch finds nothing (404), pod 0 creates, pod 1's create gets 409 -> patch
    write_key(ref, summary_key(1), '{"pod": 1}', LABELS, api=_LosesTheCreateRace(api, pod_0_first))
    data, labels = _data(kube_cluster, ref)
    assert data == {summary_key(0): '{"pod": 0}', summary_key(1): '{"pod": 1}'}
    assert labels == LABELS
