"""The ANALYZE step (``analyze_run``) against the real API server and a real Prometheus.

What is real here: the kube-apiserver (PerfRun, PerfBaseline, ConfigMaps, the service proxy),
the load summaries (the load engine's Recorder and summary code, written to the run's
ConfigMap by ``perfrun.kube.summaries.write_key``), the load engine's /metrics
(``LoadMetrics``) scraped by a real Prometheus, and the operator's way to that Prometheus
from outside the cluster: the API server's service proxy with the kubeconfig's credentials.

What stands in for the run's environment (kwok runs no containers): the run's ``prometheus``
Service has no selector and its Endpoints point at the test Prometheus, which listens on this
machine's non-loopback address (the API server refuses loopback endpoints). The API server
proxies only to an endpoint whose ``targetRef`` is a Pod with that IP, so an unschedulable
stand-in Pod carries it in ``status.podIPs``: what the kubelet would report for the real
Prometheus pod.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server
from tests.support.cluster import REPO_ROOT, KubeCluster
from tests.support.prometheus import PrometheusServer
from tests.support.waiting import free_port, poll_until

from perfrun.analysis.model import AnalysisResult
from perfrun.analysis.queries import PrometheusClient, QueryError
from perfrun.analysis.summaries import merge, parse_summary
from perfrun.api.baseline import BaselineValues
from perfrun.api.perfrun import PerfRun
from perfrun.api.status import PerfRunStatus, TimeWindow
from perfrun.api.times import rfc3339
from perfrun.controller.analyze import (
    VIA_API_SERVER,
    analyze_run,
    prometheus_service,
    proxied,
    read_spec_baseline,
)
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.proxy import api_server_route
from perfrun.kube.reports import report_name
from perfrun.load.metrics import LoadMetrics
from perfrun.load.schedule import Step
from perfrun.load.stats import Recorder
from perfrun.load.summary import build, dumps, steps_json
from perfrun.render import prometheus as render_prometheus
from perfrun.render.context import LABEL_PERFRUN, LABEL_RUN, RunContext

pytestmark = [pytest.mark.cluster, pytest.mark.services]

SCENARIOS = ["dashboard", "burst-write"]
PODS = 2


@dataclass(frozen=True)
class LoadData:
    """One real load window, in Prometheus and as the load pods' summaries."""

    job: str
    start: float
    end: float
    summaries: list[str]  # JSON text per pod, as the load pods write it
    p99_ms: float  # of the merged summaries: the number the analysis reports
    error_rate: float


@pytest.fixture(scope="module")
def load_data(host_prometheus: PrometheusServer) -> Iterator[LoadData]:
    """Latencies uniform over 0.5..500 ms, 2% answered 500, split over two load pods; each
    request is recorded by the engine's Recorder (-> summary) and its LoadMetrics (-> the
    /metrics Prometheus scrapes), as a load pod does."""
    job = f"perfrun-load-{uuid.uuid4().hex[:6]}"
    metrics = LoadMetrics(SCENARIOS)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    host_prometheus.add_target(port, job)
    recorders = [Recorder(SCENARIOS, frozenset({429, 503})) for _ in range(PODS)]
    started = datetime.now(UTC)
    start = started.timestamp()
    i = 0
    while time.time() < start + 5.0:
        for _ in range(200):
            i += 1
            latency, status, scenario = (i % 1000 + 1) * 0.0005, 500 if i % 50 == 0 else 200, i % 2
            rec = recorders[i % PODS]
            rec.attempt(scenario, status, None, retry=False)
            rec.complete(scenario, latency, ok=status < 500)
            metrics.attempt(scenario, status)
            metrics.completed(scenario, status, latency)
        time.sleep(0.05)
    end = time.time()
    ended = datetime.now(UTC)
    texts = [
        dumps(
            build(
                recorder=rec,
                pod={"index": k, "count": PODS, "maxRps": 4000, "maxInFlight": 64},
                model="open",
                outcome="completed",
                started_at=started.isoformat(),
                ended_at=ended.isoformat(),
                duration_s=end - start,
                steps=steps_json((Step(0, 2000, 0.0, end - start),), [rec.totals()[0]]),
                decisions=[],
                creations={},
                target={"url": "http://api:8080", "reachable": True},
            )
        )
        for k, rec in enumerate(recorders)
    ]

    def scraped_after_end() -> bool:
        res = host_prometheus.query(f'timestamp(up{{job="{job}"}})')
        return bool(res) and float(res[0]["value"][1]) >= end + 1

    poll_until(scraped_after_end, timeout=30, interval=0.25, what="a scrape after the load")
    merged = merge([parse_summary(json.loads(t)) for t in texts])
    assert merged is not None and merged.error_rate is not None
    p99 = merged.percentile_ms(99)
    assert p99 is not None and 480 < p99 < 510, p99
    yield LoadData(job, start, end, texts, p99, merged.error_rate)
    server.shutdown()
    server.server_close()


