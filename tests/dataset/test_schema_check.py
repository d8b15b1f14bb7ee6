"""The schema check (pure part): every mismatch named by table and column."""

from __future__ import annotations

from perfrun.api.dataset import Synthetic
from perfrun.dataset.plan import build_plan
from perfrun.dataset.schema_check import LiveColumn, LiveTable, check


def col(name: str, typname: str, category: str, **kw: object) -> LiveColumn:
    base: dict[str, object] = {
        "type_name": typname,
        "not_null": False,
        "has_default": False,
        "generated": False,
        "max_len": None,
    }
    base.update(kw)
    return LiveColumn(name=name, typname=typname, category=category, **base)  # type: ignore[arg-type]


def test_fitting_columns_pass() -> None:
    plan = build_plan(
        Synthetic.model_validate(
            {
                "seed": 1,
                "tables": [
                    {
                        "name": "t",
                        "rows": 10,
                        "columns": [
                            {"name": "id", "generator": "sequence"},
                            {"name": "u", "generator": "uuid"},
                            {"name": "at", "generator": "timestamp"},
                            {"name": "ok", "generator": "bool"},
                        ],
                    }
                ],
            }
        )
    )
    live = LiveTable(
        "t",
        {
            "id": col("id", "int4", "N", not_null=True),
            "u": col("u", "uuid", "U"),
            "at": col("at", "timestamptz", "D"),
            "ok": col("ok", "bool", "B"),
            "extra": col("extra", "text", "S", not_null=True, has_default=True),
        },
    )
    assert check(plan, {"t": live}) == []


def test_mismatches_are_named() -> None:
    plan = build_plan(
        Synthetic.model_validate(
            {
                "seed": 1,
                "tables": [
                    {
                        "name": "t",
                        "rows": 10,
                        "columns": [
                            {"name": "small", "generator": "int", "min": 0, "max": 100000},
                            {"name": "code", "generator": "text", "min": 5, "max": 40},
                            {"name": "score", "generator": "float"},
                            {"name": "maybe", "generator": "name", "nullFraction": 0.2},
                            {"name": "calc", "generator": "int"},
                        ],
                    }
                ],
            }
        )
    )
    live = LiveTable(
        "t",
        {
            "small": col("small", "int2", "N", type_name="smallint"),
            "code": col("code", "varchar", "S", type_name="character varying(8)", max_len=8),
            "score": col("score", "int4", "N", type_name="integer"),
            "maybe": col("maybe", "text", "S", not_null=True),
            "calc": col("calc", "int4", "N", generated=True),
            "must": col("must", "text", "S", not_null=True),
        },
    )
    problems = check(plan, {"t": live})
    assert problems == [
        "table t, column small: values up to 100000 do not fit smallint (max 32767)",
        "table t, column code: generator text writes up to 40 characters but the column is "
        "character varying(8)",
        "table t, column score: generator float does not fit type integer",
        "table t, column maybe: nullFraction > 0 but the column is NOT NULL",
        "table t, column calc: is a generated column and cannot be written",
        "table t, column must: NOT NULL without a default, and no generator fills it",
    ]
