"""The operator as it runs in a pod, on the real control plane: its health endpoint and
Prometheus metrics, and two replicas coordinated by kopf peering (one works, the other waits
and takes over when the first is killed)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.perfruns import minimal, wait_finished
from tests.support.waiting import free_port, poll_until

pytestmark = pytest.mark.cluster
# The order a run's phase may only move forward in (a run may skip some).
PHASE_ORDER = ("Pending", "Provisioning", "Restoring", "Loading", "Analyzing")
TERMINAL = ("Succeeded", "Failed", "Expired", "Aborted", "Invalid")
Metrics = dict[str, float]
# --peering-lifetime of the failover test's replicas: a killed one is replaced after this long
FAILOVER_LIFETIME = 10


# ---- helpers ----------------------------------------------------------------------------------


def http_get(url: str) -> tuple[int, str] | None:
    """(status, body), or None while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def scrape(port: int) -> Metrics:
    """Every sample on /metrics, keyed ``name{label="value",...}`` (labels sorted)."""
    got = http_get(f"http://127.0.0.1:{port}/metrics")
    assert got is not None and got[0] == 200, f"/metrics on port {port}: {got}"
    out: Metrics = {}
    for family in text_string_to_metric_families(got[1]):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return out


def minimal_yaml(name: str, hold: str = "20s") -> str:
    doc = minimal(name)
    doc["spec"]["load"]["ramp"]["steps"] = [{"rate": 10, "hold": hold}]
    return yaml.safe_dump(doc)


def phase_of(cluster: KubeCluster, ns: str, name: str) -> str | None:
    phase: str | None = cluster.get_json("perfrun", name, "-n", ns).get("status", {}).get("phase")
    return phase


def run_namespaces(cluster: KubeCluster, ns: str, name: str) -> list[str]:
    selector = f"perfrun.dev/perfrun={name},perfrun.dev/perfrun-namespace={ns}"
    items = cluster.get_json("namespaces", "-l", selector)["items"]
    return [item["metadata"]["name"] for item in items]


def load_jobs(cluster: KubeCluster, run_ns: str) -> list[str]:
    jobs = cluster.get_json("jobs", "-n", run_ns)["items"]
    return [j["metadata"]["uid"] for j in jobs if j["metadata"]["name"] == "load"]


