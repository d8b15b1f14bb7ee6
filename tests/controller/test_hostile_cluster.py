"""Hostile and careless PerfRuns against the real API server and the real operator (issue 14):
each ends with a precise reason within its TTL -- none stuck, none undeletable -- and no
response body or secret reaches the status, the Events, the operator's log or the report.
(Specs the schema refuses are in tests/api/invalid/, checked at admission by
tests/e2e/test_cluster.py; the admin's admission policy is in tests/charts/test_policy.py.)"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster, poll_until
from tests.support.operator import OperatorProcess
from tests.support.perfruns import condition, minimal, perfrun, run_namespaces, wait_finished

pytestmark = pytest.mark.cluster
SECRET = "sk-live-SECRET-FROM-A-RESPONSE-BODY"


@contextmanager
def operator(
    cluster: KubeCluster, ns: str, tmp_path: Path, **env: str
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(cluster, ns, tmp_path / "operator.log", env=env)
    op.start()
    try:
        yield op
    finally:
        cluster.kubectl("delete", "perfrun", "--all", "-n", ns, "--timeout=120s", check=False)
        op.stop()


def events_of(cluster: KubeCluster, ns: str, name: str) -> list[dict[str, Any]]:
    items = cluster.get_json("events", "-n", ns)["items"]
    return [e for e in items if e["involvedObject"].get("name") == name]


def stalled(obj: dict[str, Any]) -> dict[str, Any]:
    cond = condition(obj, "Stalled")
    assert cond.get("status") == "True", obj.get("status")
    assert condition(obj, "Finished")["status"] == "True"
    return cond


@contextmanager
def denied(
    cluster: KubeCluster,
    perfrun_ns: str,
    policy: str,
    resource: str,
    expression: str,
    message: str,
    probe: dict[str, Any],
) -> Iterator[None]:
    """A cluster admission policy (a VAP scoped to the run namespaces of ``perfrun_ns``)
    denying CREATE of core ``resource`` objects unless ``expression``; in force once a
    server-side dry run of ``probe`` in such a namespace is refused; removed afterwards."""
    vap = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [resource],
                    }
                ]
            },
            "validations": [{"expression": expression, "message": message}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy},
        "spec": {
            "policyName": policy,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"perfrun.dev/perfrun-namespace": perfrun_ns}}
            },
        },
    }
    cluster.apply(yaml.safe_dump_all([vap, binding]))
    probe_ns = f"probe-{policy[-6:]}-{resource[:3]}"
    try:
        cluster.apply(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": probe_ns,
                        "labels": {"perfrun.dev/perfrun-namespace": perfrun_ns},
                    },
                }
            )
        )
        text = yaml.safe_dump({**probe, "metadata": {**probe["metadata"], "namespace": probe_ns}})
        poll_until(
            lambda: (
                cluster.kubectl(
                    "create", "--dry-run=server", "-f", "-", input=text, check=False
                ).returncode
                != 0
            ),
            timeout=30,
            what=f"the test policy {policy} to be enforced",
        )
        cluster.kubectl("delete", "namespace", probe_ns, "--wait=false", check=False)
        yield
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", policy, check=False)
        cluster.kubectl("delete", "validatingadmissionpolicy", policy, check=False)
        cluster.kubectl("delete", "namespace", probe_ns, "--wait=false", check=False)


def test_an_object_the_api_server_refuses_ends_the_run_naming_it_and_tears_down(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
) -> None:
    """An admission policy of the cluster (scoped to this test's run namespaces) refuses the
    run's Service: the run has its deadline before that, then ends Failed/ApplyRejected with
    the object and the API server's words, and its namespace goes after keepOnFailure."""
    policy = f"deny-svc-{kube_namespace}"
    probe_svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api"},
        "spec": {"ports": [{"port": 80}]},
    }
    with denied(
        kube_cluster,
        kube_namespace,
        policy,
        "services",
        "object.metadata.name != 'api'",
        "no api Service here",
        probe_svc,
    ):
        name = "refused-svc"
        kube_cluster.apply(yaml.safe_dump(minimal(name, keepOnFailure="15s")), "-n", kube_namespace)
        obj = wait_finished(kube_cluster, kube_namespace, name, timeout=90)
        status = obj["status"]
        assert status["phase"] == "Failed" and status["expiresAt"], status
        cond = stalled(obj)
        assert cond["reason"] == "ApplyRejected"
        assert "Service/api" in cond["message"] and "no api Service here" in cond["message"]
        assert condition(obj, "EnvironmentReady")["reason"] == "ApplyRejected"
        warnings = [
            e for e in events_of(kube_cluster, kube_namespace, name) if e["type"] == "Warning"
        ]
        assert any(
            e["reason"] == "ApplyRejected" and "Service/api" in e["message"] for e in warnings
        )
        assert "Service/api" in perfrun_operator.logs()
        # keepOnFailure (15s) later the namespace is gone, by the operator
        poll_until(
            lambda: (
                not [
                    n
                    for n in run_namespaces(kube_cluster, name)
                    if n["status"]["phase"] == "Active"
                ]
            ),
            timeout=60,
            what="the refused run's namespace to be deleted after keepOnFailure",
        )


