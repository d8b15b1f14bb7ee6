"""Every image the renderers use comes from one map: role -> template with ``{version}``, and
a default version per role. The default map is the official images, pinned, so a re-render
gives the same pods; a cluster admin points it at a mirror or at locally built images (the
operator's ``PERFRUN_IMAGES`` and ``PERFRUN_DEFAULT_VERSIONS``). A component's own ``image:``
wins over the map."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from perfrun.api.environment import DEFAULT_COMPONENT_VERSION, Component, ComponentKind

POSTGRES = "postgres"
REDIS = "redis"
RABBITMQ = "rabbitmq"
PROMETHEUS = "prometheus"
POSTGRES_EXPORTER = "postgres-exporter"
REDIS_EXPORTER = "redis-exporter"
PERFRUN = "perfrun"
ROLES = (POSTGRES, REDIS, RABBITMQ, PROMETHEUS, POSTGRES_EXPORTER, REDIS_EXPORTER, PERFRUN)

DEFAULT_TEMPLATES: dict[str, str] = {
    POSTGRES: "postgres:{version}",
    REDIS: "redis:{version}",
    RABBITMQ: "rabbitmq:{version}-management",
    PROMETHEUS: "prom/prometheus:{version}",
    POSTGRES_EXPORTER: "quay.io/prometheuscommunity/postgres-exporter:{version}",
    REDIS_EXPORTER: "oliver006/redis_exporter:{version}",
    PERFRUN: "ghcr.io/perfrun/perfrun:{version}",
}
# The perfrun role's default version is the operator's own (the settings pass it).
DEFAULT_VERSIONS: dict[str, str] = {
    POSTGRES: DEFAULT_COMPONENT_VERSION[ComponentKind.POSTGRES],
    REDIS: DEFAULT_COMPONENT_VERSION[ComponentKind.REDIS],
    RABBITMQ: DEFAULT_COMPONENT_VERSION[ComponentKind.RABBITMQ],
    PROMETHEUS: "v2.53.2",
    POSTGRES_EXPORTER: "v0.15.0",
    REDIS_EXPORTER: "v1.62.0",
}

# Numeric users of the images (the official images' own users, and the images built from
# images/), so pods can declare runAsNonRoot and a fixed uid and pass `restricted` too.
UID_POSTGRES = 999
UID_REDIS = 999
UID_RABBITMQ = 999
UID_POSTGRES_EXPORTER = 65534
UID_REDIS_EXPORTER = 59000
UID_PROMETHEUS = 65534
UID_PERFRUN = 65532

_KIND_ROLE = {
    ComponentKind.POSTGRES: POSTGRES,
    ComponentKind.REDIS: REDIS,
    ComponentKind.RABBITMQ: RABBITMQ,
}


@dataclass(frozen=True)
class ImageMap:
    """Role -> template and role -> default version; roles not given keep the defaults."""

    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    versions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VERSIONS))

    def image(self, role: str, version: str | None = None) -> str:
        """The role's image at ``version`` (else the role's default version)."""
        chosen = version or self.versions.get(role)
        if not chosen:
            raise ValueError(f"no version for image role {role!r}")
        return self.templates[role].replace("{version}", chosen)

    def component(self, component: Component) -> str:
        """The spec's image, else the map's image of the spec's version (or the default)."""
        if component.image:
            return component.image
        return self.image(_KIND_ROLE[component.kind], component.version)


def _object(text: str, variable: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable}: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{variable}: must be a JSON object of role to string")
    out: dict[str, str] = {}
    for role, item in value.items():
        if role not in ROLES:
            raise ValueError(f"{variable}.{role}: unknown image role (roles: {', '.join(ROLES)})")
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{variable}.{role}: must be a non-empty string")
        out[role] = item.strip()
    return out


def parse_image_map(
    templates: str = "",
    versions: str = "",
    *,
    perfrun_version: str,
    templates_name: str = "PERFRUN_IMAGES",
    versions_name: str = "PERFRUN_DEFAULT_VERSIONS",
) -> ImageMap:
    """The map from its two JSON settings (empty = defaults), each role checked. A template
    without ``{version}`` is a fixed image (the role's version then has no effect)."""
    given = _object(templates, templates_name) if templates.strip() else {}
    for role, template in given.items():
        if any(c.isspace() for c in template) or template.count("{") != template.count("}"):
            raise ValueError(f"{templates_name}.{role}: not an image reference: {template!r}")
        if "{" in template.replace("{version}", ""):
            raise ValueError(f"{templates_name}.{role}: the only placeholder is {{version}}")
    pinned = _object(versions, versions_name) if versions.strip() else {}
    return ImageMap(
        templates={**DEFAULT_TEMPLATES, **given},
        versions={**DEFAULT_VERSIONS, PERFRUN: perfrun_version, **pinned},
    )


DEFAULT_MAP = ImageMap()
