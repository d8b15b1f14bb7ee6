"""Runs that cannot succeed end by themselves, saying which child broke: a Job whose pods
fail, an image that cannot be pulled, a workload that never gets ready, a run past its
ttl.maxDuration, and a run aborted through its spec. kwok plays the broken containers
(e2e/kwok-stages.yaml); the operator and the API server are the real ones."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.perfruns import (
    FAIL,
    IMAGE_PULL_BACKOFF,
    NEVER_READY,
    condition,
    minimal,
    perfrun,
    pod_labels,
    run_namespaces,
    wait_finished,
)
from tests.support.waiting import poll_until

pytestmark = pytest.mark.cluster


def start(cluster: KubeCluster, ns: str, doc: dict[str, Any]) -> str:
    cluster.apply(yaml.safe_dump(doc), "-n", ns)
    return str(doc["metadata"]["name"])


def assert_failed(obj: dict[str, Any], step: str, reason: str, *names: str) -> None:
    """Failed, with the step's condition False for ``reason`` and every name in its message,
    and the kstatus summary (Stalled) saying the same."""
    assert obj["status"]["phase"] == "Failed", obj["status"]
    cond = condition(obj, step)
    assert (cond["status"], cond["reason"]) == ("False", reason), cond
    stalled = condition(obj, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", reason), stalled
    for name in names:
        assert name in cond["message"], (name, cond["message"])
        assert name in stalled["message"], (name, stalled["message"])
    assert condition(obj, "Succeeded")["status"] == "False"
    assert condition(obj, "Finished")["status"] == "True"


def test_migrations_job_whose_pod_fails_fails_the_run_by_name(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-migrations-fail")
    doc["spec"]["environment"]["migrations"] = {"image": "registry.example/shop:1.8.0"}
    pod_labels(doc["spec"]["environment"]["migrations"], FAIL)
    name = start(kube_cluster, kube_namespace, doc)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    assert_failed(obj, "EnvironmentReady", "MigrationsFailed", "Job/migrations")
    assert condition(obj, "LoadCompleted") == {}  # the load never started


def test_load_job_whose_pods_fail_fails_the_run_by_name(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-load-fail")
    doc["spec"]["load"]["parallelism"] = 2
    pod_labels(doc["spec"]["load"], FAIL)
    name = start(kube_cluster, kube_namespace, doc)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    assert_failed(obj, "LoadCompleted", "LoadJobFailed", "Job/load")
    assert condition(obj, "EnvironmentReady")["status"] == "True"
    assert obj["status"].get("verdict") is None  # nothing was measured, nothing judged


def test_workload_whose_image_cannot_be_pulled_fails_the_run_by_name(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-image-pull")
    doc["spec"]["environment"]["readyTimeout"] = "10m"  # must not be what ends it
    pod_labels(doc["spec"]["environment"]["workloads"][0], IMAGE_PULL_BACKOFF)
    name = start(kube_cluster, kube_namespace, doc)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    assert_failed(obj, "EnvironmentReady", "ImagePullBackOff", "Deployment/api", "nginx:1.27")


def test_workload_that_never_gets_ready_fails_the_run_at_ready_timeout(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-never-ready")
    doc["spec"]["environment"]["readyTimeout"] = "15s"
    pod_labels(doc["spec"]["environment"]["workloads"][0], NEVER_READY)
    name = start(kube_cluster, kube_namespace, doc)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    assert_failed(obj, "EnvironmentReady", "EnvironmentNotReady", "Deployment/api", "15s")
    events = kube_cluster.get_json("events", "-n", kube_namespace)["items"]
    warnings = [
        e
        for e in events
        if e["involvedObject"].get("name") == name and e["reason"] == "EnvironmentNotReady"
    ]
    assert warnings and warnings[0]["type"] == "Warning"
    assert "Deployment/api" in warnings[0]["message"]


def test_unfinished_run_expires_at_max_duration_and_is_torn_down(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-expired", maxDuration="25s")
    doc["spec"]["load"]["budget"]["maxDuration"] = "20s"
    doc["spec"]["load"]["ramp"]["steps"] = [{"rate": 10, "hold": "10s"}]
    doc["spec"]["environment"]["readyTimeout"] = "10m"  # stuck in Provisioning
    pod_labels(doc["spec"]["environment"]["workloads"][0], NEVER_READY)
    name = start(kube_cluster, kube_namespace, doc)
    obj = poll_until(
        lambda: run_namespaces(kube_cluster, name) and perfrun(kube_cluster, kube_namespace, name),
        timeout=60,
        what="the run's namespace",
    )
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    status = obj["status"]
    assert status["phase"] == "Expired"
    stalled = condition(obj, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "Expired")
    assert "25s" in stalled["message"] and "Provisioning" in stalled["message"]
    # it ended no earlier than expiresAt = creation + 25s
    assert status["finishedAt"] >= status["expiresAt"]
    poll_until(
        lambda: not run_namespaces(kube_cluster, name),
        timeout=120,
        what="the expired run's namespace to be deleted",
    )


def test_abort_stops_the_run_cleanly_and_tears_it_down(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    doc = minimal("e2e-abort")
    doc["spec"]["environment"]["readyTimeout"] = "10m"
    pod_labels(doc["spec"]["environment"]["workloads"][0], NEVER_READY)
    name = start(kube_cluster, kube_namespace, doc)
    poll_until(
        lambda: (
            perfrun(kube_cluster, kube_namespace, name).get("status", {}).get("phase")
            == "Provisioning"
            and run_namespaces(kube_cluster, name)
        ),
        timeout=60,
        what="the run provisioning",
    )
    kube_cluster.kubectl(
        "patch",
        "perfrun",
        name,
        "-n",
        kube_namespace,
        "--type=merge",
        "-p",
        '{"spec": {"abort": true}}',
    )
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=60)
    assert obj["status"]["phase"] == "Aborted"
    assert condition(obj, "Stalled")["reason"] == "Aborted"
    poll_until(
        lambda: not run_namespaces(kube_cluster, name),
        timeout=120,
        what="the aborted run's namespace to be deleted",
    )
    # abort cannot be taken back (admission refuses it)
    undo = kube_cluster.kubectl(
        "patch",
        "perfrun",
        name,
        "-n",
        kube_namespace,
        "--type=merge",
        "-p",
        '{"spec": {"abort": false}}',
        check=False,
    )
    assert undo.returncode != 0 and "abort" in undo.stderr
