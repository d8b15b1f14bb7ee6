"""perfrun seed against a real PostgreSQL: determinism, shapes, integrity, faults, reports."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from tests.support.postgres import PostgresDatabase

from perfrun.api.dataset import Dataset
from perfrun.dataset.distributions import fit_percentiles
from perfrun.dataset.seed import RetryPolicy, Seeder, seed

pytestmark = pytest.mark.services

SCHEMA = """
CREATE TYPE account_state AS ENUM ('active', 'suspended', 'closed');
CREATE TABLE accounts (
  id bigint PRIMARY KEY, email varchar(80) NOT NULL UNIQUE, name text,
  state account_state NOT NULL, created_at timestamptz NOT NULL, run_id text
);
CREATE TABLE projects (
  id uuid PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts(id),
  title text, budget numeric(12, 2), archived boolean NOT NULL DEFAULT false
);
CREATE TABLE tasks (
  id bigint PRIMARY KEY, project_id uuid NOT NULL REFERENCES projects(id),
  account_id bigint NOT NULL REFERENCES accounts(id), priority int
);
"""

P50, P95, P99 = 3, 20, 200


def dataset_doc(seed_value: int = 42, accounts: int = 2000, **synthetic: Any) -> dict[str, Any]:
    return {
        "into": "db",
        "schema": SCHEMA,
        "synthetic": {
            "seed": seed_value,
            "tables": [
                {
                    "name": "accounts",
                    "rows": accounts,
                    "columns": [
                        {"name": "id", "generator": "sequence"},
                        {"name": "email", "generator": "email"},
                        {"name": "name", "generator": "name", "nullFraction": 0.1},
                        {
                            "name": "state",
                            "generator": "enum",
                            "values": {"active": 90, "suspended": 8, "closed": 2},
                        },
                        {"name": "created_at", "generator": "timestamp", "spread": "8760h"},
                    ],
                },
                {
                    "name": "projects",
                    "perParent": {
                        "table": "accounts",
                        "count": {"percentiles": {"p50": P50, "p95": P95, "p99": P99}},
                    },
                    "columns": [
                        {"name": "id", "generator": "uuid"},
                        {"name": "account_id", "generator": "parent"},
                        {"name": "title", "generator": "text", "min": 5, "max": 40},
                        {
                            "name": "budget",
                            "generator": "float",
                            "distribution": {"lognormal": {"median": 500, "sigma": 1}},
                        },
                    ],
                    "indexes": [{"columns": ["account_id"]}],
                },
                {
                    "name": "tasks",
                    "perParent": {
                        "table": "projects",
                        "count": {"zipf": {"exponent": 1.5, "max": 50}},
                    },
                    "columns": [
                        {"name": "id", "generator": "sequence"},
                        {"name": "project_id", "generator": "parent"},
                        {"name": "account_id", "generator": "parent", "source": "account_id"},
                        {"name": "priority", "generator": "int", "min": 1, "max": 5},
                    ],
                },
            ],
            **synthetic,
        },
    }


def table_digest(dsn: str, table: str, order: str = "id") -> tuple[int, str]:
    """Row count and md5 of the table's rows as the server stores them."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {order}), '')) "
            f"FROM {table} t"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def fast_retry() -> RetryPolicy:
    return RetryPolicy(attempts=3, backoff_s=0.05, connect_timeout_s=5)


def test_same_seed_same_data_other_seed_other_data(
    postgres_db: PostgresDatabase, postgres_server: Any
) -> None:
    first = seed(
        Dataset.model_validate(dataset_doc(42, accounts=1000)), postgres_db.dsn, retry=fast_retry()
    )
    assert first.status == "ok", first.error
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS seed_twin WITH (FORCE)")
        admin.execute("CREATE DATABASE seed_twin")
        admin.execute("DROP DATABASE IF EXISTS seed_other WITH (FORCE)")
        admin.execute("CREATE DATABASE seed_other")
    twin_dsn, other_dsn = postgres_server.dsn("seed_twin"), postgres_server.dsn("seed_other")
    # a different batch size must not change the data
    twin = Seeder(
        Dataset.model_validate(dataset_doc(42, accounts=1000)),
        twin_dsn,
        retry=fast_retry(),
        batch_rows=333,
    ).run()
    other = seed(
        Dataset.model_validate(dataset_doc(43, accounts=1000)), other_dsn, retry=fast_retry()
    )
    assert twin.status == "ok" and other.status == "ok"
    sums = {t.name: t.checksum for t in first.tables}
    assert sums == {t.name: t.checksum for t in twin.tables}
    assert all(s and s.startswith("sha256:") for s in sums.values())
    assert all(sums[t.name] != t.checksum for t in other.tables)
    for table in ("accounts", "tasks"):
        assert table_digest(postgres_db.dsn, table) == table_digest(twin_dsn, table)
        assert table_digest(postgres_db.dsn, table) != table_digest(other_dsn, table)
    # uuid keys: compare in load order via the sequence-keyed child's view of them
    assert table_digest(postgres_db.dsn, "projects", "account_id, title, id") == table_digest(
        twin_dsn, "projects", "account_id, title, id"
    )
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE seed_twin WITH (FORCE)")
        admin.execute("DROP DATABASE seed_other WITH (FORCE)")


