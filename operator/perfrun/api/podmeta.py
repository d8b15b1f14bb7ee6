"""Extra labels and annotations for the pods a run creates: what platform teams put on
production pods (mesh opt-outs, cost centres, node-local policies) belongs on the
production-shaped copy too. Keys the operator relies on stay the operator's."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

from perfrun.api.base import ApiModel, Rule

# Kubernetes' qualified name: an optional DNS-subdomain prefix and a name of at most 63.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
RESERVED_PREFIX = "perfrun.dev/"
RESERVED_KEY = "app.kubernetes.io/managed-by"
# Security settings are the operator's (and, through policy.podSecurity, the cluster
# admin's): the legacy seccomp and AppArmor annotations would override or contradict the
# pod's own securityContext (the API server refuses a seccomp annotation that disagrees).
SECURITY_PREFIXES = (
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
    "container.apparmor.security.beta.kubernetes.io/",
    "pod-security.kubernetes.io/",
)
_QUALIFIED = re.compile(QUALIFIED_NAME)

LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE)]
AnnotationValue = Annotated[str, StringConstraints(max_length=4096)]


def _own_key(k: str) -> bool:
    return not k.startswith(RESERVED_PREFIX) and k != RESERVED_KEY


def _not_security(k: str) -> bool:
    return not k.startswith(SECURITY_PREFIXES)


def _valid_key(k: str) -> bool:
    return len(k) <= 253 and _QUALIFIED.match(k) is not None


def _every_key(cel: str) -> str:
    """A CEL rule holding for every label and annotation key (``k``)."""
    return f"self.labels.all(k, {cel}) && self.annotations.all(k, {cel})"


class PodMetadata(ApiModel):
    """Labels and annotations added to a pod template; the run's own labels win."""

    labels: dict[str, LabelValue] = Field(
        default_factory=dict, max_length=32, description="Extra pod labels."
    )
    annotations: dict[str, AnnotationValue] = Field(
        default_factory=dict, max_length=32, description="Extra pod annotations."
    )

    __rules__ = (
        Rule(
            cel=_every_key(f"!k.startsWith('{RESERVED_PREFIX}') && k != '{RESERVED_KEY}'"),
            message=f"keys under {RESERVED_PREFIX} and {RESERVED_KEY} belong to the operator",
            check=lambda m: all(map(_own_key, [*m.labels, *m.annotations])),
        ),
        Rule(
            cel=_every_key(" && ".join(f"!k.startsWith('{p}')" for p in SECURITY_PREFIXES)),
            message="seccomp, AppArmor and pod-security keys belong to the operator: the run's "
            "pods get the securityContext of environment.podSecurity",
            check=lambda m: all(map(_not_security, [*m.labels, *m.annotations])),
        ),
        Rule(
            cel=_every_key(f"size(k) <= 253 && k.matches('{QUALIFIED_NAME}')"),
            message="label and annotation keys must be qualified names like "
            "example.com/team or sidecar.istio.io/inject",
            check=lambda m: all(map(_valid_key, [*m.labels, *m.annotations])),
        ),
    )
