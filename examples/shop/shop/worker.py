"""``shop worker``: completes the orders the API queued. Each message marks its order done
and is acknowledged only then, so RabbitMQ's queue depth is the backlog of orders not yet
complete, and ``app_worker_lag_seconds`` is how long an order waited.

``slow_worker`` handles one message at a time with a slow step per order: the queue backs up
under load and drains long after it (the PerfRun's queue-drain gate)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aio_pika
from psycopg_pool import AsyncConnectionPool

from shop import backends
from shop.api import metrics_app, start_site
from shop.config import Config
from shop.metrics import Metrics


class Worker:
    def __init__(self, cfg: Config, metrics: Metrics, pool: AsyncConnectionPool) -> None:
        self.cfg, self.metrics, self.pool = cfg, metrics, pool
        self.slow = "slow_worker" in cfg.regressions

    @property
    def prefetch(self) -> int:
        return 1 if self.slow else self.cfg.worker_prefetch

    async def complete(self, body: bytes) -> None:
        doc: dict[str, Any] = json.loads(body)
        if self.slow:
            await asyncio.sleep(self.cfg.slow_worker_delay_s)  # e.g. a synchronous call per order
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE orders SET state = 'done', completed_at = now()"
                " WHERE id = %s AND state = 'queued'",
                (doc["id"],),
            )
        lag = max(0.0, time.time() - float(doc.get("enqueuedAt", time.time())))
        self.metrics.worker_lag.labels(self.cfg.queue).observe(lag)
        self.metrics.worker_last_lag.labels(self.cfg.queue).set(lag)
        self.metrics.orders_completed.inc()

    async def handle(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await self.complete(message.body)
        except (ValueError, KeyError, TypeError):
            await message.reject(requeue=False)  # not an order: never retried
            return
        except Exception:
            await message.nack(requeue=True)
            raise
        await message.ack()
        self.metrics.queue_acked.labels(self.cfg.queue).inc()


async def run(cfg: Config, metrics: Metrics, stop: asyncio.Event) -> None:
    metrics_runner = await start_site(metrics_app(metrics), cfg.host, cfg.metrics_port)
    pool = await backends.pool(cfg.database_url, cfg.db_pool_size, "shop-worker")
    connection = await backends.amqp(cfg.amqp_url)
    worker = Worker(cfg, metrics, pool)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=worker.prefetch)
    queue = await backends.declare_queue(channel, cfg.queue)
    tag = await queue.consume(worker.handle)
    print(
        f"shop worker on queue {cfg.queue} (prefetch {worker.prefetch}), metrics on "
        f":{cfg.metrics_port}, regressions: {cfg.regressions}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await queue.cancel(tag)
        await connection.close()
        await pool.close()
        await metrics_runner.cleanup()
