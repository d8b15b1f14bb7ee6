"""The cluster admin's fences around every PerfRun: limits the author of a run does not set.

The same limits are enforced twice: at admission by the chart's ValidatingAdmissionPolicy
(the Helm values ``policy.*`` written into its CEL variables) and by the operator,
which ends a violating run ``Invalid`` with reason ``PolicyViolation`` before anything is
created. This module is the operator's side, pure: ``violations(spec, policy)``.

Some networks are never a run's to reach, whatever the admin allows: loopback, link-local
(cloud metadata services live there) and the unspecified address. The CRD refuses them
already (``NEVER_EGRESS``); the operator checks again."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from perfrun.api.networks import never_egress
from perfrun.api.perfrun import PerfRunSpec
from perfrun.api.types import parse_duration, parse_quantity

POD_SECURITY_LEVELS = ("restricted", "baseline", "privileged")  # most to least restrictive
DEFAULT_REGISTRY = "docker.io"
ENV_PREFIX = "PERFRUN_POLICY_"


@dataclass(frozen=True)
class AdminPolicy:
    """The admin's limits; an empty tuple or None means what the comment says."""

    egress_cidrs: tuple[str, ...] = ()  # networks egressAllow may name; none by default
    prometheus_urls: tuple[str, ...] = ()  # URL prefixes an external Prometheus may have
    max_pod_security: str = "baseline"  # the least restrictive level a run may ask for
    image_registries: tuple[str, ...] = ()  # registry hosts images may come from; () = any
    max_rps: int | None = None  # ceiling of load.budget.maxRps
    max_parallelism: int | None = None  # ceiling of load.parallelism
    max_replicas: int | None = None  # ceiling of each workload's replicas
    max_duration: str | None = None  # ceiling of ttl.maxDuration and load.budget.maxDuration
    max_storage: str | None = None  # ceiling of each component's storage

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AdminPolicy:
        """From ``PERFRUN_POLICY_*`` (the chart sets them from the same values as the
        admission policy's variables): lists comma-separated, empty means unset."""

        def text(name: str) -> str:
            return env.get(ENV_PREFIX + name, "").strip()

        def items(name: str) -> tuple[str, ...]:
            return tuple(x.strip() for x in text(name).split(",") if x.strip())

        def number(name: str) -> int | None:
            return int(text(name)) if text(name) else None

        policy = cls(
            egress_cidrs=items("EGRESS_CIDRS"),
            prometheus_urls=items("PROMETHEUS_URLS"),
            max_pod_security=text("MAX_POD_SECURITY") or "baseline",
            image_registries=items("IMAGE_REGISTRIES"),
            max_rps=number("MAX_RPS"),
            max_parallelism=number("MAX_PARALLELISM"),
            max_replicas=number("MAX_REPLICAS"),
            max_duration=text("MAX_DURATION") or None,
            max_storage=text("MAX_STORAGE") or None,
        )
        policy.check()
        return policy

    def check(self) -> None:
        """Refuse a policy that is itself malformed (at operator start, not per run)."""
        for cidr in self.egress_cidrs:
            ipaddress.ip_network(cidr, strict=False)
        if self.max_pod_security not in POD_SECURITY_LEVELS:
            raise ValueError(
                f"policy maxPodSecurity {self.max_pod_security!r} is not one of "
                f"{', '.join(POD_SECURITY_LEVELS)}"
            )
        if self.max_duration is not None:
            parse_duration(self.max_duration)
        if self.max_storage is not None:
            parse_quantity(self.max_storage)


def registry_of(image: str) -> str:
    """The registry host of an image reference, Docker's rule: the first path part when it
    has a '.' or ':' or is 'localhost', else Docker Hub."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DEFAULT_REGISTRY


def service_namespace(url: str) -> str | None:
    """For a URL naming a Service: its namespace ('' for a bare name, which means the run's
    own namespace); None for any other host."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host and "." not in host:
        return ""
    for suffix in (".svc.cluster.local", ".svc"):
        if host.endswith(suffix):
            labels = host.removesuffix(suffix).split(".")
            if len(labels) == 2:
                return labels[1]
    return None


