"""Benchmark: `perfrun seed` rows/s against raw COPY of the same data from a pre-generated CSV.

A whale-shaped data set of about 1M rows (accounts, and projects per account with
p50/p95/p99 = 3/20/500), loaded into the same fresh schema (primary keys and the foreign key
included) on a throw-away PostgreSQL started here, in the same run:

  seed        the Seeder end to end: plan, schema check, generation and COPY streaming
  csv-stream  COPY ... FROM STDIN (FORMAT csv) streaming the pre-generated CSV file
  csv-server  COPY ... FROM '/file.csv' (FORMAT csv), read by the server itself
  text-stream COPY ... FROM STDIN streaming the same rows pre-generated in COPY's text format

Each is run ``--repeat`` times, alternating, on a fresh database; the best time counts (the
machine is shared). Prints one line per run and the ratio seed / raw COPY (goal >= 0.8).

    .venv/bin/python bench/dataset_seed.py [--accounts 31000] [--repeat 3] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

import psycopg  # noqa: E402

from perfrun.api.dataset import Dataset  # noqa: E402
from perfrun.dataset.copy_writer import replay  # noqa: E402
from perfrun.dataset.plan import build_plan  # noqa: E402
from perfrun.dataset.seed import RetryPolicy, Seeder  # noqa: E402

SCHEMA = """
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, state text NOT NULL,
                       created_at timestamptz NOT NULL);
CREATE TABLE projects (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts(id),
                       name text, created_at timestamptz NOT NULL);
"""


def dataset(accounts: int) -> Dataset:
    return Dataset.model_validate(
        {
            "into": "db",
            "synthetic": {
                "seed": 42,
                "analyze": False,
                "tables": [
                    {
                        "name": "accounts",
                        "rows": accounts,
                        "columns": [
                            {"name": "id", "generator": "sequence"},
                            {"name": "email", "generator": "email"},
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
                            "count": {
                                "percentiles": {"p50": 3, "p95": 20, "p99": 500, "max": 5000}
                            },
                        },
                        "columns": [
                            {"name": "id", "generator": "sequence"},
                            {"name": "account_id", "generator": "parent"},
                            {"name": "name", "generator": "text", "min": 5, "max": 40},
                            {"name": "created_at", "generator": "timestamp", "spread": "4380h"},
                        ],
                    },
                ],
            },
        }
    )


def fresh_db(admin_dsn: str, make_dsn: Callable[[str], str], name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    dsn = str(make_dsn(name))
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
    return dsn


def write_csvs(ds: Dataset, out: Path) -> dict[str, Path]:
    """The seed's exact rows as CSV (text COPY rows; no value holds a comma or a quote)."""
    assert ds.synthetic is not None
    plan = build_plan(ds.synthetic)
    files: dict[str, Path] = {}
    retained: dict[str, dict[str, list[str]]] = {}
    for table in plan.tables:
        parents = retained.get(table.parent) if table.parent else None
        from perfrun.dataset.rows import iter_batches

        path = out / f"{table.name}.csv"
        with path.open("wb") as f, path.with_suffix(".txt").open("wb") as t:
            for batch in iter_batches(table, parents):
                t.write(batch.data)
                f.write(batch.data.replace(b"\t", b",").replace(b"\\N", b""))
        retained[table.name] = replay(table, parents).retained if table.retain else {}
        files[table.name] = path
    return files


def run_seed(ds: Dataset, dsn: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    report = Seeder(ds, dsn, retry=RetryPolicy(attempts=1)).run()
    dt = time.perf_counter() - t0
    if report.status != "ok":
        raise SystemExit(f"seed failed: {report.error}")
    return dt, sum(t.rows for t in report.tables)


def run_csv_stream(files: dict[str, Path], dsn: str, fmt: str = "csv") -> tuple[float, int]:
    rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for table, path in files.items():
            with conn.transaction(), conn.cursor() as cur:
                with (
                    cur.copy(f"COPY {table} FROM STDIN (FORMAT {fmt})") as copy,
                    path.with_suffix(".txt" if fmt == "text" else ".csv").open("rb") as f,
                ):
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                rows += cur.rowcount
    return time.perf_counter() - t0, rows


def run_csv_server(files: dict[str, Path], dsn: str) -> tuple[float, int]:
    rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for table, path in files.items():
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"COPY {table} FROM '{path}' (FORMAT csv)")
                rows += cur.rowcount
    return time.perf_counter() - t0, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=31_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn", help="an existing server (superuser); default: start one")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="perfrun-bench-"))
    work.chmod(0o755)
    server = None
    try:
        make_dsn: Callable[[str], str]
        if args.dsn:
            admin_dsn = args.dsn
            make_dsn = lambda name: str(args.dsn).rsplit("/", 1)[0] + "/" + name  # noqa: E731
        else:
            from tests.support.postgres import start_postgres

            server = start_postgres(work / "pg")
            admin_dsn = server.dsn()
            make_dsn = server.dsn
        ds = dataset(args.accounts)
        t0 = time.perf_counter()
        files = write_csvs(ds, work)
        for f in files.values():
            f.chmod(0o644)
        size = sum(f.stat().st_size for f in files.values())
        print(f"pre-generated CSV: {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s")
        best: dict[str, tuple[float, int]] = {}
        for i in range(args.repeat):
            runs: tuple[tuple[str, Callable[[str], tuple[float, int]]], ...] = (
                ("seed", lambda dsn: run_seed(ds, dsn)),
                ("csv-stream", lambda dsn: run_csv_stream(files, dsn)),
                ("csv-server", lambda dsn: run_csv_server(files, dsn)),
                ("text-stream", lambda dsn: run_csv_stream(files, dsn, "text")),
            )
            for name, fn in runs:
                dsn = fresh_db(admin_dsn, make_dsn, "bench_" + name.replace("-", "_"))
                seconds, rows = fn(dsn)
                rate_now = rows / seconds
                print(f"run {i + 1} {name:11s} {rows} rows {seconds:6.2f}s {rate_now:10.0f} rows/s")
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, rows)
        rate = {k: r / s for k, (s, r) in best.items()}
        print("best: " + ", ".join(f"{k} {v:.0f} rows/s" for k, v in rate.items()))
        print(f"ratio seed / csv-stream COPY: {rate['seed'] / rate['csv-stream']:.2f}")
        print(f"ratio seed / csv-server COPY: {rate['seed'] / rate['csv-server']:.2f}")
        print(f"ratio seed / text-stream COPY: {rate['seed'] / rate['text-stream']:.2f}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
