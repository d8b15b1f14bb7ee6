"""Hostile and careless specs, the pure side (issue 14): TTL edits move both deadlines, a
refused object ends the run naming it, the admin's limits name field and limit, a verdict
with nothing judged fails closed, a baseline of 0 has an absolute floor, no response body
reaches a message. The same classes run against the real API server and operator in
tests/controller/test_hostile_cluster.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfrun.analysis.baseline import compare_one
from perfrun.analysis.model import Window
from perfrun.analysis.queries import PrometheusClient, QueryError
from perfrun.analysis.run import analyze
from perfrun.api import PerfRun
from perfrun.api.analysis import AnalysisSpec, Metric
from perfrun.api.perfrun import PerfRunSpec
from perfrun.api.policy import AdminPolicy, prometheus_url_allowed, registry_of, violations
from perfrun.api.status import TERMINAL_PHASES, PerfRunStatus, Phase
from perfrun.api.times import rfc3339
from perfrun.controller.apiserver import from_endpoints, from_slices
from perfrun.controller.machine import Action, decide, refused
from perfrun.controller.observed import Observed
from perfrun.controller.refusal import refusal_of
from perfrun.controller.status_update import next_status
from perfrun.kube.errors import KubeError

EXAMPLES = Path(__file__).parents[2] / "examples"
T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
NS = "perf-x-abcde"


def doc(name: str = "perfrun-minimal.yaml") -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / name).read_text()))


def spec_of(d: dict[str, Any]) -> PerfRunSpec:
    return PerfRun.model_validate(d).spec


def tick(spec: PerfRunSpec, status: PerfRunStatus, now: datetime, **kw: Any) -> tuple[Any, Any]:
    plan = decide(
        spec,
        status,
        kw.pop("observed", Observed(namespace_exists=True)),
        now,
        created_at=rfc3339(T0),
        namespace=NS,
        run_id="x-abcde",
        preflight=[],
        **kw,
    )
    return plan, next_status(status, plan, 1, now)


# -- 7: TTL edits -------------------------------------------------------------------------


def test_a_ttl_edit_moves_expires_at_and_a_shorter_one_expires_at_once() -> None:
    d = doc()
    _, status = tick(spec_of(d), PerfRunStatus(), T0)
    assert status.expires_at == rfc3339(T0 + timedelta(hours=2))
    d["spec"]["ttl"] = {"maxDuration": "3h"}
    _, status = tick(spec_of(d), status, T0 + timedelta(minutes=1))
    assert status.expires_at == rfc3339(T0 + timedelta(hours=3))
    assert status.phase not in TERMINAL_PHASES
    d["spec"]["ttl"] = {"maxDuration": "5m"}  # below "now" (10 min in)
    _, status = tick(spec_of(d), status, T0 + timedelta(minutes=10))
    assert status.phase == Phase.EXPIRED and "5m" in (status.message or "")


def test_a_keep_on_failure_edit_moves_delete_at_and_a_shorter_one_deletes_at_once() -> None:
    d = doc()
    failed = refused(spec_of(d), T0, "the API server refused X/y")
    status = next_status(PerfRunStatus(phase=Phase.PROVISIONING, namespace=NS), failed, 1, T0)
    assert status.delete_at == rfc3339(T0 + timedelta(hours=1))
    d["spec"]["ttl"] = {"keepOnFailure": "3h"}
    plan, status = tick(spec_of(d), status, T0 + timedelta(minutes=5))
    assert status.delete_at == rfc3339(T0 + timedelta(hours=3)) and plan.actions == []
    d["spec"]["ttl"] = {"keepOnFailure": "1m"}
    plan, status = tick(spec_of(d), status, T0 + timedelta(minutes=6))
    assert status.delete_at == rfc3339(T0 + timedelta(minutes=1))
    assert plan.actions == [Action.DELETE_NAMESPACE]


# -- 2: refusals ----------------------------------------------------------------------------


def _api_error(status: int, message: str) -> KubeError:
    """As kube.errors.translated() makes it from the client's ApiException."""
    body = json.dumps({"kind": "Status", "message": message})
    text = f"({status})\nReason: Unprocessable Entity\nHTTP response body: {body}\n"
    return KubeError(status, "Unprocessable Entity", text)


def test_a_refused_object_ends_the_run_naming_it_and_keeps_the_namespace_for_debugging() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}}
    found = refusal_of(manifest, _api_error(422, 'StatefulSet.apps "db" is invalid: x'))
    assert found is not None
    plan = refused(spec_of(doc()), T0, found.describe())
    assert plan.phase == Phase.FAILED and plan.reason == "ApplyRejected"
    assert "StatefulSet/db (422)" in plan.message and '"db" is invalid: x' in plan.message
    assert plan.updates["delete_at"] == rfc3339(T0 + timedelta(hours=1))
    assert [e.reason for e in plan.events] == ["ApplyRejected"]


