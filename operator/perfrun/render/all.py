"""The whole environment in apply order (the Namespace itself is applied first, separately):
fence (quota, limits, network policy, RBAC), the image pull secrets, then components (Secret
first), workloads and Prometheus. Jobs are applied later, phase by phase, by the controller."""

from __future__ import annotations

from perfrun.api import PerfRun
from perfrun.render.components import components
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest
from perfrun.render.namespace import fence
from perfrun.render.prometheus import prometheus
from perfrun.render.pull_secrets import pull_secrets
from perfrun.render.workloads import workloads

# Kinds whose status tells whether the environment is ready (readyReplicas == replicas).
READINESS_KINDS = ("Deployment", "StatefulSet")


def environment(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    return (
        fence(run, ctx)
        + pull_secrets(ctx)
        + components(run, ctx)
        + workloads(run, ctx)
        + prometheus(run, ctx)
    )


def readiness_targets(manifests: list[Manifest]) -> list[tuple[str, str]]:
    """(kind, name) of the objects EnvironmentReady waits for, in apply order."""
    return [(m["kind"], m["metadata"]["name"]) for m in manifests if m["kind"] in READINESS_KINDS]
