"""Prometheus metrics for live scraping of a load pod: attempts and request durations by
scenario and status class, in-flight, target rate, step and back-off state."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")


def status_class(status: int | None) -> str:
    """``2xx`` etc. for an answer, ``error`` for no answer (refused, reset, timeout)."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


class LoadMetrics:
    """The metrics of one engine, in their own registry (several engines can share a process,
    as in tests). No pod label: Prometheus adds the pod's own when it scrapes.
    Label children are made up front so the hot path does no label lookups."""

    def __init__(self, scenarios: list[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "perfrun_requests",
            "Requests sent (every attempt, retries included) by scenario and status class.",
            ["scenario", "status_class"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "perfrun_request_duration_seconds",
            "Request latency from its intended start (no coordinated omission).",
            ["scenario", "status_class"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "perfrun_load_in_flight", "Requests outstanding.", [], registry=self.registry
        )
        self.target_rate = Gauge(
            "perfrun_load_target_rate",
            "Current target: requests/s (open model) or virtual users (closed).",
            [],
            registry=self.registry,
        )
        self.step = Gauge("perfrun_load_step", "Ramp step.", [], registry=self.registry)
        self.backed_off = Gauge(
            "perfrun_load_backed_off",
            "1 once the adaptive back-off has acted.",
            [],
            registry=self.registry,
        )
        self.decisions = Counter(
            "perfrun_load_backoff_decisions",
            "Adaptive back-off decisions by action.",
            ["action"],
            registry=self.registry,
        )
        self._req = {
            (i, c): self.requests.labels(name, c)
            for i, name in enumerate(scenarios)
            for c in STATUS_CLASSES
        }
        self._dur = {
            (i, c): self.duration.labels(name, c)
            for i, name in enumerate(scenarios)
            for c in STATUS_CLASSES
        }

    def attempt(self, scenario: int, status: int | None) -> None:
        self._req[scenario, status_class(status)].inc()

    def completed(self, scenario: int, status: int | None, seconds: float) -> None:
        self._dur[scenario, status_class(status)].observe(seconds)

    def track_in_flight(self, read: Callable[[], float]) -> None:
        self.in_flight.set_function(read)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve ``/metrics`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)
