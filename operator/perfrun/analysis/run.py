"""The analysis as one library call: ``analyze(spec, prometheus_url, window, summaries)``.

Order: ping Prometheus once (a dead one costs one round of retries, not one per query); final
numbers from the merged load summaries when given (exact) else from Prometheus over the whole
window; series for plots; per-step numbers; gates; baseline; verdict = worst of all."""

from __future__ import annotations

import time
from collections.abc import Sequence

from perfrun.analysis import promql
from perfrun.analysis.baseline import compare
from perfrun.analysis.gates import Observation, judge, judges_whole_window
from perfrun.analysis.model import (
    SOURCE_PROMETHEUS,
    SOURCE_SUMMARY,
    AnalysisResult,
    Series,
    StepResult,
    StepWindow,
    Window,
)
from perfrun.analysis.queries import (
    Connection,
    Fetcher,
    PromApi,
    PrometheusClient,
    clean_points,
    scalar,
)
from perfrun.analysis.summaries import LoadSummary, failure_breakdown, merge, saturation
from perfrun.analysis.verdict import worst
from perfrun.api.analysis import AnalysisSpec, Gate, Metric
from perfrun.api.baseline import BaselineValues
from perfrun.api.status import Results, Verdict
from perfrun.api.types import parse_duration

MAX_ERROR_MESSAGES = 20
MAX_POINTS = 400  # per plotted series: bounds the report's size whatever the window

_RESULT_FIELDS = {
    Metric.LATENCY_P50: "p50_ms",
    Metric.LATENCY_P95: "p95_ms",
    Metric.LATENCY_P99: "p99_ms",
    Metric.ERROR_RATE: "error_rate",
    Metric.THROUGHPUT: "throughput_rps",
}
_PERCENTILES = {Metric.LATENCY_P50: 50.0, Metric.LATENCY_P95: 95.0, Metric.LATENCY_P99: 99.0}
# A run whose load pods dropped more than this share of a step's requests (they could not
# send them in time) measured the load generator: Inconclusive, LoadGeneratorSaturated.
SATURATED_DROPPED_SHARE = 0.02


def _plot_step(spec: AnalysisSpec, start: float, end: float) -> float:
    step = parse_duration(spec.step)
    return max(step, (end - start) / MAX_POINTS)


