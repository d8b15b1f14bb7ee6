"""pytest plugin: a real PostgreSQL (Debian's) on 127.0.0.1 for tests marked ``services``.

One throw-away cluster per test session: ``initdb`` into a temp dir (as the ``postgres`` user
when running as root, since initdb refuses root), started with ``pg_ctl`` on a free port with
its unix socket in the temp dir, durability switched off because the data is disposable.
Each test gets a fresh database.

Fixtures:
  ``postgres_server`` (session)  a PostgresServer: ``.dsn(dbname)``, ``.bin_dir``, ``.port``
  ``postgres_db``     (function) a PostgresDatabase: ``.name``, ``.dsn``, dropped afterwards

``start_postgres(dir)`` is plain Python so benchmarks can start the same server.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.waiting import free_port

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"


def find_bin_dir() -> Path:
    """The newest Debian PostgreSQL server binaries present (fail loudly if none)."""
    override = os.environ.get("PERFRUN_PG_BIN")
    for candidate in ((override,) if override else ()) + PG_BIN_CANDIDATES:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL server binaries not found (apt-get install postgresql); looked in "
        + ", ".join(PG_BIN_CANDIDATES)
    )


@dataclass
class PostgresServer:
    """A running throw-away cluster."""

    base_dir: Path
    bin_dir: Path
    port: int
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def stop(self) -> None:
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"
            ),
            check=False,
            capture_output=True,
            timeout=60,
        )


def start_postgres(base_dir: Path) -> PostgresServer:
    """initdb and start a cluster under ``base_dir`` (which must be empty or absent)."""
    bin_dir = find_bin_dir()
    base_dir.mkdir(parents=True, exist_ok=True)
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = SUPERUSER
        entry = pwd.getpwnam(run_as)
        # The postgres user must be able to reach the temp dir: open its parents for traversal.
        for parent in [base_dir, *base_dir.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        shutil.chown(base_dir, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(base_dir=base_dir, bin_dir=bin_dir, port=free_port(), run_as=run_as)
    server.socket_dir.mkdir()
    if run_as:
        shutil.chown(server.socket_dir, run_as, run_as)
    init = subprocess.run(
        server._cmd(
            str(bin_dir / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed (exit {init.returncode}): {init.stderr or init.stdout}")
    options = " ".join(
        [
            f"-p {server.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={server.socket_dir}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=50",
            "-c shared_buffers=128MB",
            "-c max_wal_size=2GB",
        ]
    )
    result = subprocess.run(
        server._cmd(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(server.data_dir),
            "-l",
            str(base_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "120",
            "start",
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        log = (base_dir / "server.log").read_text() if (base_dir / "server.log").exists() else ""
        raise RuntimeError(f"postgres did not start: {result.stderr}\n{log[-2000:]}")
    return server


@dataclass
class PostgresDatabase:
    """One fresh database of the session's server."""

    server: PostgresServer
    name: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)


def _admin(server: PostgresServer, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # Its own temp dir, not pytest's numbered basetemp: concurrent pytest sessions on the same
    # machine prune each other's old basetemps, which would delete a running data directory.
    base = Path(tempfile.mkdtemp(prefix="perfrun-pg-"))
    try:
        server = start_postgres(base / "pg")
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[PostgresDatabase]:
    name = f"t_{secrets.token_hex(6)}"
    _admin(postgres_server, f'CREATE DATABASE "{name}"')
    try:
        yield PostgresDatabase(server=postgres_server, name=name)
    finally:
        _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
