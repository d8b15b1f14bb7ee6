"""What an analysis produces: the status-ready ``Results`` plus the series, steps and back-off
decisions a report plots. One JSON-serialisable model, so the report can be rebuilt from the
bounded copy stored after teardown."""

from __future__ import annotations

from pydantic import Field

from perfrun.api.base import ApiModel
from perfrun.api.status import Results, Verdict

# Where a number came from (Results.sources, GateResult.source).
SOURCE_PROMETHEUS = "prometheus"
SOURCE_SUMMARY = "loadSummary"


class Window(ApiModel):
    """The load window in Unix seconds; the drain checks look past ``end``."""

    start: float = Field(description="Load start, Unix seconds.")
    end: float = Field(description="Load end, Unix seconds.")

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


class Series(ApiModel):
    """One time series: label set and (unix seconds, value) points."""

    metric: str = Field(description="What it measures, e.g. latencyP99 or queueDepth.")
    labels: dict[str, str] = Field(default_factory=dict, description="Label set.")
    points: list[tuple[float, float]] = Field(default_factory=list, description="(t, value).")


class StepWindow(ApiModel):
    """One ramp step's time range."""

    index: int = Field(ge=1, description="1-based step number.")
    rate: float | None = Field(None, description="Intended rate (rps or virtual users).")
    start: float = Field(description="Unix seconds.")
    end: float = Field(description="Unix seconds.")


class StepResult(ApiModel):
    """Numbers of one ramp step, from Prometheus over that step's window."""

    index: int = Field(description="1-based step number.")
    rate: float | None = Field(None, description="Intended rate.")
    start: float = Field(description="Unix seconds.")
    end: float = Field(description="Unix seconds.")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    throughput_rps: float | None = None


class Decision(ApiModel):
    """A load-engine back-off decision, placed on the time axis."""

    at: float | None = Field(None, description="Unix seconds, when known.")
    action: str = Field(description="holdPreviousStep, stepDown or abort.")
    step: int | None = Field(None, description="Scheduled step.")
    from_rate: float | None = None
    to_rate: float | None = None
    reasons: list[str] = Field(default_factory=list)


class AnalysisResult(ApiModel):
    """Everything one analysis found."""

    verdict: Verdict = Field(description="Worst of gates and regressions.")
    reason: str = Field("", description="One line on why.")
    window: Window = Field(description="The load window analysed.")
    prometheus: str | None = Field(None, description="The Prometheus queried.")
    results: Results = Field(description="Status-ready numbers, gates and regressions.")
    steps: list[StepResult] = Field(default_factory=list, description="Per ramp step.")
    series: list[Series] = Field(default_factory=list, description="Time series for plots.")
    decisions: list[Decision] = Field(default_factory=list, description="Back-off decisions.")
    query_errors: int = Field(0, ge=0, description="Prometheus queries that failed.")
    errors: list[str] = Field(default_factory=list, description="Their messages (bounded).")
