"""What the engine counts while it runs: per-scenario and overall HDR histograms, status codes
per attempt, failures by kind, and the current adaptive window. No I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from perfrun.load.adaptive import WindowSignals
from perfrun.load.histograms import new_histogram, record_seconds


@dataclass
class ScenarioStats:
    """One scenario's numbers (the overall ones are the same shape)."""

    hist: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    ok: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    status_codes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    creation_limited: int = 0


class Recorder:
    """Counts attempts and completed requests. Latencies go in as seconds from the request's
    *intended* start (its schedule slot, not when it actually went out)."""

    def __init__(self, scenario_names: list[str], back_off_codes: frozenset[int]) -> None:
        self.names = scenario_names
        self.scenarios = [ScenarioStats() for _ in scenario_names]
        self.total = ScenarioStats()
        self.back_off_codes = back_off_codes
        self.dropped = 0
        self._w_hist = new_histogram()
        self._w_requests = 0
        self._w_attempts = 0
        self._w_back_off = 0
        self._w_errors = 0

    def attempt(self, scenario: int, status: int | None, error: str | None, retry: bool) -> None:
        """One attempt went out and came back with ``status`` or failed with ``error``."""
        for s in (self.scenarios[scenario], self.total):
            s.attempts += 1
            if retry:
                s.retries += 1
            if status is not None:
                s.status_codes[str(status)] += 1
            else:
                s.errors[error or "error"] += 1
        self._w_attempts += 1
        if status is not None and status in self.back_off_codes:
            self._w_back_off += 1

    def complete(self, scenario: int, latency_s: float, ok: bool) -> None:
        """A request finished (after its last attempt); failures are in the histogram too:
        a timeout or an error page is a latency the user waited."""
        for s in (self.scenarios[scenario], self.total):
            s.requests += 1
            if ok:
                s.ok += 1
            else:
                s.failed += 1
            record_seconds(s.hist, latency_s)
        record_seconds(self._w_hist, latency_s)
        self._w_requests += 1
        if not ok:
            self._w_errors += 1

    def incomplete(self, scenario: int, reason: str) -> None:
        """A request that never finished (cancelled at the deadline, or not sent)."""
        for s in (self.scenarios[scenario], self.total):
            s.errors[reason] += 1

    def creation_limited(self, scenario: int) -> None:
        for s in (self.scenarios[scenario], self.total):
            s.creation_limited += 1

    def take_window(self, start: float, end: float) -> WindowSignals:
        """The signals since the last call; starts a new window."""
        p95 = (
            self._w_hist.get_value_at_percentile(95.0) / 1000.0
            if self._w_hist.get_total_count()
            else 0.0
        )
        out = WindowSignals(
            start=start,
            end=end,
            requests=self._w_requests,
            back_off_answers=self._w_back_off,
            errors=self._w_errors,
            p95_ms=p95,
            attempts=self._w_attempts,
        )
        self._w_hist.reset()
        self._w_requests = self._w_attempts = self._w_back_off = self._w_errors = 0
        return out
