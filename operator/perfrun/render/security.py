"""Security contexts. Images whose user we know (components, exporters, Prometheus, the
perfrun image) run as that fixed non-root uid with every capability dropped, which passes the
`restricted` Pod Security Standard; the application's own images get what the namespace's
level demands and no more, because an unknown image may need root (e.g. nginx)."""

from __future__ import annotations

from typing import Any

PodSecurityLevel = str

SECCOMP = {"type": "RuntimeDefault"}


def pod_security(uid: int | None = None) -> dict[str, Any]:
    """Pod-level context: RuntimeDefault seccomp; with a uid, that user and fsGroup."""
    out: dict[str, Any] = {"seccompProfile": dict(SECCOMP)}
    if uid is not None:
        out.update(runAsNonRoot=True, runAsUser=uid, runAsGroup=uid, fsGroup=uid)
    return out


def known_user(uid: int) -> dict[str, Any]:
    """A container of an image whose user we know: restricted-compliant."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(SECCOMP),
    }


def unknown_user(level: PodSecurityLevel) -> dict[str, Any]:
    """A container of the application's image: hardened as far as the level requires."""
    out: dict[str, Any] = {"allowPrivilegeEscalation": False}
    if level == "restricted":
        out.update(
            runAsNonRoot=True,
            capabilities={"drop": ["ALL"]},
            seccompProfile=dict(SECCOMP),
        )
    return out
