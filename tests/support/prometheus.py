"""pytest plugin: a real Prometheus (Debian's ``prometheus``) and a real RabbitMQ (Debian's
``rabbitmq-server`` with its prometheus and management plugins) on 127.0.0.1, for tests marked
``services``.

Prometheus scrapes every second; its targets come from a file_sd JSON the tests append to, so a
test adds its own exporter (``metrics_exporter``) under its own ``job`` label and queries only
that. RabbitMQ boots once per session (~20 s) with per-object metrics on; tests fill and drain
queues through the management HTTP API (no AMQP client library needed).

Fixtures:
  ``prometheus``        (session)  a PrometheusServer: ``.url``, ``.add_target(port, job)``
  ``host_prometheus``   (session)  the same, listening on this machine's non-loopback address
                                   (``host_ip()``), for tests that put it behind a Kubernetes
                                   Service: the API server refuses loopback endpoint addresses
  ``rabbitmq``          (session)  a RabbitMQ: ``.declare(q)``, ``.publish(q, n)``, ``.purge(q)``
  ``metrics_exporter``  (function) a factory: ``metrics_exporter(job) -> Exporter``
  ``start_prometheus``  (function) a factory for an extra, stoppable Prometheus
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from tests.support.waiting import free_port, host_ip, poll_until

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
SCRAPE_INTERVAL_S = 1


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class PrometheusServer:
    """One running Prometheus with a file_sd target list."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    targets: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_target(self, port: int, job: str, metrics_path: str = "/metrics") -> None:
        """Scrape 127.0.0.1:port as ``job``; waits until the first scrape has succeeded."""
        with self.lock:
            self.targets.append(
                {
                    "targets": [f"127.0.0.1:{port}"],
                    "labels": {"job": job, "__metrics_path__": metrics_path},
                }
            )
            tmp = self.workdir / "targets.json.tmp"
            tmp.write_text(json.dumps(self.targets))
            tmp.replace(self.workdir / "targets.json")
        poll_until(
            lambda: self.query(f'up{{job="{job}"}} == 1'),
            timeout=30,
            interval=0.3,
            what=f"Prometheus scraping {job} on port {port}",
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        r.raise_for_status()
        return list(r.json()["data"]["result"])

    def stop(self) -> None:
        _stop(self.proc)


def launch_prometheus(workdir: Path, host: str = "127.0.0.1") -> PrometheusServer:
    """Start Prometheus in ``workdir`` on a free port of ``host``; returns once it is ready.
    Its scrape targets stay on 127.0.0.1 whatever it listens on."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "targets.json").write_text("[]")
    (workdir / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: {SCRAPE_INTERVAL_S}s
  evaluation_interval: {SCRAPE_INTERVAL_S}s
scrape_configs:
  - job_name: tests
    file_sd_configs:
      - files: ['{workdir / "targets.json"}']
        refresh_interval: 1s
"""
    )
    port = free_port(host)
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS_BIN,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={host}:{port}",
            "--storage.tsdb.retention.time=2h",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PrometheusServer(port, workdir, proc, host=host)
    _wait_answering(proc, f"{server.url}/-/ready", workdir / "prometheus.log", 30, 0.2)
    return server


