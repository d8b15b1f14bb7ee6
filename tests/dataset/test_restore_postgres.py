"""perfrun restore against a real PostgreSQL: pg_dump -> restore -j, checksums, formats."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.dataset.test_seed_postgres import dataset_doc, table_digest
from tests.support.postgres import PostgresDatabase, PostgresServer
from tests.support.waiting import host_ip

from perfrun.api.dataset import Dataset
from perfrun.dataset.restore import detect_format, restore, restore_command
from perfrun.dataset.seed import RetryPolicy, seed

pytestmark = pytest.mark.services


@pytest.fixture
def source_db(postgres_db: PostgresDatabase) -> PostgresDatabase:
    """A seeded database to dump."""
    report = seed(
        Dataset.model_validate(dataset_doc(11, accounts=800)),
        postgres_db.dsn,
        retry=RetryPolicy(attempts=2, backoff_s=0.05),
    )
    assert report.status == "ok", report.error
    return postgres_db


@pytest.fixture
def target_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS restore_target WITH (FORCE)")
        admin.execute("CREATE DATABASE restore_target")
    yield postgres_server.dsn("restore_target")
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS restore_target WITH (FORCE)")


class _Files(http.server.SimpleHTTPRequestHandler):
    fail_first: dict[str, int] = {}

    def do_GET(self) -> None:
        left = self.fail_first.get(self.path, 0)
        if left:
            self.fail_first[self.path] = left - 1
            self.send_error(503)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args: Any, **kwargs: Any) -> _Files:
        return _Files(*args, directory=str(root), **kwargs)

    # this machine's own non-loopback address: a dump URL on loopback is refused by the API
    # (it would be the dataset pod's own loopback, never a file server)
    address = host_ip()
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{address}:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def pg_dump(dsn: str, out: Path, fmt: str) -> None:
    subprocess.run(["pg_dump", f"-F{fmt}", "-f", str(out), "-d", dsn], check=True, timeout=120)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_data(a: str, b: str) -> None:
    for table in ("accounts", "tasks"):
        assert table_digest(a, table) == table_digest(b, table)
    assert table_digest(a, "projects", "account_id, title, id") == table_digest(
        b, "projects", "account_id, title, id"
    )


def test_custom_dump_from_url_restores_completely_with_jobs(
    source_db: PostgresDatabase, target_dsn: str, http_dir: tuple[str, Path]
) -> None:
    base, root = http_dir
    dump = root / "golden.dump"
    pg_dump(source_db.dsn, dump, "c")
    _Files.fail_first["/golden.dump"] = 1  # one transient 503 first
    dataset = Dataset.model_validate(
        {"into": "db", "dump": {"url": f"{base}/golden.dump", "sha256": sha256(dump), "jobs": 4}}
    )
    report = restore(dataset, target_dsn, backoff_s=0.05)
    assert report.status == "ok", report.error
    out = report.to_dict()
    assert out["format"] == "custom" and out["jobs"] == 4
    assert out["downloadAttempts"] == 2
    assert out["sha256"] == sha256(dump)
    assert out["rows"]["accounts"] == 800
    assert out["rows"] == {
        t: table_digest(source_db.dsn, t)[0] for t in ("accounts", "projects", "tasks")
    }
    assert_same_data(source_db.dsn, target_dsn)


def test_corrupted_dump_is_refused_and_nothing_restored(
    source_db: PostgresDatabase, target_dsn: str, http_dir: tuple[str, Path]
) -> None:
    base, root = http_dir
    dump = root / "golden.dump"
    pg_dump(source_db.dsn, dump, "c")
    expected = sha256(dump)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    dataset = Dataset.model_validate(
        {"into": "db", "dump": {"url": f"{base}/golden.dump", "sha256": expected}}
    )
    report = restore(dataset, target_dsn, backoff_s=0.05)
    assert report.status == "failed"
    assert "checksum mismatch" in (report.error or "")
    assert "nothing restored" in (report.error or "")
    with psycopg.connect(target_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row == (0,)


def test_directory_dump_from_path_with_jobs(
    source_db: PostgresDatabase, target_dsn: str, tmp_path: Path
) -> None:
    dump = tmp_path / "golden.dir"
    pg_dump(source_db.dsn, dump, "d")
    assert detect_format(dump) == "directory"
    dataset = Dataset.model_validate({"into": "db", "dump": {"path": str(dump), "jobs": 2}})
    report = restore(dataset, target_dsn)
    assert report.status == "ok", report.error
    assert report.details["format"] == "directory"
    assert_same_data(source_db.dsn, target_dsn)


def test_plain_sql_dump_through_psql(
    source_db: PostgresDatabase, target_dsn: str, tmp_path: Path
) -> None:
    dump = tmp_path / "golden.sql"
    pg_dump(source_db.dsn, dump, "p")
    dataset = Dataset.model_validate(
        {"into": "db", "dump": {"path": str(dump), "sha256": sha256(dump)}}
    )
    report = restore(dataset, target_dsn)
    assert report.status == "ok", report.error
    assert report.details["format"] == "plain"
    assert_same_data(source_db.dsn, target_dsn)


def test_a_failing_restore_reports_the_tool_error(target_dsn: str, tmp_path: Path) -> None:
    dump = tmp_path / "broken.sql"
    dump.write_text("CREATE TABLE t (id int);\nINSERT INTO nope VALUES (1);\n")
    report = restore(
        Dataset.model_validate({"into": "db", "dump": {"path": str(dump)}}), target_dsn
    )
    assert report.status == "failed"
    assert "psql failed" in (report.error or "") and "nope" in (report.error or "")
    with psycopg.connect(target_dsn) as conn:  # one transaction: the CREATE was rolled back
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_restore_command_lines() -> None:
    assert restore_command("custom", Path("/d"), "dsn", 4)[-5:] == [
        "--jobs",
        "4",
        "--dbname",
        "dsn",
        "/d",
    ]
    assert "--jobs" not in restore_command("tar", Path("/d"), "dsn", 4)
    assert restore_command("plain", Path("/d"), "dsn", 4)[0] == "psql"
