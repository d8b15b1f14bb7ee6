"""Pure parts of the analysis: gates, baseline comparison, summaries, verdict, bounded
report, CLI input errors, baseline promotion bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from perfrun.analysis.baseline import compare, compare_one
from perfrun.analysis.bounded import report_files
from perfrun.analysis.gates import Observation, judge
from perfrun.analysis.model import AnalysisResult, Series, Window
from perfrun.analysis.report_html import render as render_html
from perfrun.analysis.report_markdown import render as render_md
from perfrun.analysis.run import analyze
from perfrun.analysis.summaries import merge, parse_summary
from perfrun.analysis.verdict import worst
from perfrun.api.analysis import AnalysisSpec, Baseline, Gate, Metric
from perfrun.api.baseline import BaselineValues
from perfrun.api.status import Results
from perfrun.cli import main
from perfrun.kube.baselines import PromotionError, baseline_body
from perfrun.kube.reports import report_body


def gate(**kw: object) -> Gate:
    return Gate.model_validate({"name": "g", **kw})


def test_whole_window_gate_missing_value_is_inconclusive_never_passed() -> None:
    g = gate(metric="latencyP99", max="300ms")
    assert judge(g, Observation(value=None), 100, 200).outcome == "Inconclusive"
    assert judge(g, Observation(value=299.0), 100, 200).outcome == "Passed"
    assert judge(g, Observation(value=301.0), 100, 200).outcome == "Failed"


def test_query_errors_past_failure_limit_are_inconclusive_even_with_data() -> None:
    g = gate(metric="latencyP99", max="300ms", failureLimit=1)
    r = judge(g, Observation(value=10.0, errors=2, last_error="boom"), 100, 200)
    assert r.outcome == "Inconclusive" and "boom" in r.message
    ok = judge(g, Observation(value=10.0, errors=1, last_error="boom"), 100, 200)
    assert ok.outcome == "Passed" and "tolerated" in ok.message


def test_consecutive_windows() -> None:
    g = gate(metric="throughput", min=100, consecutiveWindows=3)
    two_bad = [(1.0, 50.0), (2.0, 50.0), (3.0, 150.0), (4.0, 50.0)]
    assert judge(g, Observation(points=two_bad), 5, 10).outcome == "Passed"
    three_bad = [(1.0, 150.0), (2.0, 50.0), (3.0, 60.0), (4.0, 70.0)]
    r = judge(g, Observation(points=three_bad), 5, 10)
    assert r.outcome == "Failed" and r.value == 50.0
    assert judge(g, Observation(points=[]), 5, 10).outcome == "Inconclusive"


def test_drain_gate() -> None:
    g = gate(metric="queueDepth", drainTo=0, within="10s")
    drained = Observation(drain_points=[(100, 30.0), (104, 5.0), (107, 0.0)])
    r = judge(g, drained, 100, 200)
    assert r.outcome == "Passed" and "7s" in r.message
    late = Observation(drain_points=[(100, 30.0), (110, 3.0), (115, 0.0)])
    assert judge(g, late, 100, 200).outcome == "Failed"
    assert judge(g, late, 100, 105).outcome == "Inconclusive"  # window not over yet
    assert judge(g, Observation(), 100, 200).outcome == "Inconclusive"


def test_percent_and_plain_thresholds() -> None:
    g = gate(metric="errorRate", max="1%")
    assert judge(g, Observation(value=0.011), 1, 2).outcome == "Failed"
    assert judge(g, Observation(value=0.009), 1, 2).outcome == "Passed"


def test_verdict_is_worst() -> None:
    assert worst(["Passed", "Inconclusive"]) == "Inconclusive"
    assert worst(["Inconclusive", "Failed", "Passed"]) == "Failed"
    assert worst([]) == "Passed"


def test_baseline_flags_20_percent_with_10_percent_tolerance_and_passes_5() -> None:
    spec = Baseline(name="main", max_regression="10%", metrics=[Metric.LATENCY_P99])
    base = BaselineValues(p99_ms=100.0)
    assert compare(spec, base, Results(p99_ms=120.0))[0].outcome == "Failed"
    five = compare(spec, base, Results(p99_ms=105.0))[0]
    assert five.outcome == "Passed" and five.change_percent == pytest.approx(5.0)


def test_baseline_direction_tolerances_and_missing() -> None:
    spec = Baseline.model_validate(
        {"name": "m", "tolerances": {"throughput": "30%"}, "metrics": ["throughput", "errorRate"]}
    )
    base = BaselineValues(throughput_rps=100.0, error_rate=0.0)
    regs = compare(spec, base, Results(throughput_rps=75.0, error_rate=0.0))
    assert [r.outcome for r in regs] == ["Passed", "Passed"]
    assert regs[0].change_percent == pytest.approx(25.0)
    assert compare_one(Metric.ERROR_RATE, 0.0, 0.01, 10).outcome == "Failed"
    assert compare_one(Metric.LATENCY_P99, None, 1.0, 10).outcome == "Inconclusive"
    assert compare(spec, None, Results())[0].outcome == "Inconclusive"


def test_baseline_messages_name_both_numbers_with_units() -> None:
    failed = compare_one(Metric.LATENCY_P99, 100.0, 150.5, 10)
    assert failed.message == "this run 150.5ms vs baseline 100ms: +50.5% worse (tolerance 10%)"
    slower = compare_one(Metric.THROUGHPUT, 900.0, 800.0, 5)
    assert slower.outcome == "Failed"
    assert slower.message.startswith("this run 800 rps vs baseline 900 rps: +11.1% worse")
    unbounded = compare_one(Metric.ERROR_RATE, 0.0, 0.01, 10)
    assert unbounded.message == "this run 0.01 vs baseline 0: an unbounded regression"
    missing = compare(Baseline(name="main"), None, Results(), "PerfBaseline main is gone")
    assert {r.message for r in missing} == {"PerfBaseline main is gone"}
    assert compare(Baseline(name="main"), None, Results())[0].message == (
        "PerfBaseline main not found"
    )


class _Quiet:
    """A Prometheus that is up and has no series (the numbers come from the summary)."""

    def ping(self) -> None:
        return None

    def instant(self, query: str, at: float) -> list[object]:
        return []

    def range(self, *a: object) -> list[object]:
        return []


def _spec_with_baseline(**baseline: object) -> AnalysisSpec:
    return AnalysisSpec.model_validate(
        {
            "gates": [{"name": "p99", "metric": "latencyP99", "max": "1s"}],
            "baseline": {"name": "main", **baseline},
        }
    )


def test_verdict_reason_names_the_regressed_metric_and_both_numbers() -> None:
    s = parse_summary(_summary(list(range(1000, 200_001, 1000))))
    p99 = s.percentile_ms(99)
    assert p99 is not None
    result = analyze(
        _spec_with_baseline(metrics=["latencyP99"], tolerances={"latencyP99": "5%"}),
        None,
        Window(start=0, end=10),
        [s],
        baseline=BaselineValues(p99_ms=p99 / 2),
        api=_Quiet(),  # type: ignore[arg-type]
    )
    assert result.verdict == "Failed"
    assert result.reason == (
        f"latencyP99: this run {p99:g}ms vs baseline {p99 / 2:g}ms: +100.0% worse (tolerance 5%)"
    )


def test_a_missing_baseline_is_inconclusive_and_said_once() -> None:
    s = parse_summary(_summary(list(range(1000, 200_001, 1000))))
    result = analyze(
        _spec_with_baseline(),
        None,
        Window(start=0, end=10),
        [s],
        baseline_missing="PerfBaseline main (namespace team) not found",
        api=_Quiet(),  # type: ignore[arg-type]
    )
    assert result.verdict == "Inconclusive"
    assert result.results.gates[0].outcome == "Passed"
    assert result.reason == (
        "PerfBaseline main (namespace team) not found "
        "(latencyP99, errorRate, throughput not compared)"
    )


def test_a_baseline_without_name_only_promotes_and_compares_nothing() -> None:
    """The first run of a series has nothing to compare with: baseline {promoteAs} alone
    judges the gates, compares nothing, and a pass can be promoted."""
    spec = AnalysisSpec.model_validate(
        {
            "gates": [{"name": "p99", "metric": "latencyP99", "max": "1s"}],
            "baseline": {"promoteAs": "shop-main"},
        }
    )
    s = parse_summary(_summary(list(range(1000, 200_001, 1000))))
    result = analyze(spec, None, Window(start=0, end=10), [s], api=_Quiet())  # type: ignore[arg-type]
    assert result.verdict == "Passed", result.reason
    assert result.results.regressions == []
    with pytest.raises(ValueError, match="baseline needs name"):
        Baseline.model_validate({"maxRegression": "10%"})


def _summary(values_us: list[int], errors: int = 0) -> dict[str, object]:
    h = HdrHistogram(1, 3_600_000_000, 3)
    for v in values_us:
        h.record_value(v)
    return {
        "histogram": h.encode().decode(),
        "requests": len(values_us),
        "failed": errors,  # the load engine's shape: "errors" is a map by kind
        "errors": {"timeout": errors},
        "durationSeconds": 10.0,
        "startedAt": "2026-01-01T00:00:00Z",
        "decisions": [
            {
                "atSeconds": 3.0,
                "action": "holdPreviousStep",
                "step": 2,
                "reasons": ["p95 450ms > 400ms"],
            }
        ],
    }


def test_summaries_merge_exactly() -> None:
    a, b = list(range(1000, 500_000, 7)), list(range(3000, 900_000, 11))
    merged = merge([parse_summary(_summary(a, 3)), parse_summary(_summary(b, 1))])
    single = parse_summary(_summary(a + b))
    assert merged is not None
    assert merged.percentile_ms(99) == single.percentile_ms(99)
    assert merged.requests == len(a) + len(b) and merged.errors == 4
    assert merged.decisions[0].at == pytest.approx(1767225603.0)


def test_summary_numbers_win_and_say_so() -> None:
    class Down:
        def ping(self) -> None:
            from perfrun.analysis.queries import QueryError

            raise QueryError("ping: down")

        def instant(self, query: str, at: float) -> list[object]:
            raise AssertionError("not asked once down")

        def range(self, *a: object) -> list[object]:
            raise AssertionError("not asked once down")

    s = parse_summary(_summary(list(range(1000, 200_001, 1000))))
    spec_doc = {"gates": [{"name": "p99", "metric": "latencyP99", "max": "300ms"}]}
    result = analyze(
        AnalysisSpec.model_validate(spec_doc),
        None,
        Window(start=0, end=10),
        [s],
        api=Down(),  # type: ignore[arg-type]
    )
    assert result.results.sources["p99Ms"] == "loadSummary"
    assert result.results.gates[0].outcome == "Passed"
    assert result.results.gates[0].source == "loadSummary"


def test_cli_bad_input_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "a.yaml"
    config.write_text("gates:\n  - {name: p99, metric: latencyP99, max: fast}\n")
    args = ["analyze", "--config", str(config), "--prometheus", "http://127.0.0.1:1"]
    assert main([*args, "--start", "0", "--end", "10"]) == 2
    assert "analysis.gates.0.max" in capsys.readouterr().err
    config.write_text("gates:\n  - {name: p99, metric: latencyP99, drainTo: 0}\n")
    assert main([*args, "--start", "0", "--end", "10"]) == 2
    assert "analysis.gates.0.within: drainTo and within go together" in capsys.readouterr().err
    config.write_text("{}\n")
    assert main([*args, "--start", "yesterday", "--end", "10"]) == 2
    assert "--start" in capsys.readouterr().err


def _result() -> AnalysisResult:
    pts = [(1000.0 + i, float(i % 17)) for i in range(5000)]
    return AnalysisResult(
        verdict="Passed",
        window=Window(start=1000, end=6000),
        results=Results(p99_ms=12.0, sources={"p99Ms": "prometheus"}),
        series=[Series(metric="latencyP99", points=pts)] * 12,
    )


def test_bounded_report_fits_and_renders() -> None:
    files = report_files(_result(), "run", max_bytes=100_000)
    assert sum(len(v) for v in files.values()) <= 100_000
    back = AnalysisResult.model_validate_json(files["report.json"])
    assert back.results.p99_ms == 12.0
    assert "<svg" in render_html(back) and "| p99 | 12 ms | prometheus |" in render_md(back)
    # the page is stored too, drawn from the same (thinned) series as the JSON
    assert files["report.html"] == render_html(back, "run")
    run = {"metadata": {"name": "r1", "namespace": "team", "uid": "u-1"}}
    cm = report_body(run, files, "r1-x7k2a")
    assert cm["metadata"]["annotations"]["perfrun.dev/perfrun-uid"] == "u-1"
    assert cm["metadata"]["namespace"] == "team"


def test_promotion_body() -> None:
    run = {
        "metadata": {"name": "r1", "namespace": "team", "labels": {"release": "1.8.0"}},
        "status": {"verdict": "Passed", "results": {"p99Ms": 120.5, "sources": {"p99Ms": "x"}}},
    }
    body = baseline_body(run, "main", "2026-01-01T00:00:00Z")
    assert body["kind"] == "PerfBaseline" and body["metadata"]["namespace"] == "team"
    assert body["spec"]["values"] == {"p99Ms": 120.5}
    assert body["spec"]["source"]["release"] == "1.8.0"
    run["status"]["verdict"] = "Failed"
    with pytest.raises(PromotionError):
        baseline_body(run, "main", "now")
    assert baseline_body(run, "main", "now", force=True)["spec"]["source"]["verdict"] == "Failed"


def test_baseline_crd_is_generated(tmp_path: Path) -> None:
    out = tmp_path / "b.yaml"
    assert main(["crd", "--kind", "PerfBaseline", "-o", str(out)]) == 0
    assert "perfbaselines.perfrun.dev" in out.read_text()
    assert json.dumps(str(Path("crds/perfrun.dev_perfbaselines.yaml").read_text())) != ""
