"""spec.environment: the production-shaped namespace a run gets — components (database,
cache, queue), the application's workloads, its migrations, and what egress is allowed."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field
from pydantic.config import JsonDict

from perfrun.api.base import ApiModel, Rule, unique
from perfrun.api.networks import NEVER_EGRESS, never_egress, never_egress_cel, valid_cidr
from perfrun.api.podmeta import PodMetadata
from perfrun.api.types import (
    SETTINGS_KEY_MAX,
    SETTINGS_KEY_PATTERN,
    Cidr,
    DnsLabel,
    EnvName,
    ImageRef,
    Port,
    PositiveDuration,
    Quantity,
    ShortText,
    keys_match,
    keys_rule_cel,
    parse_quantity,
)

# Named lists are list-maps keyed by name: the API server itself refuses duplicate names.
LIST_MAP_BY_NAME: JsonDict = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
}


class ComponentKind(StrEnum):
    POSTGRES = "postgres"
    REDIS = "redis"
    RABBITMQ = "rabbitmq"


DEFAULT_COMPONENT_VERSION: dict[str, str] = {
    ComponentKind.POSTGRES: "16",
    ComponentKind.REDIS: "7",
    ComponentKind.RABBITMQ: "3.13",
}


class ResourceAmounts(ApiModel):
    """CPU and memory as Kubernetes quantities."""

    cpu: Quantity | None = Field(None, description="CPU, e.g. 500m or 2.")
    memory: Quantity | None = Field(None, description="Memory, e.g. 512Mi or 4Gi.")


def _within_limit(r: Resources, name: str) -> bool:
    request = getattr(r.requests, name, None) if r.requests else None
    limit = getattr(r.limits, name, None) if r.limits else None
    return request is None or limit is None or parse_quantity(request) <= parse_quantity(limit)


def _cel_within_limit(name: str) -> str:
    return (
        f"!has(self.requests) || !has(self.requests.{name}) || !has(self.limits) || "
        f"!has(self.limits.{name}) || "
        f"quantity(self.requests.{name}).compareTo(quantity(self.limits.{name})) <= 0"
    )


class Resources(ApiModel):
    """Requests and limits of a container, as in a Pod spec."""

    requests: ResourceAmounts | None = Field(None, description="What the scheduler reserves.")
    limits: ResourceAmounts | None = Field(None, description="The most the container may use.")

    __rules__ = (
        Rule(
            cel=_cel_within_limit("cpu"),
            message="requests.cpu must not exceed limits.cpu",
            check=lambda r: _within_limit(r, "cpu"),
            field_path=".requests.cpu",
        ),
        Rule(
            cel=_cel_within_limit("memory"),
            message="requests.memory must not exceed limits.memory",
            check=lambda r: _within_limit(r, "memory"),
            field_path=".requests.memory",
        ),
    )


# An environment variable's value goes into the process environment (and, written as
# $(NAME), into the same container's own arguments), never into a component's config file:
# multi-line values such as certificates are allowed, other control characters are not.
ENV_VALUE_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
RESERVED_ENV_PREFIX = "PERFRUN_"


class EnvVar(ApiModel):
    """An environment variable with a literal value."""

    name: EnvName = Field(description="Variable name.")
    value: str = Field(
        "",
        max_length=4096,
        pattern=ENV_VALUE_PATTERN,
        description="Literal value (tab and newline allowed, no other control characters).",
    )

    __rules__ = (
        Rule(
            # the operator sets PERFRUN_RUN_ID (and may set more PERFRUN_ names): a second
            # entry of a name makes the container's env a list the API server cannot apply
            cel=f"!self.name.startsWith('{RESERVED_ENV_PREFIX}')",
            message=f"names starting with {RESERVED_ENV_PREFIX} are set by the operator",
            check=lambda e: not e.name.startswith(RESERVED_ENV_PREFIX),
            field_path=".name",
        ),
    )


class Component(ApiModel):
    """A built-in backing service, configured like production."""

    name: DnsLabel = Field(description="Name, also the Service's DNS name inside the namespace.")
    kind: ComponentKind = Field(description="Which service: postgres, redis or rabbitmq.")
    version: str | None = Field(
        None,
        pattern=r"^[0-9]+(\.[0-9]+){0,2}$",
        max_length=16,
        description="Major (or major.minor) version; default postgres 16, redis 7, rabbitmq 3.13.",
    )
    image: ImageRef | None = Field(
        None, description="Image override, e.g. a mirror; default is the official image."
    )
    storage: Quantity | None = Field(
        None, description="Size of the persistent volume (postgres, rabbitmq), e.g. 20Gi."
    )
    resources: Resources | None = Field(None, description="Container requests and limits.")
    settings: dict[str, ShortText] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Server settings mirroring production: postgresql.conf parameters, redis.conf "
            "directives or rabbitmq.conf keys."
        ),
    )

    __rules__ = (
        Rule(
            cel=keys_rule_cel("settings", SETTINGS_KEY_PATTERN, SETTINGS_KEY_MAX),
            message=f"settings keys must be at most {SETTINGS_KEY_MAX} characters of letters, "
            "digits, '_', '.' and '-', starting with a letter (like shared_buffers)",
            check=lambda c: keys_match(c.settings, SETTINGS_KEY_PATTERN, SETTINGS_KEY_MAX),
            field_path=".settings",
        ),
        Rule(
            cel="self.kind != 'redis' || !has(self.storage)",
            message="storage is only supported for postgres and rabbitmq components",
            check=lambda c: c.kind != ComponentKind.REDIS or c.storage is None,
            field_path=".storage",
        ),
    )


class WorkloadMetrics(ApiModel):
    """Where a workload serves Prometheus metrics: the run's Prometheus scrapes every pod of
    the workload there, so custom PromQL gates can read the application's own series."""

    port: int = Field(ge=1, le=65535, description="Container port serving the metrics.")
    path: str = Field(
        "/metrics", pattern=r"^/", max_length=256, description="HTTP path of the metrics."
    )


