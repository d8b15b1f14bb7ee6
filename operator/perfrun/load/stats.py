"""What the engine counts while it runs: per-scenario HDR histograms, status codes per attempt,
failures by kind, and the current adaptive window. No I/O.

The hot path only bumps integers and appends each latency (whole microseconds) to a list per
scenario and status class; :meth:`Recorder.flush` (the engine calls it every 100 ms, every
window and at the end) counts them and adds the counts into the HDR histograms
(``histograms.add_counts``) and into the Prometheus metrics. Nothing is lost or approximated:
the histograms hold exactly what one ``record_value`` per request would have recorded. The
overall histogram is the sum of the scenarios' (same bucket layout, so exact)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hdrh.histogram import HdrHistogram

from perfrun.load.adaptive import WindowSignals
from perfrun.load.histograms import add_counts, new_histogram
from perfrun.load.status import ERROR_CLASS, STATUS_CLASSES, class_index


class MetricsSink(Protocol):
    """Where :meth:`Recorder.flush` publishes (``perfrun.load.metrics.LoadMetrics``)."""

    def observe_us(self, scenario: int, cls: int, counts: Mapping[int, int]) -> None: ...

    def set_attempts(self, scenario: int, by_class: list[int]) -> None: ...


@dataclass
class ScenarioStats:
    """One scenario's numbers (the overall ones are the same shape), as the summary reads
    them."""

    hist: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    ok: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    status_codes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    creation_limited: int = 0


class _Live:
    """A scenario's running counts, shaped for cheap updates."""

    __slots__ = (
        "attempts",
        "codes",
        "creation_limited",
        "errors",
        "failed",
        "hist",
        "ok",
        "pending",
        "requests",
        "retries",
    )

    def __init__(self) -> None:
        self.hist = new_histogram()
        self.requests = 0
        self.ok = 0
        self.failed = 0
        self.attempts = 0
        self.retries = 0
        self.codes: dict[int, int] = {}
        self.errors: Counter[str] = Counter()
        self.creation_limited = 0
        # latencies (µs) not yet in the histogram, by status class of the request's last answer
        self.pending: list[list[int]] = [[] for _ in STATUS_CLASSES]

    def view(self) -> ScenarioStats:
        return ScenarioStats(
            hist=self.hist,
            requests=self.requests,
            ok=self.ok,
            failed=self.failed,
            attempts=self.attempts,
            retries=self.retries,
            status_codes=Counter({str(k): v for k, v in self.codes.items()}),
            errors=Counter(self.errors),
            creation_limited=self.creation_limited,
        )


