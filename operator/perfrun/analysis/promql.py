"""PromQL for the built-in metrics (pure string building, no I/O).

Latency quantiles are ``histogram_quantile`` over the load engine's histogram buckets summed
``by (le)`` across every load pod; the error rate is failed over all requests, with ``or
vector(0)`` so a run without a single failure reads 0 and not "no data"; queue depth is
RabbitMQ's own per-queue gauge, summed (total) or picked (one queue)."""

from __future__ import annotations

from perfrun.api.analysis import Metric, SeriesNames

QUANTILES = {Metric.LATENCY_P50: 0.5, Metric.LATENCY_P95: 0.95, Metric.LATENCY_P99: 0.99}
LATENCY_METRICS = frozenset(QUANTILES)
# Metrics where a higher value is worse (all but throughput).
HIGHER_IS_WORSE = frozenset(set(Metric) - {Metric.THROUGHPUT})


def duration(seconds: float) -> str:
    """A PromQL range duration; at least 1s (PromQL refuses 0)."""
    return f"{max(round(seconds), 1)}s"


def _selector(name: str, *matchers: str) -> str:
    parts = [m.strip().rstrip(",") for m in matchers if m and m.strip()]
    return f"{name}{{{','.join(parts)}}}" if parts else name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def latency_seconds(metric: Metric, names: SeriesNames, window: str) -> str:
    """A latency quantile in seconds over ``window`` (multiply by 1000 for ms)."""
    buckets = _selector(f"{names.latency_histogram}_bucket", names.load_matchers)
    return f"histogram_quantile({QUANTILES[metric]}, sum by (le) (rate({buckets}[{window}])))"


def throughput(names: SeriesNames, window: str) -> str:
    return f"sum(rate({_selector(names.requests_total, names.load_matchers)}[{window}]))"


def error_rate(names: SeriesNames, window: str) -> str:
    failed = _selector(names.requests_total, names.load_matchers, names.error_matchers)
    return f"(sum(rate({failed}[{window}])) or vector(0)) / {throughput(names, window)}"


def queue_depth(names: SeriesNames, queue: str | None = None) -> str:
    """Total messages over all queues, or in one queue."""
    if queue is None:
        return f"sum({names.queue_messages})"
    return f"sum({_selector(names.queue_messages, f'queue={chr(34)}{_escape(queue)}{chr(34)}')})"


def queue_depth_by_queue(names: SeriesNames) -> str:
    return f"sum by (queue) ({names.queue_messages})"


def metric_query(metric: Metric, names: SeriesNames, window: str, queue: str | None = None) -> str:
    """The query of a built-in metric; rates use ``window``."""
    if metric in LATENCY_METRICS:
        return latency_seconds(metric, names, window)
    if metric == Metric.THROUGHPUT:
        return throughput(names, window)
    if metric == Metric.ERROR_RATE:
        return error_rate(names, window)
    return queue_depth(names, queue)


def scale(metric: Metric | None) -> float:
    """Factor from the query's unit to the reported one (seconds -> ms for latencies)."""
    return 1000.0 if metric in LATENCY_METRICS else 1.0