@dataclass
class Run:
    """One PerfRun ready for its ANALYZE step."""

    perfrun: PerfRun
    ctx: RunContext
    status: PerfRunStatus
    kube: Kube

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def namespace(self) -> str:
        return self.ctx.perfrun_namespace

    def analyze(self) -> dict[str, Any]:
        return analyze_run(self.perfrun, self.ctx, self.kube, self.status, datetime.now(UTC))


def _perfrun_doc(
    name: str, job: str, baseline: dict[str, Any] | None, *, gates: bool = True
) -> dict[str, Any]:
    analysis: dict[str, Any] = {
        "prometheus": {
            "embedded": True,
            "retries": 1,
            "queryTimeout": "5s",
            "series": {"loadMatchers": f'job="{job}"'},
        },
        "step": "1s",
        "rateWindow": "3s",
        "gates": [
            {"name": "p99", "metric": "latencyP99", "max": "600ms"},
            {"name": "errors", "metric": "errorRate", "max": "0.05"},
            # judged on Prometheus' range points: proves the proxy path answered
            {
                "name": "rate",
                "promql": f'sum(rate(perfrun_requests_total{{job="{job}"}}[3s]))',
                "min": "100",
            },
        ],
    }
    if baseline is not None:
        analysis["baseline"] = baseline
    if not gates:
        analysis["gates"] = []
    return {
        "apiVersion": "perfrun.dev/v1alpha1",
        "kind": "PerfRun",
        "metadata": {"name": name, "labels": {"release": "1.8.0"}},
        "spec": {
            "environment": {
                "workloads": [{"name": "api", "image": "nginx:1.27", "port": 80}],
            },
            "load": {
                "target": "http://api:80",
                "scenarios": [{"name": "home", "weight": 1, "path": "/"}],
                "budget": {"maxRps": 20, "maxInFlight": 8, "maxDuration": "1m"},
                "ramp": {"steps": [{"rate": 10, "hold": "20s"}]},
            },
            "analysis": analysis,
        },
    }


def _prometheus_behind_the_run_service(
    cluster: KubeCluster, run: PerfRun, ctx: RunContext, prometheus: PrometheusServer
) -> None:
    """The run's rendered ``prometheus`` Service without its selector, Endpoints at the test
    Prometheus under the Service's port name, and the stand-in Pod they refer to."""
    ns = ctx.namespace
    [service] = [m for m in render_prometheus.prometheus(run, ctx) if m["kind"] == "Service"]
    del service["spec"]["selector"]
    [port] = service["spec"]["ports"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "prometheus-stand-in", "namespace": ns, "labels": ctx.labels()},
        "spec": {
            "nodeSelector": {"perfrun.dev/no-such-node": "true"},  # never scheduled
            "containers": [{"name": "prometheus", "image": "prom/prometheus"}],
        },
    }
    ip = prometheus.host
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": service["metadata"]["name"], "namespace": ns},
        "subsets": [
            {
                "addresses": [
                    {
                        "ip": ip,
                        "targetRef": {
                            "kind": "Pod",
                            "name": "prometheus-stand-in",
                            "namespace": ns,
                        },
                    }
                ],
                "ports": [{"name": port["name"], "port": prometheus.port, "protocol": "TCP"}],
            }
        ],
    }
    cluster.apply(json.dumps(service))
    cluster.apply(json.dumps(pod))
    cluster.kubectl(
        "patch",
        "pod",
        "prometheus-stand-in",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}),
    )
    cluster.apply(json.dumps(endpoints))
    ready = f"/api/v1/namespaces/{ns}/services/{service['metadata']['name']}:{port['port']}"
    poll_until(
        lambda: (
            cluster.kubectl("get", "--raw", f"{ready}/proxy/-/ready", check=False).returncode == 0
        ),
        timeout=30,
        what="the API server proxying to the test Prometheus",
    )


