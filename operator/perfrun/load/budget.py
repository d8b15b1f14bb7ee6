"""The budget a load pod must never exceed: its exact share of the run's limits, and the
limiters that enforce them. Pure: time is passed in, so the guarantees are unit-testable."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from perfrun.api.load import LoadSpec
from perfrun.api.types import parse_duration

# Sends are spaced so that no window of one second *plus this guard* holds more than the
# per-second budget. The guard absorbs the spread of client-to-server delays (scheduling
# jitter on a busy node), so the count the *server* sees in any second stays within budget
# too.
RATE_WINDOW_GUARD_S = 0.002
# The open model paces a step at (or above) the budget this much below what the window
# admits: at exactly the window's rate a send that is late once (the process was not
# scheduled) keeps every later send of its place in the window late by as much, for ever;
# with this slack the schedule catches up by ~4 ms a second. Guard and slack together cost
# 0.6% of the budget.
PACE_SLACK = 0.004


def split(total: int, count: int, index: int) -> int:
    """Pod ``index`` of ``count``'s share of ``total`` (largest remainder with equal weights:
    every pod gets ``total // count``, the first ``total % count`` one more), so the shares
    always sum to exactly ``total`` and differ by at most one."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"pod index {index} is not within a count of {count}")
    base, extra = divmod(total, count)
    return base + (1 if index < extra else 0)


@dataclass(frozen=True)
class Share:
    """One pod's part of the budget and of every ramp step."""

    index: int
    count: int
    max_rps: int
    max_in_flight: int
    max_duration_s: float
    max_accounts_per_minute: int | None
    max_rows: int | None
    step_rates: tuple[int, ...]


def share_of(spec: LoadSpec, index: int, count: int) -> Share:
    """The exact share of pod ``index`` of ``count`` (shares of every limit sum to the limit)."""
    b = spec.budget

    def part(total: int | None) -> int | None:
        return None if total is None else split(total, count, index)

    return Share(
        index=index,
        count=count,
        max_rps=split(b.max_rps, count, index),
        max_in_flight=split(b.max_in_flight, count, index),
        max_duration_s=parse_duration(b.max_duration),
        max_accounts_per_minute=part(b.max_accounts_per_minute),
        max_rows=part(b.max_rows),
        step_rates=tuple(split(s.rate, count, index) for s in spec.ramp.steps),
    )


class WindowLimiter:
    """At most ``limit`` units in any sliding window of ``window`` seconds.

    A strict token bucket of capacity ``limit`` refilled at ``limit/window`` would admit up
    to twice the limit in one window (a full bucket plus its refill); a bucket of capacity 1
    admits no catch-up after a scheduling hiccup, so an open model running at the budget
    would lag forever. The sliding log admits bursts yet never more than ``limit`` per window.
    Memory is one timestamp per unit of ``limit``.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("limit must be >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self._log: deque[float] = deque()

    def _expire(self, now: float) -> None:
        log = self._log
        edge = now - self.window
        while log and log[0] <= edge:
            log.popleft()

    def wait_time(self, now: float, units: int = 1) -> float | None:
        """Seconds until ``units`` fit (0 if they fit now); ``None`` if they never can."""
        if units > self.limit:
            return None
        self._expire(now)
        free = self.limit - len(self._log)
        if free >= units:
            return 0.0
        # The oldest (units - free) entries must leave the window first. Never 0 here: float
        # rounding of (t + window) - window must not let a unit in before its time.
        return max(self._log[units - free - 1] + self.window - now, 1e-9)

    def try_acquire(self, now: float, units: int = 1) -> bool:
        """Take ``units`` if they fit now."""
        if self.wait_time(now, units) != 0.0:
            return False
        self._log.extend([now] * units)
        return True

    def take(self, now: float) -> float:
        """Take one unit if it fits now and return 0.0; else take nothing and return the
        seconds until it would fit (``inf`` if it never can). ``wait_time`` and
        ``try_acquire`` in one pass, for the engine's hot path."""
        log = self._log
        edge = now - self.window
        while log and log[0] <= edge:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return 0.0
        if self.limit == 0:
            return float("inf")
        return max(log[len(log) - self.limit] + self.window - now, 1e-9)

    def used(self, now: float) -> int:
        self._expire(now)
        return len(self._log)


def sustained_rps(max_rps: int) -> float:
    """The rate the open model paces a step at the budget at: what the per-pod limiter
    admits for ever (``max_rps`` per window), less ``PACE_SLACK`` to catch up after a
    late send."""
    return max_rps / (1.0 + RATE_WINDOW_GUARD_S) * (1.0 - PACE_SLACK)


def rate_limiter(max_rps: int) -> WindowLimiter:
    """The per-pod request limiter: ``max_rps`` in any 1 s (+ guard) window, retries included."""
    return WindowLimiter(max_rps, 1.0 + RATE_WINDOW_GUARD_S)


class CreationBudget:
    """Accounts per minute (sliding) and rows in all that scenarios may still create."""

    def __init__(self, accounts_per_minute: int | None, max_rows: int | None) -> None:
        self._accounts = (
            None if accounts_per_minute is None else WindowLimiter(accounts_per_minute, 60.0)
        )
        self._rows_left = max_rows
        self.accounts_created = 0
        self.rows_created = 0

    def try_take(self, now: float, accounts: int, rows: int) -> bool:
        """Reserve what one request creates; False (nothing reserved) if over either limit."""
        if rows and self._rows_left is not None and rows > self._rows_left:
            return False
        if (
            accounts
            and self._accounts is not None
            and not self._accounts.try_acquire(now, accounts)
        ):
            return False
        if rows and self._rows_left is not None:
            self._rows_left -= rows
        self.accounts_created += accounts
        self.rows_created += rows
        return True
