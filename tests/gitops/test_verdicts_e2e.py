"""Argo CD's and Flux's verdicts on PerfRuns from real runs: the real operator and API server
take runs through every phase and every way of failing (kwok plays the broken containers, the
real `perfrun load` program plays the load pod for the runs that get a verdict), a watch
records every state the API server serves, and the Go harness judges each one live -- the
chart's health.lua through Argo CD's Lua engine, and kstatus' status.Compute.

The objects are the same kind the frozen testdata/ holds (health_test.yaml, judged again by
`go test` in test_harness.py): a live verdict that differs from the frozen one for the same
case is drift. PERFRUN_GITOPS_CAPTURE=1 rewrites testdata/ from this run."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.gitops import PERFRUN_CHECK, Harness, build_verdicts
from tests.support.loadpods import KWOK_COMPLETE_DELAY, host_command
from tests.support.loadservers import TestServer
from tests.support.operator import OperatorProcess
from tests.support.perfruns import (
    FAIL,
    NEVER_READY,
    example,
    minimal,
    perfrun,
    pod_labels,
    wait_finished,
)
from tests.support.waiting import poll_until

pytestmark = [pytest.mark.cluster, pytest.mark.services]

IN_PROGRESS = ("Progressing", "InProgress")
CREATED_STATUS = {"observedGeneration": 0}  # the CRD's default: behind generation 1
HEALTHY = ("Healthy", "Current")
DEGRADED = ("Degraded", "Failed")
# case -> (Argo CD health, kstatus); the testdata file is testdata/<case>.yaml
EXPECTED: dict[str, tuple[str, str]] = {
    "created": IN_PROGRESS,
    "provisioning": IN_PROGRESS,
    "restoring": IN_PROGRESS,
    "loading": IN_PROGRESS,
    "analyzing": IN_PROGRESS,
    "generation-not-observed": IN_PROGRESS,
    "passed": HEALTHY,
    "failed-gates": DEGRADED,
    "failed-inconclusive": DEGRADED,
    "failed-load-job": DEGRADED,
    "expired": DEGRADED,
    "aborted": DEGRADED,
    "invalid": DEGRADED,
}


class Recorder:
    """Every distinct state (resourceVersion) of the namespace's PerfRuns, read as fast as the
    API server answers a LIST; survives a dropped connection, which a watch does not."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        self.api = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.states: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listed = self.api.list_namespaced_custom_object(
                    "perfrun.dev", "v1alpha1", self.namespace, "perfruns", _request_timeout=10
                )
            except Exception:  # a blip of the API server: try again
                time.sleep(0.2)
                continue
            for obj in listed["items"]:
                version = obj["metadata"]["resourceVersion"]
                if version not in self._seen:
                    self._seen.add(version)
                    self.states.append(obj)
            time.sleep(0.05)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=20)

    def objects(self) -> list[dict[str, Any]]:
        return list(self.states)


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as served, without the bookkeeping that only makes files longer."""
    out = json.loads(json.dumps(obj))
    meta = out["metadata"]
    meta.pop("managedFields", None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        meta.pop("annotations", None)
    return out


def finished_doc(doc: dict[str, Any]) -> dict[str, Any]:
    doc["spec"]["ttl"] = {"afterFinished": "1m", "keepOnFailure": "1m"}
    return doc


def hold_load(doc: dict[str, Any], p99_max: str) -> dict[str, Any]:
    """A run whose load pod kwok holds Running until the host program is done."""
    load = doc["spec"]["load"]
    load["ramp"] = {"steps": [{"rate": 20, "hold": "5s"}, {"rate": 30, "hold": "5s"}]}
    load["budget"] = {"maxRps": 100, "maxInFlight": 8, "maxDuration": "1m"}
    load["podMetadata"] = {"annotations": {KWOK_COMPLETE_DELAY: "10m"}}
    doc["spec"]["analysis"]["gates"] = [
        {"name": "p99", "metric": "latencyP99", "max": p99_max},
        {"name": "errors", "metric": "errorRate", "max": "0.01"},
    ]
    return doc


def phase_of(cluster: KubeCluster, ns: str, name: str) -> str | None:
    phase: str | None = perfrun(cluster, ns, name).get("status", {}).get("phase")
    return phase


def run_load_on_host(
    cluster: KubeCluster, ns: str, name: str, server: TestServer, tmp: Path
) -> None:
    """Once ``name`` is Loading: its load pod's program on this machine, then the pod let go."""
    obj = poll_until(
        lambda: (o := perfrun(cluster, ns, name)).get("status", {}).get("phase") == "Loading" and o,
        timeout=120,
        what=f"{name} Loading",
    )
    run_ns = obj["status"]["namespace"]
    work = tmp / name
    work.mkdir()
    command, env, _ = host_command(cluster, run_ns, work, server.url)
    log = work / "load.log"
    with log.open("w") as out:
        proc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=120)
    assert proc.returncode == 0, log.read_text()[-3000:]
    pod = cluster.get_json("pods", "-n", run_ns, "-l", "job-name=load")["items"][0]
    cluster.kubectl(
        "annotate", "-n", run_ns, "pod", pod["metadata"]["name"], "--overwrite",
        f"{KWOK_COMPLETE_DELAY}=0s",
    )  # fmt: skip


