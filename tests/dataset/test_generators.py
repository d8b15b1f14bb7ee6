"""Generators and planning: deterministic, chunk-independent, and refusing bad plans early."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from perfrun.api.dataset import Synthetic
from perfrun.dataset.generators import escape_copy_text
from perfrun.dataset.plan import PlanError, build_plan, chunk_runs
from perfrun.dataset.rows import iter_batches


def synthetic(**overrides: Any) -> Synthetic:
    doc: dict[str, Any] = {
        "seed": 42,
        "tables": [
            {
                "name": "accounts",
                "rows": 300,
                "columns": [
                    {"name": "id", "generator": "uuid"},
                    {"name": "name", "generator": "name"},
                    {"name": "email", "generator": "email"},
                    {"name": "state", "generator": "enum", "values": {"a\tb": 3, "c": 1}},
                    {"name": "created_at", "generator": "timestamp", "spread": "720h"},
                    {"name": "score", "generator": "float", "min": 1, "max": 2},
                    {"name": "vip", "generator": "bool", "values": {"true": 1, "false": 9}},
                    {"name": "note", "generator": "text", "min": 3, "max": 12},
                    {"name": "maybe", "generator": "int", "nullFraction": 0.5},
                    {"name": "kind", "generator": "constant", "value": "x\\y"},
                ],
            },
            {
                "name": "projects",
                "perParent": {
                    "table": "accounts",
                    "count": {"percentiles": {"p50": 2, "p95": 10, "p99": 40}},
                },
                "columns": [
                    {"name": "id", "generator": "sequence", "min": 100},
                    {"name": "account_id", "generator": "parent"},
                    {"name": "account_email", "generator": "parent", "source": "email"},
                ],
            },
        ],
    }
    doc.update(overrides)
    return Synthetic.model_validate(doc)


def _all_bytes(batch_rows: int, seed: int = 42) -> dict[str, bytes]:
    plan = build_plan(synthetic(seed=seed))
    out: dict[str, bytes] = {}
    retained: dict[str, dict[str, list[str]]] = {}
    for table in plan.tables:
        keep: dict[str, list[str]] = {c: [] for c in table.retain}
        pos = {c.name: i for i, c in enumerate(table.columns)}
        data = b""
        parents = retained.get(table.parent) if table.parent else None
        for batch in iter_batches(table, parents, batch_rows):
            data += batch.data
            for c in keep:
                keep[c].extend(batch.columns[pos[c]])
        retained[table.name] = keep
        out[table.name] = data
    return out


def test_data_does_not_depend_on_batch_size() -> None:
    assert _all_bytes(7) == _all_bytes(1000)


def test_another_seed_gives_other_data() -> None:
    assert _all_bytes(1000, seed=42) != _all_bytes(1000, seed=43)


def test_values_are_well_formed() -> None:
    data = _all_bytes(50)
    rows = [line.split("\t") for line in data["accounts"].decode().splitlines()]
    assert len(rows) == 300
    assert all(len(r) == 10 for r in rows)  # the enum's tab is escaped, not a separator
    ids = [r[0] for r in rows]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert len(set(ids)) == 300
    assert len({r[2] for r in rows}) == 300  # emails unique
    assert {r[3] for r in rows} == {"a\\tb", "c"}
    vip = sum(r[6] == "t" for r in rows)
    assert 10 < vip < 70
    assert all(3 <= len(r[7]) <= 12 for r in rows)
    nulls = sum(r[8] == "\\N" for r in rows)
    assert 100 < nulls < 200
    assert all(r[9] == "x\\\\y" for r in rows)


def test_children_copy_their_parent_keys_in_order() -> None:
    data = _all_bytes(64)
    accounts = [line.split("\t") for line in data["accounts"].decode().splitlines()]
    by_id = {a[0]: a[2] for a in accounts}
    projects = [line.split("\t") for line in data["projects"].decode().splitlines()]
    assert projects[0][0] == "100"
    assert [int(p[0]) for p in projects] == list(range(100, 100 + len(projects)))
    assert all(by_id[p[1]] == p[2] for p in projects)


def test_plan_knows_exact_row_counts() -> None:
    plan = build_plan(synthetic())
    accounts, projects = plan.tables
    assert accounts.rows == 300
    assert projects.counts is not None and len(projects.counts) == 300
    assert projects.rows == sum(projects.counts)
    assert accounts.retain == {"id", "email"}


def test_max_rows_is_refused_before_writing() -> None:
    with pytest.raises(PlanError, match=r"table projects: .* more than maxRows 500"):
        build_plan(synthetic(maxRows=500))


def test_parent_source_must_be_a_parent_column() -> None:
    syn = synthetic()
    syn.tables[1].columns[2].source = "nope"
    with pytest.raises(PlanError, match="table projects, column account_email: source nope"):
        build_plan(syn)


def test_run_id_generator_needs_a_run_id() -> None:
    syn = synthetic()
    syn.tables[0].columns[9].generator = "runId"
    with pytest.raises(PlanError, match="table accounts, column kind: generator runId"):
        build_plan(syn)
    assert build_plan(syn, run_id="r-1").tables[0].columns[9].generator == "runId"


def test_run_id_column_is_filled_where_the_schema_has_it() -> None:
    plan = build_plan(synthetic(), run_id="run-7", live_columns={"projects": ["id", "run_id"]})
    assert [c.name for c in plan.tables[1].columns][-1] == "run_id"
    assert [c.name for c in plan.tables[0].columns][-1] != "run_id"
    batch = next(iter_batches(plan.tables[0]))
    assert batch.rows > 0


def test_chunk_runs_split_whales() -> None:
    chunks = list(chunk_runs([1, 0, 25, 2], 10))
    assert [sum(n for _, n in c) for c in chunks] == [10, 10, 8]
    assert chunks[0] == [(0, 1), (2, 9)]


def test_escape_copy_text() -> None:
    assert escape_copy_text("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