class Recorder:
    """Counts attempts and completed requests. Latencies go in as seconds from the request's
    *intended* start (its schedule slot, not when it actually went out)."""

    def __init__(
        self,
        scenario_names: list[str],
        back_off_codes: frozenset[int],
        metrics: MetricsSink | None = None,
    ) -> None:
        self.names = scenario_names
        self._live = [_Live() for _ in scenario_names]
        self.back_off_codes = back_off_codes
        self.metrics = metrics
        self.dropped = 0
        # Closed model: how long users waited for the budget before sending (not latency).
        self._budget_wait = new_histogram()
        self._pending_wait: list[int] = []
        self._w_hist = new_histogram()
        self._w_requests = 0
        self._w_attempts = 0
        self._w_back_off = 0
        self._w_errors = 0

    # --- hot path ------------------------------------------------------------------------

    def attempt(self, scenario: int, status: int | None, error: str | None, retry: bool) -> None:
        """One attempt went out and came back with ``status`` or failed with ``error``."""
        s = self._live[scenario]
        s.attempts += 1
        if retry:
            s.retries += 1
        if status is not None:
            codes = s.codes
            codes[status] = codes.get(status, 0) + 1
            if status in self.back_off_codes:
                self._w_back_off += 1
        else:
            s.errors[error or "error"] += 1
        self._w_attempts += 1

    def complete(
        self, scenario: int, latency_s: float, ok: bool, status: int | None = None
    ) -> None:
        """A request finished (after its last attempt, whose answer was ``status``); failures
        are in the histogram too: a timeout or an error page is a latency the user waited."""
        s = self._live[scenario]
        s.requests += 1
        if ok:
            s.ok += 1
        else:
            s.failed += 1
            self._w_errors += 1
        cls = status // 100 - 1 if status is not None and 100 <= status <= 599 else ERROR_CLASS
        s.pending[cls].append(int(latency_s * 1_000_000))
        self._w_requests += 1

    def answered(self, scenario: int, status: int, latency_s: float, ok: bool) -> None:
        """``attempt`` and ``complete`` at once for a request answered at its first attempt
        (the common case, so one call instead of two)."""
        s = self._live[scenario]
        s.attempts += 1
        s.requests += 1
        codes = s.codes
        codes[status] = codes.get(status, 0) + 1
        if status in self.back_off_codes:
            self._w_back_off += 1
        if ok:
            s.ok += 1
        else:
            s.failed += 1
            self._w_errors += 1
        cls = status // 100 - 1 if 100 <= status <= 599 else ERROR_CLASS
        s.pending[cls].append(int(latency_s * 1_000_000))
        self._w_attempts += 1
        self._w_requests += 1

    def incomplete(self, scenario: int, reason: str) -> None:
        """A request that never finished (cancelled at the deadline, or not sent)."""
        self._live[scenario].errors[reason] += 1

    def waited_for_budget(self, seconds: float) -> None:
        """A closed-model user waited this long for a slot and a rate token before sending."""
        self._pending_wait.append(int(seconds * 1_000_000))

    @property
    def budget_wait(self) -> HdrHistogram:
        """The closed model's waits for the budget so far (flushes first)."""
        _record_batch(self._budget_wait, self._pending_wait)
        self._pending_wait = []
        return self._budget_wait

    def creation_limited(self, scenario: int) -> None:
        self._live[scenario].creation_limited += 1

    # --- off the hot path ----------------------------------------------------------------

    def totals(self) -> tuple[int, int]:
        """(completed requests, failed ones) over every scenario, for progress reports."""
        return sum(s.requests for s in self._live), sum(s.failed for s in self._live)

    def flush(self) -> None:
        """Move the pending latencies into the histograms (the scenario's and the window's)
        and publish the counts to the metrics, if any."""
        metrics = self.metrics
        window = self._w_hist
        if self._pending_wait:
            _record_batch(self._budget_wait, self._pending_wait)
            self._pending_wait = []
        for i, s in enumerate(self._live):
            for cls, values in enumerate(s.pending):
                if not values:
                    continue
                s.pending[cls] = []
                counts = Counter(values)
                if metrics is not None:
                    metrics.observe_us(i, cls, counts)
                add_counts(s.hist, counts, window)
            if metrics is not None:
                by_class = [0] * len(STATUS_CLASSES)
                for code, n in s.codes.items():
                    by_class[class_index(code)] += n
                errors = s.attempts - sum(by_class)
                by_class[ERROR_CLASS] += errors
                metrics.set_attempts(i, by_class)

    def p99_ms(self) -> float | None:
        """p99 latency of every request so far (all scenarios), ms; None before the first."""
        hist = self.total.hist
        if not hist.get_total_count():
            return None
        return float(hist.get_value_at_percentile(99.0)) / 1000.0

    def take_window(self, start: float, end: float) -> WindowSignals:
        """The signals since the last call; starts a new window."""
        self.flush()
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
        self._w_hist = new_histogram()
        self._w_requests = self._w_attempts = self._w_back_off = self._w_errors = 0
        return out

    @property
    def scenarios(self) -> list[ScenarioStats]:
        """Each scenario's numbers so far (flushes first)."""
        self.flush()
        return [s.view() for s in self._live]

    @property
    def total(self) -> ScenarioStats:
        """All scenarios together; the histogram is the exact sum of theirs."""
        parts = self.scenarios
        out = ScenarioStats()
        for p in parts:
            out.hist.add(p.hist)
            out.requests += p.requests
            out.ok += p.ok
            out.failed += p.failed
            out.attempts += p.attempts
            out.retries += p.retries
            out.status_codes.update(p.status_codes)
            out.errors.update(p.errors)
            out.creation_limited += p.creation_limited
        return out


def _record_batch(hist: HdrHistogram, values: list[int]) -> None:
    add_counts(hist, Counter(values))
