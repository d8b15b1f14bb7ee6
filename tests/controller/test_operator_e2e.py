"""The operator end to end on the real control plane (kwok runs the pods; containers do not
really run, so the run's Prometheus is unreachable and the honest verdict is Inconclusive)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.perfruns import (
    condition,
    example,
    minimal,
    perfrun,
    run_namespaces,
    wait_finished,
)
from tests.support.waiting import poll_until
from tests.support.watch import KubeWatch

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


def full(name: str) -> dict[str, Any]:
    """The full example (components with volumes, migrations, a seeded dataset, two
    workloads) with its drain gate shortened: on kwok the queue never fills."""
    doc = example("perfrun-full.yaml", name)
    for gate in doc["spec"]["analysis"]["gates"]:
        if "within" in gate:
            gate["within"] = "3s"
    return doc


PHASES = ["Provisioning", "Restoring", "Loading", "Analyzing"]


def new_phase(cluster: KubeCluster, ns: str, name: str, previous: str | None) -> str | None:
    phase = perfrun(cluster, ns, name).get("status", {}).get("phase")
    return phase if phase != previous else None


def test_full_example_goes_through_every_phase_to_finished(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "e2e-full"
    ns = kube_namespace
    with KubeWatch(
        kube_cluster, "perfrun", "-n", ns, f"--field-selector=metadata.name={name}"
    ) as runs:
        kube_cluster.apply(yaml.safe_dump(full(name)), "-n", ns)
        obj = wait_finished(kube_cluster, ns, name, timeout=240)
        runs.caught_up(obj)
    assert runs.values(("status", "phase")) == [*PHASES, obj["status"]["phase"]]
    assert obj["status"]["phase"] in ("Succeeded", "Failed")
    for step in ("EnvironmentReady", "DatasetRestored", "LoadCompleted"):
        assert condition(obj, step)["status"] == "True", condition(obj, step)
    run_ns = obj["status"]["namespace"]
    # the components' volumes were provisioned and bound, and carry the run's label
    claims = kube_cluster.get_json("pvc", "-n", run_ns)["items"]
    assert len(claims) >= 2
    for claim in claims:
        assert claim["status"]["phase"] == "Bound", claim["metadata"]["name"]
        assert claim["metadata"]["labels"][LABEL_RUN] == obj["status"]["runId"]
    jobs = {j["metadata"]["name"] for j in kube_cluster.get_json("jobs", "-n", run_ns)["items"]}
    assert jobs == {"migrations", "dataset", "load"}


def test_operator_killed_at_every_phase_boundary_resumes_and_duplicates_nothing(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """SIGKILL the operator as soon as each new phase is written, start it again, and
    follow the run to its end: one terminal state, and -- over the whole history, not
    just at the end -- one namespace and one Job of each kind."""
    name = "e2e-chaos"
    ns = kube_namespace
    selector = f"perfrun.dev/perfrun={name}"
    with (
        KubeWatch(kube_cluster, "namespaces", "-l", selector) as namespaces,
        KubeWatch(kube_cluster, "jobs", "-A", "-l", selector) as jobs,
        KubeWatch(
            kube_cluster, "perfrun", "-n", ns, f"--field-selector=metadata.name={name}"
        ) as runs,
    ):
        kube_cluster.apply(yaml.safe_dump(full(name)), "-n", ns)
        killed_after: list[str] = []
        while True:
            previous = killed_after[-1] if killed_after else None
            phase = poll_until(
                lambda previous=previous: new_phase(kube_cluster, ns, name, previous),
                timeout=120,
                interval=0.1,
                what=f"the phase after {previous}",
            )
            perfrun_operator.kill()
            killed_after.append(phase)
            perfrun_operator.start()
            if phase not in PHASES:
                break
        obj = wait_finished(kube_cluster, ns, name, timeout=240)
        runs.caught_up(obj)
    assert killed_after[: len(PHASES)] == PHASES, killed_after
    assert obj["status"]["phase"] in ("Succeeded", "Failed")
    assert runs.values(("status", "phase"))[-1] == obj["status"]["phase"]
    terminal = [p for p in runs.values(("status", "phase")) if p not in PHASES]
    assert len(terminal) == 1, terminal  # one terminal state, never left
    assert len(namespaces.uids()) == 1, "more than one namespace was ever created"
    for job in ("migrations", "dataset", "load"):
        assert len(jobs.uids(job)) == 1, f"Job/{job} was created {len(jobs.uids(job))} times"
    assert perfrun_operator.starts == len(killed_after) + 1


def perfrun_writes(cluster: KubeCluster, namespaces: set[str]) -> Counter[str]:
    """Writes perfrun made (by User-Agent: its own client and kopf's) to objects in the given
    namespaces or to those namespaces themselves, as the API server recorded them."""
    counts: Counter[str] = Counter()
    for line in cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        agent = event.get("userAgent", "")
        ref = event.get("objectRef", {})
        if not agent.startswith(("perfrun/", "kopf/")):
            continue
        if ref.get("namespace") in namespaces or (
            ref.get("resource") == "namespaces" and ref.get("name") in namespaces
        ):
            sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
            who = agent.split("/")[0]
            counts[f"{who} {event['verb']} {ref.get('resource')}{sub}"] += 1
    return counts


def test_api_writes_one_run_costs_from_apply_to_teardown(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """Counted from the API server's audit log, not from the operator's own bookkeeping."""
    name = "e2e-writes"
    ns = kube_namespace
    kube_cluster.apply(yaml.safe_dump(minimal(name, keepOnFailure="5s")), "-n", ns)
    obj = wait_finished(kube_cluster, ns, name)
    run_ns = obj["status"]["namespace"]
    poll_until(lambda: not run_namespaces(kube_cluster, name), timeout=120, what="teardown")
    kube_cluster.kubectl("delete", "perfrun", name, "-n", ns, "--timeout=60s", timeout=70)
    writes = perfrun_writes(kube_cluster, {ns, run_ns})
    total = sum(writes.values())
    print(f"API writes for one minimal PerfRun: {total}: {dict(sorted(writes.items()))}")
    # one create makes the namespace, one delete removes it, and nothing else touches it
    # (kopf's daemon bookkeeping once cost nine more patches)
    namespace_writes = {k: v for k, v in writes.items() if k.endswith(" namespaces")}
    assert namespace_writes == {"perfrun create namespaces": 1, "perfrun delete namespaces": 1}
    assert writes["perfrun create jobs"] == 1  # the load Job, created once
    # what a reconcile finds missing it creates: nothing in the run's namespace is applied
    # over (the report, in the PerfRun's namespace, is applied: a rerun replaces it)
    in_run = perfrun_writes(kube_cluster, {run_ns})
    assert not {k for k in in_run if k.startswith("perfrun patch ")}, in_run
    # status is written on transitions only, never on an idle tick
    assert writes["kopf patch perfruns/status"] <= 8
    # kopf writes a PerfRun's metadata for its finalizer and, at deletion, the on.delete
    # handler's progress and the finalizer's removal; never a "last handled state"
    # annotation (controller/handlers.py NoDiffBase)
    assert writes["kopf patch perfruns"] <= 3
    assert total <= 45


def test_janitor_deletes_a_namespace_whose_perfrun_vanished_and_nothing_else(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """The PerfRun disappears while the operator is down and without its finalizer running
    (as a force-delete would): the next operator's janitor removes the orphan namespace, and
    leaves alone a look-alike namespace the operator did not label as its own."""
    name = "e2e-orphan"
    ns = kube_namespace
    kube_cluster.apply(yaml.safe_dump(minimal(name)), "-n", ns)
    run_ns = poll_until(
        lambda: perfrun(kube_cluster, ns, name).get("status", {}).get("namespace"),
        timeout=60,
        what="the run's namespace",
    )
    poll_until(lambda: kube_cluster.exists("namespace", run_ns), what=f"namespace {run_ns}")
    look_alike = f"{ns[:50]}-look-alike"
    kube_cluster.apply(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": look_alike,
                    "labels": {"perfrun.dev/perfrun": name, "perfrun.dev/perfrun-namespace": ns},
                },
            }
        )
    )
    try:
        perfrun_operator.kill()
        kube_cluster.kubectl(
            "patch",
            "perfrun",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
        )
        kube_cluster.kubectl("delete", "perfrun", name, "-n", ns, "--timeout=30s")
        assert kube_cluster.get_json("namespace", run_ns)["status"]["phase"] == "Active"
        perfrun_operator.env["PERFRUN_JANITOR_INTERVAL"] = "1"
        perfrun_operator.start()

        def deleted() -> bool:
            if not kube_cluster.exists("namespace", run_ns):
                return True
            phase = kube_cluster.get_json("namespace", run_ns)["status"]["phase"]
            return bool(phase == "Terminating")

        poll_until(deleted, timeout=60, what=f"the janitor to delete {run_ns}")
        poll_until(
            lambda: "its PerfRun no longer exists" in perfrun_operator.logs(),
            timeout=10,
            what="the janitor to log why",
        )
        assert kube_cluster.get_json("namespace", look_alike)["status"]["phase"] == "Active"
    finally:
        kube_cluster.kubectl("delete", "namespace", look_alike, "--wait=false", check=False)


def test_delete_is_not_held_up_by_a_tick_in_flight(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None, tmp_path: Path
) -> None:
    """A PerfRun deleted while its `tick` timer runs (sync, in a thread: kopf cannot cancel
    it) keeps its finalizer until kopf polls the timer again, by default a minute later.
    Ticks every 20 ms keep one in flight for a good share of the time, so among eight
    deletes of finished runs at least one lands on a running tick; each must still return
    in seconds, not a minute."""
    ns = kube_namespace
    op = OperatorProcess(
        kube_cluster, ns, tmp_path / "operator.log", env={"PERFRUN_RECONCILE_INTERVAL": "0.02"}
    )
    op.start()
    try:
        names = [f"e2e-tick-{i}" for i in range(8)]
        for name in names:
            doc = minimal(name, afterFinished="1s", keepOnFailure="1s")
            kube_cluster.apply(yaml.safe_dump(doc), "-n", ns)
        for name in names:
            wait_finished(kube_cluster, ns, name, timeout=180)
        for name in names:
            poll_until(lambda n=name: not run_namespaces(kube_cluster, n), timeout=120)
        for name in names:
            started = time.monotonic()
            kube_cluster.kubectl("delete", "perfrun", name, "-n", ns, "--timeout=60s", timeout=70)
            took = time.monotonic() - started
            assert took < 15, f"deleting {name} took {took:.1f}s:\n{op.logs()}"
    finally:
        kube_cluster.kubectl("delete", "perfrun", "--all", "-n", ns, "--timeout=60s", check=False)
        op.stop()
