"""pytest plugin: a real Redis (Debian's ``redis-server``) on 127.0.0.1 for tests marked
``services``: one per session, no persistence, on a free port, stopped at the end.

Fixtures:
  ``redis_server`` (session)  a RedisServer: ``.port``, ``.url``, ``.cli(*args)``
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.waiting import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@dataclass
class RedisServer:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_redis(workdir: Path) -> RedisServer:
    """redis-server on a free loopback port, no RDB/AOF; returns once it answers PING."""
    if not Path(REDIS_SERVER).exists():
        raise RuntimeError("redis-server not found (apt-get install redis-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--protected-mode", "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = RedisServer(port, workdir, proc)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(workdir / 'redis.log').read_text()}")
        try:
            if server.cli("PING") == "PONG":
                return server
        except subprocess.CalledProcessError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("redis-server did not answer PING within 30 s")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    base = Path(tempfile.mkdtemp(prefix="perfrun-redis-"))
    server = start_redis(base)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
