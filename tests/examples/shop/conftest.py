"""Fixtures of the shop tests: the sample application as its own processes (``python -m
shop serve|worker|migrate``, as in its image) against real PostgreSQL, Redis and RabbitMQ on
127.0.0.1, a database migrated and seeded with the example PerfRun's own dataset section by
``perfrun seed``, and the PerfRun's load section aimed at the app on loopback."""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from tests.support.postgres import PostgresServer, _admin
from tests.support.prometheus import RabbitMQ
from tests.support.redis import RedisServer
from tests.support.waiting import free_port, poll_until

REPO = Path(__file__).resolve().parents[3]
SHOP_DIR = REPO / "examples" / "shop"
BASELINE = SHOP_DIR / "perfrun-baseline.yaml"


def example(path: Path = BASELINE) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def shop_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env.update(PYTHONPATH=str(SHOP_DIR), PYTHONUNBUFFERED="1", **extra)
    return env


def run_shop(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shop", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class ShopDatabase:
    name: str
    dsn: str
    regressions: str
    migrate_output: str


def make_database(server: PostgresServer, regressions: str, tmp: Path) -> ShopDatabase:
    """A fresh database: the shop's migrations (as its migrations Job runs them), then the
    baseline PerfRun's synthetic dataset seeded by ``perfrun seed`` into that schema."""
    name = f"shop_{secrets.token_hex(5)}"
    _admin(server, f'CREATE DATABASE "{name}"')
    dsn = server.dsn(name)
    migrated = run_shop("migrate", env=shop_env(DATABASE_URL=dsn, SHOP_REGRESSIONS=regressions))
    assert migrated.returncode == 0, migrated.stderr
    config = tmp / f"dataset-{name}.yaml"
    config.write_text(yaml.safe_dump(example()["spec"]["dataset"]))
    seeded = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "seed", "--config", str(config), "--dsn", dsn],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    return ShopDatabase(name, dsn, regressions, migrated.stdout)


@pytest.fixture(scope="session")
def shop_databases(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], ShopDatabase]:
    """One seeded database per migrations variant ("" or "missing_index"), made once."""
    made: dict[str, ShopDatabase] = {}
    tmp = tmp_path_factory.mktemp("shop-db")

    def get(regressions: str = "") -> ShopDatabase:
        if regressions not in made:
            made[regressions] = make_database(postgres_server, regressions, tmp)
        return made[regressions]

    return get


@dataclass
class ShopProcess:
    proc: subprocess.Popen[str]
    port: int | None
    metrics_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics as ``name{labels}`` -> value."""
        out: dict[str, float] = {}
        for line in requests.get(self.metrics_url, timeout=5).text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def metric(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


@dataclass
class Shop:
    """An API and a worker sharing one database, Redis and queue."""

    api: ShopProcess
    worker: ShopProcess
    db: ShopDatabase
    queue: str
    rabbitmq: RabbitMQ
    regressions: str
    started: list[ShopProcess] = field(default_factory=list)


@pytest.fixture
def start_shop(
    shop_databases: Callable[[str], ShopDatabase],
    redis_server: RedisServer,
    rabbitmq: RabbitMQ,
    tmp_path: Path,
) -> Iterator[Callable[..., Shop]]:
    """A factory: ``start_shop(regressions="", worker=True)`` -> a running Shop, its API ready
    (/healthz answers 200, so PostgreSQL, Redis and RabbitMQ are connected)."""
    running: list[ShopProcess] = []

    def spawn(
        command: str, env: dict[str, str], port: int | None, metrics_port: int
    ) -> ShopProcess:
        log = tmp_path / f"{command}-{len(running)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "shop", command],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        p = ShopProcess(proc, port, metrics_port, log)
        running.append(p)
        health = f"http://127.0.0.1:{port if port else metrics_port}/healthz"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"shop {command} exited: {log.read_text()[-3000:]}")
            try:
                return requests.get(health, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        poll_until(ready, timeout=60, interval=0.2, what=f"shop {command} ready")
        return p

    def start(regressions: str = "", *, worker: bool = True, migrations: str | None = None) -> Shop:
        db = shop_databases("missing_index" if "missing_index" in regressions else "")
        if migrations is not None:
            db = shop_databases(migrations)
        queue = f"orders-{secrets.token_hex(4)}"
        redis_server.cli("FLUSHALL")
        env = shop_env(
            DATABASE_URL=db.dsn,
            REDIS_URL=redis_server.url,
            AMQP_URL=f"amqp://guest:guest@127.0.0.1:{rabbitmq.amqp_port}/%2F",
            SHOP_QUEUE=queue,
            SHOP_REGRESSIONS=regressions,
            SHOP_HOST="127.0.0.1",
        )
        api_port, api_metrics = free_port(), free_port()
        api = spawn(
            "serve",
            {**env, "SHOP_PORT": str(api_port), "SHOP_METRICS_PORT": str(api_metrics)},
            api_port,
            api_metrics,
        )
        wk = None
        if worker:
            wk_metrics = free_port()
            wk = spawn("worker", {**env, "SHOP_METRICS_PORT": str(wk_metrics)}, None, wk_metrics)
        return Shop(api, wk, db, queue, rabbitmq, regressions)  # type: ignore[arg-type]

    yield start
    for p in running:
        p.stop()


def load_section(url: str, **changes: Any) -> dict[str, Any]:
    """The baseline PerfRun's load section aimed at ``url``, with ``changes`` applied."""
    load = copy.deepcopy(example()["spec"]["load"])
    load["target"] = url
    load.update(changes)
    return load
