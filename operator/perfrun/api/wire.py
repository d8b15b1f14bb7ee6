"""What load pods write and the operator reads, defined once: the progress report, the summary
and its back-off decisions and steps, and the HDR histogram layout that makes summaries from N
pods merge exactly. Both sides import these models (the load program to write, the controller
and the analysis to read), so a drift is a type error or a failing fast test, not a cluster
surprise. Every document carries ``version``; a reader refuses one it does not know.

Readers are lenient about what they do not use (unknown keys are ignored, most fields have a
default), strict about the values they do use (a count is a non-negative int, never a bool)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PROGRESS_VERSION: Literal[1] = 1
SUMMARY_VERSION: Literal[1] = 1

# ConfigMap keys, one per load pod (ConfigMap keys allow ``-._``).
PROGRESS_KEY_PREFIX = "progress-"
SUMMARY_KEY_PREFIX = "summary-"

# HDR layout of every latency histogram: microseconds, 1 µs to one hour (longer than any
# request timeout), 3 significant digits. Same layout everywhere, so counts add exactly.
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000
HDR_SIGNIFICANT_DIGITS = 3

# Worst first: a merged run is as bad as its worst pod.
OUTCOMES = ("failed", "aborted", "deadline", "interrupted", "completed")


def progress_key(pod_index: int) -> str:
    """The ConfigMap key of pod ``pod_index``'s latest progress report."""
    return f"{PROGRESS_KEY_PREFIX}{pod_index}.json"


def summary_key(pod_index: int) -> str:
    """The ConfigMap key of pod ``pod_index``'s summary."""
    return f"{SUMMARY_KEY_PREFIX}{pod_index}.json"


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown keys ignored on reading."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True
    )

    def to_wire(self) -> dict[str, Any]:
        """The document as written: what was given, checked against the contract (fields
        left at their default are left out)."""
        doc = self.model_dump(by_alias=True, mode="json", exclude_unset=True)
        if "version" in type(self).model_fields and "version" not in doc:
            doc = {"version": vars(self)["version"], **doc}  # always said
        return doc


class ProgressReport(WireModel):
    """A load pod's progress while it runs (``progress-<i>.json``), summed into status.load."""

    version: Literal[1] = PROGRESS_VERSION
    final: bool = Field(False, description="The pod has stopped sending.")
    step: int = Field(0, ge=0, description="1-based step; 0 before the first.")
    steps: int = Field(0, ge=0, description="Steps in this pod's ramp.")
    target_rps: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="Open model.")
    target_users: int = Field(0, ge=0, description="Closed model.")
    achieved_rps: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="Since the last.")
    in_flight: int = Field(0, ge=0)
    backed_off: bool = False
    requests: int = Field(0, ge=0, description="Completed requests, answered or failed.")
    errors: int = Field(0, ge=0, description="Completed requests that failed.")
    dropped: int = Field(0, ge=0, description="Open model: due but not sent in time.")
    cpu_cores: float = Field(
        0.0, ge=0.0, allow_inf_nan=False, description="The pod's own CPU since the last."
    )
    p99_ms: float | None = Field(
        None, ge=0.0, allow_inf_nan=False, description="p99 latency of its requests so far."
    )


class BackOffDecision(WireModel):
    """One adaptive back-off decision with the window's numbers that led to it."""

    at_seconds: float | None = Field(None, description="Seconds after the pod's startedAt.")
    action: str = "backOff"
    step: int | None = None
    from_level: int | None = None
    to_level: int | None = None
    from_rate: float | None = None
    to_rate: float | None = None
    reasons: list[str] = Field(default_factory=list)
    window: dict[str, float | int] = Field(default_factory=dict)


class SummaryStep(WireModel):
    """One ramp step as the pod ran it (seconds relative to its startedAt)."""

    step: int = Field(ge=0, description="0-based index in the ramp.")
    rate: int | None = None
    start_seconds: float = 0.0
    end_seconds: float = 0.0
    sent: int = Field(0, ge=0)
    sent_per_second: float = 0.0
    due: int = Field(0, ge=0, description="Open model: slots that fell due in the step.")
    dropped: int = Field(0, ge=0, description="Slots not sent within maxLateness.")
    dropped_share: float = Field(0.0, ge=0.0, le=1.0)
    late: int = Field(0, ge=0, description="Slots sent over a tenth of maxLateness late.")
    max_late_ms: float = Field(0.0, ge=0.0)
    pod: int | None = Field(None, description="In a merged summary: whose step.")


class Totals(WireModel):
    """Counts and the latency histogram of all requests or of one scenario."""

    requests: int = Field(0, ge=0)
    ok: int = Field(0, ge=0)
    failed: int = Field(0, ge=0, description="Failed requests (``errors`` counts by kind).")
    attempts: int = Field(0, ge=0)
    retries: int = Field(0, ge=0)
    status_codes: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict)
    creation_limited: int = Field(0, ge=0)
    latency_ms: dict[str, float | int] = Field(default_factory=dict)
    histogram: str = Field("", description="HDR, standard compressed base64 encoding.")


class LoadSummary(Totals):
    """One load pod's summary (``summary-<i>.json``), or N pods' merged."""

    version: Literal[1] = SUMMARY_VERSION
    pods: list[dict[str, float | int]] = Field(
        default_factory=list,
        description="Per pod: index, count, maxRps, maxInFlight, and its own CPU "
        "(cpuSeconds, cpuCores).",
    )
    model: str | None = None
    outcome: str = "completed"
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    dropped: int = Field(0, ge=0)
    achieved_rps: float = 0.0
    error_rate: float = 0.0
    backed_off: bool = False
    decisions: list[BackOffDecision] = Field(default_factory=list)
    steps: list[SummaryStep] = Field(default_factory=list)
    creations: dict[str, int] = Field(default_factory=dict)
    target: dict[str, object] = Field(default_factory=dict)
    scenarios: dict[str, Totals] = Field(default_factory=dict)
    budget_wait_ms: dict[str, float | int] = Field(
        default_factory=dict, description="Closed model: users' wait for the budget."
    )
    budget_wait_histogram: str = ""
