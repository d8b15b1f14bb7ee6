"""What to make of an API error met while creating a run's objects: a refusal that no retry
will change (the run ends, naming the object and the API server's own message) or a passing
trouble (the next reconcile tries again, the TTL still counting)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from perfrun.kube.errors import TYPED_PATCH_FAILURE, KindNotServedError, KubeError, unbuildable

# Statuses the API server answers for an object it will never accept as it is: invalid (422),
# malformed or too large (400, 413), forbidden by RBAC, quota or an admission policy (403),
# of a kind it does not serve (404 on the collection), wrong media type (415).
REFUSED_STATUSES = frozenset({400, 403, 404, 413, 415, 422})
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Refusal:
    """An object the API server refused, and why (its own words)."""

    kind: str
    name: str
    status: int | None
    message: str

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.name}"

    def describe(self) -> str:
        code = f" ({self.status})" if self.status else ""
        return f"the API server refused {self.object}{code}: {self.message}"[:MAX_MESSAGE]


class ObjectRefusedError(Exception):
    """Raised by the reconciler's apply when the API server will not take an object."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.describe())
        self.refusal = refusal


def api_message(exc: KubeError) -> str:
    """The ``message`` of the Status object the API server answered (the Kubernetes API's
    own words, not a third party's body), else its HTTP reason."""
    if exc.detail:
        return exc.detail
    text = str(exc)
    marker = "HTTP response body:"
    status: Any = None
    if marker in text:
        try:
            status = json.loads(text.split(marker, 1)[1].strip())
        except ValueError:
            status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return " ".join(status["message"].split())
    return f"{exc.status} {exc.reason}".strip() or "refused"


def _untyped(exc: KubeError) -> bool:
    return unbuildable(exc) or (
        exc.status == 500 and api_message(exc).startswith(TYPED_PATCH_FAILURE)
    )


def refusal_of(manifest: dict[str, Any], exc: KubeError) -> Refusal | None:
    """The refusal ``exc`` means for ``manifest``; None for a passing error (retry)."""
    kind = str(manifest.get("kind", "?"))
    name = str((manifest.get("metadata") or {}).get("name", "?"))
    if isinstance(exc, KindNotServedError):
        return Refusal(kind, name, None, f"{manifest.get('apiVersion')} {kind} is not served")
    if exc.status in REFUSED_STATUSES or _untyped(exc):
        if kind == "Secret":  # a refusal may quote the object: never a Secret's
            return Refusal(kind, name, exc.status, f"{exc.reason or 'refused'} (message withheld)")
        return Refusal(kind, name, exc.status, api_message(exc))
    return None