def test_shapes_integrity_indexes_and_report(postgres_db: PostgresDatabase) -> None:
    report = seed(
        Dataset.model_validate(dataset_doc(7, accounts=5000)),
        postgres_db.dsn,
        run_id="run-123",
        retry=fast_retry(),
    )
    assert report.status == "ok", report.error
    out = report.to_dict()
    assert out["rows"]["accounts"] == 5000
    assert all(t["status"] == "loaded" for t in out["tables"])
    with psycopg.connect(postgres_db.dsn) as conn:
        for t in out["tables"]:
            row = conn.execute(f"SELECT count(*) FROM {t['name']}").fetchone()
            assert row is not None and row[0] == t["rows"] == t["expectedRows"]
        # requested p50/p95/p99 of projects per account, measured in the database
        q = conn.execute(
            "SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY n) FROM "
            "(SELECT count(p.id) AS n FROM accounts a LEFT JOIN projects p "
            "ON p.account_id = a.id GROUP BY a.id) s"
        ).fetchone()
        assert q is not None
        fitted = fit_percentiles(P50, P95, P99, None)
        for got, want, pct in zip(q[0], (P50, P95, P99), (0.5, 0.95, 0.99), strict=True):
            # within 3 standard errors of the sample quantile of 5000 accounts
            delta = 3 * math.sqrt(pct * (1 - pct) / 5000)
            low, high = fitted.quantile(pct - delta), fitted.quantile(pct + delta)
            assert math.floor(low) <= got <= math.ceil(high), (got, want, low, high)
            assert abs(got - want) <= max(1, 0.3 * want), (got, want)
        # referential integrity, including the denormalised grandparent key
        orphans = conn.execute(
            "SELECT count(*) FROM tasks t LEFT JOIN projects p ON p.id = t.project_id "
            "WHERE p.id IS NULL OR p.account_id <> t.account_id"
        ).fetchone()
        assert orphans == (0,)
        assert conn.execute(
            "SELECT count(*) FROM accounts WHERE run_id = 'run-123'"
        ).fetchone() == (5000,)
        idx = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'projects' "
            "AND indexname LIKE 'perfrun_%'"
        ).fetchall()
        assert idx == [("perfrun_projects_account_id_idx",)]
        analyzed = conn.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        ).fetchone()
        assert analyzed == (3,)
        states = dict(
            conn.execute("SELECT state::text, count(*) FROM accounts GROUP BY 1").fetchall()
        )
        assert states["active"] > states["suspended"] > states["closed"] > 0


def test_unknown_column_is_named_before_anything_is_written(postgres_db: PostgresDatabase) -> None:
    doc = dataset_doc(1, accounts=50)
    doc["synthetic"]["tables"][1]["columns"][2]["name"] = "titel"
    doc["synthetic"]["tables"][2]["columns"][3]["generator"] = "timestamp"
    report = seed(Dataset.model_validate(doc), postgres_db.dsn, retry=fast_retry())
    assert report.status == "failed"
    assert report.error is not None
    assert "table projects, column titel: does not exist" in report.error
    assert "table tasks, column priority: generator timestamp does not fit type integer" in (
        report.error
    )
    assert all(t.status == "skipped" and t.rows == 0 for t in report.tables)
    assert table_digest(postgres_db.dsn, "accounts")[0] == 0


def test_missing_table_and_bad_enum_label(postgres_db: PostgresDatabase) -> None:
    doc = dataset_doc(1, accounts=50)
    doc["synthetic"]["tables"][0]["columns"][3]["values"] = {"active": 1, "deleted": 1}
    doc["synthetic"]["tables"][2]["name"] = "todo"
    report = seed(Dataset.model_validate(doc), postgres_db.dsn, retry=fast_retry())
    assert report.error is not None
    assert "table todo: does not exist in the database" in report.error
    assert "table accounts, column state: values ['deleted'] are not labels" in report.error