def first(
    objects: list[dict[str, Any]], name: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    for obj in objects:
        if obj["metadata"]["name"] == name and check(obj):
            return obj
    seen = sorted({o["metadata"]["name"] for o in objects})
    raise AssertionError(
        f"no state of {name} matched; its phases: {phases(objects, name)}; "
        f"{len(objects)} states seen of {seen}"
    )


def phases(objects: list[dict[str, Any]], name: str) -> list[str | None]:
    return [o.get("status", {}).get("phase") for o in objects if o["metadata"]["name"] == name]


def the_runs() -> list[dict[str, Any]]:
    """One PerfRun per phase or way of failing worth judging."""
    full = finished_doc(example("perfrun-full.yaml", "gitops-full"))
    for gate in full["spec"]["analysis"]["gates"]:
        if "within" in gate:
            gate["within"] = "3s"
    passed = hold_load(finished_doc(minimal("gitops-passed")), "5s")
    failed_gates = hold_load(finished_doc(minimal("gitops-failed-gates")), "1ms")
    inconclusive = finished_doc(minimal("gitops-inconclusive"))
    load_job = finished_doc(minimal("gitops-load-job"))
    pod_labels(load_job["spec"]["load"], FAIL)
    expired = minimal("gitops-expired", maxDuration="20s")
    expired["spec"]["load"]["budget"]["maxDuration"] = "15s"
    expired["spec"]["load"]["ramp"]["steps"] = [{"rate": 10, "hold": "10s"}]
    expired["spec"]["environment"]["readyTimeout"] = "10m"
    pod_labels(expired["spec"]["environment"]["workloads"][0], NEVER_READY)
    aborted = finished_doc(minimal("gitops-aborted"))
    aborted["spec"]["environment"]["readyTimeout"] = "10m"
    pod_labels(aborted["spec"]["environment"]["workloads"][0], NEVER_READY)
    invalid = finished_doc(minimal("gitops-invalid"))
    invalid["spec"]["load"]["target"] = "http://checkout.example.com:80"
    return [passed, full, failed_gates, inconclusive, load_job, expired, aborted, invalid]


def in_phase(phase: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: o.get("status", {}).get("phase") == phase


def choose(
    objects: list[dict[str, Any]], final: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The state each case stands for: the first of its phase, or the run's end."""
    loading = first(
        objects, "gitops-passed", lambda o: in_phase("Loading")(o) and "load" in o["status"]
    )
    return {
        "provisioning": first(objects, "gitops-full", in_phase("Provisioning")),
        "restoring": first(objects, "gitops-full", in_phase("Restoring")),
        "loading": loading,
        "analyzing": first(objects, "gitops-full", in_phase("Analyzing")),
        "passed": final["gitops-passed"],
        "failed-gates": final["gitops-failed-gates"],
        "failed-inconclusive": final["gitops-inconclusive"],
        "failed-load-job": final["gitops-load-job"],
        "expired": final["gitops-expired"],
        "aborted": final["gitops-aborted"],
        "invalid": final["gitops-invalid"],
    }


def assert_the_runs_ended_as_meant(captured: dict[str, dict[str, Any]]) -> None:
    status = {k: v.get("status", {}) for k, v in captured.items()}
    assert (status["passed"]["phase"], status["passed"].get("verdict")) == (
        "Succeeded",
        "Passed",
    ), status["passed"].get("message")
    assert status["failed-gates"]["verdict"] == "Failed", status["failed-gates"]
    assert status["failed-inconclusive"]["verdict"] == "Inconclusive"
    ends = [status[k]["phase"] for k in ("expired", "aborted", "invalid")]
    assert ends == ["Expired", "Aborted", "Invalid"]
    gen = captured["generation-not-observed"]
    assert gen["metadata"]["generation"] > gen["status"]["observedGeneration"], gen["status"]


def assert_every_state_judged_right(harness: Harness, objects: list[dict[str, Any]]) -> None:
    """Every state the API server served during the runs, judged live."""
    for obj in objects:
        v = harness.judge(obj)
        phase = obj.get("status", {}).get("phase")
        expected = IN_PROGRESS
        if obj["metadata"]["generation"] == obj.get("status", {}).get("observedGeneration"):
            if phase == "Succeeded":
                expected = HEALTHY
            elif phase in ("Failed", "Expired", "Aborted", "Invalid"):
                expected = DEGRADED
        assert (v.health_status, v.kstatus["status"]) == expected, (phase, obj["status"], v)


def assert_captures_and_keep_them(
    harness: Harness, captured: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Each case's verdicts, the run's message in Degraded, the same health as the frozen
    testdata (else drift); kept under tmp_path (or testdata/ with PERFRUN_GITOPS_CAPTURE)."""
    capture = bool(os.environ.get("PERFRUN_GITOPS_CAPTURE"))
    out_dir = PERFRUN_CHECK / "testdata" if capture else tmp_path
    tests = [] if capture else yaml.safe_load((PERFRUN_CHECK / "health_test.yaml").read_text())
    frozen = {
        Path(t["inputPath"]).stem: t["healthStatus"] for t in (tests or {"tests": []})["tests"]
    }
    assert set(captured) == set(EXPECTED)
    for case, obj in captured.items():
        v = harness.judge(obj)
        assert (v.health_status, v.kstatus["status"]) == EXPECTED[case], (case, v)
        assert v.health is not None
        message = obj.get("status", {}).get("message")
        if EXPECTED[case] == DEGRADED and message:
            assert message in v.health["message"], (case, v.health)
        if not capture:
            assert frozen.get(case, {}).get("status") == v.health_status, f"{case} drifted"
        (out_dir / f"{case}.yaml").write_text(yaml.safe_dump(clean(obj), sort_keys=False))


def test_argo_cd_health_and_kstatus_on_every_phase_of_real_runs(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
    test_server: TestServer,
    tmp_path: Path,
) -> None:
    harness = Harness(build_verdicts())
    test_server.behaviour.latency = lambda k: 0.002
    ns = kube_namespace
    docs = the_runs()
    with Recorder(kube_cluster, ns) as watch:
        # a PerfRun as created: the API server's default status, behind the generation
        created = json.loads(
            kube_cluster.kubectl(
                "create", "-n", ns, "-o", "json", "-f", "-", input=yaml.safe_dump(docs[0])
            ).stdout
        )
        t0 = time.monotonic()
        assert created["status"].items() >= CREATED_STATUS.items(), created.get("status")
        assert "phase" not in created["status"]
        fresh = harness.judge(created)
        assert (fresh.health_status, fresh.kstatus["status"]) == IN_PROGRESS, fresh
        poll_until(
            lambda: phase_of(kube_cluster, ns, "gitops-passed"),
            timeout=30,
            interval=0.05,
            what="a phase on the fresh PerfRun",
        )
        untouched = time.monotonic() - t0
        for doc in docs[1:]:
            kube_cluster.apply(yaml.safe_dump(doc), "-n", ns)

        # abort once provisioning: the patch's answer is a spec the operator has not seen
        poll_until(
            lambda: phase_of(kube_cluster, ns, "gitops-aborted") == "Provisioning",
            timeout=60,
            what="gitops-aborted Provisioning",
        )
        patched = kube_cluster.kubectl(
            "patch", "perfrun", "gitops-aborted", "-n", ns, "--type=merge", "-o", "json",
            "-p", '{"spec": {"abort": true}}',
        ).stdout  # fmt: skip

        run_load_on_host(kube_cluster, ns, "gitops-passed", test_server, tmp_path)
        run_load_on_host(kube_cluster, ns, "gitops-failed-gates", test_server, tmp_path)
        for doc in docs:
            wait_finished(kube_cluster, ns, doc["metadata"]["name"], timeout=240)
        time.sleep(1)  # the recorder's last reads
        objects = watch.objects()

    final = {d["metadata"]["name"]: perfrun(kube_cluster, ns, d["metadata"]["name"]) for d in docs}
    captured = choose(objects, final)
    captured["generation-not-observed"] = json.loads(patched)
    captured["created"] = created
    assert_the_runs_ended_as_meant(captured)
    assert_every_state_judged_right(harness, objects)
    assert_captures_and_keep_them(harness, captured, tmp_path)
    print(f"the operator's first phase {untouched:.2f}s after create")
