"""Analysis against a real Prometheus scraping a real exporter and a real RabbitMQ."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.prometheus import Exporter, PrometheusServer, RabbitMQ, wait_for

from perfrun.analysis.cli import EXIT
from perfrun.analysis.model import Window
from perfrun.analysis.report_html import render as render_html
from perfrun.analysis.run import analyze
from perfrun.api.analysis import AnalysisSpec
from perfrun.api.baseline import BaselineValues
from perfrun.api.status import Verdict
from perfrun.cli import main

pytestmark = pytest.mark.services

# Uniform latencies 0.5ms..500ms: p50 = 250ms, p99 = 495ms; 2% of requests fail.
TRUE_P50_MS, TRUE_P99_MS = 250.0, 495.0
BUCKETS_MS = (5, 10, 25, 50, 100, 200, 300, 400, 500, 750, 1000, 2500)


def _bucket_width(value_ms: float) -> float:
    lower = 0.0
    for upper in BUCKETS_MS:
        if value_ms <= upper:
            return upper - lower
        lower = upper
    raise AssertionError(value_ms)


def _spec(job: str, **extra: object) -> AnalysisSpec:
    doc: dict[str, object] = {
        "prometheus": {
            "embedded": False,
            "url": "http://127.0.0.1:1",
            "retries": 1,
            "queryTimeout": "5s",
            "series": {"loadMatchers": f'job="{job}"'},
        },
        "step": "1s",
        "rateWindow": "3s",
    }
    doc.update(extra)
    return AnalysisSpec.model_validate(doc)


def _scraped_after(prometheus: PrometheusServer, job: str, t: float) -> bool:
    res = prometheus.query(f'timestamp(up{{job="{job}"}})')
    return bool(res) and float(res[0]["value"][1]) >= t + 1


def _drive(exp: Exporter, seconds: float) -> tuple[float, float]:
    """Record the known distribution for ``seconds``; returns the load window."""
    start = time.time()
    stop = start + seconds
    i = 0
    while time.time() < stop:
        for _ in range(200):
            i += 1
            exp.record((i % 1000 + 1) * 0.0005, "5xx" if i % 50 == 0 else "2xx")
        time.sleep(0.05)
    return start, time.time()


def test_percentiles_gates_baseline_and_report(
    prometheus: PrometheusServer,
    metrics_exporter: Callable[[str], Exporter],
    tmp_path: Path,
) -> None:
    job = f"load-{uuid.uuid4().hex[:6]}"
    exp = metrics_exporter(job)
    start, end = _drive(exp, 6.0)
    wait_for(lambda: _scraped_after(prometheus, job, end), "a scrape after the load")
    spec = _spec(
        job,
        gates=[
            {"name": "p99-tight", "metric": "latencyP99", "max": "300ms"},
            {"name": "p99-loose", "metric": "latencyP99", "max": "600ms"},
            {"name": "errors", "metric": "errorRate", "max": "5%"},
            {"name": "throughput", "metric": "throughput", "min": 100, "consecutiveWindows": 2},
        ],
        baseline={"name": "main", "maxRegression": "10%", "metrics": ["latencyP99"]},
    )
    # This run's p99 is ~20% above a baseline of truth/1.2 and ~5% above truth/1.05.
    regressed = analyze(
        spec,
        prometheus.url,
        Window(start=start, end=end),
        baseline=BaselineValues(p99_ms=TRUE_P99_MS / 1.2),
    )
    r = regressed.results
    assert r.p99_ms is not None and r.p50_ms is not None
    assert abs(r.p99_ms - TRUE_P99_MS) <= _bucket_width(TRUE_P99_MS), r.p99_ms
    assert abs(r.p50_ms - TRUE_P50_MS) <= _bucket_width(TRUE_P50_MS), r.p50_ms
    assert r.error_rate is not None and abs(r.error_rate - 0.02) < 0.005
    assert r.sources["p99Ms"] == "prometheus"
    outcomes = {g.name: g.outcome for g in r.gates}
    assert outcomes == {
        "p99-tight": "Failed",
        "p99-loose": "Passed",
        "errors": "Passed",
        "throughput": "Passed",
    }, r.gates
    assert regressed.verdict == "Failed"
    [reg] = r.regressions
    assert reg.outcome == "Failed" and reg.change_percent is not None
    assert 10 < reg.change_percent < 35

    spec_ok = _spec(
        job,
        gates=[{"name": "p99-loose", "metric": "latencyP99", "max": "600ms"}],
        baseline={"name": "main", "maxRegression": "10%", "metrics": ["latencyP99"]},
    )
    baseline = BaselineValues(p99_ms=r.p99_ms / 1.05)
    ok = analyze(spec_ok, prometheus.url, Window(start=start, end=end), baseline=baseline)
    assert ok.verdict == "Passed", ok.reason
    assert ok.results.regressions[0].change_percent == pytest.approx(5.0, abs=0.01)

    # The report renders from the result (a screenshot of it is taken in the final check).
    page = render_html(regressed, "test-run")
    assert "<svg" in page and "Failed" in page and "<script" not in page
    (tmp_path / "report.html").write_text(page)


def test_drain_gate_passes_when_drained_in_time_and_fails_when_not(
    prometheus: PrometheusServer, rabbitmq: RabbitMQ
) -> None:
    drains, stuck = f"orders-{uuid.uuid4().hex[:6]}", f"stuck-{uuid.uuid4().hex[:6]}"
    for q in (drains, stuck):
        rabbitmq.declare(q)
    start = time.time()
    rabbitmq.publish(drains, 25)
    rabbitmq.publish(stuck, 5)

    def seen(q: str, n: int) -> bool:
        res = prometheus.query(f'rabbitmq_queue_messages{{queue="{q}"}}')
        return bool(res) and float(res[0]["value"][1]) == n

    wait_for(lambda: seen(drains, 25) and seen(stuck, 5), "queue depths in Prometheus")
    # Range queries have whole-second ends: let the load window hold a few scrapes of the peak.
    wait_for(lambda: time.time() > start + 5, "a load window of several scrapes")
    end = time.time()  # the load stops; the workers catch up on one queue only
    time.sleep(1.5)
    rabbitmq.purge(drains)
    within = 6.0
    wait_for(lambda: time.time() > end + within + 2, "the drain windows to pass", timeout=20)
    spec = _spec(
        "unused",
        gates=[
            {
                "name": "orders-drain",
                "metric": "queueDepth",
                "queue": drains,
                "drainTo": 0,
                "within": "6s",
            },
            {
                "name": "stuck-drain",
                "metric": "queueDepth",
                "queue": stuck,
                "drainTo": 0,
                "within": "6s",
            },
            {"name": "orders-max", "metric": "queueDepth", "queue": drains, "max": 100},
        ],
    )
    result = analyze(spec, prometheus.url, Window(start=start, end=end))
    by = {g.name: g for g in result.results.gates}
    assert by["orders-drain"].outcome == "Passed", by["orders-drain"]
    assert by["stuck-drain"].outcome == "Failed", by["stuck-drain"]
    assert "not drained" in by["stuck-drain"].message
    assert by["orders-max"].outcome == "Passed" and by["orders-max"].value == 25
    assert result.results.max_queue_depth is not None and result.results.max_queue_depth >= 30
    assert result.verdict == "Failed"
    queues = {s.labels.get("queue") for s in result.series if s.metric == "queueDepth"}
    assert {drains, stuck} <= queues


def test_prometheus_stopped_is_inconclusive_with_reason(
    start_prometheus: Callable[[], PrometheusServer],
) -> None:
    server = start_prometheus()
    url = server.url
    server.stop()
    spec = _spec("x", gates=[{"name": "p99", "metric": "latencyP99", "max": "300ms"}])
    began = time.monotonic()
    result = analyze(spec, url, Window(start=time.time() - 60, end=time.time()))
    assert time.monotonic() - began < 30
    assert result.verdict == "Inconclusive"
    assert "unreachable" in result.reason, result.reason
    [gate] = result.results.gates
    assert gate.outcome == "Inconclusive" and "query errors" in gate.message
    assert result.query_errors >= 1


def test_empty_query_is_inconclusive(prometheus: PrometheusServer) -> None:
    spec = _spec(
        "nobody",
        gates=[
            {"name": "custom", "promql": "sum(perfrun_metric_that_does_not_exist)", "max": "5"},
            {"name": "p99", "metric": "latencyP99", "max": "300ms"},
        ],
    )
    result = analyze(spec, prometheus.url, Window(start=time.time() - 30, end=time.time()))
    assert [g.outcome for g in result.results.gates] == ["Inconclusive", "Inconclusive"]
    assert "empty series" in result.results.gates[0].message
    assert "no data" in result.results.gates[1].message
    assert result.verdict == "Inconclusive"


def test_cli_analyze_exit_codes(
    prometheus: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "analysis.yaml"
    config.write_text(
        "gates:\n  - {name: custom, promql: 'vector(3)', max: '5'}\n"
        "  - {name: custom-min, promql: 'vector(3)', min: 1}\n"
    )
    now = time.time()
    args = ["analyze", "--config", str(config), "--prometheus", prometheus.url]
    window = ["--start", str(now - 20), "--end", str(now)]
    assert main([*args, *window, "--report-dir", str(tmp_path / "out")]) == EXIT[Verdict.PASSED]
    assert '"verdict": "Passed"' in capsys.readouterr().out
    assert (tmp_path / "out" / "report.html").exists()
    config.write_text("gates:\n  - {name: custom, promql: 'vector(9)', max: '5'}\n")
    assert main([*args, *window]) == EXIT[Verdict.FAILED]
    config.write_text("gates:\n  - {name: custom, promql: 'sum(nothing_here)', max: '5'}\n")
    assert main([*args, *window]) == EXIT[Verdict.INCONCLUSIVE]
