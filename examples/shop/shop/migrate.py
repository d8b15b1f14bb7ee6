"""``shop migrate``: apply migrations/NNN_*.sql in order, each in its own transaction, under
an advisory lock (two migration pods never interleave), recorded in ``schema_migrations``.

A file whose header says ``-- skipped-by: NAME`` is recorded but not run when regression NAME
is on: that is how ``missing_index`` ships a release without the dashboard's index."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from shop.config import Config
from shop.regressions import Regressions

ADVISORY_LOCK = 4_242_001
_SKIPPED_BY = re.compile(r"^--\s*skipped-by:\s*([a-z_]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str
    skipped_by: frozenset[str]

    def skipped(self, regressions: Regressions) -> str | None:
        hit = sorted(n for n in self.skipped_by if n in regressions)
        return hit[0] if hit else None


def available() -> list[Migration]:
    root = resources.files("shop") / "migrations"
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text()
        out.append(
            Migration(entry.name.removesuffix(".sql"), text, frozenset(_SKIPPED_BY.findall(text)))
        )
    return out


def connect(url: str, wait_s: float = 120.0) -> psycopg.Connection[Any]:
    """The database, waited for (a run starts migrations as soon as the server is ready, and
    a restarted server may still refuse connections for a moment)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return psycopg.connect(url, connect_timeout=5, application_name="shop-migrate")
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"migrate: database unreachable: {str(exc).strip()}") from exc
            time.sleep(1.0)


def migrate(cfg: Config, out: Any = sys.stdout) -> list[str]:
    """Apply what is missing; returns the versions applied (or recorded as skipped) now."""
    done: list[str] = []
    with connect(cfg.database_url) as conn:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (cfg.lock_timeout,))
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now(), note text NOT NULL DEFAULT '')"
        )
        conn.commit()
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for m in available():
            if m.version in applied:
                continue
            skip = m.skipped(cfg.regressions)
            with conn.transaction():
                if skip is None:
                    conn.execute(m.sql.encode())  # a script of several statements
                note = f"skipped: regression {skip}" if skip else ""
                conn.execute(
                    "INSERT INTO schema_migrations (version, note) VALUES (%s, %s)",
                    (m.version, note),
                )
            print(f"migrate: {m.version} {note or 'applied'}", file=out, flush=True)
            done.append(m.version)
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK,))
        conn.commit()
    print(f"migrate: schema up to date ({len(done)} applied now)", file=out, flush=True)
    return done
