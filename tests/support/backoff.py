"""A target with a known capacity, and the judgement of a back-off against it, shared by the
back-off tests of one engine, of one pod's processes and of several pods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.support.loadservers import Hit

# The first window, and the decision taken at its end, are not judged.
FIRST_JUDGED_S = 2.0


def refusing_past(capacity: int) -> Callable[[int, float], int]:
    """A status function: 429 for whatever arrives past ``capacity`` in a server second."""
    seen: dict[int, int] = {}
    start: list[float] = []

    def status(k: int, now: float) -> int:
        if not start:
            start.append(now)
        second = int(now - start[0])
        seen[second] = seen.get(second, 0) + 1
        return 429 if seen[second] > capacity else 200

    return status


def assert_settled_under(
    hits: Sequence[Hit],
    then: str,
    decisions: list[dict[str, Any]],
    share: float,
    capacity: int = 100,
    after: float | None = None,
) -> None:
    """Settled within 10 % under ``capacity`` (seconds 5-13) and never over it; the refused
    share under ``share`` after the first window (of the last pod to start, ``after`` on the
    server's clock, if later)."""
    t0 = min(h.arrived for h in hits)
    first_judged = max(t0, after if after is not None else t0) + FIRST_JUDGED_S
    ok = [0] * 16
    refused_after_first = total_after_first = 0
    for h in hits:
        k = int(h.arrived - t0)
        if h.status == 200 and k < 16:
            ok[k] += 1
        if h.arrived >= first_judged:
            total_after_first += 1
            refused_after_first += h.status == 429
    settled = ok[5:14]
    rates = [(d.get("atSeconds"), d.get("toRate")) for d in decisions][:8]
    detail = (then, ok, refused_after_first, total_after_first, rates)
    assert sum(settled) / len(settled) >= 0.9 * capacity, detail
    assert max(settled) <= capacity, detail
    assert refused_after_first / total_after_first < share, detail
