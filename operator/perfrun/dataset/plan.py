"""Pure planning of a synthetic data set: exact row counts, generators, parent links.

Everything that can be refused is refused here, before a byte is written: unknown parents,
missing parent keys, a data set larger than ``maxRows``. Child row counts are drawn up front
(one draw per parent row), so the plan knows every table's exact size."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

from perfrun.api.dataset import Column, Synthetic, Table
from perfrun.api.types import parse_duration
from perfrun.dataset import generators as g
from perfrun.dataset.distributions import (
    UniformFloatSampler,
    UniformIntSampler,
    sampler_for,
    to_count,
    upper_bound,
)

DEFAULT_TEXT = (10, 80)
DEFAULT_INT = (0, 1000)
DEFAULT_SPREAD_S = 365 * 24 * 3600.0


class PlanError(ValueError):
    """A data set that cannot be generated; the message names the table and column."""


@dataclass(frozen=True)
class ColumnSpec:
    """What the schema check needs to know about one generated column."""

    name: str
    generator: str
    nullable: bool
    max_len: int | None = None  # longest text value, for varchar(n)
    num_min: float | None = None
    num_max: float | None = None  # None: unbounded
    labels: tuple[str, ...] = ()  # enum values (raw, unescaped)
    constant: str | None = None  # raw constant value
    parent_ref: tuple[str, str] | None = None  # (parent table, parent column)


@dataclass
class TablePlan:
    """One table: its columns in COPY order, its exact row count and how rows are made."""

    name: str
    columns: list[ColumnSpec]
    rows: int
    make_generators: Callable[[], list[g.Generator]]
    parent: str | None = None
    counts: list[int] | None = None  # rows per parent row, for child tables
    retain: set[str] = field(default_factory=set)  # columns children copy from this table
    indexes: list[tuple[list[str], bool]] = field(default_factory=list)


@dataclass
class Plan:
    seed: int
    tables: list[TablePlan]

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _key_column(table: Table) -> str | None:
    for col in table.columns:
        if col.generator in ("sequence", "uuid"):
            return col.name
    return None


def _generator(
    seed: int, table: str, col: Column, epoch: str, run_id: str | None, parent_key: str | None
) -> Callable[[], g.Generator]:
    """A factory of fresh generators, so a retried table restarts its streams from the seed."""

    def rng() -> random.Random:
        return g.stream_rng(seed, table, col.name)

    kind = col.generator
    make: Callable[[], g.Generator]
    if kind == "sequence":
        first = int(col.min) if col.min is not None else 1
        make = lambda: g.SequenceGen(first)  # noqa: E731
    elif kind == "uuid":
        make = lambda: g.UuidGen(rng())  # noqa: E731
    elif kind == "name":
        make = lambda: g.NameGen(rng())  # noqa: E731
    elif kind == "email":
        make = lambda: g.EmailGen(rng())  # noqa: E731
    elif kind == "text":
        lo = int(col.min) if col.min is not None else DEFAULT_TEXT[0]
        hi = int(col.max) if col.max is not None else max(DEFAULT_TEXT[1], lo)
        make = lambda: g.TextGen(rng(), lo, hi)  # noqa: E731
    elif kind in ("int", "float"):
        if col.distribution is not None:
            sampler = sampler_for(col.distribution, integer=kind == "int")
        else:
            lo_f = col.min if col.min is not None else float(DEFAULT_INT[0])
            hi_f = col.max if col.max is not None else max(float(DEFAULT_INT[1]), lo_f)
            sampler = (
                UniformIntSampler(math.ceil(lo_f), math.floor(hi_f))
                if kind == "int"
                else UniformFloatSampler(lo_f, hi_f)
            )
        cls = g.IntGen if kind == "int" else g.FloatGen
        make = lambda: cls(rng(), sampler)  # noqa: E731
    elif kind == "bool":
        weights = [col.values.get("true", 1), col.values.get("false", 1)]
        make = lambda: g.WeightedGen(rng(), ["t", "f"], weights)  # noqa: E731
    elif kind == "enum":
        labels = [g.escape_copy_text(v) for v in col.values]
        weights = list(col.values.values())
        if sum(weights) <= 0:
            raise PlanError(f"table {table}, column {col.name}: enum weights must not all be 0")
        make = lambda: g.WeightedGen(rng(), labels, weights)  # noqa: E731
    elif kind == "timestamp":
        epoch_dt = g.parse_epoch(epoch)
        spread = parse_duration(col.spread) if col.spread else DEFAULT_SPREAD_S
        make = lambda: g.TimestampGen(rng(), epoch_dt, spread)  # noqa: E731
    elif kind == "parent":
        if parent_key is None:
            raise PlanError(f"table {table}, column {col.name}: a parent column needs perParent")
        make = lambda: g.ParentGen(parent_key)  # noqa: E731
    elif kind == "runId":
        if run_id is None:
            raise PlanError(
                f"table {table}, column {col.name}: generator runId needs a run id "
                "(perfrun seed --run-id, or PERFRUN_RUN_ID)"
            )
        value = g.escape_copy_text(run_id)
        make = lambda: g.ConstGen(value)  # noqa: E731
    elif kind == "constant":
        value = g.escape_copy_text(col.value or "")
        make = lambda: g.ConstGen(value)  # noqa: E731
    else:  # pragma: no cover - the API's Literal refuses anything else
        raise PlanError(f"table {table}, column {col.name}: unknown generator {kind!r}")
    if col.null_fraction > 0:
        inner = make
        frac = col.null_fraction
        return lambda: g.Nullable(inner(), g.stream_rng(seed, table, col.name, "null"), frac)
    return make


def _spec(col: Column, rows: int, parent_ref: tuple[str, str] | None) -> ColumnSpec:
    kind = col.generator
    nullable = col.null_fraction > 0
    if kind in ("text",):
        hi = int(col.max) if col.max is not None else max(DEFAULT_TEXT[1], int(col.min or 0))
        return ColumnSpec(col.name, kind, nullable, max_len=hi)
    if kind == "name":
        return ColumnSpec(col.name, kind, nullable, max_len=g.NAME_MAX_LEN)
    if kind == "email":
        longest = g.NAME_MAX_LEN + len(str(max(rows, 1))) + 1 + max(map(len, g.DOMAINS))
        return ColumnSpec(col.name, kind, nullable, max_len=longest)
    if kind == "sequence":
        first = int(col.min) if col.min is not None else 1
        return ColumnSpec(col.name, kind, nullable, num_min=first, num_max=first + rows - 1)
    if kind in ("int", "float"):
        if col.distribution is not None:
            return ColumnSpec(
                col.name, kind, nullable, num_min=0.0, num_max=upper_bound(col.distribution)
            )
        low = col.min if col.min is not None else float(DEFAULT_INT[0])
        high = col.max if col.max is not None else max(float(DEFAULT_INT[1]), low)
        return ColumnSpec(col.name, kind, nullable, num_min=low, num_max=high)
    if kind == "enum":
        labels = tuple(col.values)
        return ColumnSpec(col.name, kind, nullable, labels=labels, max_len=max(map(len, labels)))
    if kind == "constant":
        return ColumnSpec(col.name, kind, nullable, constant=col.value)
    if kind == "uuid":
        return ColumnSpec(col.name, kind, nullable, max_len=36)
    return ColumnSpec(col.name, kind, nullable, parent_ref=parent_ref)


def build_plan(
    synthetic: Synthetic,
    run_id: str | None = None,
    live_columns: Mapping[str, Collection[str]] | None = None,
) -> Plan:
    """The exact plan of a data set. ``live_columns`` (table -> its columns in the database)
    lets undeclared ``runIdColumn`` columns be filled with ``run_id``."""
    seed = synthetic.seed
    by_name: dict[str, Table] = {}
    plans: dict[str, TablePlan] = {}
    out: list[TablePlan] = []
    total = 0
    for table in synthetic.tables:
        if table.name in by_name:
            raise PlanError(f"table {table.name}: declared twice")
        by_name[table.name] = table
        parent_name: str | None = None
        counts: list[int] | None = None
        if table.per_parent is not None:
            parent_name = table.per_parent.table
            if parent_name not in plans:
                raise PlanError(
                    f"table {table.name}: perParent.table {parent_name} must be declared "
                    "before it (tables load in order, parents first)"
                )
            parent_rows = plans[parent_name].rows
            sampler = sampler_for(table.per_parent.count)
            rng = g.stream_rng(seed, table.name, "", "count")
            counts = [to_count(sampler.sample(rng)) for _ in range(parent_rows)]
            rows = sum(counts)
        else:
            rows = table.rows or 0
        total += rows
        if synthetic.max_rows is not None and total > synthetic.max_rows:
            raise PlanError(
                f"table {table.name}: the data set reaches {total} rows here, more than "
                f"maxRows {synthetic.max_rows}"
            )
        specs: list[ColumnSpec] = []
        makers: list[Callable[[], g.Generator]] = []
        for col in table.columns:
            parent_key: str | None = None
            parent_ref: tuple[str, str] | None = None
            if col.generator == "parent":
                if parent_name is None:
                    raise PlanError(
                        f"table {table.name}, column {col.name}: generator parent needs the "
                        "table to have perParent"
                    )
                parent_key = col.source or _key_column(by_name[parent_name])
                if parent_key is None:
                    raise PlanError(
                        f"table {table.name}, column {col.name}: parent table {parent_name} has "
                        "no sequence or uuid column to use as its key; set source"
                    )
                if all(c.name != parent_key for c in by_name[parent_name].columns):
                    raise PlanError(
                        f"table {table.name}, column {col.name}: source {parent_key} is not a "
                        f"declared column of parent table {parent_name}"
                    )
                plans[parent_name].retain.add(parent_key)
                parent_ref = (parent_name, parent_key)
            makers.append(_generator(seed, table.name, col, synthetic.epoch, run_id, parent_key))
            specs.append(_spec(col, rows, parent_ref))
        declared = {c.name for c in table.columns}
        run_col = synthetic.run_id_column
        if (
            run_id is not None
            and run_col is not None
            and run_col not in declared
            and live_columns is not None
            and run_col in live_columns.get(table.name, ())
        ):
            value = g.escape_copy_text(run_id)
            makers.append(lambda v=value: g.ConstGen(v))  # type: ignore[misc]
            specs.append(ColumnSpec(run_col, "runId", False))

        def make_all(ms: list[Callable[[], g.Generator]] = makers) -> list[g.Generator]:
            return [m() for m in ms]

        plan = TablePlan(
            name=table.name,
            columns=specs,
            rows=rows,
            make_generators=make_all,
            parent=parent_name,
            counts=counts,
            indexes=[(list(ix.columns), ix.unique) for ix in table.indexes],
        )
        plans[table.name] = plan
        out.append(plan)
    return Plan(seed=seed, tables=out)


def chunk_runs(counts: list[int], target: int) -> Iterator[list[tuple[int, int]]]:
    """Child rows split into chunks of at most ``target`` rows, as (parent row, child count)
    runs; a whale's children may span several chunks."""
    current: list[tuple[int, int]] = []
    size = 0
    for i, n in enumerate(counts):
        while n > 0:
            take = min(n, target - size)
            current.append((i, take))
            size += take
            n -= take
            if size >= target:
                yield current
                current, size = [], 0
    if current:
        yield current