def _baseline(cluster: KubeCluster, namespace: str, name: str, values: dict[str, float]) -> None:
    doc = {
        "apiVersion": "perfrun.dev/v1alpha1",
        "kind": "PerfBaseline",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"values": values, "source": {"run": "an-earlier-run"}},
    }
    cluster.apply(json.dumps(doc))


_WRITE_SUMMARIES = """
import json, sys
from perfrun.kube.summaries import ConfigMapRef, summary_key, write_key
namespace, texts = json.load(sys.stdin)
for index, text in enumerate(texts):
    write_key(ConfigMapRef(namespace, "load-summary"), summary_key(index), text,
                  {"perfrun.dev/part": "load-summary"})
"""


def _write_summaries(cluster: KubeCluster, namespace: str, texts: list[str]) -> None:
    """Each load pod's summary into the run's ConfigMap by the load pods' own code, in a
    process of its own as in a pod (it reads $KUBECONFIG when it starts)."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRITE_SUMMARIES],
        input=json.dumps([namespace, texts]),
        env={**cluster.env, "PYTHONPATH": str(REPO_ROOT / "operator")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _floor_rfc3339(t: float) -> str:
    return rfc3339(datetime.fromtimestamp(math.floor(t), UTC))


def _ceil_rfc3339(t: float) -> str:
    return rfc3339(datetime.fromtimestamp(math.ceil(t), UTC))


@pytest.fixture
def make_run(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_crds: None,
    host_prometheus: PrometheusServer,
    load_data: LoadData,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Run]]:
    """A factory: a PerfRun (with this baseline spec) in the test namespace, its run
    namespace with the Prometheus Service and the load pods' summaries, its load window."""
    # The operator runs outside the cluster here, as on a laptop with a kubeconfig.
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kube = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    run_namespaces: list[str] = []

    def make(baseline: dict[str, Any] | None, gates: bool = True) -> Run:
        name = f"checkout-{uuid.uuid4().hex[:6]}"
        doc = _perfrun_doc(name, load_data.job, baseline, gates=gates)
        kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)
        body = kube_cluster.get_json("perfrun", name, "-n", kube_namespace)
        perfrun = PerfRun.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        )
        meta = body["metadata"]
        ctx = RunContext(
            name=name, perfrun_namespace=kube_namespace, uid=meta["uid"], image="perfrun:test"
        )
        kube_cluster.kubectl("create", "namespace", ctx.namespace)
        run_namespaces.append(ctx.namespace)
        _prometheus_behind_the_run_service(kube_cluster, perfrun, ctx, host_prometheus)
        _write_summaries(kube_cluster, ctx.namespace, load_data.summaries)
        window = TimeWindow(start=_floor_rfc3339(load_data.start), end=_ceil_rfc3339(load_data.end))
        return Run(perfrun, ctx, PerfRunStatus(load_window=window), kube)

    yield make
    for ns in run_namespaces:
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def _status_after(run: Run, updates: dict[str, Any]) -> PerfRunStatus:
    """What the status becomes with these updates (as the controller folds them in)."""
    return PerfRunStatus.model_validate({**run.status.model_dump(), **updates})


