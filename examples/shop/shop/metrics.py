"""The application's Prometheus metrics (one registry per process, served on the metrics
port). Names are what the example PerfRuns' PromQL gates read."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
    1.5, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "app_http_request_duration_seconds",
            "HTTP request duration by route and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_queries = Counter(
            "app_db_queries", "Database statements sent, by route.", ["route"], registry=r
        )
        self.db_lock_waits = Counter(
            "app_db_lock_waits",
            "Row locks that were held by another transaction and had to be waited for.",
            ["table"],
            registry=r,
        )
        self.db_lock_wait_seconds = Histogram(
            "app_db_lock_wait_seconds",
            "Time spent waiting for a row lock held by another transaction.",
            ["table"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter("app_cache_hits", "Cache hits.", ["cache"], registry=r)
        self.cache_misses = Counter("app_cache_misses", "Cache misses.", ["cache"], registry=r)
        self.queue_published = Counter(
            "app_queue_published", "Messages published (confirmed).", ["queue"], registry=r
        )
        self.queue_acked = Counter(
            "app_queue_acked", "Messages acknowledged by the worker.", ["queue"], registry=r
        )
        self.worker_lag = Histogram(
            "app_worker_lag_seconds",
            "Time from an order's enqueue to its completion by the worker.",
            ["queue"],
            buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 120.0, 300.0),
            registry=r,
        )
        self.worker_last_lag = Gauge(
            "app_worker_last_lag_seconds",
            "Enqueue-to-completion time of the last order the worker completed.",
            ["queue"],
            registry=r,
        )
        self.orders_completed = Counter(
            "app_orders_completed", "Orders completed by the worker.", registry=r
        )
        self.regression = Gauge(
            "app_regression_enabled", "1 for each planted regression that is on.", ["name"],
            registry=r,
        )  # fmt: skip

    def declare(self, queue: str) -> None:
        """Every labelled series at 0 from the start: a gate reading a counter that never
        moved sees 0, not "no data"."""
        self.db_lock_waits.labels("accounts")
        self.db_lock_wait_seconds.labels("accounts")
        self.cache_hits.labels("account")
        self.cache_misses.labels("account")
        self.queue_published.labels(queue)
        self.queue_acked.labels(queue)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
