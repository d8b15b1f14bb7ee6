"""The PerfBaseline resource: a named set of results later runs are compared with.

A baseline is a small custom resource of its own (not a ConfigMap, not an annotation on a
PerfRun): it outlives the run and its namespace, the API server validates it against this
schema, RBAC can grant "promote baselines" separately from "run tests", ``kubectl get
perfbaselines`` shows the numbers, and a team can keep one in Git and apply it like any other
manifest. The values live in ``spec`` because they are declared data (promoted or written by
hand), not something a controller observes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from perfrun.api.base import ApiModel
from perfrun.api.perfrun import GROUP, VERSION
from perfrun.api.types import DnsLabel

BASELINE_KIND = "PerfBaseline"
BASELINE_PLURAL = "perfbaselines"
BASELINE_SINGULAR = "perfbaseline"
BASELINE_SHORT_NAMES = ("pb",)
BASELINE_API_VERSION = f"{GROUP}/{VERSION}"


class BaselineValues(ApiModel):
    """The numbers compared; the same names and units as a PerfRun's status.results."""

    p50_ms: float | None = Field(None, ge=0, description="Median latency, ms.")
    p95_ms: float | None = Field(None, ge=0, description="95th percentile latency, ms.")
    p99_ms: float | None = Field(None, ge=0, description="99th percentile latency, ms.")
    error_rate: float | None = Field(None, ge=0, le=1, description="Failed share of requests.")
    throughput_rps: float | None = Field(None, ge=0, description="Requests per second.")
    max_queue_depth: float | None = Field(None, ge=0, description="Deepest queue backlog.")


class BaselineSource(ApiModel):
    """Where the values came from, so a regression can be traced to a run."""

    run: DnsLabel | None = Field(None, description="The PerfRun promoted.")
    namespace: str | None = Field(None, max_length=63, description="That PerfRun's namespace.")
    promoted_at: str | None = Field(None, max_length=64, description="When (RFC 3339).")
    verdict: str | None = Field(None, max_length=32, description="The run's verdict then.")
    release: str | None = Field(None, max_length=128, description="Free text, e.g. 1.7.3.")


class PerfBaselineSpec(ApiModel):
    """A named baseline: values plus where they came from."""

    values: BaselineValues = Field(description="The baseline numbers.")
    sources: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Which source each number came from (prometheus or loadSummary).",
    )
    source: BaselineSource = Field(
        default_factory=BaselineSource,
        description="The run it was promoted from.",
        json_schema_extra={"default": {}},
    )


class PerfBaseline(ApiModel):
    """The whole object as read from or written to the API server."""

    api_version: Literal["perfrun.dev/v1alpha1"] = Field(
        "perfrun.dev/v1alpha1", description="API version."
    )
    kind: Literal["PerfBaseline"] = Field("PerfBaseline", description="Kind.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Object metadata.")
    spec: PerfBaselineSpec = Field(description="The baseline.")
