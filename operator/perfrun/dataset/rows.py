"""Pure row production: a table plan becomes a stream of COPY-text batches.

Kept apart from the COPY writer so the same bytes can be checksummed, written to a CSV for
the benchmark, or compared in tests without a database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, repeat

from perfrun.dataset.generators import Chunk, Generator, render_rows
from perfrun.dataset.plan import TablePlan, chunk_runs

DEFAULT_BATCH_ROWS = 20_000


@dataclass
class Batch:
    """One chunk of rows, ready for COPY (text format)."""

    rows: int
    data: bytes
    columns: list[list[str]]  # column-wise values, for retained (parent key) columns


def iter_batches(
    table: TablePlan,
    parent_values: Mapping[str, list[str]] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Batch]:
    """Every row of ``table`` in order. ``parent_values`` holds the parent's retained columns
    (column -> value per parent row) for child tables. Generators are made fresh, so iterating
    again yields the same bytes."""
    generators = table.make_generators()
    if table.counts is None:
        for start in range(0, table.rows, batch_rows):
            chunk = Chunk(start=start, size=min(batch_rows, table.rows - start))
            yield _batch(chunk, generators)
        return
    parents = parent_values or {}
    start = 0
    for runs in chunk_runs(table.counts, batch_rows):
        size = sum(n for _, n in runs)
        parent = {
            name: list(chain.from_iterable(repeat(values[i], n) for i, n in runs))
            for name, values in parents.items()
        }
        yield _batch(Chunk(start=start, size=size, parent=parent), generators)
        start += size


def _batch(chunk: Chunk, generators: list[Generator]) -> Batch:
    columns = [gen.take(chunk) for gen in generators]
    return Batch(rows=chunk.size, data=render_rows(columns), columns=columns)