@pytest.mark.parametrize("status", [409, 429, 500, 503, 504])
def test_passing_api_errors_are_retried_not_refusals(status: int) -> None:
    assert (
        refusal_of({"kind": "Secret", "metadata": {"name": "s"}}, _api_error(status, "x")) is None
    )


def test_the_first_tick_creates_the_namespace_and_writes_expires_at_with_it() -> None:
    plan, status = tick(spec_of(doc()), PerfRunStatus(), T0, observed=Observed())
    assert plan.actions == [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]
    assert status.expires_at == rfc3339(T0 + timedelta(hours=2)) and status.namespace
    plan, _ = tick(spec_of(doc()), status, T0 + timedelta(seconds=1), observed=Observed())
    assert plan.actions == [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]


# -- 4: admin policy ------------------------------------------------------------------------


def _with(d: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = d["spec"]
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[last] = value
    return d


LIMITS = AdminPolicy(
    egress_cidrs=("10.20.0.0/16",),
    prometheus_urls=("http://prometheus.monitoring.svc:9090",),
    max_pod_security="baseline",
    image_registries=("docker.io",),
    max_rps=50,
    max_parallelism=2,
    max_replicas=3,
    max_duration="2h",
    max_storage="10Gi",
)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("environment.egressAllow", [{"cidr": "10.30.0.0/16"}], "outside policy.egressCidrs"),
        ("environment.podSecurity", "privileged", "above policy.maxPodSecurity baseline"),
        ("environment.workloads.0.image", "ghcr.io/x/api:1", "not in policy.imageRegistries"),
        ("load.budget.maxRps", 60, "spec.load.budget.maxRps 60 is over policy.maxRps 50"),
        ("load.parallelism", 3, "spec.load.parallelism 3 is over policy.maxParallelism 2"),
        ("environment.workloads.0.replicas", 4, "replicas 4 is over policy.maxReplicas 3"),
        ("ttl", {"maxDuration": "3h"}, "spec.ttl.maxDuration 3h is over policy.maxDuration 2h"),
        (
            "analysis.prometheus",
            {"embedded": False, "url": "http://prometheus.other.svc:9090"},
            "nor under policy.prometheusUrls",
        ),
    ],
)
def test_each_admin_limit_names_the_field_and_the_limit(
    path: str, value: Any, expected: str
) -> None:
    d = _with(doc(), path, value)
    if path == "load.budget.maxRps":
        d["spec"]["load"]["budget"]["maxRps"] = value
    found = violations(spec_of(d), LIMITS, NS)
    assert any(expected in v for v in found), found
    assert violations(spec_of(doc()), LIMITS, NS) == []


def test_storage_ceiling_and_the_operator_ends_a_violating_run_policy_violation() -> None:
    d = doc("perfrun-full.yaml")
    d["spec"]["environment"]["components"][0]["storage"] = "20Gi"
    found = violations(spec_of(d), LIMITS, NS)
    assert any("storage 20Gi is over policy.maxStorage 10Gi" in v for v in found)
    plan, status = tick(spec_of(d), PerfRunStatus(), T0, violations=found)
    assert status.phase == Phase.INVALID and plan.reason == "PolicyViolation"
    assert plan.actions == [] and status.delete_at is None


def test_egress_is_none_by_default_and_metadata_never() -> None:
    d = _with(doc(), "environment.egressAllow", [{"cidr": "10.0.0.0/8"}])
    assert "allowed: none" in violations(spec_of(d), AdminPolicy(), NS)[0]
    with pytest.raises(ValueError, match="link-local"):
        spec_of(_with(doc(), "environment.egressAllow", [{"cidr": "169.254.169.254/32"}]))
    for everything in ("0.0.0.0/0", "::/0", "127.0.0.1/32", "fe80::1/128"):
        with pytest.raises(ValueError, match="loopback"):
            spec_of(_with(doc(), "environment.egressAllow", [{"cidr": everything}]))


def test_prometheus_only_in_the_run_namespace_or_on_the_admins_list() -> None:
    none = AdminPolicy()
    assert prometheus_url_allowed("http://prom:9090", none, NS)  # bare name: the run's own
    assert prometheus_url_allowed(f"http://prom.{NS}.svc:9090", none, NS)
    assert not prometheus_url_allowed("http://prom.kube-system.svc:9090", none, NS)
    assert not prometheus_url_allowed("http://169.254.169.254", none, NS)
    ok = AdminPolicy(prometheus_urls=("http://prom.example:9090",))
    assert prometheus_url_allowed("http://prom.example:9090/prefix", ok, NS)
    assert not prometheus_url_allowed("http://prom.example:90901", ok, NS)