class PhaseRecorder:
    """Every phase the API server stored for one (existing) PerfRun, in order, from a watch:
    a second writer with a stale view would show up as a phase going backwards."""

    def __init__(self, cluster: KubeCluster, ns: str, name: str) -> None:
        self.phases: list[str] = []
        self.proc = subprocess.Popen(
            [
                str(cluster.bin_dir / "kubectl"),
                "--kubeconfig",
                str(cluster.kubeconfig),
                "get",
                "perfrun",
                name,
                "-n",
                ns,
                "--watch",
                "-o",
                "jsonpath={.status.phase}{'\\n'}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            phase = line.strip()
            if phase and (not self.phases or self.phases[-1] != phase):
                self.phases.append(phase)

    def stop(self) -> list[str]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        return self.phases


def assert_phases_move_forward(phases: list[str]) -> None:
    assert phases, "no phase recorded"
    *running, last = phases
    assert last in TERMINAL, phases
    assert all(p in PHASE_ORDER for p in running), phases
    ranks = [PHASE_ORDER.index(p) for p in running]
    assert ranks == sorted(ranks), f"phase went backwards: {phases}"


@pytest.fixture
def start_operator(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators watching this test's namespace; afterwards the test's PerfRuns are
    deleted (a live operator runs their finalizers) and every operator is stopped."""
    started: list[OperatorProcess] = []

    def start(
        *args: str, label: str = "operator", standalone: bool = True, **env: str
    ) -> OperatorProcess:
        op = OperatorProcess(
            kube_cluster,
            kube_namespace,
            tmp_path / f"{label}.log",
            args=args,
            env=env,
            standalone=standalone,
        )
        op.start()
        started.append(op)
        return op

    yield start
    if not any(op.proc is not None for op in started):
        started[0].start()
    kube_cluster.kubectl(
        "delete", "perfrun", "--all", "-n", kube_namespace, "--timeout=150s", timeout=160
    )
    for op in started:
        op.stop()


# ---- liveness and metrics ---------------------------------------------------------------------


class AdmissionRefusals:
    """An admission webhook that is down (its URL answers nothing) for objects of this
    test's runs (labelled with its namespace), and nothing else: with failurePolicy Fail the
    API server answers 500 "failed calling webhook" -- a passing outage, which the operator
    retries (and counts as a reconcile error) without ending the run. A refusal for good (a
    policy that denies) ends the run ApplyRejected instead: see test_hostile_cluster.py.
    All removed after the test."""

    def __init__(self, cluster: KubeCluster, perfrun_ns: str) -> None:
        self.cluster = cluster
        self.perfrun_ns = perfrun_ns
        self.names: list[str] = []

    def refuse(self, probe: dict[str, Any], resource: str) -> str:
        """Fail creating ``resource`` objects like ``probe`` (same kind, name when the probe
        names one of the run's objects, label ``perfrun.dev/perfrun-namespace``); return once
        a server-side dry run of ``probe`` fails."""
        name = f"{self.perfrun_ns[:40]}-{resource}-{len(self.names)}"
        group, _, version = probe["apiVersion"].rpartition("/")
        webhook: dict[str, Any] = {
            "name": f"{name}.outage.perfrun.dev",
            "clientConfig": {"url": "https://127.0.0.1:9/"},  # discard: nothing answers
            "rules": [
                {
                    "apiGroups": [group],
                    "apiVersions": [version],
                    "operations": ["CREATE"],
                    "resources": [resource],
                }
            ],
            "objectSelector": {"matchLabels": {"perfrun.dev/perfrun-namespace": self.perfrun_ns}},
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 2,
        }
        if probe["metadata"].get("namespace"):  # a namespaced object: only this name
            webhook["matchConditions"] = [
                {
                    "name": "named",
                    "expression": f"object.metadata.name == '{probe['metadata']['name']}'",
                }
            ]
        config = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [webhook],
        }
        self.cluster.apply(yaml.safe_dump(config))
        self.names.append(name)

        def refused() -> bool:
            proc = self.cluster.kubectl(
                "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe), check=False
            )
            return proc.returncode != 0 and name in proc.stderr

        poll_until(refused, timeout=60, what=f"admission webhook {name} failing")
        return name

    def allow(self, name: str) -> None:
        self.cluster.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")


@pytest.fixture
def refusals(kube_cluster: KubeCluster, kube_namespace: str) -> Iterator[AdmissionRefusals]:
    refusals = AdmissionRefusals(kube_cluster, kube_namespace)
    yield refusals
    for name in refusals.names:
        refusals.allow(name)


def run_namespace_probe(perfrun_ns: str) -> dict[str, Any]:
    labels = {"perfrun.dev/perfrun-namespace": perfrun_ns}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "perfrun-admission-probe", "labels": labels},
    }


def load_job_probe(perfrun_ns: str) -> dict[str, Any]:
    labels = {"perfrun.dev/perfrun-namespace": perfrun_ns}
    container = {"name": "probe", "image": "busybox:1.36"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "load", "namespace": perfrun_ns, "labels": labels},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
    }


def test_liveness_and_metrics_follow_a_run(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    start_operator: Callable[..., OperatorProcess],
    refusals: AdmissionRefusals,
) -> None:
    health_port, metrics_port = free_port(), free_port()
    healthz = f"http://127.0.0.1:{health_port}/healthz"
    # the janitor sweeps at start-up and then not for an hour: it cannot move the writes gauge
    op = start_operator(
        "--liveness", healthz, "--metrics-port", str(metrics_port), PERFRUN_JANITOR_INTERVAL="3600"
    )

    got = poll_until(lambda: http_get(healthz), timeout=60, what="/healthz answering")
    assert got[0] == 200, got
    assert json.loads(got[1]) == {}  # no probe handlers: alive means the event loop answers
    before = scrape(metrics_port)
    assert before["perfrun_reconcile_seconds_count"] == 0
    assert before["perfrun_reconcile_errors_total"] == 0
    assert before["perfrun_kube_writes"] == 0
    assert not [k for k in before if k.startswith("perfrun_runs{")]

    # first the admission webhook for the run's namespace is down: reconciles fail and are
    # counted, the operator lives
    policy = refusals.refuse(run_namespace_probe(kube_namespace), "namespaces")
    name = "runtime-metrics"
    kube_cluster.apply(minimal_yaml(name), "-n", kube_namespace)
    poll_until(
        lambda: scrape(metrics_port)["perfrun_reconcile_errors_total"] >= 1,
        timeout=60,
        what="a reconcile error counted",
    )
    assert op.proc is not None and op.proc.poll() is None, op.logs()
    assert http_get(healthz) == got
    assert run_namespaces(kube_cluster, kube_namespace, name) == []

    # then it is back: the next tick retries and the run goes to its verdict
    refusals.allow(policy)
    obj = wait_finished(kube_cluster, kube_namespace, name)
    assert obj["status"]["phase"] == "Failed", op.logs()  # Inconclusive: kwok has no metrics
    after = scrape(metrics_port)
    assert after['perfrun_runs{phase="Failed"}'] == 1
    assert sum(v for k, v in after.items() if k.startswith("perfrun_runs{")) == 1
    assert after["perfrun_reconcile_errors_total"] >= 1
    assert after["perfrun_reconcile_seconds_count"] > before["perfrun_reconcile_seconds_count"]
    assert after["perfrun_reconcile_seconds_sum"] > 0
    assert (
        after['perfrun_reconcile_seconds_bucket{le="+Inf"}']
        == (after["perfrun_reconcile_seconds_count"])
    )
    # namespace, fence, components, workloads, Jobs: a run costs writes, and they are counted
    assert after["perfrun_kube_writes"] >= 10
    assert after['perfrun_janitor_sweeps_total{result="swept"}'] >= 1  # standalone: it works
    assert http_get(healthz) == got

    # the teardown (kopf's on.delete) deletes the run's namespace: a write, counted at once
    run_ns = obj["status"]["namespace"]
    kube_cluster.kubectl(
        "delete", "perfrun", name, "-n", kube_namespace, "--timeout=120s", timeout=130
    )
    assert not kube_cluster.exists("namespace", run_ns)
    assert scrape(metrics_port)["perfrun_kube_writes"] >= after["perfrun_kube_writes"] + 1


# ---- peering: two replicas --------------------------------------------------------------------


def peers(cluster: KubeCluster, ns: str, peering: str) -> dict[str, Any]:
    """The operators registered in the KopfPeering (identity -> priority, lastseen, ...)."""
    status: dict[str, Any] = cluster.get_json("kopfpeering", peering, "-n", ns).get("status", {})
    return status


def create_peering(cluster: KubeCluster, ns: str, name: str) -> None:
    """kopf does not create the peering object: without it every replica stays paused."""
    doc = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name}}
    cluster.apply(yaml.safe_dump(doc), "-n", ns)


def paused(log: str) -> bool:
    """Whether kopf's last word on peering was to pause (replicas start paused)."""
    return log.rfind("Pausing operations") >= log.rfind("Resuming operations")


def test_two_peered_replicas_run_each_perfrun_once_and_fail_over(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    start_operator: Callable[..., OperatorProcess],
    refusals: AdmissionRefusals,
) -> None:
    ns, peering = kube_namespace, "perfrun"
    create_peering(kube_cluster, ns, peering)
    port_a, port_b = free_port(), free_port()

    def replica(label: str, priority: int, port: int) -> OperatorProcess:
        return start_operator(
            "--peering",
            peering,
            "--priority",
            str(priority),
            "--peering-lifetime",
            str(FAILOVER_LIFETIME),
            "--metrics-port",
            str(port),
            label=label,
            standalone=False,
            POD_ID=label,  # kopf's identity in the peering object
        )

    # the higher priority first: once it is registered, the other one starts paused
    a = replica("replica-a", 100, port_a)
    poll_until(lambda: "replica-a" in peers(kube_cluster, ns, peering), what="replica-a peered")
    poll_until(lambda: "Resuming operations" in a.logs(), what="replica-a resumed")
    b = replica("replica-b", 10, port_b)
    poll_until(lambda: "replica-b" in peers(kube_cluster, ns, peering), what="replica-b peered")
    registered = peers(kube_cluster, ns, peering)
    assert registered["replica-a"]["priority"] == 100
    assert registered["replica-b"]["priority"] == 10
    assert registered["replica-a"]["lifetime"] == FAILOVER_LIFETIME

    # one run, two replicas: only the higher priority one touches it
    first = "peered-once"
    kube_cluster.apply(minimal_yaml(first), "-n", ns)
    recorder = PhaseRecorder(kube_cluster, ns, first)
    obj = wait_finished(kube_cluster, ns, first)
    assert_phases_move_forward(recorder.stop())
    assert obj["status"]["phase"] == "Failed", a.logs()
    assert len(run_namespaces(kube_cluster, ns, first)) == 1
    assert len(load_jobs(kube_cluster, obj["status"]["namespace"])) == 1
    assert scrape(port_a)["perfrun_reconcile_seconds_count"] > 0
    b_metrics = scrape(port_b)
    assert b_metrics["perfrun_reconcile_seconds_count"] == 0, b.logs()
    assert b_metrics["perfrun_kube_writes"] == 0
    events = kube_cluster.get_json("events", "-n", ns)["items"]
    reasons = [e["reason"] for e in events if e["involvedObject"].get("name") == first]
    for reason in ("Provisioning", "EnvironmentReady", "LoadCompleted"):
        assert reasons.count(reason) == 1, reasons

    # a second run, held mid-run (the admission webhook for its load Job is down, so the
    # working replica fails its reconciles with the namespace and environment in place); the
    # working replica is SIGKILLed there; the other takes over once the dead one's keep-alive
    # expires (its --peering-lifetime; kopf's default is 60 s) and finishes the run
    second = "peered-failover"
    no_load_job = refusals.refuse(load_job_probe(ns), "jobs")
    errors_before = scrape(port_a)["perfrun_reconcile_errors_total"]
    kube_cluster.apply(minimal_yaml(second), "-n", ns)
    recorder = PhaseRecorder(kube_cluster, ns, second)
    poll_until(
        lambda: scrape(port_a)["perfrun_reconcile_errors_total"] > errors_before,
        timeout=120,
        what=f"{second} held before its load Job",
    )
    held_in = phase_of(kube_cluster, ns, second)
    assert held_in in PHASE_ORDER, held_in
    assert len(run_namespaces(kube_cluster, ns, second)) == 1
    a.kill()
    killed = time.monotonic()
    refusals.allow(no_load_job)
    assert "Resuming operations" not in b.log.read_text()
    poll_until(
        lambda: "Resuming operations" in b.log.read_text(),
        timeout=FAILOVER_LIFETIME + 30,
        what="replica-b taking over",
    )
    print(f"failover: replica-b resumed {time.monotonic() - killed:.1f} s after the kill")
    obj = wait_finished(kube_cluster, ns, second, timeout=300)
    assert_phases_move_forward(recorder.stop())
    assert obj["status"]["phase"] == "Failed", b.logs()
    assert "Resuming operations" in b.logs()
    assert scrape(port_b)["perfrun_reconcile_seconds_count"] > 0
    assert len(run_namespaces(kube_cluster, ns, second)) == 1
    assert len(load_jobs(kube_cluster, obj["status"]["namespace"])) == 1
    # the survivor cleans the dead replica out of the peering object
    poll_until(
        lambda: "replica-a" not in peers(kube_cluster, ns, peering),
        timeout=30,
        what="dead replica-a removed from the peering",
    )


def test_only_the_working_replicas_janitor_deletes(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """An orphan namespace and two peered replicas: the paused one's janitor judges it round
    after round and leaves it; once the working replica is killed and its keep-alive
    expired, the survivor's janitor works and deletes it (once, per the audit log)."""
    ns, peering = kube_namespace, "perfrun"
    create_peering(kube_cluster, ns, peering)
    port_a, port_b = free_port(), free_port()

    def replica(label: str, priority: int, port: int, janitor_interval: str) -> OperatorProcess:
        return start_operator(
            "--peering",
            peering,
            "--priority",
            str(priority),
            "--peering-lifetime",
            "5",
            "--metrics-port",
            str(port),
            label=label,
            standalone=False,
            POD_ID=label,
            PERFRUN_JANITOR_INTERVAL=janitor_interval,
        )

    # the working replica's janitor sweeps at start-up (no orphan yet), then not for an hour
    a = replica("replica-a", 100, port_a, "3600")
    poll_until(lambda: "Resuming operations" in a.log.read_text(), what="replica-a working")
    b = replica("replica-b", 10, port_b, "1")
    poll_until(
        lambda: (
            "janitor paused: KopfPeering perfrun" in b.log.read_text()
            and "replica-a (priority 100)" in b.log.read_text()
        ),
        what="replica-b's janitor paused in favour of replica-a",
    )

    orphan = f"{ns[:50]}-orphan"
    labels = {
        "app.kubernetes.io/managed-by": "perfrun-operator",
        "perfrun.dev/perfrun": "gone",
        "perfrun.dev/perfrun-namespace": ns,
    }
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": orphan, "labels": labels}}
    audit_from = kube_cluster.audit_log.stat().st_size
    kube_cluster.apply(yaml.safe_dump(doc))
    paused_key = 'perfrun_janitor_sweeps_total{result="paused"}'
    swept_key = 'perfrun_janitor_sweeps_total{result="swept"}'
    try:
        rounds = scrape(port_b)[paused_key]
        poll_until(
            lambda: scrape(port_b)[paused_key] >= rounds + 3,
            timeout=30,
            what="three paused janitor rounds of replica-b with the orphan there",
        )
        assert kube_cluster.get_json("namespace", orphan)["status"]["phase"] == "Active"
        b_metrics = scrape(port_b)
        assert b_metrics.get(swept_key, 0) == 0, b.logs()
        assert b_metrics["perfrun_kube_writes"] == 0
        assert "janitor deleted" not in b.log.read_text()

        a.kill()
        poll_until(
            lambda: "janitor deleted namespace" in b.log.read_text(),
            timeout=30,
            what="replica-b's janitor working after replica-a's keep-alive expired",
        )
        assert (
            f"janitor deleted namespace {orphan}: its PerfRun no longer exists" in b.log.read_text()
        )
        assert "janitor active" in b.log.read_text()
        assert "janitor deleted" not in a.log.read_text()
        assert scrape(port_b)["perfrun_kube_writes"] == 1

        def deletes() -> list[dict[str, Any]]:
            with kube_cluster.audit_log.open() as log:
                log.seek(audit_from)
                events = [json.loads(line) for line in log if orphan in line]
            return [
                e
                for e in events
                if e["verb"] == "delete"
                and e["objectRef"].get("resource") == "namespaces"
                and e["objectRef"].get("name") == orphan
            ]

        (delete,) = poll_until(deletes, timeout=30, what=f"the delete of {orphan} audited")
        assert delete["userAgent"].startswith("perfrun/"), delete
    finally:
        kube_cluster.kubectl("delete", "namespace", orphan, "--wait=false", check=False)


def test_replicas_started_alike_do_not_tie(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """What the Helm chart does: N identical replicas, no --priority. kopf pauses *every*
    operator of a peering when two share a priority, so each picks a random one."""
    ns, peering = kube_namespace, "perfrun"
    create_peering(kube_cluster, ns, peering)
    ports = {f"replica-{i}": free_port() for i in (1, 2)}
    ops = {
        label: start_operator(
            "--peering",
            peering,
            "--metrics-port",
            str(port),
            label=label,
            standalone=False,
            POD_ID=label,
        )
        for label, port in ports.items()
    }

    def both_peered() -> dict[str, Any] | None:
        got = peers(kube_cluster, ns, peering)
        return got if got.keys() == ports.keys() else None

    registered = poll_until(both_peered, what="both replicas peered")
    priorities = {label: registered[label]["priority"] for label in ports}
    assert len(set(priorities.values())) == 2, priorities
    leader = max(priorities, key=lambda label: priorities[label])
    follower = min(priorities, key=lambda label: priorities[label])
    poll_until(lambda: not paused(ops[leader].logs()), what=f"{leader} working")
    poll_until(lambda: paused(ops[follower].logs()), what=f"{follower} paused")

    name = "peered-alike"
    kube_cluster.apply(minimal_yaml(name), "-n", ns)
    obj = wait_finished(kube_cluster, ns, name)
    assert obj["status"]["phase"] == "Failed", ops[leader].logs()
    assert scrape(ports[leader])["perfrun_reconcile_seconds_count"] > 0
    assert scrape(ports[follower])["perfrun_reconcile_seconds_count"] == 0
    assert len(run_namespaces(kube_cluster, ns, name)) == 1
