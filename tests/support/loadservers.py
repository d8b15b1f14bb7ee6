"""pytest plugin: real HTTP servers on 127.0.0.1 for the load engine's tests.

Fixtures:
  ``nginx_server``  (session)  Debian's nginx on a free port with a temp prefix; ``.url``, and
                               ``.arrivals()`` (server-side request times from its access log)
  ``test_server``   (function) a controllable aiohttp server in a background thread that counts
                               requests per second and concurrent in-flight server-side and injects
                               latencies, 429/503 answers and stalls (see :class:`TestServer`)

Helpers: :func:`free_port`, :func:`run_load` (runs ``perfrun load`` as a real process).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from tests.support.waiting import free_port, poll_until

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def golden_uniform(lo_s: float, hi_s: float) -> Callable[[int], float]:
    """Latency of request k: lo + (hi-lo)*frac(k*phi). The golden-ratio sequence fills the
    interval evenly, so even a few hundred requests have the percentiles of the uniform
    distribution (p50 = lo + 0.5*(hi-lo), ...) to well under 1%."""
    return lambda k: lo_s + (hi_s - lo_s) * ((k * GOLDEN) % 1.0)


# --- controllable aiohttp server -------------------------------------------------------------


@dataclass
class Hit:
    """One request as the server saw it (monotonic times of this process)."""

    arrived: float
    finished: float
    status: int
    path: str
    in_flight_at_arrival: int


@dataclass
class Behaviour:
    """What the server does; change it while a test runs (plain attribute writes)."""

    latency: Callable[[int], float] | None = None
    # status(k, now) -> status code to answer; None = 200
    status: Callable[[int, float], int] | None = None
    stall_until: float = 0.0


class TestServer:
    """An aiohttp app in its own thread and event loop."""

    __test__ = False  # not a test class, despite the name

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.behaviour = Behaviour()
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.first_status_at: dict[int, float] = {}
        self._k = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="test-server")
        self._ready = threading.Event()

    # server side
    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        await request.read()
        with self._lock:
            k = self._k
            self._k += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            at_arrival = self.in_flight
        status = 200
        try:
            b = self.behaviour
            if b.stall_until > arrived:
                await asyncio.sleep(b.stall_until - arrived)
            if b.latency is not None:
                await asyncio.sleep(b.latency(k))
            if b.status is not None:
                status = b.status(k, arrived)
            if status != 200:
                self.first_status_at.setdefault(status, arrived)
            return web.Response(status=status, text="ok\n")
        finally:
            with self._lock:
                self.in_flight -= 1
                self.hits.append(Hit(arrived, time.monotonic(), status, request.path, at_arrival))

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024)
        loop.run_until_complete(site.start())
        self._runner = runner
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # test side
    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def per_second(self, hits: list[Hit] | None = None) -> list[int]:
        """Requests that arrived in each whole second since the first arrival."""
        hits = self.snapshot() if hits is None else hits
        return per_second([h.arrived for h in hits])


def per_second(times: list[float], origin: float | None = None) -> list[int]:
    """Counts per one-second bucket from ``origin`` (default: the whole second before the
    first time, as a scraper's clock-aligned buckets would count them)."""
    if not times:
        return []
    t0 = math.floor(min(times)) if origin is None else origin
    counts = Counter(int((t - t0) // 1.0) for t in times)
    return [counts.get(i, 0) for i in range(max(counts) + 1)]


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The most arrivals in any sliding window of ``window`` seconds (stricter than buckets)."""
    ts = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture
def test_server() -> Iterator[TestServer]:
    server = TestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- nginx ------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  log_format arrivals '$msec $status';
  access_log {prefix}/access.log arrivals buffer=64k flush=100ms;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port} backlog=4096{ssl};{certificate}
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


@dataclass
class NginxServer:
    url: str
    port: int
    prefix: Path
    proc: subprocess.Popen[bytes]
    log_enabled: bool = True
    _offset: int = field(default=0)

    def mark(self) -> None:
        """Only arrivals after this call count in :meth:`arrivals`."""
        path = self.prefix / "access.log"
        self._offset = path.stat().st_size if path.exists() else 0

    def arrivals(self, settle_s: float = 0.5) -> list[tuple[float, int]]:
        """(wall-clock time, status) of each request since :meth:`mark`, from the access log
        (flushed every 100 ms, so wait ``settle_s`` after the load ends)."""
        time.sleep(settle_s)
        path = self.prefix / "access.log"
        with path.open("rb") as f:
            f.seek(self._offset)
            lines = f.read().decode().splitlines()
        out = []
        for line in lines:
            ts, status = line.split()
            out.append((float(ts), int(status)))
        return out


def start_nginx(
    prefix: Path, port: int, access_log: bool = True, *, tls: tuple[Path, Path] | None = None
) -> NginxServer:
    """nginx on 127.0.0.1:``port``; with ``tls`` (certificate, key) it speaks HTTPS."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx is not installed: run `bash scripts/install-system-deps.sh`")
    certificate = (
        f"\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};" if tls else ""
    )
    conf = NGINX_CONF.format(
        prefix=prefix, port=port, ssl=" ssl" if tls else "", certificate=certificate
    )
    if not access_log:
        conf = conf.replace(
            f"access_log {prefix}/access.log arrivals buffer=64k flush=100ms;", "access_log off;"
        )
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"nginx exited: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        poll_until(listening, timeout=10, interval=0.05, what=f"nginx on port {port}")
    except AssertionError:
        proc.kill()
        raise
    scheme = "https" if tls else "http"
    return NginxServer(f"{scheme}://127.0.0.1:{port}", port, prefix, proc, log_enabled=access_log)


def stop_nginx(server: NginxServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


@pytest.fixture(scope="session")
def nginx_server() -> Iterator[NginxServer]:
    prefix = Path(tempfile.mkdtemp(prefix="perfrun-nginx-"))
    server = start_nginx(prefix, free_port())
    try:
        yield server
    finally:
        stop_nginx(server)
        shutil.rmtree(prefix, ignore_errors=True)


# --- running the engine -------------------------------------------------------------------------


@dataclass
class LoadResult:
    returncode: int
    summary: dict[str, Any]
    stderr: str


def load_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "perfrun.cli", "load", "--config", str(config), *args]


def write_config(tmp: Path, load: dict[str, Any], name: str = "load.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(load))
    return path


def start_load(
    tmp: Path, load: dict[str, Any], *args: str, tag: str = "0"
) -> tuple[subprocess.Popen[str], Path]:
    config = write_config(tmp, load, f"load-{tag}.yaml")
    summary = tmp / f"summary-{tag}.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PERFRUN_SUMMARY_CONFIGMAP", None)
    env.pop("PERFRUN_PROGRESS_CONFIGMAP", None)
    proc = subprocess.Popen(
        load_command(config, "--summary", str(summary), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, summary


def finish_load(proc: subprocess.Popen[str], summary: Path, timeout: float = 60) -> LoadResult:
    _out, err = proc.communicate(timeout=timeout)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return LoadResult(proc.returncode, data, err)


def run_load(tmp: Path, load: dict[str, Any], *args: str, timeout: float = 60) -> LoadResult:
    """Run ``perfrun load`` as its own process to the end; return its exit code and summary."""
    proc, summary = start_load(tmp, load, *args)
    return finish_load(proc, summary, timeout)