def prometheus_url_allowed(url: str, policy: AdminPolicy, run_namespace: str) -> bool:
    """A Service in the run's own namespace, or a URL under one of the admin's prefixes."""
    if service_namespace(url) in ("", run_namespace):
        return True
    return any(url == p or url.startswith(p.rstrip("/") + "/") for p in policy.prometheus_urls)


def _images(spec: PerfRunSpec) -> Iterator[tuple[str, str]]:
    env = spec.environment
    for i, w in enumerate(env.workloads):
        yield f"spec.environment.workloads[{i}].image", w.image
    for i, c in enumerate(env.components):
        if c.image:
            yield f"spec.environment.components[{i}].image", c.image
    if env.migrations is not None:
        yield "spec.environment.migrations.image", env.migrations.image
    if spec.load.image:
        yield "spec.load.image", spec.load.image


def violations(spec: PerfRunSpec, policy: AdminPolicy, run_namespace: str) -> list[str]:
    """Every limit the spec breaks, one line each: the field, its value and the limit."""
    out: list[str] = []
    env = spec.environment
    for i, rule in enumerate(env.egress_allow):
        where = f"spec.environment.egressAllow[{i}].cidr {rule.cidr}"
        bad = never_egress(rule.cidr)
        if bad:
            out.append(f"{where} overlaps {bad}, which no run may reach")
        elif not _inside_any(rule.cidr, policy.egress_cidrs):
            allowed = ", ".join(policy.egress_cidrs) or "none"
            out.append(f"{where} is outside policy.egressCidrs (allowed: {allowed})")
    url = spec.analysis.prometheus.url
    if url and not prometheus_url_allowed(url, policy, run_namespace):
        allowed = ", ".join(policy.prometheus_urls) or "none"
        out.append(
            f"spec.analysis.prometheus.url {url} is neither a Service of the run's namespace "
            f"nor under policy.prometheusUrls (allowed: {allowed})"
        )
    level, top = env.pod_security, policy.max_pod_security
    if POD_SECURITY_LEVELS.index(level) > POD_SECURITY_LEVELS.index(top):
        out.append(f"spec.environment.podSecurity {level} is above policy.maxPodSecurity {top}")
    if policy.image_registries:
        for where, image in _images(spec):
            if registry_of(image) not in policy.image_registries:
                out.append(
                    f"{where} {image} is from registry {registry_of(image)}, not in "
                    f"policy.imageRegistries ({', '.join(policy.image_registries)})"
                )
    out += _ceilings(spec, policy)
    return out


def _ceilings(spec: PerfRunSpec, policy: AdminPolicy) -> list[str]:
    out: list[str] = []

    def over(where: str, value: object, limit: object, name: str) -> None:
        out.append(f"{where} {value} is over policy.{name} {limit}")

    load = spec.load
    if policy.max_rps is not None and load.budget.max_rps > policy.max_rps:
        over("spec.load.budget.maxRps", load.budget.max_rps, policy.max_rps, "maxRps")
    if policy.max_parallelism is not None and load.parallelism > policy.max_parallelism:
        over("spec.load.parallelism", load.parallelism, policy.max_parallelism, "maxParallelism")
    if policy.max_replicas is not None:
        for i, w in enumerate(spec.environment.workloads):
            if w.replicas > policy.max_replicas:
                where = f"spec.environment.workloads[{i}].replicas"
                over(where, w.replicas, policy.max_replicas, "maxReplicas")
    if policy.max_duration is not None:
        limit = parse_duration(policy.max_duration)
        for where, value in (
            ("spec.ttl.maxDuration", spec.ttl.max_duration),
            ("spec.load.budget.maxDuration", load.budget.max_duration),
        ):
            if parse_duration(value) > limit:
                over(where, value, policy.max_duration, "maxDuration")
    if policy.max_storage is not None:
        ceiling: Decimal = parse_quantity(policy.max_storage)
        for i, c in enumerate(spec.environment.components):
            if c.storage and parse_quantity(c.storage) > ceiling:
                where = f"spec.environment.components[{i}].storage"
                over(where, c.storage, policy.max_storage, "maxStorage")
    return out


def _inside_any(cidr: str, allowed: tuple[str, ...]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for text in allowed:
        outer = ipaddress.ip_network(text, strict=False)
        if net.version == outer.version and net.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False