def test_registry_of_follows_dockers_rule() -> None:
    assert registry_of("nginx:1.27") == "docker.io"
    assert registry_of("library/nginx") == "docker.io"
    assert registry_of("ghcr.io/perfrun/perfrun:1") == "ghcr.io"
    assert registry_of("localhost:5000/x") == "localhost:5000"


def test_api_server_endpoints_come_from_the_kubernetes_endpointslice() -> None:
    slices = [
        {
            "endpoints": [{"addresses": ["10.245.255.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": 16443, "protocol": "TCP"}],
        }
    ]
    assert from_slices(slices) == (("10.245.255.1/32",), (16443,))
    legacy = {"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 6443}]}]}
    assert from_endpoints(legacy) == (("fd00::1/128",), (6443,))


# -- 6: fail closed -------------------------------------------------------------------------


def test_no_gates_and_no_baseline_is_inconclusive_even_with_traffic() -> None:
    result = analyze(AnalysisSpec(), None, Window(start=0, end=60))
    assert result.verdict == "Inconclusive"
    assert "no gates and no baseline" in result.reason and "analysis.gates" in result.reason


def test_a_zero_baseline_compares_with_an_absolute_floor() -> None:
    one_in_a_lot = compare_one(Metric.ERROR_RATE, 0.0, 0.0001, 10.0)
    assert one_in_a_lot.outcome == "Passed" and "absolute floor" in one_in_a_lot.message
    many = compare_one(Metric.ERROR_RATE, 0.0, 0.05, 10.0)
    assert many.outcome == "Failed"
    tiny_latency = compare_one(Metric.LATENCY_P99, 0.2, 0.9, 5.0)
    assert tiny_latency.outcome == "Passed"


# -- 1: no response body in messages ------------------------------------------------------


def test_a_prometheus_error_body_never_reaches_the_message(tmp_path: Path) -> None:
    """A real HTTP server answering 500 with a secret in its body: the error says 500 only."""
    import http.server
    import threading

    secret = "AKIA-SECRET-IN-BODY"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(400 if "query" in self.path else 500)
            self.end_headers()
            self.wfile.write(secret.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = PrometheusClient(f"http://127.0.0.1:{server.server_port}", 2.0, retries=0)
        with pytest.raises(QueryError) as ping:
            client.ping()
        with pytest.raises(QueryError) as query:
            client.instant("up", 0)
    finally:
        server.shutdown()
    assert "500" in str(ping.value) and secret not in str(ping.value)
    assert "400" in str(query.value) and secret not in str(query.value)


def test_the_api_servers_status_message_survives_the_translation() -> None:
    from kubernetes.client.exceptions import ApiException

    from perfrun.kube.errors import translated

    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps({"kind": "Status", "message": 'Service "api" is invalid:\n x'}).encode()
    with pytest.raises(KubeError) as caught, translated():
        raise exc
    assert caught.value.detail == 'Service "api" is invalid: x'
    found = refusal_of({"kind": "Service", "metadata": {"name": "api"}}, caught.value)
    assert found is not None and found.message == 'Service "api" is invalid: x'


def test_pods_the_api_server_refuses_to_create_fail_the_run_at_once() -> None:
    """A Deployment's ReplicaFailure (e.g. Pod Security refusing its pods) is a pod failure
    with the API server's message: the run fails now, not at readyTimeout."""
    from perfrun.controller.observe import creation_failures

    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "status": {
            "conditions": [
                {"type": "Available", "status": "False"},
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": 'pods "api-1" is forbidden: violates PodSecurity "restricted"',
                },
            ]
        },
    }
    (failure,) = creation_failures(deployment)
    assert (failure.owner, failure.reason) == ("Deployment/api", "FailedCreate")
    assert "violates PodSecurity" in failure.message
    d = doc()
    _, status = tick(spec_of(d), PerfRunStatus(), T0)
    plan, status = tick(
        spec_of(d),
        status,
        T0 + timedelta(seconds=5),
        observed=Observed(namespace_exists=True, pod_failures=(failure,)),
    )
    assert status.phase == Phase.FAILED and plan.reason == "FailedCreate"
    assert "Deployment/api" in (status.message or "") and "PodSecurity" in (status.message or "")
    assert creation_failures({"kind": "Deployment", "metadata": {"name": "x"}}) == ()
    # a pod made before its new namespace's "default" ServiceAccount: its controller retries
    deployment["status"]["conditions"][1]["message"] = NO_DEFAULT_ACCOUNT
    assert creation_failures(deployment) == ()


# as the ReplicaSet controller words it, seen at N=200 (bench/operator_scale.py)
NO_DEFAULT_ACCOUNT = (
    'pods "api-7785459b57-" is forbidden: error looking up service account '
    'perf-run-012-4sdaq/default: serviceaccount "default" not found'
)


def test_failed_create_events_of_waiting_statefulsets_and_jobs_are_refusals() -> None:
    """The StatefulSet and Job controllers say so only in Events: a refusal of an object that
    still waits is a pod failure naming the object; a passing trouble (a webhook that did
    not answer), an event of another object (or an older one of the same name) is not."""
    from perfrun.controller.observe import refused_creations
    from perfrun.kube.events import ObjectEvent

    def event(uid: str, message: str, at: str) -> ObjectEvent:
        return ObjectEvent("StatefulSet", "db", uid, "FailedCreate", message, at)

    forbidden = 'create Pod db-0 in StatefulSet db failed error: pods "db-0" is forbidden: x'
    quota = 'Error creating: pods "load-0-x" is forbidden: exceeded quota: perf, requested: cpu=9'
    outage = 'Internal error occurred: failed calling webhook "w.example": connection refused'
    events = [
        event("u-old", forbidden, "2026-01-01T00:00:00Z"),
        event("u-db", outage, "2026-01-01T00:00:01Z"),
        event("u-db", forbidden, "2026-01-01T00:00:02Z"),
        event("u-load", outage, "2026-01-01T00:00:03Z"),
    ]
    waiting = {"u-db": "StatefulSet/db", "u-load": "Job/load"}
    (failure,) = refused_creations(events, waiting)
    assert (failure.owner, failure.reason, failure.message) == (
        "StatefulSet/db",
        "FailedCreate",
        forbidden,
    )
    quota_event = ObjectEvent("Job", "load", "u-load", "FailedCreate", quota, "t")
    assert [f.owner for f in refused_creations([*events, quota_event], waiting)] == [
        "Job/load",
        "StatefulSet/db",
    ]
    assert refused_creations(events, {}) == ()
    no_account = ObjectEvent("Job", "load", "u-load", "FailedCreate", NO_DEFAULT_ACCOUNT, "t2")
    assert refused_creations([no_account], waiting) == ()  # passes: the controller retries
    other = NO_DEFAULT_ACCOUNT.replace("/default", "/own").replace('"default"', '"own"')
    (failure,) = refused_creations([ObjectEvent("Job", "load", "u-load", "x", other, "t")], waiting)
    assert failure.message == other  # an account of the run's own that is missing is not


def test_a_list_map_key_twice_is_a_refusal_though_the_api_server_answers_500() -> None:
    """Server-side apply answers 500 "failed to create typed patch object" for an object it
    cannot build (an env name twice): no retry changes it, so it ends the run (it was retried
    until the TTL)."""
    message = (
        "failed to create typed patch object (perf-x/api; apps/v1, Kind=Deployment): "
        '.spec.template.spec.containers[name="api"].env: duplicate entries for key [name="A"]'
    )
    found = refusal_of(
        {"kind": "Deployment", "metadata": {"name": "api"}}, _api_error(500, message)
    )
    assert found is not None and "duplicate entries" in found.describe()
    outage = _api_error(500, "etcdserver: request timed out")
    assert refusal_of({"kind": "Deployment", "metadata": {"name": "api"}}, outage) is None


def test_a_refused_secret_is_named_but_its_refusal_not_quoted() -> None:
    exc = _api_error(422, 'Secret "db" is invalid: data[password]: Invalid value: "hunter2"')
    found = refusal_of({"kind": "Secret", "metadata": {"name": "db"}}, exc)
    assert found is not None and "Secret/db" in found.describe()
    assert "hunter2" not in found.describe()


def test_a_spec_the_preflight_checks_cannot_handle_is_a_problem_not_a_stalled_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the schema lets through, an exception in the checks must become a reason
    the run ends Invalid, never an exception that fails every tick (a port urllib could not
    read did that once, found by the mutation property)."""
    from perfrun.controller import reconcile as reconcile_module
    from perfrun.controller.settings import OperatorSettings

    def broken(spec: object) -> list[str]:
        raise ValueError("Port could not be cast to integer value as '80http:'")

    monkeypatch.setattr(reconcile_module, "preflight", broken)
    body = doc()
    body["metadata"].update(namespace="team", uid="0000-1111")
    run = PerfRun.model_validate(body)
    ctx = reconcile_module.context_for(body, OperatorSettings.from_env())
    problems = reconcile_module._preflight(run, ctx)
    assert problems[0] == (
        "cannot check the run: ValueError: Port could not be cast to integer value as '80http:'"
    )
