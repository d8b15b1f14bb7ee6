"""The operator end to end on the real control plane (kwok runs the pods; containers do not
really run, so the run's Prometheus is unreachable and the honest verdict is Inconclusive)."""

from __future__ import annotations

import copy

import pytest
import yaml
from tests.support.cluster import KubeCluster, poll_until
from tests.support.operator import OperatorProcess
from tests.support.perfruns import (
    condition,
    minimal,
    perfrun,
    run_namespaces,
    wait_finished,
)

pytestmark = pytest.mark.cluster
LABEL_RUN = "perfrun.dev/run"


def test_minimal_run_finishes_labels_everything_and_tears_down_after_ttl(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "e2e-minimal"
    kube_cluster.apply(yaml.safe_dump(minimal(name, keepOnFailure="20s")), "-n", kube_namespace)
    obj = wait_finished(kube_cluster, kube_namespace, name)
    status = obj["status"]
    run_ns = status["namespace"]
    assert status["phase"] == "Failed", perfrun_operator.logs()
    assert status["verdict"] == "Inconclusive"
    assert condition(obj, "Stalled")["status"] == "True"
    assert condition(obj, "Stalled")["reason"] == "Inconclusive"
    assert "Prometheus" in condition(obj, "Stalled")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    assert condition(obj, "EnvironmentReady")["status"] == "True"
    assert condition(obj, "LoadCompleted")["status"] == "True"
    assert condition(obj, "GatesPassed")["status"] == "False"
    for cond in status["conditions"]:
        assert cond["observedGeneration"] == obj["metadata"]["generation"]
    events = kube_cluster.get_json("events", "-n", kube_namespace)["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"].get("name") == name}
    assert {"Provisioning", "EnvironmentReady", "LoadCompleted", "Inconclusive"} <= reasons

    # every object the operator made in the run namespace carries the run's label
    run_id = status["runId"]
    for kind in (
        "deployments",
        "services",
        "configmaps",
        "jobs",
        "pods",
        "secrets",
        "resourcequotas",
        "limitranges",
        "networkpolicies",
        "serviceaccounts",
        "roles",
        "rolebindings",
    ):
        for item in kube_cluster.get_json(kind, "-n", run_ns)["items"]:
            meta = item["metadata"]
            system_made = meta["name"] in ("default", "kube-root-ca.crt")
            if kind != "pods" and (system_made or meta.get("ownerReferences")):
                continue  # made by Kubernetes controllers, not by the operator
            assert meta.get("labels", {}).get(LABEL_RUN) == run_id, f"{kind}/{meta['name']}"

    # keepOnFailure 20s: the namespace goes by itself, the PerfRun and its verdict stay
    poll_until(
        lambda: not run_namespaces(kube_cluster, name),
        timeout=120,
        what=f"namespace {run_ns} torn down after keepOnFailure",
    )
    assert perfrun(kube_cluster, kube_namespace, name)["status"]["verdict"] == "Inconclusive"


def test_delete_perfrun_removes_its_namespace_first(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "e2e-delete"
    kube_cluster.apply(yaml.safe_dump(minimal(name)), "-n", kube_namespace)
    obj = wait_finished(kube_cluster, kube_namespace, name)
    run_ns = obj["status"]["namespace"]
    assert kube_cluster.exists("namespace", run_ns)
    kube_cluster.kubectl(
        "delete", "perfrun", name, "-n", kube_namespace, "--timeout=120s", timeout=130
    )
    # delete returned: the finalizer waited until the namespace was gone
    assert not kube_cluster.exists("namespace", run_ns)
    assert not kube_cluster.exists("perfrun", name, "-n", kube_namespace)


def test_spec_that_cannot_run_stalls_without_a_namespace(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "e2e-invalid"
    doc = minimal(name)
    doc["spec"]["load"]["target"] = "http://checkout.example.com:80"
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=60)
    stalled = condition(obj, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert "checkout.example.com" in stalled["message"]
    assert obj["status"]["phase"] == "Invalid"
    assert run_namespaces(kube_cluster, name) == []


def test_operator_killed_mid_run_resumes_and_duplicates_nothing(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "e2e-chaos"
    doc = minimal(name)
    doc["spec"]["load"]["ramp"]["steps"] = [{"rate": 10, "hold": "20s"}]
    kube_cluster.apply(yaml.safe_dump(copy.deepcopy(doc)), "-n", kube_namespace)
    seen_phases: set[str] = set()
    ns_uids: set[str] = set()
    for _ in range(3):
        phase = poll_until(
            lambda: perfrun(kube_cluster, kube_namespace, name).get("status", {}).get("phase"),
            timeout=60,
            what="a phase",
        )
        seen_phases.add(phase)
        perfrun_operator.kill()
        ns_uids.update(n["metadata"]["uid"] for n in run_namespaces(kube_cluster, name))
        perfrun_operator.start()
    obj = wait_finished(kube_cluster, kube_namespace, name)
    assert obj["status"]["phase"] in ("Failed", "Succeeded")
    ns_uids.update(n["metadata"]["uid"] for n in run_namespaces(kube_cluster, name))
    assert len(ns_uids) == 1, "more than one namespace was created for one run"
    run_ns = obj["status"]["namespace"]
    jobs = kube_cluster.get_json("jobs", "-n", run_ns, "-l", "job-name=load")["items"]
    jobs = jobs or kube_cluster.get_json("jobs", "-n", run_ns)["items"]
    load_jobs = [j for j in jobs if j["metadata"]["name"] == "load"]
    assert len(load_jobs) == 1
    assert perfrun_operator.starts == 4
