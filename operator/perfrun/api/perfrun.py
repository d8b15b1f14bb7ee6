"""The PerfRun resource: spec, the rules spanning its sections, and what is immutable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from perfrun.api.analysis import AnalysisSpec
from perfrun.api.base import ApiModel, Rule
from perfrun.api.dataset import Dataset
from perfrun.api.environment import ComponentKind, Environment
from perfrun.api.load import LoadSpec
from perfrun.api.status import PerfRunStatus
from perfrun.api.types import Duration, PositiveDuration

GROUP = "perfrun.dev"
VERSION = "v1alpha1"
KIND = "PerfRun"
PLURAL = "perfruns"
SINGULAR = "perfrun"
SHORT_NAMES = ("pr", "perf")
API_VERSION = f"{GROUP}/{VERSION}"
MAX_NAME_LENGTH = 40  # perf-<name>-<5 char suffix> must stay a 63-character namespace name

# Sections fixed once a run exists: a run measures one release with one setup; changing any
# of them mid-run would make its numbers meaningless. ttl may be extended, abort set.
IMMUTABLE_SECTIONS = ("environment", "dataset", "load", "analysis")


def _immutable(section: str) -> Rule:
    return Rule(
        cel=f"has(self.{section}) == has(oldSelf.{section}) && "
        f"(!has(self.{section}) || self.{section} == oldSelf.{section})",
        message=f"spec.{section} is immutable once the run exists; create a new PerfRun",
        check=None,
        field_path=f".{section}",
        reason="FieldValueForbidden",
    )


class Ttl(ApiModel):
    """How long the run and its namespace may live."""

    max_duration: PositiveDuration = Field("2h", description="Hard limit from start; then Expired.")
    after_finished: Duration = Field("15m", description="Keep the namespace after a pass.")
    keep_on_failure: Duration = Field(
        "1h", description="Keep the namespace after a failure, for debugging."
    )


class PerfRunSpec(ApiModel):
    """A performance test of one release in an isolated, production-shaped namespace."""

    ttl: Ttl = Field(
        default_factory=Ttl, description="Lifetime limits.", json_schema_extra={"default": {}}
    )
    abort: bool = Field(False, description="Set true to stop the run cleanly; cannot be undone.")
    environment: Environment = Field(description="The namespace's components and workloads.")
    dataset: Dataset | None = Field(None, description="Data restored before the load.")
    load: LoadSpec = Field(description="The load and its budget.")
    analysis: AnalysisSpec = Field(
        default_factory=AnalysisSpec,
        description="Metrics, gates and baseline.",
        json_schema_extra={"default": {}},
    )

    __rules__ = (
        Rule(
            cel="!has(self.dataset) || self.environment.components.exists(c, "
            "c.name == self.dataset.into && c.kind == 'postgres')",
            message="dataset.into must name a component of kind postgres in environment.components",
            check=lambda s: (
                s.dataset is None
                or any(
                    c.name == s.dataset.into and c.kind == ComponentKind.POSTGRES
                    for c in s.environment.components
                )
            ),
            field_path=".dataset.into",
        ),
        *(_immutable(section) for section in IMMUTABLE_SECTIONS),
        Rule(
            cel="!oldSelf.abort || self.abort",
            message="spec.abort cannot be undone once set",
            check=None,
            field_path=".abort",
            reason="FieldValueForbidden",
        ),
    )


class PerfRun(ApiModel):
    """The whole object as ``kubectl apply`` sends it."""

    api_version: Literal["perfrun.dev/v1alpha1"] = Field(
        "perfrun.dev/v1alpha1", description="API version."
    )
    kind: Literal["PerfRun"] = Field("PerfRun", description="Kind.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Object metadata.")
    spec: PerfRunSpec = Field(description="What to run.")
    status: PerfRunStatus | None = Field(None, description="What the operator observed.")

    __rules__ = (
        Rule(
            # the CRD says it with metadata.name's maxLength (see crd.py), the API server then
            # names the field; this is the offline side of the same limit
            cel="true",
            message=f"must be at most {MAX_NAME_LENGTH} characters: the run's "
            "namespace is perf-<name>-<suffix>",
            check=lambda r: len(str(r.metadata.get("name", ""))) <= MAX_NAME_LENGTH,
            field_path=".metadata.name",
        ),
    )
