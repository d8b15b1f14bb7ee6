"""Comparing a run with a baseline (pure): per-metric tolerance, regression in percent.

The change is signed so that positive is worse whatever the metric's direction: latency,
error rate and queue depth regress upwards, throughput downwards."""

from __future__ import annotations

from perfrun.analysis.promql import HIGHER_IS_WORSE
from perfrun.api.analysis import Baseline, Metric
from perfrun.api.baseline import BaselineValues
from perfrun.api.status import Regression, Results, Verdict

# Metric -> field of Results / BaselineValues (same names in both).
RESULT_FIELD = {
    Metric.LATENCY_P50: "p50_ms",
    Metric.LATENCY_P95: "p95_ms",
    Metric.LATENCY_P99: "p99_ms",
    Metric.ERROR_RATE: "error_rate",
    Metric.THROUGHPUT: "throughput_rps",
    Metric.QUEUE_DEPTH: "max_queue_depth",
}


# A difference this small is never a regression, whatever the percentage: a baseline of 0
# errors (or 0.2 ms) would otherwise fail any run with one error (or 0.3 ms), whatever the
# tolerance. The compared value may exceed the baseline by up to this much.
ABSOLUTE_FLOOR = {
    Metric.LATENCY_P50: 1.0,  # ms
    Metric.LATENCY_P95: 1.0,
    Metric.LATENCY_P99: 1.0,
    Metric.ERROR_RATE: 0.001,  # 0.1 % of requests
    Metric.QUEUE_DEPTH: 1.0,  # messages
}

_UNITS = {
    Metric.LATENCY_P50: "ms",
    Metric.LATENCY_P95: "ms",
    Metric.LATENCY_P99: "ms",
    Metric.THROUGHPUT: " rps",
}


def amount(metric: Metric, value: float) -> str:
    """A value with its unit, as messages show it: 312.5ms, 790 rps, 0.004."""
    return f"{value:g}{_UNITS.get(metric, '')}"


def tolerance_percent(spec: Baseline, metric: Metric) -> float:
    return float(spec.tolerances.get(metric, spec.max_regression).rstrip("%"))


def change_percent(metric: Metric, baseline: float, value: float) -> float | None:
    """Signed change, positive is worse; None when the baseline is 0 and the value is not."""
    delta = value - baseline if metric in HIGHER_IS_WORSE else baseline - value
    if baseline == 0:
        return 0.0 if delta <= 0 else None
    return 100.0 * delta / abs(baseline)


def compare_one(
    metric: Metric, baseline: float | None, value: float | None, tol: float
) -> Regression:
    common = {"metric": str(metric), "baseline": baseline, "value": value, "tolerance_percent": tol}
    if baseline is None or value is None:
        missing = "baseline has no value" if baseline is None else "this run has no value"
        return Regression(**common, outcome=Verdict.INCONCLUSIVE, message=missing)
    change = change_percent(metric, baseline, value)
    floor = ABSOLUTE_FLOOR.get(metric)
    if floor is not None and value - baseline <= floor and (change is None or change > tol):
        return Regression(
            **common,
            change_percent=None if change is None else round(change, 3),
            outcome=Verdict.PASSED,
            message=f"this run {amount(metric, value)} vs baseline {amount(metric, baseline)}: "
            f"within the absolute floor of {amount(metric, floor)}",
        )
    if change is None:
        return Regression(
            **common,
            outcome=Verdict.FAILED,
            message=f"this run {amount(metric, value)} vs baseline 0: an unbounded regression",
        )
    change = round(change, 3)
    both = f"this run {amount(metric, value)} vs baseline {amount(metric, baseline)}"
    if change > tol:
        return Regression(
            **common,
            change_percent=change,
            outcome=Verdict.FAILED,
            message=f"{both}: {change:+.1f}% worse (tolerance {tol:g}%)",
        )
    return Regression(
        **common,
        change_percent=change,
        outcome=Verdict.PASSED,
        message=f"{both}: {change:+.1f}% (tolerance {tol:g}%)",
    )


def compare(
    spec: Baseline,
    baseline: BaselineValues | None,
    results: Results,
    missing: str | None = None,
) -> list[Regression]:
    """One Regression per compared metric; all Inconclusive when the baseline is missing
    (``missing`` says why; default: not found)."""
    out = []
    for metric in spec.metrics:
        m = Metric(metric)
        name = RESULT_FIELD[m]
        tol = tolerance_percent(spec, m)
        if baseline is None:
            out.append(
                Regression(
                    metric=str(m),
                    value=getattr(results, name),
                    tolerance_percent=tol,
                    outcome=Verdict.INCONCLUSIVE,
                    message=(missing or f"PerfBaseline {spec.name} not found")[:1024],
                )
            )
            continue
        out.append(compare_one(m, getattr(baseline, name), getattr(results, name), tol))
    return out


def values_of(results: Results) -> BaselineValues:
    """The values a promotion stores."""
    return BaselineValues(**{f: getattr(results, f) for f in RESULT_FIELD.values()})
