"""PerfRun status: phase, progress, results, verdict and conditions (kstatus-compatible)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from perfrun.api.base import ApiModel


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    RESTORING = "Restoring"
    LOADING = "Loading"
    ANALYZING = "Analyzing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EXPIRED = "Expired"
    ABORTED = "Aborted"
    INVALID = "Invalid"


TERMINAL_PHASES = frozenset(
    {Phase.SUCCEEDED, Phase.FAILED, Phase.EXPIRED, Phase.ABORTED, Phase.INVALID}
)


class Verdict(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class ConditionType(StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    FINISHED = "Finished"
    SUCCEEDED = "Succeeded"
    ENVIRONMENT_READY = "EnvironmentReady"
    DATASET_RESTORED = "DatasetRestored"
    LOAD_COMPLETED = "LoadCompleted"
    GATES_PASSED = "GatesPassed"


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready or Finished.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        max_length=1024,
        description="CamelCase reason.",
    )
    message: str = Field("", max_length=32768, description="Human-readable detail.")
    observed_generation: int | None = Field(None, ge=0, description="Generation judged.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")


class LoadProgress(ApiModel):
    """Where the load phase is, summed over the load pods' latest reports while it runs."""

    pods: int = Field(0, ge=0, description="Load pods that have reported so far.")
    step: int = Field(0, ge=0, description="Current ramp step (1-based; 0 before it starts).")
    steps: int = Field(0, ge=0, description="Steps in the ramp.")
    target_rps: float = Field(0.0, description="Rate the current step aims at (open model).")
    target_users: int = Field(
        0, ge=0, description="Virtual users the current step runs (closed model)."
    )
    achieved_rps: float = Field(0.0, description="Rate achieved recently.")
    in_flight: int = Field(0, ge=0, description="Requests outstanding.")
    backed_off: bool = Field(False, description="Whether the engine is holding back.")
    requests: int = Field(0, ge=0, description="Requests sent so far.")
    errors: int = Field(0, ge=0, description="Failed requests so far.")
    p99_ms: float | None = Field(
        None,
        description="p99 latency so far: the highest of the load pods' own (exact with one pod, "
        "an upper bound of the merged p99 with more); the analysis' number is results.p99Ms.",
    )
    dropped: int = Field(
        0,
        ge=0,
        description="Open model: requests that fell due but could not be sent in time (the "
        "load pods could not keep up); the shortfall of the asked rate.",
    )
    load_cpu_cores: float = Field(
        0.0,
        description="CPU the load pods use themselves, in cores (near 1 per pod: raise "
        "parallelism or their resources).",
    )


class GateResult(ApiModel):
    """The outcome of one gate."""

    name: str = Field(max_length=64, description="Gate name.")
    outcome: Verdict = Field(description="Passed, Failed or Inconclusive.")
    value: float | None = Field(None, description="Observed value (ms for latencies).")
    threshold: str | None = Field(None, max_length=256, description="What it was judged against.")
    source: str | None = Field(None, max_length=64, description="prometheus or loadSummary.")
    message: str = Field("", max_length=2048, description="Why.")


class Regression(ApiModel):
    """One metric compared with the baseline."""

    metric: str = Field(max_length=64, description="Metric name.")
    baseline: float | None = Field(None, description="Baseline value.")
    value: float | None = Field(None, description="This run's value.")
    change_percent: float | None = Field(None, description="Change; positive is worse.")
    tolerance_percent: float = Field(description="Allowed regression.")
    outcome: Verdict = Field(description="Passed, Failed or Inconclusive.")
    message: str = Field("", max_length=1024, description="Why, e.g. what was missing.")


class Results(ApiModel):
    """Measured numbers and gate outcomes."""

    p50_ms: float | None = Field(None, description="Median latency, ms.")
    p95_ms: float | None = Field(None, description="95th percentile latency, ms.")
    p99_ms: float | None = Field(None, description="99th percentile latency, ms.")
    error_rate: float | None = Field(None, description="Failed share of requests.")
    throughput_rps: float | None = Field(None, description="Achieved requests per second.")
    max_queue_depth: float | None = Field(None, description="Deepest queue backlog seen.")
    requests: int | None = Field(None, ge=0, description="Requests sent.")
    sources: dict[str, str] = Field(
        default_factory=dict, description="Which source each number came from."
    )
    gates: list[GateResult] = Field(default_factory=list, description="Gate outcomes.")
    regressions: list[Regression] = Field(
        default_factory=list, description="Comparison with the baseline."
    )


class TimeWindow(ApiModel):
    """A time range (RFC 3339)."""

    start: str = Field(description="Start.")
    end: str | None = Field(None, description="End.")


class PerfRunStatus(ApiModel):
    """What the operator observed and decided."""

    observed_generation: int | None = Field(None, description="Generation last acted on.")
    phase: Phase | None = Field(None, description="Where the run is.")
    run_id: str | None = Field(None, max_length=64, description="Label value on every object.")
    namespace: str | None = Field(None, max_length=63, description="The run's namespace.")
    started_at: str | None = Field(None, description="When provisioning began.")
    finished_at: str | None = Field(None, description="When a terminal phase was reached.")
    expires_at: str | None = Field(None, description="Hard deadline: startedAt + ttl.maxDuration.")
    delete_at: str | None = Field(None, description="When the namespace goes after finishing.")
    load_window: TimeWindow | None = Field(None, description="When load ran.")
    load: LoadProgress | None = Field(None, description="Load progress.")
    results: Results | None = Field(None, description="Measurements and gates.")
    verdict: Verdict | None = Field(None, description="Passed, Failed or Inconclusive.")
    message: str | None = Field(None, max_length=4096, description="Latest human summary.")
    report: str | None = Field(
        None, max_length=253, description="ConfigMap holding the bounded report."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready/Reconciling/Stalled (kstatus), Finished, Succeeded and step conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
