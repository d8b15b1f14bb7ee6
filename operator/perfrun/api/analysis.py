"""spec.analysis: where metrics come from, the gates a run must pass, and the baseline it is
compared with."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from perfrun.api.base import ApiModel, Rule, exactly_one
from perfrun.api.environment import LIST_MAP_BY_NAME
from perfrun.api.types import (
    BaseUrl,
    DnsLabel,
    Duration,
    Percent,
    PositiveDuration,
    Threshold,
    matches,
    parse_duration,
)


class Metric(StrEnum):
    """Built-in metrics; thresholds of latencies are durations, of rates ratios or percents."""

    LATENCY_P50 = "latencyP50"
    LATENCY_P95 = "latencyP95"
    LATENCY_P99 = "latencyP99"
    ERROR_RATE = "errorRate"
    THROUGHPUT = "throughput"
    QUEUE_DEPTH = "queueDepth"


# A Prometheus metric name, and a list of label matchers as written inside braces.
METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_MATCHERS_PATTERN = r'^([a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"]*"\s*,?\s*)*$'


class SeriesNames(ApiModel):
    """The series the built-in metrics are computed from. The defaults are what the perfrun
    load engine serves on /metrics and what RabbitMQ's prometheus plugin exports, so a run
    only sets these when it measures something else (e.g. the application's own histogram)."""

    latency_histogram: str = Field(
        "perfrun_request_duration_seconds",
        pattern=METRIC_NAME_PATTERN,
        max_length=200,
        description="Histogram of request latency in seconds (its _bucket series are summed "
        "across all load pods).",
    )
    requests_total: str = Field(
        "perfrun_requests_total",
        pattern=METRIC_NAME_PATTERN,
        max_length=200,
        description="Counter of requests; throughput and the error rate's denominator.",
    )
    error_matchers: str = Field(
        'status_class=~"5xx|error"',
        pattern=LABEL_MATCHERS_PATTERN,
        max_length=500,
        description="Label matchers picking failed requests out of requestsTotal.",
    )
    load_matchers: str = Field(
        "",
        pattern=LABEL_MATCHERS_PATTERN,
        max_length=500,
        description='Label matchers added to every load series, e.g. job="perfrun-load".',
    )
    queue_messages: str = Field(
        "rabbitmq_queue_messages",
        pattern=METRIC_NAME_PATTERN,
        max_length=200,
        description="Gauge of messages per queue (label queue); queueDepth sums it.",
    )


class PrometheusSource(ApiModel):
    """Where to query: a per-run Prometheus (embedded) or an existing one (url)."""

    embedded: bool = Field(True, description="Run a Prometheus inside the run's namespace.")
    url: BaseUrl | None = Field(
        None,
        description="An existing Prometheus; needs embedded: false. Either a Service of the "
        "run's own namespace or a URL the cluster admin allows (policy.prometheusUrls).",
    )
    query_timeout: PositiveDuration = Field("10s", description="Timeout of one query.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a failed query.")
    series: SeriesNames = Field(
        default_factory=SeriesNames,
        description="Series names behind the built-in metrics.",
        json_schema_extra={"default": {}},
    )

    __rules__ = (
        Rule(
            cel="self.embedded != has(self.url)",
            message="prometheus needs either embedded: true or a url (with embedded: false)",
            check=lambda p: p.embedded != (p.url is not None),
            field_path=".url",
        ),
    )


# Not empty, not blank: such a gate could only ever be Inconclusive.
PROMQL_PATTERN = r"^\s*\S[\s\S]*$"
PromQL = Annotated[
    str,
    StringConstraints(max_length=4096),
    Field(json_schema_extra={"pattern": PROMQL_PATTERN}),
    matches(PROMQL_PATTERN, "a PromQL expression (it is empty)"),
]


class Gate(ApiModel):
    """A pass/fail judgement on one metric. Missing or empty data never passes."""

    name: DnsLabel = Field(description="Name shown in status and reports.")
    metric: Metric | None = Field(None, description="A built-in metric.")
    promql: PromQL | None = Field(
        None,
        description="A custom PromQL expression, evaluated over the load window every step.",
    )
    queue: str | None = Field(
        None, max_length=255, description="queueDepth: one queue instead of the total."
    )
    max: Threshold | None = Field(
        None,
        description="Upper bound: a number, duration (300ms) or percent; quote decimals. "
        "Latency, errorRate and throughput are judged on the whole load window; queueDepth "
        "and promql on every point of it.",
    )
    min: Threshold | None = Field(None, description="Lower bound, same forms as max.")
    drain_to: int | None = Field(
        None, ge=0, description="The value must fall to this or below after the load stops..."
    )
    within: Duration | None = Field(None, description="...within this time.")
    consecutive_windows: int | None = Field(
        None, ge=1, le=100, description="Judge per window; fail after this many bad in a row."
    )
    failure_limit: int = Field(
        3, ge=0, le=20, description="Query errors tolerated before the gate is Inconclusive."
    )

    __rules__ = (
        Rule(
            cel="has(self.metric) != has(self.promql)",
            message="a gate needs exactly one of metric or promql",
            check=lambda g: exactly_one(g.metric, g.promql),
            field_path=".metric",
        ),
        Rule(
            cel="has(self.max) || has(self.min) || has(self.drainTo)",
            message="a gate needs at least one of max, min or drainTo",
            check=lambda g: g.max is not None or g.min is not None or g.drain_to is not None,
        ),
        Rule(
            cel="has(self.drainTo) == has(self.within)",
            message="drainTo and within go together",
            check=lambda g: (g.drain_to is None) == (g.within is None),
            field_path=".within",
        ),
        Rule(
            cel="!has(self.drainTo) || !has(self.metric) || self.metric == 'queueDepth'",
            message="drainTo applies to the queueDepth metric or a promql gate",
            check=lambda g: g.drain_to is None or g.metric in (None, Metric.QUEUE_DEPTH),
            field_path=".drainTo",
        ),
        Rule(
            cel="!has(self.queue) || (has(self.metric) && self.metric == 'queueDepth')",
            message="queue applies to the queueDepth metric only",
            check=lambda g: g.queue is None or g.metric == Metric.QUEUE_DEPTH,
            field_path=".queue",
        ),
    )


class Baseline(ApiModel):
    """Compare with a stored baseline; a regression past the tolerance fails the run. Without
    ``name`` nothing is compared and a passing run is only promoted (the first run of a
    series, which has nothing to compare with yet)."""

    name: DnsLabel | None = Field(
        None, description="The PerfBaseline to compare with; none: only promote (promoteAs)."
    )
    max_regression: Percent = Field("10%", description="Default tolerance per metric.")
    tolerances: dict[str, Percent] = Field(
        default_factory=dict,
        max_length=16,
        description="Per-metric tolerance overriding maxRegression, e.g. {latencyP99: 5%}.",
    )
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric.LATENCY_P99, Metric.ERROR_RATE, Metric.THROUGHPUT],
        max_length=6,
        description="Metrics compared.",
    )
    promote_as: DnsLabel | None = Field(
        None, description="Store this run's results under that baseline name when it passes."
    )

    __rules__ = (
        Rule(
            cel="has(self.name) || has(self.promoteAs)",
            message="baseline needs name (compare with it), promoteAs (store a passing run), "
            "or both",
            check=lambda b: b.name is not None or b.promote_as is not None,
            field_path=".name",
        ),
        Rule(
            cel="self.tolerances.all(k, k in " + str([m.value for m in Metric]) + ")",
            message="tolerances keys must be built-in metrics: " + ", ".join(Metric),
            check=lambda b: all(k in Metric.__members__.values() for k in b.tolerances),
            field_path=".tolerances",
        ),
    )


class AnalysisSpec(ApiModel):
    """Where the numbers come from and how they are judged."""

    prometheus: PrometheusSource = Field(
        default_factory=PrometheusSource,
        description="The Prometheus queried.",
        json_schema_extra={"default": {}},
    )
    step: PositiveDuration = Field(
        "15s", description="Resolution of range queries and gate windows."
    )
    rate_window: PositiveDuration = Field(
        "1m",
        description="Window of rate() in time series (at least two scrape intervals); final "
        "numbers use the whole load window instead.",
    )
    gates: list[Gate] = Field(
        default_factory=list,
        max_length=32,
        description="Gates; the verdict is the worst one.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    baseline: Baseline | None = Field(None, description="Regression check against a baseline.")

    def drain_horizon_s(self) -> float:
        """Seconds after the load stops that the drain gates look at: the longest 'within'
        (the controller waits this long before judging; the analysis queries this far)."""
        return max((parse_duration(g.within) for g in self.gates if g.within), default=0.0)
