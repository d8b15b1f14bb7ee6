"""Images the renderers use besides the ones a spec names. Pinned, so a re-render gives the
same pods, and in one place, so a mirror or an upgrade is a one-line change."""

from __future__ import annotations

from perfrun.api.environment import DEFAULT_COMPONENT_VERSION, Component, ComponentKind

POSTGRES_EXPORTER = "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"
REDIS_EXPORTER = "oliver006/redis_exporter:v1.62.0"
PROMETHEUS = "prom/prometheus:v2.53.2"

# Numeric users of the images above (the official images' own users), so pods can declare
# runAsNonRoot and a fixed uid and pass the `restricted` Pod Security Standard too.
UID_POSTGRES = 999
UID_REDIS = 999
UID_RABBITMQ = 999
UID_POSTGRES_EXPORTER = 65534
UID_REDIS_EXPORTER = 59000
UID_PROMETHEUS = 65534
UID_PERFRUN = 65532


def component_image(component: Component) -> str:
    """The spec's image, else the official image of the version (rabbitmq: -management)."""
    if component.image:
        return component.image
    version = component.version or DEFAULT_COMPONENT_VERSION[component.kind]
    if component.kind == ComponentKind.POSTGRES:
        return f"postgres:{version}"
    if component.kind == ComponentKind.REDIS:
        return f"redis:{version}"
    return f"rabbitmq:{version}-management"
