"""`perfrun seed`: plan, check against the live schema, load table by table, index, analyze.

Connection loss is retried per table (each table is one transaction, so a retry starts from a
clean slate); anything else stops the run. Every table ends up ``loaded``, ``failed`` or
``skipped`` in the report -- never silently half-loaded."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from perfrun.api.dataset import Dataset
from perfrun.api.types import parse_duration
from perfrun.dataset import schema_check
from perfrun.dataset.copy_writer import Loaded, OnBatch, load_table, replay
from perfrun.dataset.plan import PlanError, TablePlan, build_plan
from perfrun.dataset.report import Report, TableReport
from perfrun.dataset.rows import DEFAULT_BATCH_ROWS

APPLICATION_NAME = "perfrun-seed"
Conn = psycopg.Connection[tuple[Any, ...]]


class SeedError(RuntimeError):
    """A seed that cannot start or cannot finish; the report says which tables are affected."""


class DeadlineExceededError(RuntimeError):
    """dataset.timeout passed."""


@dataclass
class RetryPolicy:
    """How often a lost connection is retried, per table (and for connecting)."""

    attempts: int = 4
    backoff_s: float = 1.0
    connect_timeout_s: int = 10


def connect(dsn: str, retry: RetryPolicy, application_name: str = APPLICATION_NAME) -> Conn:
    """A connection, retried while the server is not reachable yet."""
    last: Exception | None = None
    for attempt in range(retry.attempts):
        try:
            return psycopg.connect(
                dsn, application_name=application_name, connect_timeout=retry.connect_timeout_s
            )
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(retry.backoff_s * (2**attempt))
    raise SeedError(f"cannot connect to the database: {_first_line(last)}")


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else repr(exc)


def _index_name(table: str, columns: list[str], unique: bool) -> str:
    name = f"perfrun_{table}_{'_'.join(columns)}{'_key' if unique else '_idx'}"
    if len(name) > 63:
        name = name[:54] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name


def _count(conn: Conn, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


class Seeder:
    """One seed run; ``run`` returns the report whatever happens."""

    def __init__(
        self,
        dataset: Dataset,
        dsn: str,
        *,
        run_id: str | None = None,
        retry: RetryPolicy | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        on_batch: OnBatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if dataset.synthetic is None:
            raise SeedError("dataset.synthetic is required for perfrun seed")
        self.dataset = dataset
        self.synthetic = dataset.synthetic
        self.dsn = dsn
        self.run_id = run_id
        self.retry = retry or RetryPolicy()
        self.batch_rows = batch_rows
        self.on_batch_hook = on_batch
        self.clock = clock
        self.deadline = clock() + parse_duration(dataset.timeout)
        self.report = Report(mode="seed")
        self.report.details = {"seed": self.synthetic.seed}
        if run_id:
            self.report.details["runId"] = run_id
        self._conn: Conn | None = None
        self._paced_start: float | None = None

    # -- connection ------------------------------------------------------------------------
    def conn(self) -> Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = connect(self.dsn, self.retry)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- run -------------------------------------------------------------------------------
    def run(self) -> Report:
        started = self.clock()
        try:
            self._run()
        except (SeedError, PlanError, DeadlineExceededError) as exc:
            self.report.fail(str(exc))
        except psycopg.Error as exc:
            self.report.fail(f"database error: {_first_line(exc)}")
        finally:
            self.close()
            self.report.duration_seconds = self.clock() - started
        for t in self.report.tables:
            if t.status == "pending":
                t.status = "skipped"
                t.error = t.error or "not attempted: an earlier step failed"
        return self.report

    def _run(self) -> None:
        if self.dataset.schema_sql:
            self._with_retry("applying dataset.schema", self._apply_schema)
        names = [t.name for t in self.synthetic.tables]
        live = self._with_retry("reading the live schema", lambda: self._fetch_live(names))
        live_cols = {n: list(t.columns) if t else [] for n, t in live.items()}
        plan = build_plan(self.synthetic, self.run_id, live_cols)
        self.report.tables = [TableReport(t.name, expected_rows=t.rows) for t in plan.tables]
        problems = schema_check.check(plan, live)
        if not problems:
            problems = schema_check.check_constants(self.conn(), plan, live)
        if problems:
            raise SeedError("the live schema does not fit the data set: " + "; ".join(problems))
        for table in plan.tables:
            if _count(self.conn(), table.name):
                raise SeedError(
                    f"table {table.name}: already has rows; perfrun seed loads empty tables only"
                )
        retained: dict[str, dict[str, list[str]]] = {}
        by_name = {t.name: t for t in self.report.tables}
        first = plan.tables[0].name
        for table in plan.tables:
            entry = by_name[table.name]
            parents = retained.get(table.parent) if table.parent else None
            loaded = self._load_with_retry(table, entry, parents, paced=table.name == first)
            if loaded is None:
                raise SeedError(f"table {table.name}: not loaded: {entry.error}")
            if table.retain:
                retained[table.name] = loaded.retained
        self._create_indexes(plan.tables)
        if self.synthetic.analyze:
            self._with_retry("ANALYZE", lambda: self._analyze(plan.tables))
            self.report.details["analyzed"] = True

    def _apply_schema(self) -> None:
        conn = self.conn()
        with conn.transaction():
            conn.execute(self.dataset.schema_sql or "")

    def _fetch_live(self, names: list[str]) -> dict[str, schema_check.LiveTable | None]:
        conn = self.conn()
        try:
            return schema_check.fetch_live(conn, names)
        finally:
            conn.rollback()

    def _analyze(self, tables: list[TablePlan]) -> None:
        conn = self.conn()
        conn.autocommit = True
        try:
            for t in tables:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(t.name)))
        finally:
            conn.autocommit = False

    def _create_indexes(self, tables: list[TablePlan]) -> None:
        made: list[str] = []
        for t in tables:
            for columns, unique in t.indexes:
                name = _index_name(t.name, columns, unique)
                stmt = sql.SQL("CREATE {}INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.SQL("UNIQUE " if unique else ""),
                    sql.Identifier(name),
                    sql.Identifier(t.name),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )

                def create(stmt: sql.Composed = stmt) -> None:
                    conn = self.conn()
                    with conn.transaction():
                        conn.execute(stmt)

                self._with_retry(f"creating index {name}", create)
                made.append(name)
        self.report.details["indexes"] = made

    # -- retries ---------------------------------------------------------------------------
    def _check_deadline(self) -> None:
        if self.clock() > self.deadline:
            raise DeadlineExceededError(
                f"dataset.timeout {self.dataset.timeout} passed before the data set was loaded"
            )

    def _with_retry(self, what: str, step: Callable[[], Any]) -> Any:
        for attempt in range(self.retry.attempts):
            self._check_deadline()
            try:
                return step()
            except psycopg.OperationalError as exc:
                if attempt + 1 == self.retry.attempts:
                    raise SeedError(f"{what}: connection lost: {_first_line(exc)}") from exc
                time.sleep(self.retry.backoff_s * (2**attempt))
        raise SeedError(f"{what}: no attempt made")  # pragma: no cover - attempts >= 1

    def _on_batch(self, paced: bool) -> OnBatch:
        rate = self.synthetic.max_accounts_per_minute if paced else None

        def hook(table: str, sent: int) -> None:
            self._check_deadline()
            if rate is not None:
                if self._paced_start is None:
                    self._paced_start = self.clock()
                due = self._paced_start + sent * 60.0 / rate
                delay = due - self.clock()
                if delay > 0:
                    time.sleep(delay)
            if self.on_batch_hook is not None:
                self.on_batch_hook(table, sent)

        return hook

    def _load_with_retry(
        self,
        table: TablePlan,
        entry: TableReport,
        parents: dict[str, list[str]] | None,
        *,
        paced: bool,
    ) -> Loaded | None:
        """Load one table, retrying lost connections; fills ``entry`` truthfully."""
        batch_rows = self.batch_rows
        rate = self.synthetic.max_accounts_per_minute
        if paced and rate is not None:
            batch_rows = max(1, min(batch_rows, rate // 6))  # a batch every ~10 s at most
        started = self.clock()
        try:
            for attempt in range(1, self.retry.attempts + 1):
                entry.attempts = attempt
                self._paced_start = None
                try:
                    loaded = load_table(
                        self.conn(),
                        table,
                        parents,
                        batch_rows=batch_rows,
                        on_batch=self._on_batch(paced),
                    )
                except psycopg.OperationalError as exc:
                    entry.error = f"connection lost (attempt {attempt}): {_first_line(exc)}"
                    self._conn_reset()
                    outcome = self._after_lost_connection(table, entry, parents, batch_rows)
                    if outcome is not None or entry.status == "failed":
                        return outcome
                    if attempt < self.retry.attempts:
                        time.sleep(self.retry.backoff_s * (2 ** (attempt - 1)))
                    continue
                except psycopg.Error as exc:
                    entry.status = "failed"
                    entry.error = f"{type(exc).__name__}: {_first_line(exc)}"
                    self._conn_reset()
                    return None
                except DeadlineExceededError as exc:
                    entry.status, entry.error = "failed", str(exc)
                    self._conn_reset()
                    return None
                entry.status, entry.rows, entry.checksum = "loaded", loaded.rows, loaded.checksum
                entry.error = None
                return loaded
            entry.status = "failed"
            entry.error = f"not loaded after {self.retry.attempts} attempts; last: {entry.error}"
            return None
        finally:
            entry.seconds = self.clock() - started

    def _after_lost_connection(
        self,
        table: TablePlan,
        entry: TableReport,
        parents: dict[str, list[str]] | None,
        batch_rows: int,
    ) -> Loaded | None:
        """Find out what a lost connection left: nothing (retry), everything (the COMMIT went
        through: loaded), or -- never expected -- something else (failed, with the count)."""
        try:
            present = self._with_retry(
                f"counting {table.name}", lambda: _count(self.conn(), table.name)
            )
        except SeedError as exc:
            entry.status = "failed"
            entry.error = f"{entry.error}; could not check what was committed: {exc}"
            return None
        entry.rows = present
        if present == 0:
            return None
        if present == table.rows:
            loaded = replay(table, parents, batch_rows=batch_rows)
            entry.status, entry.checksum, entry.error = "loaded", loaded.checksum, None
            return loaded
        entry.status = "failed"
        entry.error = (
            f"after a lost connection the table has {present} rows of {table.rows}; not retried"
        )
        return None

    def _conn_reset(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None


def seed(dataset: Dataset, dsn: str, **kwargs: Any) -> Report:
    """Seed ``dataset.synthetic`` into the database at ``dsn``; the report says what happened."""
    return Seeder(dataset, dsn, **kwargs).run()
