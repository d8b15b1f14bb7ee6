"""The shop's endpoints, its worker draining the queue, its migrations and the seeded
dataset, against real PostgreSQL, Redis and RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import requests
from tests.examples.shop.conftest import Shop, ShopDatabase, example, metric
from tests.support.waiting import poll_until

from perfrun.api.dataset import Dataset
from perfrun.dataset.plan import build_plan

pytestmark = pytest.mark.services


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def _whale(db: ShopDatabase) -> tuple[int, int]:
    ((account, projects),) = _rows(
        db.dsn,
        "SELECT account_id, count(*) FROM projects GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
    )
    return int(account), int(projects)


def test_migrations_make_the_schema_and_run_once(
    shop_databases: Callable[[str], ShopDatabase],
) -> None:
    db = shop_databases("")
    assert "001_accounts_projects_tasks applied" in db.migrate_output
    versions = _rows(db.dsn, "SELECT version, note FROM schema_migrations ORDER BY 1")
    assert versions == [
        ("001_accounts_projects_tasks", ""),
        ("002_dashboard_index", ""),
        ("003_orders", ""),
    ]
    indexes = {
        r[0] for r in _rows(db.dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")
    }
    assert {"tasks_project_id_idx", "tasks_account_id_id_idx"} <= indexes
    # a second run (a retried Job) applies nothing
    from tests.examples.shop.conftest import run_shop, shop_env

    again = run_shop("migrate", env=shop_env(DATABASE_URL=db.dsn))
    assert again.returncode == 0, again.stderr
    assert "schema up to date (0 applied now)" in again.stdout


def test_missing_index_migrations_skip_the_dashboard_index(
    shop_databases: Callable[[str], ShopDatabase],
) -> None:
    db = shop_databases("missing_index")
    assert "002_dashboard_index skipped: regression missing_index" in db.migrate_output
    indexes = {
        r[0] for r in _rows(db.dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")
    }
    assert "tasks_project_id_idx" not in indexes
    assert "tasks_account_id_id_idx" in indexes


def test_dataset_row_counts_match_the_plan(shop_databases: Callable[[str], ShopDatabase]) -> None:
    """The PerfRun's synthetic dataset, planned by perfrun, is what the database holds: the
    same row count per table, whale-shaped (most accounts small, a few with thousands)."""
    db = shop_databases("")
    dataset = Dataset.model_validate(example()["spec"]["dataset"])
    assert dataset.synthetic is not None
    plan = build_plan(dataset.synthetic)
    planned = {t.name: t.rows for t in plan.tables}
    live = {
        name: _rows(db.dsn, f"SELECT count(*) FROM {name}")[0][0]  # the plan's own table names
        for name in planned
    }
    assert live == planned
    assert planned["accounts"] == 4000
    per_account = sorted(
        r[0] for r in _rows(db.dsn, "SELECT count(*) FROM projects GROUP BY account_id")
    )
    median, top = per_account[len(per_account) // 2], per_account[-1]
    assert median <= 5 and top >= 1000, (median, top)


def test_endpoints(start_shop: Callable[..., Shop]) -> None:
    shop = start_shop()
    url = shop.api.url
    whale, whale_projects = _whale(shop.db)

    small = requests.get(f"{url}/accounts/2/dashboard", timeout=10).json()
    big = requests.get(f"{url}/accounts/{whale}/dashboard", timeout=10).json()
    assert big["account"]["id"] == whale
    assert len(big["projects"]) == min(500, whale_projects)  # the dashboard's cap
    assert len(small["projects"]) < len(big["projects"])
    tasks_of_first = _rows(
        shop.db.dsn,
        "SELECT count(*) FROM tasks WHERE project_id = %s AND NOT done",
        big["projects"][0]["id"],
    )[0][0]
    assert len(big["projects"][0]["tasks"]) == tasks_of_first
    assert all(not t["done"] for p in big["projects"] for t in p["tasks"])  # open ones only
    assert big["openTasks"] == sum(len(p["tasks"]) for p in big["projects"])

    # keyset paging visits every task of the account once, in id order
    seen: list[str] = []
    after: str | None = None
    while True:
        page = requests.get(
            f"{url}/accounts/3/tasks", params={"after": after} if after else {}, timeout=10
        ).json()
        seen += [t["id"] for t in page["tasks"]]
        after = page["next"]
        if after is None:
            break
    expected = [
        str(r[0])
        for r in _rows(shop.db.dsn, "SELECT id FROM tasks WHERE account_id = 3 ORDER BY id")
    ]
    assert seen == expected

    # the account through the cache: a miss, then a hit
    before = shop.api.metrics()
    assert requests.get(f"{url}/accounts/7", timeout=10).json()["id"] == 7
    assert requests.get(f"{url}/accounts/7", timeout=10).json()["id"] == 7
    after_m = shop.api.metrics()
    assert metric(after_m, "app_cache_misses_total") - metric(before, "app_cache_misses_total") == 1
    assert metric(after_m, "app_cache_hits_total") - metric(before, "app_cache_hits_total") == 1

    # the hot row counts
    hits = [requests.post(f"{url}/accounts/5/counter", timeout=10).json()["hits"] for _ in range(3)]
    assert hits == [hits[0], hits[0] + 1, hits[0] + 2]

    # bad input: a clear 400 naming the field; unknown ids: 404
    assert requests.get(f"{url}/accounts/x/dashboard", timeout=10).status_code == 400
    r = requests.get(f"{url}/accounts/3/tasks?after=nope", timeout=10)
    assert r.status_code == 400 and r.text.startswith("after:")
    r = requests.post(f"{url}/accounts/3/orders", json={"sku": "a", "quantity": 0}, timeout=10)
    assert r.status_code == 400 and r.text.startswith("quantity:")
    assert requests.get(f"{url}/accounts/999999/dashboard", timeout=10).status_code == 404
    assert requests.get(f"{url}/orders/{uuid.uuid4()}", timeout=10).status_code == 404

    # request durations by route and status, on the metrics port only
    samples = shop.api.metrics()
    assert (
        metric(
            samples,
            "app_http_request_duration_seconds_count",
            route="/accounts/{account}/dashboard",
            status="200",
        )
        >= 2
    )
    assert (
        metric(
            samples,
            "app_http_request_duration_seconds_count",
            route="/accounts/{account}/orders",
            status="400",
        )
        == 1
    )
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 404


def test_orders_are_accepted_then_completed_by_the_worker(start_shop: Callable[..., Shop]) -> None:
    """202 at once; the worker completes each order, acknowledges it, and the queue empties:
    what the PerfRun's queue-drain gate watches."""
    shop = start_shop()
    url = shop.api.url
    ids = []
    for i in range(40):
        r = requests.post(
            f"{url}/accounts/{i + 1}/orders", json={"sku": f"s{i}", "quantity": 2}, timeout=10
        )
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "queued"
        ids.append(r.json()["id"])

    def all_done() -> bool:
        states = {requests.get(f"{url}/orders/{i}", timeout=10).json()["state"] for i in ids}
        return states == {"done"}

    poll_until(all_done, timeout=30, interval=0.3, what="the worker completing 40 orders")
    poll_until(
        lambda: shop.rabbitmq.depth(shop.queue) == 0, timeout=30, interval=0.5, what="queue empty"
    )
    api, worker = shop.api.metrics(), shop.worker.metrics()
    assert metric(api, "app_queue_published_total", queue=shop.queue) == 40
    assert metric(worker, "app_queue_acked_total", queue=shop.queue) == 40
    assert metric(worker, "app_orders_completed_total") == 40
    assert metric(worker, "app_worker_lag_seconds_count", queue=shop.queue) == 40
    done = _rows(
        shop.db.dsn,
        "SELECT count(*) FROM orders WHERE state = 'done' AND completed_at >= created_at"
        " AND id = ANY(%s::uuid[])",
        ids,
    )
    assert done == [(40,)]


def test_an_unknown_regression_is_refused_by_name(start_shop: Callable[..., Shop]) -> None:
    from tests.examples.shop.conftest import run_shop, shop_env

    r = run_shop(
        "migrate",
        env=shop_env(DATABASE_URL="postgresql://x@127.0.0.1:1/x", SHOP_REGRESSIONS="n_plus_1"),
    )
    assert r.returncode == 2
    assert "SHOP_REGRESSIONS: unknown regression(s) n_plus_1; known: n_plus_one" in r.stderr