def test_a_one_mebibyte_spec_ends_invalid_naming_the_limit_and_is_deletable(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """~1 MiB of headers passes the schema (each value is short) but its load-config would not
    fit a ConfigMap: Invalid with the limit stated, no namespace, and `kubectl delete`
    returns (kopf keeps no copy of the spec in an annotation)."""
    doc = minimal("huge-spec")
    scenarios = []
    for i in range(32):
        headers = {f"X-Padding-Header-Number-{j:04d}": "v" * 1024 for j in range(32)}
        scenarios.append({"name": f"s{i}", "weight": 1, "path": "/", "headers": headers})
    doc["spec"]["load"]["scenarios"] = scenarios
    text = json.dumps(doc)
    assert len(text) > 1_000_000
    kube_cluster.kubectl("create", "-n", kube_namespace, "-f", "-", input=text, timeout=60)
    obj = wait_finished(kube_cluster, kube_namespace, "huge-spec", timeout=60)
    assert obj["status"]["phase"] == "Invalid"
    message = stalled(obj)["message"]
    assert "ConfigMap load-config" in message and "1048576" in message, message
    assert "spec.load" in message
    assert not run_namespaces(kube_cluster, "huge-spec")
    annotations = obj["metadata"].get("annotations") or {}
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096, annotations.keys()
    started = time.monotonic()
    kube_cluster.kubectl(
        "delete", "perfrun", "huge-spec", "-n", kube_namespace, "--timeout=60s", timeout=70
    )
    assert time.monotonic() - started < 60


def test_a_large_schema_run_keeps_kopfs_annotation_small_and_deletes(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """A dataset.schema near its allowed length (what overflowed the 256 KiB annotation
    limit): the run provisions, kopf's diff base holds no spec, and it is deletable."""
    doc = minimal("big-schema")
    doc["spec"]["environment"]["components"] = [{"name": "db", "kind": "postgres"}]
    ddl = "-- padding\n" * 23_000 + "CREATE TABLE t (id int);\n"
    assert 250_000 < len(ddl) <= 262_144
    doc["spec"]["dataset"] = {
        "into": "db",
        "schema": ddl,
        "synthetic": {
            "seed": 1,
            "tables": [
                {"name": "t", "rows": 10, "columns": [{"name": "id", "generator": "sequence"}]}
            ],
        },
    }
    kube_cluster.kubectl("create", "-n", kube_namespace, "-f", "-", input=json.dumps(doc))
    poll_until(
        lambda: (
            perfrun(kube_cluster, kube_namespace, "big-schema").get("status", {}).get("phase")
            not in (None, "Pending")
        ),
        timeout=60,
        what="the big-schema run to start",
    )
    obj = perfrun(kube_cluster, kube_namespace, "big-schema")
    annotations = obj["metadata"].get("annotations") or {}
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096, annotations.keys()
    kube_cluster.kubectl(
        "delete", "perfrun", "big-schema", "-n", kube_namespace, "--timeout=90s", timeout=100
    )


def test_an_admin_limit_ends_the_run_policy_violation_naming_field_and_limit(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    with operator(
        kube_cluster,
        kube_namespace,
        tmp_path,
        PERFRUN_POLICY_MAX_RPS="10",
        PERFRUN_POLICY_IMAGE_REGISTRIES="registry.example",
    ):
        kube_cluster.apply(yaml.safe_dump(minimal("over-limit")), "-n", kube_namespace)
        obj = wait_finished(kube_cluster, kube_namespace, "over-limit", timeout=60)
    assert obj["status"]["phase"] == "Invalid"
    cond = stalled(obj)
    assert cond["reason"] == "PolicyViolation"
    assert "spec.load.budget.maxRps 20 is over policy.maxRps 10" in cond["message"]
    assert "spec.environment.workloads[0].image nginx:1.27" in cond["message"]
    assert "policy.imageRegistries (registry.example)" in cond["message"]
    assert not run_namespaces(kube_cluster, "over-limit")


def test_ttl_edits_move_both_deadlines_and_a_shorter_one_ends_the_run_at_once(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "ttl-edit"
    doc = minimal(name)
    doc["spec"]["environment"]["workloads"][0].setdefault("podMetadata", {})["labels"] = {
        "pod-running-unready.stage.kwok.x-k8s.io": "true"  # stays Provisioning
    }
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    first = poll_until(
        lambda: perfrun(kube_cluster, kube_namespace, name).get("status", {}).get("expiresAt"),
        timeout=30,
        what="expiresAt",
    )
    patch = {"spec": {"ttl": {"maxDuration": "5h"}}}
    kube_cluster.kubectl(
        "patch", "perfrun", name, "-n", kube_namespace, "--type=merge", "-p", json.dumps(patch)
    )
    moved = poll_until(
        lambda: (lambda e: e if e and e != first else None)(
            perfrun(kube_cluster, kube_namespace, name)["status"].get("expiresAt")
        ),
        timeout=30,
        what="expiresAt to follow the edit",
    )
    assert moved > first
    patch = {"spec": {"ttl": {"maxDuration": "1s", "keepOnFailure": "1h"}}}
    kube_cluster.kubectl(
        "patch", "perfrun", name, "-n", kube_namespace, "--type=merge", "-p", json.dumps(patch)
    )
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=30)
    assert obj["status"]["phase"] == "Expired" and stalled(obj)["reason"] == "Expired"
    poll_until(
        lambda: (
            not [n for n in run_namespaces(kube_cluster, name) if n["status"]["phase"] == "Active"]
        ),
        timeout=60,
        what="the expired run's namespace to go at once",
    )


def test_a_keep_on_failure_edit_after_the_end_deletes_the_namespace_at_once(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    name = "keep-edit"
    doc = minimal(name, keepOnFailure="2h")
    doc["spec"]["environment"]["readyTimeout"] = "15s"
    doc["spec"]["environment"]["workloads"][0].setdefault("podMetadata", {})["labels"] = {
        "pod-running-unready.stage.kwok.x-k8s.io": "true"
    }
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=60)
    assert obj["status"]["phase"] == "Failed"
    assert run_namespaces(kube_cluster, name)
    patch = {"spec": {"ttl": {"keepOnFailure": "1s"}}}
    kube_cluster.kubectl(
        "patch", "perfrun", name, "-n", kube_namespace, "--type=merge", "-p", json.dumps(patch)
    )
    poll_until(
        lambda: (
            not [n for n in run_namespaces(kube_cluster, name) if n["status"]["phase"] == "Active"]
        ),
        timeout=30,
        what="the namespace to go once keepOnFailure was shortened",
    )
    later = perfrun(kube_cluster, kube_namespace, name)["status"]
    assert later["deleteAt"] < obj["status"]["deleteAt"]  # moved from finishedAt + 2h


class _Leaky(http.server.BaseHTTPRequestHandler):
    """A "Prometheus" that answers every request with an error and a secret in its body."""

    def do_GET(self) -> None:
        self.send_response(500 if "ready" in self.path else 400)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(f"token={SECRET}\n".encode())

    do_POST = do_GET  # noqa: N815

    def log_message(self, *_: Any) -> None:
        pass


def test_prometheus_error_bodies_reach_no_status_event_log_or_report(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    name = "leaky-prom"
    doc = minimal(name)
    doc["spec"]["analysis"]["prometheus"] = {"embedded": False, "url": url, "retries": 0}
    try:
        with operator(
            kube_cluster, kube_namespace, tmp_path, PERFRUN_POLICY_PROMETHEUS_URLS=url
        ) as op:
            kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
            obj = wait_finished(kube_cluster, kube_namespace, name, timeout=240)
            log = op.log.read_text(errors="replace")
            events = events_of(kube_cluster, kube_namespace, name)
            report = kube_cluster.get_json("configmaps", "-n", kube_namespace)["items"]
    finally:
        server.shutdown()
    assert obj["status"]["verdict"] == "Inconclusive", obj["status"]
    assert "500" in json.dumps(obj["status"])  # the status code is reported...
    for where, text in (
        ("status", json.dumps(obj["status"])),
        ("events", json.dumps(events)),
        ("operator log", log),
        ("report", json.dumps(report)),
    ):
        assert SECRET not in text, where  # ...never the body


def test_a_prometheus_url_off_the_admins_list_is_never_fetched(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """An author's URL into another namespace (the API server's proxy would take it there
    with the operator's credentials): refused before anything is created."""
    name = "foreign-prom"
    doc = minimal(name)
    doc["spec"]["analysis"]["prometheus"] = {
        "embedded": False,
        "url": "http://prometheus-k8s.monitoring.svc:9090",
    }
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=60)
    cond = stalled(obj)
    assert cond["reason"] == "PolicyViolation"
    assert "spec.analysis.prometheus.url" in cond["message"]
    assert "policy.prometheusUrls (allowed: none)" in cond["message"]
    assert not run_namespaces(kube_cluster, name)


def test_a_normal_teardown_is_not_logged_as_an_error(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """Deleting a running run waits for its namespace in the delete handler (INFO), not
    through kopf's retry (ERROR "failed temporarily")."""
    name = "quiet-teardown"
    doc = minimal(name)
    doc["spec"]["environment"]["workloads"][0].setdefault("podMetadata", {})["labels"] = {
        "pod-running-unready.stage.kwok.x-k8s.io": "true"
    }
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    poll_until(lambda: run_namespaces(kube_cluster, name), timeout=60, what="the namespace")
    kube_cluster.kubectl(
        "delete", "perfrun", name, "-n", kube_namespace, "--timeout=90s", timeout=100
    )
    assert not run_namespaces(kube_cluster, name)
    log = perfrun_operator.log.read_text(errors="replace")
    assert "waiting for namespace" in log
    assert not [line for line in log.splitlines() if "ERROR" in line], log[-3000:]


def test_pods_the_api_server_refuses_to_create_fail_the_run_at_once(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """The Deployment is admitted, its pods are not (here a cluster policy; Pod Security or a
    quota read the same): the ReplicaSet's FailedCreate ends the run at once with the API
    server's message, long before readyTimeout (10m)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"perfrun.dev/component": "api"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    }
    expression = (
        "!has(object.metadata.labels) || !('perfrun.dev/component' in object.metadata.labels)"
        " || object.metadata.labels['perfrun.dev/component'] != 'api'"
    )
    with denied(
        kube_cluster,
        kube_namespace,
        f"deny-pod-{kube_namespace}",
        "pods",
        expression,
        "no api pods here",
        pod,
    ):
        name = "refused-pods"
        doc = minimal(name)
        doc["spec"]["environment"]["readyTimeout"] = "10m"
        kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
        obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    cond = stalled(obj)
    assert obj["status"]["phase"] == "Failed" and cond["reason"] == "FailedCreate", cond
    assert "Deployment/api" in cond["message"] and "no api pods here" in cond["message"]


def test_a_tick_that_keeps_raising_ends_the_run_reconcile_error_and_tears_down(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    """A status the operator's code cannot read (here a startedAt that is no timestamp,
    written through the status subresource as a careless tool would) made every tick raise
    ValueError, retried for ever. The tick guard ends the run after 3 faulty ticks in a row:
    Failed/ReconcileError naming the exception's type and where it was raised, a Warning
    Event, and the namespace goes after keepOnFailure. Another run is served meanwhile."""
    name, other = "faulty-status", "healthy-neighbour"
    for run in (name, other):
        doc = minimal(run, keepOnFailure="10s")
        doc["spec"]["environment"]["workloads"][0].setdefault("podMetadata", {})["labels"] = {
            "pod-running-unready.stage.kwok.x-k8s.io": "true"  # stays Provisioning
        }
        kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
    poll_until(
        lambda: run_namespaces(kube_cluster, name) and run_namespaces(kube_cluster, other),
        timeout=60,
        what="both runs' namespaces",
    )
    kube_cluster.kubectl(
        "patch",
        "perfrun",
        name,
        "-n",
        kube_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"startedAt": "yesterday"}}),
    )
    started = time.monotonic()
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=60)
    assert time.monotonic() - started < 30  # 3 ticks at the 1 s interval, not 3 x 60 s
    cond = stalled(obj)
    assert obj["status"]["phase"] == "Failed" and cond["reason"] == "ReconcileError", cond
    message = cond["message"]
    assert "ValueError" in message and "3 times in a row" in message, message
    assert "perfrun/api/times.py" in message and "(parse_time)" in message, message
    assert "yesterday" not in message  # the exception's text stays in the log
    assert any(
        e["reason"] == "ReconcileError" and e["type"] == "Warning"
        for e in events_of(kube_cluster, kube_namespace, name)
    )
    log = perfrun_operator.logs()
    assert "Traceback" in log and "(3/3 in a row)" in log
    poll_until(
        lambda: (
            not [n for n in run_namespaces(kube_cluster, name) if n["status"]["phase"] == "Active"]
        ),
        timeout=60,
        what="the faulty run's namespace to go after keepOnFailure",
    )
    neighbour = perfrun(kube_cluster, kube_namespace, other)["status"]
    assert neighbour["phase"] == "Provisioning", neighbour
    kube_cluster.kubectl(
        "delete", "perfrun", name, other, "-n", kube_namespace, "--timeout=90s", timeout=100
    )


@pytest.mark.parametrize(
    ("label", "value", "owner", "build"),
    [
        ("perfrun.dev/component", "db", "StatefulSet/db", "postgres"),
        ("job-name", "migrations", "Job/migrations", "migrations"),
        ("job-name", "load", "Job/load", ""),
    ],
)
def test_pods_a_statefulset_or_job_cannot_create_fail_the_run_at_once(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
    label: str,
    value: str,
    owner: str,
    build: str,
) -> None:
    """A StatefulSet's or a Job's pods refused by the API server (here a cluster policy on
    pods; Pod Security, a quota or a webhook read the same): no status field of those kinds
    says so, their controllers' FailedCreate Events do. The run ends Failed/FailedCreate at
    once, naming the object and quoting the API server, long before readyTimeout (10m) or
    the Job's deadline."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {label: value}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    }
    expression = (
        f"!has(object.metadata.labels) || !('{label}' in object.metadata.labels)"
        f" || object.metadata.labels['{label}'] != '{value}'"
    )
    name = f"refused-{value}"
    with denied(
        kube_cluster,
        kube_namespace,
        f"deny-{value}-{kube_namespace[-6:]}",
        "pods",
        expression,
        f"no {value} pods here",
        pod,
    ):
        doc = minimal(name, keepOnFailure="10s")
        doc["spec"]["environment"]["readyTimeout"] = "10m"
        if build == "postgres":
            doc["spec"]["environment"]["components"] = [{"name": "db", "kind": "postgres"}]
        elif build == "migrations":
            doc["spec"]["environment"]["migrations"] = {"image": "nginx:1.27", "args": ["x"]}
        started = time.monotonic()
        kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
        obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
        took = time.monotonic() - started
    cond = stalled(obj)
    assert obj["status"]["phase"] == "Failed" and cond["reason"] == "FailedCreate", cond
    assert owner in cond["message"] and f"no {value} pods here" in cond["message"], cond
    # the reason says it was the Events (a deadline would read LoadJobFailed/MigrationsFailed or
    # EnvironmentNotReady); the time only has to stay clear of those deadlines on a busy machine
    assert took < 90, took
    print(f"{owner}: FailedCreate after {took:.1f}s: {cond['message']}")
    poll_until(
        lambda: (
            not [n for n in run_namespaces(kube_cluster, name) if n["status"]["phase"] == "Active"]
        ),
        timeout=60,
        what="the refused run's namespace to go after keepOnFailure",
    )
