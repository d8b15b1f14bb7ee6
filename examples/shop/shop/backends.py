"""Connections to PostgreSQL (a pool), Redis and RabbitMQ, each waited for at start-up:
a run starts the workloads once its components answer, but a restarted component may still
refuse connections for a moment."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis

T = TypeVar("T")
WAIT_S = 120.0


async def waited(what: str, connect: Callable[[], Awaitable[T]], wait_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await connect()
        except Exception as exc:  # any failure to connect: retry until the deadline
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} unreachable after {wait_s:g}s: {exc}") from exc
            print(f"waiting for {what}: {exc}", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)


async def pool(url: str, size: int, name: str) -> AsyncConnectionPool:
    async def connect() -> AsyncConnectionPool:
        p = AsyncConnectionPool(
            url,
            min_size=min(2, size),
            max_size=size,
            kwargs={"application_name": name, "autocommit": True},
            open=False,
        )
        try:
            await p.open(wait=True, timeout=5.0)
        except Exception:
            await p.close()
            raise
        return p

    return await waited("PostgreSQL", connect)


async def redis(url: str) -> Any:
    async def connect() -> Any:
        client = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        await client.ping()
        return client

    return await waited("Redis", connect)


async def amqp(url: str) -> aio_pika.abc.AbstractRobustConnection:
    async def connect() -> aio_pika.abc.AbstractRobustConnection:
        return await aio_pika.connect_robust(url, timeout=5)

    return await waited("RabbitMQ", connect)


async def declare_queue(
    channel: aio_pika.abc.AbstractChannel, name: str
) -> aio_pika.abc.AbstractQueue:
    return await channel.declare_queue(name, durable=True)
