"""The planted regressions: ``SHOP_REGRESSIONS=n_plus_one,cache_off`` switches them on.

Each one is a release mistake that small tests miss and a production-shaped PerfRun catches;
README.md says which metric each one moves and which gate fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ENV = "SHOP_REGRESSIONS"

KNOWN: dict[str, str] = {
    "n_plus_one": "the dashboard loads each project's tasks with a query of its own",
    "missing_index": "the migrations omit the index on tasks(project_id) the dashboard needs",
    "offset_pagination": "the task listing pages with OFFSET instead of a keyset",
    "cache_off": "the account cache is never read (every request goes to the database)",
    "slow_worker": "the worker handles one order at a time with a slow step per order",
    "hot_row_lock": "the counter holds its row lock across a slow step",
}


class RegressionError(ValueError):
    """An unknown name in SHOP_REGRESSIONS."""


@dataclass(frozen=True)
class Regressions:
    on: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.on

    def __str__(self) -> str:
        return ",".join(sorted(self.on)) or "none"


def parse(text: str) -> Regressions:
    names = {n.strip() for n in text.replace(" ", ",").split(",") if n.strip()}
    unknown = sorted(names - set(KNOWN))
    if unknown:
        raise RegressionError(
            f"{ENV}: unknown regression(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}"
        )
    return Regressions(frozenset(names))


def from_env(env: Mapping[str, str]) -> Regressions:
    return parse(env.get(ENV, ""))
