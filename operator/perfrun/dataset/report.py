"""The JSON report both commands print: what was loaded, how much, how long, and what was not.

Plain dataclasses so the orchestration fills them in as it goes and a failure half-way still
yields a truthful report of every table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TableStatus = Literal["loaded", "failed", "skipped", "pending"]


@dataclass
class TableReport:
    name: str
    status: TableStatus = "pending"
    rows: int = 0  # rows committed in the database
    expected_rows: int = 0
    checksum: str | None = None  # sha256 of the COPY text stream, for seed
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class Report:
    mode: Literal["seed", "restore"]
    status: Literal["ok", "failed"] = "ok"
    duration_seconds: float = 0.0
    tables: list[TableReport] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.error = self.error or message

    def to_dict(self) -> dict[str, Any]:
        """camelCase like the API; ``rows`` is the table -> rows map most readers want."""
        tables = [_camel(asdict(t)) for t in self.tables]
        out: dict[str, Any] = {
            "mode": self.mode,
            "status": self.status,
            "durationSeconds": round(self.duration_seconds, 3),
            "totalRows": sum(t.rows for t in self.tables),
            "rows": {t.name: t.rows for t in self.tables},
        }
        out.update(self.details)
        out["tables"] = tables
        if self.error:
            out["error"] = self.error
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def _camel(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        head, *rest = key.split("_")
        if key == "seconds":
            value = round(value, 3)
        out[head + "".join(p.title() for p in rest)] = value
    return out
