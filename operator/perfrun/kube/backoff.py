"""Backoff on the API server's passing refusals: 429 (priority and fairness, or a rate
limit) and 5xx. The one place every call of :class:`perfrun.kube.client.Kube` goes through:
it waits what the server's ``Retry-After`` asks (capped), else an exponential delay, and tries
again a few times before the error reaches the caller (whose next reconcile tries again)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from perfrun.kube.errors import KubeError, unbuildable

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Backoff:
    """How often and how long: ``attempts`` calls in all; the n-th wait is ``first * 2**n``
    unless the server said ``Retry-After``; no wait is longer than ``cap`` seconds."""

    attempts: int = 4
    first: float = 0.5
    cap: float = 10.0

    def delay(self, attempt: int, error: KubeError) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        wanted = error.retry_after if error.retry_after is not None else self.first * 2**attempt
        return min(max(wanted, 0.0), self.cap)


DEFAULT = Backoff()


def retried(error: KubeError) -> bool:
    return error.status in RETRIED_STATUSES and not unbuildable(error)


def with_backoff(
    call: Callable[[], T],
    what: str,
    policy: Backoff = DEFAULT,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, again after a wait while it fails with 429/5xx; the last error is raised."""
    for attempt in range(policy.attempts):
        try:
            return call()
        except KubeError as exc:
            if not retried(exc) or attempt + 1 >= policy.attempts:
                raise
            wait = policy.delay(attempt, exc)
            log.info(
                "%s: %s %s; again in %.1fs%s",
                what,
                exc.status,
                exc.reason,
                wait,
                " (Retry-After)" if exc.retry_after is not None else "",
            )
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
