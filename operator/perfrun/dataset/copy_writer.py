"""Stream one table into PostgreSQL with COPY, in one transaction.

The transaction is the unit of truth: either the COPY and its COMMIT succeed and every row is
there, or nothing of the table is. Batches go out as they are generated, through a queue that
a worker thread drains, so the server parses one batch while Python produces the next."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from perfrun.dataset.plan import TablePlan
from perfrun.dataset.rows import DEFAULT_BATCH_ROWS, iter_batches

# Called after each batch with (table, rows so far); may sleep (pacing) or raise (deadline).
OnBatch = Callable[[str, int], None]


class RowCountMismatchError(RuntimeError):
    """The server took a different number of rows than the plan produced."""


@dataclass
class Loaded:
    rows: int
    checksum: str
    retained: dict[str, list[str]] = field(default_factory=dict)


def copy_statement(table: TablePlan) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
    )


def load_table(
    conn: psycopg.Connection[tuple[object, ...]],
    table: TablePlan,
    parent_values: Mapping[str, list[str]] | None = None,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_batch: OnBatch | None = None,
) -> Loaded:
    """COPY every row of ``table`` and commit; returns what was loaded and its checksum.

    Columns in ``table.retain`` are kept in memory for child tables."""
    digest = hashlib.sha256()
    positions = {c.name: i for i, c in enumerate(table.columns)}
    retained: dict[str, list[str]] = {name: [] for name in table.retain}
    sent = 0
    with conn.transaction(), conn.cursor() as cur:
        # A queued writer sends from a worker thread (waiting on the socket without the GIL),
        # so the next batch is generated while the server still parses the previous one.
        with cur.copy(copy_statement(table), writer=QueuedLibpqWriter(cur)) as copy:
            for batch in iter_batches(table, parent_values, batch_rows):
                digest.update(batch.data)
                copy.write(batch.data)
                for name, values in retained.items():
                    values.extend(batch.columns[positions[name]])
                sent += batch.rows
                if on_batch is not None:
                    on_batch(table.name, sent)
        if cur.rowcount != sent or sent != table.rows:
            raise RowCountMismatchError(
                f"table {table.name}: the server took {cur.rowcount} rows, the plan has "
                f"{table.rows} and {sent} were sent"
            )
    return Loaded(rows=sent, checksum="sha256:" + digest.hexdigest(), retained=retained)


def replay(
    table: TablePlan,
    parent_values: Mapping[str, list[str]] | None = None,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Loaded:
    """What ``load_table`` would send, without a database: the checksum and retained columns
    of a table whose COMMIT went through although its connection was lost."""
    digest = hashlib.sha256()
    positions = {c.name: i for i, c in enumerate(table.columns)}
    retained: dict[str, list[str]] = {name: [] for name in table.retain}
    sent = 0
    for batch in iter_batches(table, parent_values, batch_rows):
        digest.update(batch.data)
        for name, values in retained.items():
            values.extend(batch.columns[positions[name]])
        sent += batch.rows
    return Loaded(rows=sent, checksum="sha256:" + digest.hexdigest(), retained=retained)