class _Analysis:
    def __init__(
        self,
        spec: AnalysisSpec,
        fetch: Fetcher,
        window: Window,
        summary: LoadSummary | None,
        now: float,
    ) -> None:
        self.spec, self.fetch, self.window, self.summary, self.now = (
            spec,
            fetch,
            window,
            summary,
            now,
        )
        self.names = spec.prometheus.series
        self.whole = promql.duration(window.seconds)
        self.rate_window = promql.duration(parse_duration(spec.rate_window))

    # -- final numbers ---------------------------------------------------------------------
    def prom_value(self, metric: Metric, attempts: int = 1) -> tuple[float | None, int, str]:
        query = promql.metric_query(metric, self.names, self.whole)
        samples, errors, last = self.fetch.instant(query, self.window.end, attempts)
        value = scalar(samples)
        return (None if value is None else value * promql.scale(metric)), errors, last

    def final(self, metric: Metric) -> tuple[float | None, str | None]:
        s = self.summary
        if s is not None and s.requests:
            if metric in _PERCENTILES:
                return s.percentile_ms(_PERCENTILES[metric]), SOURCE_SUMMARY
            if metric == Metric.ERROR_RATE:
                return s.error_rate, SOURCE_SUMMARY
            if metric == Metric.THROUGHPUT and s.throughput_rps is not None:
                return s.throughput_rps, SOURCE_SUMMARY
        value, _, _ = self.prom_value(metric)
        return value, (SOURCE_PROMETHEUS if value is not None else None)

    def results(self, queue_series: list[Series]) -> Results:
        r = Results()
        for metric, name in _RESULT_FIELDS.items():
            value, source = self.final(metric)
            if value is not None:
                setattr(r, name, round(value, 6))
                r.sources[name] = source or SOURCE_PROMETHEUS
        total = [v for s in queue_series if not s.labels for _, v in s.points]
        if total:
            r.max_queue_depth = max(total)
            r.sources["max_queue_depth"] = SOURCE_PROMETHEUS
        if self.summary is not None and self.summary.requests:
            r.requests = self.summary.requests
            r.sources["requests"] = SOURCE_SUMMARY
        elif r.throughput_rps is not None:
            r.requests = round(r.throughput_rps * self.window.seconds)
            r.sources["requests"] = SOURCE_PROMETHEUS
        r.sources = {_camel(k): v for k, v in r.sources.items()}
        return r

    # -- series ----------------------------------------------------------------------------
    def range_points(
        self, query: str, start: float, end: float, attempts: int = 1
    ) -> tuple[list[tuple[float, float]], int, str]:
        step = _plot_step(self.spec, start, end)
        series, errors, last = self.fetch.range(query, start, end, step, attempts)
        return clean_points(series), errors, last

    def series(self) -> tuple[list[Series], list[Series]]:
        """(load series, queue series); queue series run past the end by the drain horizon."""
        w = self.window
        out = []
        for metric in (*_PERCENTILES, Metric.THROUGHPUT, Metric.ERROR_RATE):
            q = promql.metric_query(metric, self.names, self.rate_window)
            points, _, _ = self.range_points(q, w.start, w.end)
            k = promql.scale(metric)
            out.append(Series(metric=metric, points=[(t, v * k) for t, v in points]))
        queue_end = min(w.end + self.spec.drain_horizon_s(), max(self.now, w.end))
        queues: list[Series] = []
        q_total, _, _ = self.range_points(promql.queue_depth(self.names), w.start, queue_end)
        if q_total:
            queues.append(Series(metric=Metric.QUEUE_DEPTH, points=q_total))
            step = _plot_step(self.spec, w.start, queue_end)
            per_queue, _, _ = self.fetch.range(
                promql.queue_depth_by_queue(self.names), w.start, queue_end, step
            )
            for s in (per_queue or [])[:20]:
                label = {"queue": s.labels.get("queue", "?")}
                queues.append(Series(metric=Metric.QUEUE_DEPTH, labels=label, points=s.points))
        return out, queues

    def step_results(self, steps: Sequence[StepWindow]) -> list[StepResult]:
        out = []
        for st in steps:
            window = promql.duration(st.end - st.start)
            row = StepResult(index=st.index, rate=st.rate, start=st.start, end=st.end)
            for metric, name in _RESULT_FIELDS.items():
                q = promql.metric_query(metric, self.names, window)
                samples, _, _ = self.fetch.instant(q, st.end)
                value = scalar(samples)
                if value is not None:
                    setattr(row, name, round(value * promql.scale(metric), 6))
            out.append(row)
        return out

    # -- gates -----------------------------------------------------------------------------
    def observe(self, gate: Gate) -> Observation:
        attempts = gate.failure_limit + 1
        metric = Metric(gate.metric) if gate.metric else None
        errors, last = 0, ""
        value: float | None = None
        points: list[tuple[float, float]] = []
        drain: list[tuple[float, float]] = []
        source = SOURCE_PROMETHEUS
        if metric is not None:
            query = promql.metric_query(metric, self.names, self.rate_window, gate.queue)
            scale = promql.scale(metric)
        else:
            query, scale = str(gate.promql), 1.0
        if gate.max is not None or gate.min is not None:
            if metric is not None and judges_whole_window(gate):
                value, source_used = self.final(metric)
                if source_used == SOURCE_SUMMARY:
                    source = SOURCE_SUMMARY
                else:
                    value, errors, last = self.prom_value(metric, attempts)
            else:
                raw, errors, last = self.range_points(
                    query, self.window.start, self.window.end, attempts
                )
                points = [(t, v * scale) for t, v in raw]
        if gate.drain_to is not None and gate.within is not None:
            end = self.window.end
            horizon = min(end + parse_duration(gate.within), max(self.now, end))
            series, e, lst = self.fetch.range(
                query, end, horizon, 1.0 if horizon - end < 400 else (horizon - end) / 400, attempts
            )
            errors, last = errors + e, lst or last
            drain = [(t, v * scale) for t, v in clean_points(series)]
        return Observation(value, points, drain, source, errors, last)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def analyze(
    spec: AnalysisSpec,
    prometheus_url: str | Connection | None,
    window: Window,
    summaries: Sequence[LoadSummary] = (),
    *,
    baseline: BaselineValues | None = None,
    baseline_missing: str | None = None,
    steps: Sequence[StepWindow] = (),
    api: PromApi | None = None,
    now: float | None = None,
) -> AnalysisResult:
    """Analyse one load window. Never raises for Prometheus trouble: it shows up as query
    errors and Inconclusive gates with the reason.

    ``prometheus_url`` is a plain URL or a :class:`Connection` (a URL plus TLS and
    credentials, e.g. the API server's service proxy); ``baseline`` is None when the spec's
    baseline could not be read, and ``baseline_missing`` then says why (default: not found)."""
    if api is None and prometheus_url:
        p = spec.prometheus
        api = PrometheusClient(prometheus_url, parse_duration(p.query_timeout), p.retries)
    fetch = Fetcher(api)
    fetch.ping()
    summary = merge(list(summaries))
    a = _Analysis(spec, fetch, window, summary, time.time() if now is None else now)

    load_series, queue_series = a.series()
    results = a.results(queue_series)
    step_windows = list(steps) or (summary.steps if summary else [])
    step_rows = a.step_results(step_windows)
    results.gates = [judge(g, a.observe(g), window.end, a.now) for g in spec.gates]
    failed = failure_breakdown(summary) if summary else None
    for gate, result in zip(spec.gates, results.gates, strict=True):
        # the error gate says how many failed; the load summary says what they were
        if failed and gate.metric == Metric.ERROR_RATE and result.outcome == Verdict.FAILED:
            result.message = f"{result.message}; failed load attempts: {failed}"[:2048]
    if spec.baseline is not None and spec.baseline.name is not None:
        results.regressions = compare(spec.baseline, baseline, results, baseline_missing)

    outcomes = [g.outcome for g in results.gates] + [r.outcome for r in results.regressions]
    verdict = worst(outcomes)
    reason = _reason(verdict, results, fetch, bool(outcomes))
    if not outcomes:  # nothing was judged: fail closed (Ready=False), never Passed
        verdict = Verdict.INCONCLUSIVE
    saturated = saturation(summary, SATURATED_DROPPED_SHARE) if summary else None
    if saturated is not None:  # it measured the load generator, not the target
        verdict, reason = Verdict.INCONCLUSIVE, f"{saturated} (gates said: {reason})"
    return AnalysisResult(
        verdict=verdict,
        reason=reason,
        window=window,
        prometheus=prometheus_url.url if isinstance(prometheus_url, Connection) else prometheus_url,
        results=results,
        steps=step_rows,
        series=load_series + queue_series,
        decisions=summary.decisions if summary else [],
        query_errors=len(fetch.errors),
        errors=fetch.errors[:MAX_ERROR_MESSAGES],
    )


def _reason(verdict: Verdict, results: Results, fetch: Fetcher, judged: bool) -> str:
    if not judged:
        measured = "measured only" if results.throughput_rps else "nothing measured either"
        down = f"; Prometheus unavailable: {fetch.down}" if fetch.down else ""
        return (
            f"no gates and no baseline, so nothing was judged ({measured}{down}): add "
            "analysis.gates or analysis.baseline for a verdict"
        )
    bad = [f"gate {g.name}: {g.message}" for g in results.gates if g.outcome == verdict]
    regs = [r for r in results.regressions if r.outcome == verdict]
    if len(regs) > 1 and len({r.message for r in regs}) == 1:  # e.g. the baseline is missing
        bad.append(f"{regs[0].message} ({', '.join(r.metric for r in regs)} not compared)")
    else:
        bad += [f"{r.metric}: {r.message}" for r in regs]
    if verdict == Verdict.PASSED:
        return f"{len(results.gates)} gates and {len(results.regressions)} baseline checks passed"
    head = "; ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
    if verdict == Verdict.INCONCLUSIVE and fetch.down:
        return f"Prometheus unavailable: {fetch.down}"
    return head
