"""`perfrun restore`: a golden dump into the database, verified first, counted after.

Custom and directory dumps go through ``pg_restore -j N`` (parallel), tar through
``pg_restore``, plain SQL (optionally gzipped) through ``psql`` in one transaction. Nothing is
restored before the sha256 matches."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from perfrun.api.dataset import Dataset, Dump
from perfrun.api.types import parse_duration
from perfrun.dataset.download import DownloadError, download, sha256_file
from perfrun.dataset.report import Report, TableReport

APPLICATION_NAME = "perfrun-restore"


class RestoreError(RuntimeError):
    """A dump that was refused or could not be restored."""


def detect_format(path: Path) -> str:
    """custom, directory, tar, gzip (plain SQL, gzipped) or plain, from the file's bytes."""
    if path.is_dir():
        if (path / "toc.dat").exists():
            return "directory"
        raise RestoreError(f"{path}: a directory without toc.dat is not a pg_dump directory")
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"PGDMP"):
        return "custom"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "plain"


def restore_command(fmt: str, path: Path, dsn: str, jobs: int) -> list[str]:
    """The pg_restore/psql command line for a dump (pure, so it is tested without a server)."""
    if fmt in ("custom", "directory", "tar"):
        cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
        if fmt != "tar" and jobs > 1:
            cmd += ["--jobs", str(jobs)]
        elif fmt == "tar":
            cmd += ["--single-transaction"]
        return [*cmd, "--dbname", dsn, str(path)]
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    return [*psql, "-d", dsn, "-f", str(path)]


def table_rows(dsn: str) -> dict[str, int]:
    """Exact row counts of every user table (schema-qualified outside ``public``)."""
    out: dict[str, int] = {}
    with psycopg.connect(dsn, application_name=APPLICATION_NAME) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
        ).fetchall()
        for schema, name in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            ).fetchone()
            out[name if schema == "public" else f"{schema}.{name}"] = int(row[0]) if row else 0
    return out


def _apply_schema(dsn: str, ddl: str) -> None:
    with psycopg.connect(dsn, application_name=APPLICATION_NAME) as conn, conn.transaction():
        conn.execute(ddl)


class Restorer:
    """One restore run; ``run`` returns the report whatever happens."""

    def __init__(
        self,
        dataset: Dataset,
        dsn: str,
        *,
        workdir: Path | None = None,
        download_attempts: int = 4,
        backoff_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if dataset.dump is None:
            raise RestoreError("dataset.dump is required for perfrun restore")
        self.dataset = dataset
        self.dump: Dump = dataset.dump
        self.dsn = dsn
        self.workdir = workdir
        self.download_attempts = download_attempts
        self.backoff_s = backoff_s
        self.clock = clock
        self.report = Report(mode="restore")

    def run(self) -> Report:
        started = self.clock()
        try:
            with tempfile.TemporaryDirectory(dir=self.workdir, prefix="perfrun-dump-") as tmp:
                self._run(Path(tmp))
        except (RestoreError, DownloadError, OSError) as exc:
            self.report.fail(str(exc))
        except psycopg.Error as exc:
            self.report.fail(f"database error: {str(exc).strip().splitlines()[0]}")
        finally:
            self.report.duration_seconds = self.clock() - started
        return self.report

    def _run(self, tmp: Path) -> None:
        details: dict[str, Any] = self.report.details
        timeout = parse_duration(self.dataset.timeout)
        deadline = self.clock() + timeout
        if self.dump.url is not None:
            details["source"] = self.dump.url
            got = download(
                self.dump.url,
                tmp / "dump",
                attempts=self.download_attempts,
                backoff_s=self.backoff_s,
            )
            path, digest = got.path, got.sha256
            details.update(
                {
                    "bytes": got.bytes,
                    "downloadAttempts": got.attempts,
                    "downloadSeconds": round(got.seconds, 3),
                }
            )
        else:
            path = Path(self.dump.path or "")
            details["source"] = str(path)
            if not path.exists():
                raise RestoreError(f"dataset.dump.path {path}: no such file or directory")
            digest = None
            if self.dump.sha256 is not None:
                if path.is_dir():
                    raise RestoreError(
                        f"dataset.dump.sha256 checks a single dump file, but {path} is a directory"
                    )
                digest = sha256_file(path)
            details["bytes"] = path.stat().st_size if path.is_file() else None
        if self.dump.sha256 is not None:
            details["sha256"] = digest
            if digest != self.dump.sha256:
                raise RestoreError(
                    f"checksum mismatch: the dump has sha256 {digest}, dataset.dump.sha256 is "
                    f"{self.dump.sha256}; refused, nothing restored"
                )
        fmt = detect_format(path) if self.dump.format == "auto" else self.dump.format
        if fmt == "plain" and detect_format(path) == "gzip":
            fmt = "gzip"
        if fmt == "gzip":
            plain = tmp / "dump.sql"
            with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            path, fmt = plain, "plain"
        details["format"] = fmt
        details["jobs"] = self.dump.jobs if fmt in ("custom", "directory") else 1
        if self.dataset.schema_sql:
            _apply_schema(self.dsn, self.dataset.schema_sql)
        cmd = restore_command(fmt, path, self.dsn, self.dump.jobs)
        t0 = self.clock()
        try:
            result = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=max(deadline - self.clock(), 1.0),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RestoreError(
                f"{cmd[0]} did not finish within dataset.timeout {self.dataset.timeout}"
            ) from exc
        details["restoreSeconds"] = round(self.clock() - t0, 3)
        if result.returncode != 0:
            err = (result.stderr or result.stdout).strip()
            raise RestoreError(f"{cmd[0]} failed (exit {result.returncode}): {err[-2000:]}")
        self.report.tables = [
            TableReport(name, status="loaded", rows=n, expected_rows=n, attempts=1)
            for name, n in table_rows(self.dsn).items()
        ]


def restore(dataset: Dataset, dsn: str, **kwargs: Any) -> Report:
    """Restore ``dataset.dump`` into the database at ``dsn``; the report says what happened."""
    return Restorer(dataset, dsn, **kwargs).run()