def _report(cluster: KubeCluster, run: Run) -> tuple[dict[str, Any], AnalysisResult]:
    cm = cluster.get_json("configmap", report_name(run.name), "-n", run.namespace)
    return cm, AnalysisResult.model_validate_json(cm["data"]["report.json"])


def test_passed_within_tolerance_promotes_and_stores_the_report(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
    load_data: LoadData,
) -> None:
    # this run's p99 is 3% above the baseline's: within latencyP99's 5%
    _baseline(
        kube_cluster,
        kube_namespace,
        "checkout-main",
        {"p99Ms": round(load_data.p99_ms / 1.03, 3), "errorRate": load_data.error_rate},
    )
    run = make_run(
        {
            "name": "checkout-main",
            "maxRegression": "10%",
            "tolerances": {"latencyP99": "5%"},
            "metrics": ["latencyP99", "errorRate"],
            "promoteAs": "checkout-next",
        }
    )
    updates = run.analyze()
    status = _status_after(run, updates)

    assert status.verdict == "Passed", status.message
    assert status.results is not None
    assert status.results.p99_ms == load_data.p99_ms
    assert status.results.sources["p99Ms"] == "loadSummary"
    regressions = {r.metric: r for r in status.results.regressions}
    assert regressions["latencyP99"].outcome == "Passed"
    assert regressions["latencyP99"].change_percent == pytest.approx(3.0, abs=0.01)
    assert regressions["errorRate"].outcome == "Passed"
    gates = {g.name: g for g in status.results.gates}
    assert {n: g.outcome for n, g in gates.items()} == {
        "p99": "Passed",
        "errors": "Passed",
        "rate": "Passed",
    }
    assert gates["rate"].source == "prometheus"  # range points came through the proxy
    assert status.message is not None and "promoted as PerfBaseline checkout-next" in (
        status.message
    )

    # promoteAs: a new PerfBaseline with this run's numbers
    promoted = kube_cluster.get_json("perfbaseline", "checkout-next", "-n", kube_namespace)
    assert promoted["spec"]["values"]["p99Ms"] == load_data.p99_ms
    assert promoted["spec"]["source"]["run"] == run.name
    assert promoted["spec"]["source"]["verdict"] == "Passed"
    assert promoted["spec"]["source"]["release"] == "1.8.0"
    events = kube_cluster.get_json(
        "events", "-n", kube_namespace, f"--field-selector=involvedObject.name={run.name}"
    )
    assert "BaselinePromoted" in [e["reason"] for e in events["items"]]

    # the report beside the PerfRun: labelled with the name and the run id, not owned by it
    # (it outlives the PerfRun until its keep-until), the HTML page stored with it
    assert status.report == report_name(run.name)
    cm, report = _report(kube_cluster, run)
    labels = cm["metadata"]["labels"]
    assert labels[LABEL_PERFRUN] == run.name
    assert labels[LABEL_RUN] == run.ctx.run_id
    assert run.ctx.run_id != run.name
    assert "ownerReferences" not in cm["metadata"]
    notes = cm["metadata"]["annotations"]
    assert notes["perfrun.dev/perfrun-uid"] == run.ctx.uid
    kept = datetime.fromisoformat(notes["perfrun.dev/keep-until"].replace("Z", "+00:00"))
    assert kept - datetime.now(UTC) > timedelta(days=29)
    assert "report.md" in cm["data"] and "<svg" in cm["data"]["report.html"]
    assert report.verdict == "Passed"
    assert report.query_errors == 0, report.errors
    assert report.prometheus is not None
    assert report.prometheus.endswith(
        f"/api/v1/namespaces/{run.ctx.namespace}/services/prometheus:9090/proxy"
    )
    plotted = {s.metric: s.points for s in report.series if not s.labels}
    assert plotted["latencyP99"] and plotted["throughput"], "series came through the proxy"
    assert report.steps and report.steps[0].p99_ms is not None