class Workload(ApiModel):
    """One of the application's own workloads (the system under test): a Deployment, and a
    Service when it has a port."""

    name: DnsLabel = Field(description="Name of the Deployment and, with a port, its Service.")
    image: ImageRef = Field(description="Container image of the application release under test.")
    command: list[ShortText] | None = Field(None, max_length=32, description="Entrypoint override.")
    args: list[ShortText] = Field(default_factory=list, max_length=64, description="Arguments.")
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra environment; connection settings for components are injected anyway.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    replicas: int = Field(1, ge=0, le=50, description="Number of pods.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Container port the Service exposes."
    )
    readiness_path: str | None = Field(
        None,
        pattern=r"^/[^\s\x00-\x1f\x7f]*$",
        max_length=256,
        description="HTTP path of the readiness probe on `port` (needs `port`).",
    )
    metrics: WorkloadMetrics | None = Field(
        None,
        description=(
            "Prometheus metrics of the workload (port and path), scraped by the run's "
            "Prometheus; a port of its own, not `port`."
        ),
    )
    resources: Resources | None = Field(None, description="Container requests and limits.")
    pod_metadata: PodMetadata | None = Field(None, description="Extra pod labels/annotations.")

    __rules__ = (
        Rule(
            cel="!has(self.metrics) || !has(self.port) || self.metrics.port != self.port",
            message="metrics.port must differ from port: serve the metrics on a port of their "
            "own (the Service exposes only port)",
            check=lambda w: w.metrics is None or w.port is None or w.metrics.port != w.port,
            field_path=".metrics.port",
        ),
        Rule(
            cel="!has(self.readinessPath) || has(self.port)",
            message="readinessPath needs port: the probe is an HTTP GET on that port",
            check=lambda w: w.readiness_path is None or w.port is not None,
            field_path=".readinessPath",
        ),
    )


class Migrations(ApiModel):
    """The application's schema migrations, run as a Job after the components are ready and
    before the dataset is restored."""

    image: ImageRef = Field(description="Image holding the migrations, usually the app's image.")
    command: list[ShortText] | None = Field(None, max_length=32, description="Entrypoint override.")
    args: list[ShortText] = Field(default_factory=list, max_length=64, description="Arguments.")
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra env.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    timeout: PositiveDuration = Field(
        "10m", description="Fail the run when migrations take longer."
    )
    backoff_limit: int = Field(0, ge=0, le=5, description="Retries of a failed migration pod.")
    resources: Resources | None = Field(
        None, description="Container requests and limits (default 100m CPU, 128Mi)."
    )
    pod_metadata: PodMetadata | None = Field(None, description="Extra pod labels/annotations.")


class EgressRule(ApiModel):
    """A destination outside the namespace that pods may reach."""

    cidr: Cidr = Field(description="Destination network, e.g. 10.20.0.0/16.")
    ports: list[Port] = Field(
        default_factory=list,
        max_length=16,
        description="Allowed destination ports; empty means all ports.",
    )
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="TCP or UDP.")

    __rules__ = (
        Rule(
            cel=never_egress_cel("self.cidr"),
            message="cidr must be a valid network that overlaps no loopback, link-local (cloud "
            "metadata) or unspecified address: " + ", ".join(NEVER_EGRESS),
            check=lambda r: valid_cidr(r.cidr) and never_egress(r.cidr) is None,
            field_path=".cidr",
        ),
    )


class Environment(ApiModel):
    """The namespace a run gets: components, workloads, migrations and its network fence."""

    components: list[Component] = Field(
        default_factory=list,
        max_length=8,
        description="Backing services (postgres, redis, rabbitmq); names are unique.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    workloads: list[Workload] = Field(
        default_factory=list,
        max_length=16,
        description="The application's workloads (the system under test); names are unique.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    migrations: Migrations | None = Field(
        None, description="Schema migrations run before the dataset is restored."
    )
    egress_allow: list[EgressRule] = Field(
        default_factory=list,
        max_length=16,
        description="Destinations outside the namespace pods may reach; DNS is always allowed.",
    )
    pod_security: Literal["privileged", "baseline", "restricted"] = Field(
        "baseline", description="Pod Security Standard enforced on the namespace."
    )
    ready_timeout: PositiveDuration = Field(
        "10m", description="Fail the run when the environment is not ready within this time."
    )

    __rules__ = (
        Rule(
            cel="self.components.all(c, !self.workloads.exists(w, w.name == c.name))",
            message="a workload and a component share a name; names are Service names and "
            "must be unique across environment.components and environment.workloads",
            check=lambda e: unique([c.name for c in e.components] + [w.name for w in e.workloads]),
            field_path=".workloads",
        ),
    )
