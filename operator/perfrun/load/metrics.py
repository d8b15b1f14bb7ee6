"""Prometheus metrics for live scraping of a load pod: attempts and request durations by
scenario and status class, in-flight, target rate, step and back-off state.

The request counter and duration histogram are plain integer arrays exposed by a custom
collector, not ``prometheus_client`` Counter/Histogram children: those take a lock and do
float work per observation, which cost more than the HTTP exchange itself. The engine's
:class:`~perfrun.load.stats.Recorder` publishes into them in bulk (every second and at every
window), so a scrape is at most a second behind. The scrape runs in the HTTP server's thread:
it copies each array in one C-level step and derives a histogram's count from its buckets, so
a scrape during a publish still sees a consistent histogram."""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from perfrun.load.status import STATUS_CLASSES, class_index

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
_BOUNDS_US = tuple(round(b * 1_000_000) for b in DURATION_BUCKETS)
# as prometheus_client writes them (repr of the float: "0.025", "1.0")
_LE = [repr(float(b)) for b in DURATION_BUCKETS] + ["+Inf"]


class _Requests(Collector):
    """``perfrun_requests_total`` and ``perfrun_request_duration_seconds`` from arrays."""

    def __init__(self, scenarios: list[str]) -> None:
        self.scenarios = scenarios
        n = len(STATUS_CLASSES)
        self.attempts: list[list[int]] = [[0] * n for _ in scenarios]
        # per scenario and class: counts per bucket (not cumulative; the last is +Inf)
        self.buckets = [[[0] * len(_LE) for _ in range(n)] for _ in scenarios]
        self.sums = [[0.0] * n for _ in scenarios]

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "perfrun_requests",
            "Requests sent (every attempt, retries included) by scenario and status class.",
            labels=["scenario", "status_class"],
        )
        duration = HistogramMetricFamily(
            "perfrun_request_duration_seconds",
            "Request latency from its intended start (no coordinated omission).",
            labels=["scenario", "status_class"],
        )
        for i, name in enumerate(self.scenarios):
            attempts = self.attempts[i][:]
            for c, cls in enumerate(STATUS_CLASSES):
                requests.add_metric([name, cls], float(attempts[c]))
                counts = self.buckets[i][c][:]
                cumulative, running = [], 0
                for le, n in zip(_LE, counts, strict=True):
                    running += n
                    cumulative.append((le, float(running)))
                duration.add_metric([name, cls], cumulative, self.sums[i][c])
        yield requests
        yield duration


class LoadMetrics:
    """The metrics of one engine, in their own registry (several engines can share a process,
    as in tests). No pod label: Prometheus adds the pod's own when it scrapes."""

    def __init__(self, scenarios: list[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = _Requests(scenarios)
        self.registry.register(self._requests)
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

    # --- one at a time (tests, tools) -----------------------------------------------------

    def attempt(self, scenario: int, status: int | None) -> None:
        self._requests.attempts[scenario][class_index(status)] += 1

    def completed(self, scenario: int, status: int | None, seconds: float) -> None:
        self.observe_us(scenario, class_index(status), {round(seconds * 1_000_000): 1})

    # --- in bulk (the engine's recorder) --------------------------------------------------

    def set_attempts(self, scenario: int, by_class: list[int]) -> None:
        """The attempts so far of ``scenario`` by status class index (cumulative)."""
        self._requests.attempts[scenario] = list(by_class)

    def observe_us(self, scenario: int, cls: int, counts: Mapping[int, int]) -> None:
        """Add latencies given as {microseconds: how many} to a scenario's histogram. The
        values are sorted once and each bucket's count is a difference of running totals, so
        the work per distinct value is C-level (a flush of a run that is behind holds ~3000
        distinct values: a bisect per value held the loop ~1.9 ms of it)."""
        if not counts:
            return
        keys = sorted(counts)
        ns = list(map(counts.__getitem__, keys))
        running = list(itertools.accumulate(ns))
        buckets = self._requests.buckets[scenario][cls]
        below = 0
        for k, bound in enumerate(_BOUNDS_US):  # bucket k: the values in (bound k-1, bound k]
            j = bisect.bisect_right(keys, bound)
            upto = running[j - 1] if j else 0
            buckets[k] += upto - below
            below = upto
        buckets[-1] += running[-1] - below
        self._requests.sums[scenario][cls] += sum(map(operator.mul, keys, ns)) / 1_000_000

    def track_in_flight(self, read: Callable[[], float]) -> None:
        self.in_flight.set_function(read)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve ``/metrics`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)

    def exposition(self) -> bytes:
        """The metrics as a scrape would read them (a pod's processes write this to a file
        for the pod's own server, see :class:`MergedProcesses`)."""
        return generate_latest(self.registry)


# Gauges whose pod value is the highest of its processes' (the rest add up).
_HIGHEST = frozenset({"perfrun_load_step", "perfrun_load_backed_off"})


class MergedProcesses(Collector):
    """A pod's metrics when several processes share its load: each process writes its own
    exposition (:meth:`LoadMetrics.exposition`) to a file every second and at its end; a
    scrape of the pod reads them all and adds them up (counters, histogram buckets, sums and
    counts, in-flight and target rate; the step and the back-off flag are the highest), so
    the pod exposes what one process running its whole share would. A file not written yet
    counts nothing; the last one a process wrote stays after it exits."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for path in self.paths:
            try:
                text = path.read_text()
            except OSError:
                continue
            for fam in text_string_to_metric_families(text):
                if fam.name not in families:
                    families[fam.name] = Metric(fam.name, fam.documentation, fam.type)
                    values[fam.name] = {}
                into = values[fam.name]
                highest = fam.name in _HIGHEST
                for sample in fam.samples:
                    if sample.name.endswith("_created"):
                        continue  # per process; a sum of creation times means nothing
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    old = into.get(key)
                    if old is None:
                        into[key] = sample.value
                    else:
                        into[key] = max(old, sample.value) if highest else old + sample.value
        for name, metric in families.items():
            for (sample_name, labels), value in values[name].items():
                metric.add_sample(sample_name, dict(labels), value)
            yield metric


def serve_merged(paths: Sequence[Path], port: int, addr: str = "0.0.0.0") -> None:
    """Serve a pod's merged ``/metrics`` (see :class:`MergedProcesses`) from a thread."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedProcesses(paths))
    start_http_server(port, addr=addr, registry=registry)
