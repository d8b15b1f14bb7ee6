"""``shop serve``: the HTTP API.

  GET  /healthz                          ready when PostgreSQL, Redis and RabbitMQ answer
  GET  /accounts/{account}               the account (Redis cache in front of PostgreSQL)
  GET  /accounts/{account}/dashboard     the account with up to 500 projects and their open tasks
  GET  /accounts/{account}/tasks         a page of the account's tasks (?after=<task id>)
  POST /accounts/{account}/orders        {"sku": ..., "quantity": n}: 202, the worker completes it
  GET  /orders/{order}                   an order's state: queued or done
  POST /accounts/{account}/counter       +1 on the account's counter row (the hot row)

Metrics on their own port (``SHOP_METRICS_PORT``, /metrics)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from shop import backends
from shop.config import Config
from shop.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FIRST_UUID = "00000000-0000-0000-0000-000000000000"
CACHE = "account"


class Shop:
    """What the handlers share (a plain object: aiohttp 3.8, Debian's, has no AppKey)."""

    def __init__(
        self, cfg: Config, metrics: Metrics, pool: AsyncConnectionPool, redis: Any, channel: Any
    ) -> None:
        self.cfg, self.metrics, self.pool, self.redis, self.channel = (
            cfg,
            metrics,
            pool,
            redis,
            channel,
        )


# aiohttp >= 3.9 wants typed keys on the application; Debian's 3.8 has only strings.
SHOP_KEY: Any = web.AppKey("shop", Shop) if hasattr(web, "AppKey") else "shop"


def _shop(request: web.Request) -> Shop:
    shop: Shop = request.app[SHOP_KEY]
    return shop


def _route(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: Metrics) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.request_duration.labels(_route(request), request.method, str(status)).observe(
                time.perf_counter() - start
            )

    return middleware


def _account_id(request: web.Request) -> int:
    text = request.match_info["account"]
    if not text.isdigit() or len(text) > 18:
        raise web.HTTPBadRequest(text=f"account: not an account id: {text!r}")
    return int(text)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, default=str, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


async def _fetch_account(shop: Shop, conn: Any, account: int, route: str) -> Any:
    """The account through the cache (``cache_off`` never reads it)."""
    cfg, metrics, redis = shop.cfg, shop.metrics, shop.redis
    key = f"account:{account}"
    if "cache_off" not in cfg.regressions:
        cached = await redis.get(key)
        if cached is not None:
            metrics.cache_hits.labels(CACHE).inc()
            return json.loads(cached)
    metrics.cache_misses.labels(CACHE).inc()
    metrics.db_queries.labels(route).inc()
    cur = await conn.execute(
        "SELECT id, email, name, state, created_at, hits FROM accounts WHERE id = %s", (account,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    doc = {
        "id": row[0],
        "email": row[1],
        "name": row[2],
        "state": row[3],
        "createdAt": row[4].isoformat() if row[4] else None,
    }
    await redis.set(key, json.dumps(doc), ex=cfg.cache_ttl_s)
    return doc


async def healthz(request: web.Request) -> web.Response:
    shop = _shop(request)
    async with shop.pool.connection() as conn:
        await conn.execute("SELECT 1")
    await shop.redis.ping()
    if shop.channel.is_closed:
        raise web.HTTPServiceUnavailable(text="RabbitMQ channel closed")
    return web.Response(text="ok")


async def account(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    async with _shop(request).pool.connection() as conn:
        doc = await _fetch_account(_shop(request), conn, account_id, _route(request))
    if doc is None:
        raise web.HTTPNotFound(text=f"account {account_id} does not exist")
    return _json(doc)


async def dashboard(request: web.Request) -> web.Response:
    """The account, its first projects and each project's open tasks: one join, or
    (n_plus_one) one query for the projects and one more per project."""
    shop, account_id, route = _shop(request), _account_id(request), _route(request)
    cfg, metrics = shop.cfg, shop.metrics
    async with shop.pool.connection() as conn:
        doc = await _fetch_account(shop, conn, account_id, route)
        if doc is None:
            raise web.HTTPNotFound(text=f"account {account_id} does not exist")
        projects: dict[int, dict[str, Any]] = {}
        if "n_plus_one" in cfg.regressions:
            cur = await conn.execute(
                "SELECT id, name, budget FROM projects WHERE account_id = %s ORDER BY id LIMIT %s",
                (account_id, cfg.dashboard_projects),
            )
            for pid, name, budget in await cur.fetchall():
                projects[pid] = {"id": pid, "name": name, "budget": budget, "tasks": []}
            for pid, project in projects.items():
                cur = await conn.execute(
                    "SELECT id, priority, done FROM tasks WHERE project_id = %s AND NOT done "
                    "ORDER BY priority, id",
                    (pid,),
                )
                project["tasks"] = [
                    {"id": str(t), "priority": p, "done": d} for t, p, d in await cur.fetchall()
                ]
            metrics.db_queries.labels(route).inc(1 + len(projects))
        else:
            cur = await conn.execute(
                "SELECT p.id, p.name, p.budget, t.id, t.priority, t.done FROM ("
                " SELECT id, name, budget FROM projects WHERE account_id = %s"
                " ORDER BY id LIMIT %s) p"
                " LEFT JOIN tasks t ON t.project_id = p.id AND NOT t.done"
                " ORDER BY p.id, t.priority, t.id",
                (account_id, cfg.dashboard_projects),
            )
            for pid, name, budget, tid, prio, done in await cur.fetchall():
                project = projects.setdefault(
                    pid, {"id": pid, "name": name, "budget": budget, "tasks": []}
                )
                if tid is not None:
                    project["tasks"].append({"id": str(tid), "priority": prio, "done": done})
            metrics.db_queries.labels(route).inc()
    open_tasks = sum(1 for p in projects.values() for t in p["tasks"] if not t["done"])
    return _json({"account": doc, "projects": list(projects.values()), "openTasks": open_tasks})


async def tasks(request: web.Request) -> web.Response:
    """A page of the account's tasks after the cursor (a task id): an index seek, or
    (offset_pagination) OFFSET over every task before it."""
    shop, account_id = _shop(request), _account_id(request)
    cfg = shop.cfg
    after = request.query.get("after", FIRST_UUID)
    try:
        uuid.UUID(after)
    except ValueError:
        raise web.HTTPBadRequest(text=f"after: not a task id: {after!r}") from None
    size = cfg.page_size
    async with shop.pool.connection() as conn:
        if "offset_pagination" in cfg.regressions:
            cur = await conn.execute(
                "SELECT id, project_id, priority, done FROM tasks WHERE account_id = %s"
                " ORDER BY id OFFSET (SELECT count(*) FROM tasks"
                " WHERE account_id = %s AND id <= %s) LIMIT %s",
                (account_id, account_id, after, size),
            )
        else:
            cur = await conn.execute(
                "SELECT id, project_id, priority, done FROM tasks"
                " WHERE account_id = %s AND id > %s ORDER BY id LIMIT %s",
                (account_id, after, size),
            )
        rows = await cur.fetchall()
    shop.metrics.db_queries.labels(_route(request)).inc()
    items = [{"id": str(t), "project": p, "priority": pr, "done": d} for t, p, pr, d in rows]
    return _json({"tasks": items, "next": items[-1]["id"] if len(items) == size else None})


async def _order_body(request: web.Request) -> tuple[str, int]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body: not a JSON object")
    sku, quantity = body.get("sku"), body.get("quantity", 1)
    if not isinstance(sku, str) or not 1 <= len(sku) <= 64:
        raise web.HTTPBadRequest(text="sku: a string of 1 to 64 characters is required")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
        raise web.HTTPBadRequest(text="quantity: an integer from 1 to 1000 is required")
    return sku, quantity


async def create_order(request: web.Request) -> web.Response:
    """Write the order as queued, publish it (confirmed by RabbitMQ), answer 202."""
    shop, account_id = _shop(request), _account_id(request)
    cfg, metrics = shop.cfg, shop.metrics
    sku, quantity = await _order_body(request)
    order_id = uuid.uuid4()
    async with shop.pool.connection() as conn:
        try:
            await conn.execute(
                "INSERT INTO orders (id, account_id, sku, quantity)"
                " SELECT %s, id, %s, %s FROM accounts WHERE id = %s",
                (order_id, sku, quantity, account_id),
            )
        except psycopg.Error as exc:
            raise web.HTTPInternalServerError(text=f"order not stored: {exc}") from exc
    metrics.db_queries.labels(_route(request)).inc()
    message = aio_pika.Message(
        json.dumps(
            {"id": str(order_id), "account": account_id, "enqueuedAt": time.time()}
        ).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(order_id),
    )
    await shop.channel.default_exchange.publish(message, routing_key=cfg.queue)
    metrics.queue_published.labels(cfg.queue).inc()
    return _json({"id": str(order_id), "state": "queued", "status": f"/orders/{order_id}"}, 202)


async def order(request: web.Request) -> web.Response:
    text = request.match_info["order"]
    try:
        order_id = uuid.UUID(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"order: not an order id: {text!r}") from None
    async with _shop(request).pool.connection() as conn:
        cur = await conn.execute(
            "SELECT state, created_at, completed_at FROM orders WHERE id = %s", (order_id,)
        )
        row = await cur.fetchone()
    _shop(request).metrics.db_queries.labels(_route(request)).inc()
    if row is None:
        raise web.HTTPNotFound(text=f"order {order_id} does not exist")
    return _json({"id": str(order_id), "state": row[0], "createdAt": row[1], "completedAt": row[2]})


async def counter(request: web.Request) -> web.Response:
    """+1 on the account's row. The row lock is taken with NOWAIT first, so a lock held by
    another transaction is counted (app_db_lock_waits_total) and its wait timed before
    waiting for it; ``hot_row_lock`` holds the lock across a slow step."""
    shop, account_id = _shop(request), _account_id(request)
    cfg, metrics = shop.cfg, shop.metrics
    select = "SELECT hits FROM accounts WHERE id = %s FOR UPDATE"
    queries = 2
    async with shop.pool.connection() as conn, conn.transaction():
        try:
            async with conn.transaction():  # a savepoint: NOWAIT's failure rolls back only it
                cur = await conn.execute(select + " NOWAIT", (account_id,))
                row = await cur.fetchone()
        except psycopg.errors.LockNotAvailable:
            metrics.db_lock_waits.labels("accounts").inc()
            start = time.perf_counter()
            cur = await conn.execute(select, (account_id,))
            row = await cur.fetchone()
            metrics.db_lock_wait_seconds.labels("accounts").observe(time.perf_counter() - start)
            queries += 1
        if row is None:
            raise web.HTTPNotFound(text=f"account {account_id} does not exist")
        if "hot_row_lock" in cfg.regressions:
            await asyncio.sleep(cfg.hot_row_hold_s)  # e.g. a fraud check while holding the lock
        cur = await conn.execute(
            "UPDATE accounts SET hits = hits + 1 WHERE id = %s RETURNING hits", (account_id,)
        )
        row = await cur.fetchone()
    metrics.db_queries.labels(_route(request)).inc(queries)
    assert row is not None
    return _json({"account": account_id, "hits": row[0]})


def routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/accounts/{account}", account)
    app.router.add_get("/accounts/{account}/dashboard", dashboard)
    app.router.add_get("/accounts/{account}/tasks", tasks)
    app.router.add_post("/accounts/{account}/orders", create_order)
    app.router.add_post("/accounts/{account}/counter", counter)
    app.router.add_get("/orders/{order}", order)


def metrics_app(metrics: Metrics) -> web.Application:
    async def serve_metrics(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), content_type="text/plain")

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", ok)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    return runner


async def serve(cfg: Config, metrics: Metrics, stop: asyncio.Event) -> None:
    metrics_runner = await start_site(metrics_app(metrics), cfg.host, cfg.metrics_port)
    pool = await backends.pool(cfg.database_url, cfg.db_pool_size, "shop-api")
    redis = await backends.redis(cfg.redis_url)
    connection = await backends.amqp(cfg.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    await backends.declare_queue(channel, cfg.queue)
    app = web.Application(middlewares=[metrics_middleware(metrics)])
    app[SHOP_KEY] = Shop(cfg, metrics, pool, redis, channel)
    routes(app)
    runner = await start_site(app, cfg.host, cfg.port)
    print(
        f"shop api on :{cfg.port}, metrics on :{cfg.metrics_port}, regressions: {cfg.regressions}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await connection.close()
        await redis.aclose() if hasattr(redis, "aclose") else await redis.close()
        await pool.close()
        await metrics_runner.cleanup()
