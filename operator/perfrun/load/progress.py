"""A load pod's progress while it runs: a small JSON document the pod writes to the run's
``load-progress`` ConfigMap (key ``progress-<i>.json``) every interval, which the operator
sums into ``status.load``. Pure: the engine supplies the counters, the runner does the I/O.

Reports are aligned to the wall clock (every pod writes just after the same multiples of the
interval, spread by a few milliseconds per index), so N pods change the operator's sum about
once per interval instead of N times, and ``status.load`` costs about one patch per interval."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from perfrun.api.wire import ProgressReport

ENV_INTERVAL = "PERFRUN_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 15.0
MIN_INTERVAL_S = 0.5
# Pod i writes i * SPREAD_S after the aligned instant (mod MAX_SPREAD_S): the API server is
# not hit by every pod in the same millisecond, and the operator still sees one burst.
SPREAD_S = 0.02
MAX_SPREAD_S = 1.0


@dataclass(frozen=True)
class Counters:
    """What the engine knows at one instant (``at``: seconds on its own clock)."""

    at: float
    step: int  # 1-based; 0 before the first step
    steps: int  # in this pod's ramp
    target_rps: float  # open model
    target_users: int  # closed model
    in_flight: int
    backed_off: bool
    requests: int  # completed requests, answered or failed
    errors: int  # completed requests that failed
    dropped: int = 0  # open model: slots due but not sent in time
    cpu_s: float = 0.0  # the process's own CPU seconds so far
    p99_ms: float | None = None  # p99 latency of every request so far (None before any)


class ProgressMeter:
    """Turns successive counters into progress documents; the achieved rate is measured
    between two reports (the first one: since the start)."""

    def __init__(self, started_at: float = 0.0) -> None:
        self._last_at = started_at
        self._last_requests = 0
        self._last_cpu_s = 0.0

    def report(self, c: Counters, *, final: bool = False) -> dict[str, Any]:
        held = c.at - self._last_at
        achieved = (c.requests - self._last_requests) / held if held > 0 else 0.0
        cores = max(0.0, c.cpu_s - self._last_cpu_s) / held if held > 0 else 0.0
        self._last_at, self._last_requests, self._last_cpu_s = c.at, c.requests, c.cpu_s
        return ProgressReport(
            final=final,
            step=c.step,
            steps=c.steps,
            target_rps=round(c.target_rps, 3),
            target_users=c.target_users,
            achieved_rps=round(achieved, 3),
            in_flight=c.in_flight,
            backed_off=c.backed_off,
            requests=c.requests,
            errors=c.errors,
            dropped=c.dropped,
            cpu_cores=round(cores, 3),
            p99_ms=None if c.p99_ms is None else round(c.p99_ms, 3),
        ).to_wire()


def dumps(progress: dict[str, Any]) -> str:
    return json.dumps(progress, sort_keys=True, separators=(",", ":"))


def next_report_delay(epoch_s: float, interval_s: float, index: int) -> float:
    """Seconds from ``epoch_s`` (wall clock) to this pod's next report: the next multiple of
    ``interval_s`` plus the pod's small spread. Never less than a tenth of the interval, so
    a report just made is not repeated at once."""
    interval_s = max(interval_s, MIN_INTERVAL_S)
    spread = (index * SPREAD_S) % min(MAX_SPREAD_S, interval_s / 4)
    boundary = math.floor((epoch_s - spread) / interval_s) * interval_s + interval_s + spread
    delay = boundary - epoch_s
    if delay < interval_s / 10:
        delay += interval_s
    return delay


def interval_from_env(value: str | None) -> float:
    """``PERFRUN_PROGRESS_INTERVAL`` in seconds; 0 turns reporting off; a bad value raises,
    naming the variable."""
    if value is None or not value.strip():
        return DEFAULT_INTERVAL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if seconds != 0 and not (math.isfinite(seconds) and seconds >= MIN_INTERVAL_S):
        raise ValueError(
            f"{ENV_INTERVAL} must be 0 (off) or at least {MIN_INTERVAL_S} seconds, got {value!r}"
        )
    return seconds
