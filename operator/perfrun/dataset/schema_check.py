"""Declared columns against the live schema, before anything is written.

``fetch_live`` reads the catalog (I/O); ``check`` is pure and returns every problem, one line
each, naming the table and the column -- so a typo fails the run in a second instead of
half-way through a COPY."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from perfrun.dataset.plan import ColumnSpec, Plan

# pg_type.typcategory of the types each generator's text can be read as.
_STRING, _NUMERIC, _DATETIME, _BOOL, _USER, _ENUM = "S", "N", "D", "B", "U", "E"
_INT_RANGE = {"int2": (-(2**15), 2**15 - 1), "int4": (-(2**31), 2**31 - 1)}
_INT_TYPES = ("int2", "int4", "int8")


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type_name: str  # format_type(), e.g. "character varying(20)"
    typname: str  # pg_type.typname, e.g. "varchar", "int4", "my_enum"
    category: str  # pg_type.typcategory
    not_null: bool
    has_default: bool  # a default, identity or serial
    generated: bool  # GENERATED ALWAYS AS (...) STORED: cannot be written
    max_len: int | None  # varchar(n)/char(n)
    enum_labels: tuple[str, ...] = ()


@dataclass
class LiveTable:
    name: str
    columns: dict[str, LiveColumn] = field(default_factory=dict)


_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
       a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> '',
       CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4
            THEN a.atttypmod - 4 END,
       CASE WHEN t.typtype = 'e' THEN ARRAY(
            SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
            ORDER BY e.enumsortorder) END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def fetch_live(conn: Any, tables: Iterable[str]) -> dict[str, LiveTable | None]:
    """The live columns of each table as the search path resolves it; None if it is absent."""
    out: dict[str, LiveTable | None] = {}
    with conn.cursor() as cur:
        for name in tables:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
            row = cur.fetchone()
            if not row or not row[0]:
                out[name] = None
                continue
            cur.execute(_COLUMNS_SQL, (name,))
            table = LiveTable(name)
            for r in cur.fetchall():
                table.columns[r[0]] = LiveColumn(
                    name=r[0],
                    type_name=r[1],
                    typname=r[2],
                    category=r[3],
                    not_null=bool(r[4]),
                    has_default=bool(r[5]),
                    generated=bool(r[6]),
                    max_len=r[7],
                    enum_labels=tuple(r[8] or ()),
                )
            out[name] = table
    return out


def check_constants(conn: Any, plan: Plan, live: dict[str, LiveTable | None]) -> list[str]:
    """Constant values the column's type cannot read, found by asking the server to cast them
    (inside a transaction that is rolled back)."""
    import psycopg

    problems: list[str] = []
    for table in plan.tables:
        lt = live.get(table.name)
        for spec in table.columns:
            if spec.constant is None or lt is None or spec.name not in lt.columns:
                continue
            col = lt.columns[spec.name]
            try:
                with conn.transaction(force_rollback=True), conn.cursor() as cur:
                    cur.execute(f"SELECT CAST(%s::text AS {col.type_name})", (spec.constant,))
            except psycopg.DataError as exc:
                problems.append(
                    f"table {table.name}, column {spec.name}: constant {spec.constant!r} does "
                    f"not fit type {col.type_name}: {str(exc).splitlines()[0]}"
                )
    return problems


def check(plan: Plan, live: dict[str, LiveTable | None]) -> list[str]:
    """Every mismatch between the plan and the live schema, one line each."""
    problems: list[str] = []
    for table in plan.tables:
        lt = live.get(table.name)
        if lt is None:
            problems.append(f"table {table.name}: does not exist in the database")
            continue
        declared = {c.name for c in table.columns}
        for spec in table.columns:
            col = lt.columns.get(spec.name)
            where = f"table {table.name}, column {spec.name}"
            if col is None:
                known = ", ".join(lt.columns) or "none"
                problems.append(f"{where}: does not exist (the table has: {known})")
                continue
            problems.extend(f"{where}: {p}" for p in _column_problems(spec, col, plan, live))
        for col in lt.columns.values():
            if col.name not in declared and col.not_null and not col.has_default:
                problems.append(
                    f"table {table.name}, column {col.name}: NOT NULL without a default, and "
                    "no generator fills it"
                )
    return problems


def _column_problems(
    spec: ColumnSpec, col: LiveColumn, plan: Plan, live: dict[str, LiveTable | None]
) -> list[str]:
    out: list[str] = []
    kind, cat = spec.generator, col.category
    if col.generated:
        out.append("is a generated column and cannot be written")
    if spec.nullable and col.not_null:
        out.append("nullFraction > 0 but the column is NOT NULL")
    fits: bool
    if kind in ("name", "email", "text", "runId"):
        fits = cat == _STRING or (kind == "runId" and col.typname == "uuid")
    elif kind == "uuid":
        fits = col.typname == "uuid" or cat == _STRING
    elif kind in ("sequence", "int"):
        fits = cat in (_NUMERIC, _STRING)
    elif kind == "float":
        fits = cat == _STRING or (cat == _NUMERIC and col.typname not in _INT_TYPES)
    elif kind == "bool":
        fits = cat in (_BOOL, _STRING)
    elif kind == "timestamp":
        fits = cat == _DATETIME and col.typname in ("timestamp", "timestamptz", "date")
        fits = fits or cat == _STRING
    elif kind == "enum":
        fits = cat in (_ENUM, _STRING) or (
            cat == _NUMERIC and all(_is_number(v) for v in spec.labels)
        )
        if cat == _ENUM:
            missing = [v for v in spec.labels if v not in col.enum_labels]
            if missing:
                out.append(
                    f"values {missing} are not labels of enum type {col.type_name} "
                    f"(it has {list(col.enum_labels)})"
                )
    elif kind == "parent" and spec.parent_ref is not None:
        ptable, pcol = spec.parent_ref
        plive = live.get(ptable)
        pc = plive.columns.get(pcol) if plive else None
        fits = pc is None or cat in (pc.category, _STRING)
        if not fits and pc is not None:
            out.append(
                f"copies {ptable}.{pcol} of type {pc.type_name} but is of type {col.type_name}"
            )
            return out
    else:  # constants are checked by the server (check_constants)
        fits = True
    if not fits:
        out.append(f"generator {kind} does not fit type {col.type_name}")
        return out
    if col.max_len is not None and spec.max_len is not None and spec.max_len > col.max_len:
        out.append(
            f"generator {kind} writes up to {spec.max_len} characters but the column is "
            f"{col.type_name}"
        )
    bounds = _INT_RANGE.get(col.typname)
    if bounds and kind in ("sequence", "int"):
        lo, hi = bounds
        if spec.num_max is None or spec.num_max > hi or (spec.num_min or 0) < lo:
            top = "unbounded" if spec.num_max is None else f"{spec.num_max:g}"
            out.append(f"values up to {top} do not fit {col.type_name} (max {hi})")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