def test_p99_regression_beyond_tolerance_fails_naming_metric_and_numbers(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
    load_data: LoadData,
) -> None:
    baseline_p99 = round(load_data.p99_ms / 1.25, 3)  # this run is 25% slower
    _baseline(
        kube_cluster,
        kube_namespace,
        "checkout-main",
        {"p99Ms": baseline_p99, "errorRate": load_data.error_rate},
    )
    run = make_run(
        {
            "name": "checkout-main",
            "tolerances": {"latencyP99": "5%"},
            "metrics": ["latencyP99", "errorRate"],
            "promoteAs": "checkout-next",
        }
    )
    status = _status_after(run, run.analyze())

    assert status.verdict == "Failed"
    assert status.results is not None
    [p99] = [r for r in status.results.regressions if r.metric == "latencyP99"]
    assert p99.outcome == "Failed" and p99.baseline == baseline_p99
    assert p99.change_percent == pytest.approx(25.0, abs=0.01)
    message = status.message or ""
    assert "latencyP99" in message, message
    assert f"{load_data.p99_ms:g}ms" in message and f"{baseline_p99:g}ms" in message, message
    assert "tolerance 5%" in message, message
    assert all(g.outcome == "Passed" for g in status.results.gates)  # the baseline failed it
    # a failed run is not promoted
    assert not kube_cluster.exists("perfbaseline", "checkout-next", "-n", kube_namespace)
    _, report = _report(kube_cluster, run)
    assert report.verdict == "Failed"


def test_a_first_run_with_promote_as_only_passes_and_becomes_the_baseline(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
    load_data: LoadData,
) -> None:
    """baseline: {promoteAs} without a name is the first run of a series: nothing compared,
    a pass promoted -- and the API server admits it."""
    run = make_run({"promoteAs": "first-main"})
    status = _status_after(run, run.analyze())

    assert status.verdict == "Passed", status.message
    assert status.results is not None and status.results.regressions == []
    assert "promoted as PerfBaseline first-main" in (status.message or "")
    promoted = kube_cluster.get_json("perfbaseline", "first-main", "-n", kube_namespace)
    assert promoted["spec"]["values"]["p99Ms"] == load_data.p99_ms


def test_missing_baseline_is_inconclusive_and_names_it(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
) -> None:
    run = make_run({"name": "no-such-baseline", "promoteAs": "no-such-baseline"})
    status = _status_after(run, run.analyze())

    assert status.verdict == "Inconclusive"
    message = status.message or ""
    assert f"PerfBaseline no-such-baseline (namespace {kube_namespace}) not found" in message
    assert "perfrun baseline promote" in message  # how to make the first one
    assert status.results is not None
    assert {r.outcome for r in status.results.regressions} == {"Inconclusive"}
    assert all(g.outcome == "Passed" for g in status.results.gates)
    # an Inconclusive run is not promoted, and the report is there all the same
    assert not kube_cluster.exists("perfbaseline", "no-such-baseline", "-n", kube_namespace)
    assert kube_cluster.exists("configmap", report_name(run.name), "-n", kube_namespace)


def test_promote_as_updates_the_baseline_it_was_compared_with(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
    load_data: LoadData,
) -> None:
    old_p99 = round(load_data.p99_ms / 1.02, 3)
    _baseline(kube_cluster, kube_namespace, "rolling", {"p99Ms": old_p99, "errorRate": 0.5})
    run = make_run({"name": "rolling", "metrics": ["latencyP99"], "promoteAs": "rolling"})
    status = _status_after(run, run.analyze())

    assert status.verdict == "Passed", status.message
    stored = kube_cluster.get_json("perfbaseline", "rolling", "-n", kube_namespace)
    assert stored["spec"]["values"]["p99Ms"] == load_data.p99_ms != old_p99
    assert stored["spec"]["values"]["errorRate"] == load_data.error_rate
    assert stored["spec"]["source"]["run"] == run.name