def _terminator(dsn: str, table: str, times: int) -> Any:
    """An on_batch hook that kills the seeding backend (pg_terminate_backend from another
    connection) after the first batch of each attempt at ``table``, ``times`` times in all."""
    state = {"left": times, "killed": 0}

    def hook(name: str, sent: int) -> None:
        if name != table or state["left"] == 0 or sent > 500:
            return
        state["left"] -= 1
        with psycopg.connect(dsn, autocommit=True) as killer:
            row = killer.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'perfrun-seed' AND pid <> pg_backend_pid()"
            ).fetchone()
            state["killed"] += row[0] if row else 0

    hook.state = state  # type: ignore[attr-defined]
    return hook


def test_killed_connection_is_retried_and_the_table_fully_loaded(
    postgres_db: PostgresDatabase,
) -> None:
    dataset = Dataset.model_validate(dataset_doc(5, accounts=1500))
    reference = Seeder(dataset, postgres_db.dsn, retry=fast_retry(), batch_rows=500)
    killer = _terminator(postgres_db.dsn, "projects", 1)
    report = Seeder(
        dataset, postgres_db.dsn, retry=fast_retry(), batch_rows=500, on_batch=killer
    ).run()
    assert killer.state["killed"] == 1
    assert report.status == "ok", report.error
    projects = next(t for t in report.tables if t.name == "projects")
    assert projects.attempts == 2
    assert projects.rows == projects.expected_rows == table_digest(postgres_db.dsn, "projects")[0]
    # the retried table carries the same checksum as an undisturbed run would
    from perfrun.dataset.copy_writer import replay
    from perfrun.dataset.plan import build_plan

    assert reference.synthetic is not None
    plan = build_plan(reference.synthetic)
    accounts = replay(plan.tables[0], batch_rows=500)
    assert projects.checksum == replay(plan.tables[1], accounts.retained).checksum


def test_connection_killed_every_time_is_reported_not_loaded(
    postgres_db: PostgresDatabase,
) -> None:
    killer = _terminator(postgres_db.dsn, "projects", 100)
    report = Seeder(
        Dataset.model_validate(dataset_doc(5, accounts=1500)),
        postgres_db.dsn,
        retry=fast_retry(),
        batch_rows=500,
        on_batch=killer,
    ).run()
    assert killer.state["killed"] == 3
    assert report.status == "failed"
    by_name = {t.name: t for t in report.tables}
    assert by_name["accounts"].status == "loaded" and by_name["accounts"].rows == 1500
    assert by_name["projects"].status == "failed"
    assert by_name["projects"].rows == 0
    assert by_name["projects"].attempts == 3
    assert "not loaded after 3 attempts" in (by_name["projects"].error or "")
    assert "connection lost (attempt 3)" in (by_name["projects"].error or "")
    assert by_name["tasks"].status == "skipped"
    assert report.error is not None and "table projects: not loaded" in report.error
    # the report tells the truth: nothing of projects or tasks is in the database
    assert table_digest(postgres_db.dsn, "projects")[0] == 0
    assert table_digest(postgres_db.dsn, "tasks")[0] == 0
    assert table_digest(postgres_db.dsn, "accounts")[0] == 1500


def test_tables_with_rows_are_refused(postgres_db: PostgresDatabase) -> None:
    dataset = Dataset.model_validate(dataset_doc(5, accounts=20))
    assert seed(dataset, postgres_db.dsn, retry=fast_retry()).status == "ok"
    doc = dataset_doc(5, accounts=20)
    doc.pop("schema")
    again = seed(Dataset.model_validate(doc), postgres_db.dsn, retry=fast_retry())
    assert again.status == "failed"
    assert "table accounts: already has rows" in (again.error or "")


def test_max_accounts_per_minute_paces_the_first_table(postgres_db: PostgresDatabase) -> None:
    doc = dataset_doc(5, accounts=60, maxAccountsPerMinute=6000)
    started = time.monotonic()
    report = seed(Dataset.model_validate(doc), postgres_db.dsn, retry=fast_retry())
    assert report.status == "ok", report.error
    assert time.monotonic() - started >= 0.55  # 60 accounts at 100/s


def test_cli_prints_the_report(postgres_db: PostgresDatabase, tmp_path: Path) -> None:
    config = tmp_path / "dataset.yaml"
    config.write_text(yaml.safe_dump(dataset_doc(3, accounts=100)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfrun.cli",
            "seed",
            "--config",
            str(config),
            "--dsn",
            postgres_db.dsn,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert report["rows"]["accounts"] == 100
    assert set(report["rows"]) == {"accounts", "projects", "tasks"}
    assert all(t["checksum"].startswith("sha256:") for t in report["tables"])
