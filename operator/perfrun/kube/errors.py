"""The Kubernetes client's errors, translated at the door: the layers above catch these and
never import ``kubernetes`` themselves (an import-linter contract holds them to it)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator


class KubeError(Exception):
    """The API server refused or failed a request: ``status`` (HTTP) and ``reason`` as it
    said them (``status`` 0 when no answer came)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str = "",
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or f"{status} {reason}")
        self.status = status
        self.reason = reason
        # the ``message`` of the Status the API server answered (e.g. which field is invalid,
        # which admission policy denied), when it sent one
        self.detail = detail
        # seconds the API server asked us to wait (its Retry-After header), when it said
        self.retry_after = retry_after


def _retry_after(exc: object) -> float | None:
    """The Retry-After header of a failed response, in seconds (the API server's priority and
    fairness answers 429 with one; an HTTP date is not used by it and counts as absent)."""
    headers = getattr(exc, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _status_message(exc: object) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        status = json.loads(body) if isinstance(body, str) and body else None
    except ValueError:
        return ""
    message = status.get("message") if isinstance(status, dict) else None
    return " ".join(message.split()) if isinstance(message, str) else ""


# Server-side apply answers 500 when it cannot build the object from the body (a list-map
# with a key twice, e.g. an env name): an internal error in name only, no retry changes it.
TYPED_PATCH_FAILURE = "failed to create typed patch object"


def unbuildable(exc: KubeError) -> bool:
    """Whether ``exc`` is the API server failing to build an applied object (see above)."""
    return exc.status == 500 and exc.detail.startswith(TYPED_PATCH_FAILURE)


class KindNotServedError(KubeError):
    """The API server serves no such apiVersion/kind (e.g. a CRD that is not installed)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, "NotServed", message)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Run a client call; its errors come out as :class:`KubeError` (the original chained)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        yield
    except ResourceNotFoundError as exc:
        raise KindNotServedError(str(exc)) from exc
    except ApiException as exc:
        raise KubeError(
            int(exc.status or 0),
            str(exc.reason or ""),
            str(exc),
            _status_message(exc),
            _retry_after(exc),
        ) from exc


def is_api_trouble(exc: BaseException) -> bool:
    """Whether ``exc`` is the API (or the network to it) failing, not this program: an answer
    of the API server (:class:`KubeError`, or the client's own exception if one escaped the
    translation), a refused or broken connection, a timeout. Such a failure passes (or is
    judged where it happens); anything else raised during a reconcile is a fault of ours."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return isinstance(exc, KubeError | ApiException | OSError | urllib3.exceptions.HTTPError)