def test_proxy_with_a_bearer_token_needs_services_proxy_rights(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    load_data: LoadData,
) -> None:
    """The token path of the kubeconfig credentials: a ServiceAccount token reaches the
    Prometheus once it may get services/proxy in the run namespace, and not before."""
    from kubernetes.client import Configuration

    run = make_run(None)
    ns = run.ctx.namespace
    kube_cluster.kubectl("create", "serviceaccount", "analyst", "-n", ns)
    token = kube_cluster.kubectl("create", "token", "analyst", "-n", ns).stdout.strip()
    admin = run.kube.api_client.configuration
    cfg = Configuration(host=admin.host, api_key={"authorization": f"Bearer {token}"})
    cfg.ssl_ca_cert = admin.ssl_ca_cert
    service = prometheus_service(run.perfrun, run.ctx)
    assert service is not None
    conn = proxied(api_server_route(cfg, service.proxy_path))
    assert conn.client_cert is None and conn.headers["Authorization"].startswith("Bearer ")
    assert conn.via == VIA_API_SERVER
    query = f'sum(perfrun_requests_total{{job="{load_data.job}"}})'

    with pytest.raises(QueryError, match="403"):
        PrometheusClient(conn, timeout_s=5, retries=0).ping()

    kube_cluster.kubectl(
        "create", "role", "proxy", "-n", ns, "--verb=get", "--resource=services/proxy"
    )
    kube_cluster.kubectl(
        "create",
        "rolebinding",
        "proxy",
        "-n",
        ns,
        "--role=proxy",
        f"--serviceaccount={ns}:analyst",
    )

    def answers() -> float | None:
        try:
            client = PrometheusClient(conn, timeout_s=5, retries=0)
            client.ping()
            samples = client.instant(query, load_data.end)
        except QueryError:
            return None
        return samples[0].value if samples else None

    total = poll_until(answers, timeout=30, what="Prometheus through the proxy with a token")
    assert total > 1000


def test_a_baseline_the_operator_may_not_read_is_inconclusive_not_a_crash(
    make_run: Callable[[dict[str, Any] | None], Run],
    kube_cluster: KubeCluster,
    kube_namespace: str,
) -> None:
    """Forbidden does not go away by retrying: the comparison says why instead."""
    from kubernetes.client import ApiClient, Configuration

    _baseline(kube_cluster, kube_namespace, "checkout-main", {"p99Ms": 100.0})
    run = make_run({"name": "checkout-main"})
    kube_cluster.kubectl("create", "serviceaccount", "no-baselines", "-n", kube_namespace)
    token = kube_cluster.kubectl(
        "create", "token", "no-baselines", "-n", kube_namespace
    ).stdout.strip()
    admin = run.kube.api_client.configuration
    cfg = Configuration(host=admin.host, api_key={"authorization": f"Bearer {token}"})
    cfg.ssl_ca_cert = admin.ssl_ca_cert
    values, why = read_spec_baseline(Kube(ApiClient(cfg)), run.perfrun)
    assert values is None
    assert why == (
        f"PerfBaseline checkout-main (namespace {kube_namespace}) unreadable: 403 Forbidden"
    )
    assert read_spec_baseline(run.kube, run.perfrun)[0] == BaselineValues(p99_ms=100.0)


def test_no_gates_and_no_baseline_is_inconclusive_even_with_good_traffic(
    make_run: Callable[..., Run],
) -> None:
    """Issue 14: nothing judged fails closed. The same healthy traffic that passes the gates
    elsewhere in this file, with no gates and no baseline, is Inconclusive (Ready=False), and
    the message says what to add."""
    run = make_run(None, gates=False)
    status = _status_after(run, run.analyze())
    assert status.verdict == "Inconclusive", status.message
    assert status.results is not None and status.results.throughput_rps
    assert "no gates and no baseline" in (status.message or "")
    assert "analysis.gates or analysis.baseline" in (status.message or "")