def _wait_answering(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, interval: float
) -> None:
    """Until ``url`` answers 200; the server's log in the error if its process exits."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited: {log.read_text()[-3000:]}")
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    poll_until(ready, timeout=timeout, interval=interval, what=f"{url} answering")


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = launch_prometheus(tmp_path_factory.mktemp("prometheus"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def host_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = launch_prometheus(tmp_path_factory.mktemp("host-prometheus"), host_ip())
    yield server
    server.stop()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[], PrometheusServer]]:
    started: list[PrometheusServer] = []

    def start() -> PrometheusServer:
        server = launch_prometheus(tmp_path / f"prom{len(started)}")
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


# --- an exporter serving histogram data the test controls ------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)


@dataclass
class Exporter:
    """The load engine's metrics, as it serves them: a latency histogram and a request counter
    labelled by status class, on their own port."""

    port: int
    registry: CollectorRegistry
    latency: Histogram
    requests: Counter
    server: Any

    def record(self, seconds: float, status_class: str = "2xx") -> None:
        self.latency.labels(scenario="s", status_class=status_class).observe(seconds)
        self.requests.labels(scenario="s", status_class=status_class).inc()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metrics_exporter(
    prometheus: PrometheusServer,
) -> Iterator[Callable[[str], Exporter]]:
    made: list[Exporter] = []

    def make(job: str) -> Exporter:
        registry = CollectorRegistry()
        latency = Histogram(
            "perfrun_request_duration_seconds",
            "Request latency.",
            ["scenario", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        reqs = Counter(
            "perfrun_requests", "Requests.", ["scenario", "status_class"], registry=registry
        )
        port = free_port()
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        exp = Exporter(port, registry, latency, reqs, server)
        made.append(exp)
        prometheus.add_target(port, job)
        return exp

    yield make
    for e in made:
        e.close()


# --- RabbitMQ -----------------------------------------------------------------------------


@dataclass
class RabbitMQ:
    """A RabbitMQ node of this session; queues are managed through the management API."""

    workdir: Path
    amqp_port: int
    management_port: int
    prometheus_port: int
    epmd_port: int
    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/api"

    def _req(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(
            method, f"{self.api}{path}", json=body, auth=("guest", "guest"), timeout=10
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def declare(self, queue: str) -> None:
        self._req("PUT", f"/queues/%2F/{quote(queue, safe='')}", {"durable": False})

    def publish(self, queue: str, count: int) -> None:
        for i in range(count):
            self._req(
                "POST",
                "/exchanges/%2F/amq.default/publish",
                {
                    "properties": {},
                    "routing_key": queue,
                    "payload": f"m{i}",
                    "payload_encoding": "string",
                },
            )

    def purge(self, queue: str) -> None:
        """Consume everything (the workers 'catch up')."""
        self._req("DELETE", f"/queues/%2F/{quote(queue, safe='')}/contents")

    def depth(self, queue: str) -> int:
        return int(self._req("GET", f"/queues/%2F/{quote(queue, safe='')}").get("messages", 0))

    def stop(self) -> None:
        # rabbitmq-server is a shell script that does not exec the VM: stop its whole group.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        subprocess.run(
            ["epmd", "-kill"],
            env={**self.env, "ERL_EPMD_PORT": str(self.epmd_port)},
            capture_output=True,
            check=False,
            timeout=10,
        )


def launch_rabbitmq(workdir: Path) -> RabbitMQ:
    workdir.mkdir(parents=True, exist_ok=True)
    amqp, mgmt, prom, epmd, dist = (free_port() for _ in range(5))
    (workdir / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_prometheus].\n")
    (workdir / "rabbitmq.conf").write_text(
        f"""listeners.tcp.default = 127.0.0.1:{amqp}
management.tcp.port = {mgmt}
management.tcp.ip = 127.0.0.1
prometheus.tcp.port = {prom}
prometheus.tcp.ip = 127.0.0.1
prometheus.return_per_object_metrics = true
collect_statistics_interval = 1000
loopback_users = none
"""
    )
    node = f"perfrun-test-{os.getpid()}@localhost"
    env = {
        **os.environ,
        "HOME": str(workdir),
        "RABBITMQ_HOME": "/usr/lib/rabbitmq",
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_PID_FILE": str(workdir / "pid"),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_PORT": str(epmd),
    }
    log = (workdir / "rabbitmq.log").open("wb")
    proc = subprocess.Popen(
        [RABBITMQ_SERVER], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    rabbit = RabbitMQ(workdir, amqp, mgmt, prom, epmd, proc, env)
    _wait_answering(proc, f"http://127.0.0.1:{prom}/metrics", workdir / "rabbitmq.log", 120, 0.5)
    return rabbit


@pytest.fixture(scope="session")
def rabbitmq(prometheus: PrometheusServer) -> Iterator[RabbitMQ]:
    workdir = Path(tempfile.mkdtemp(prefix="perfrun-rmq-", dir="/tmp"))  # short: unix sockets
    rabbit = launch_rabbitmq(workdir)
    prometheus.add_target(rabbit.prometheus_port, "rabbitmq")
    yield rabbit
    rabbit.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """poll_until with the analysis tests' defaults."""
    return poll_until(check, timeout=timeout, interval=0.25, what=what)


def now() -> float:
    return time.time()
