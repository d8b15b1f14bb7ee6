"""`perfrun seed` and `perfrun restore`: the dataset Job's entry points.

Exit codes: 0 loaded (JSON report on stdout), 1 failed (the report still goes to stdout and
says which tables are not loaded, the reason to stderr), 2 invalid config (naming the field)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfrun.api.dataset import Dataset
    from perfrun.dataset.report import Report

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _load(args: argparse.Namespace, section: str) -> Dataset | None:
    from perfrun.dataset.config import ConfigError, load_dataset

    try:
        dataset = load_dataset(Path(args.config))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"{args.config}: {line}", file=sys.stderr)
        return None
    if getattr(dataset, section) is None:
        have = next(s for s in ("synthetic", "dump", "snapshot") if getattr(dataset, s) is not None)
        hint = (
            " (a snapshot is cloned by the operator as the volume's dataSource)"
            if have == "snapshot"
            else ""
        )
        print(
            f"{args.config}: dataset.{section}: required for perfrun {args.command}, the config "
            f"has dataset.{have}{hint}",
            file=sys.stderr,
        )
        return None
    return dataset


def _dsn(args: argparse.Namespace, dataset: Dataset) -> str:
    """The DSN, with dataset.database filled in when the DSN names no database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if "dbname" in conninfo_to_dict(args.dsn):
        return str(args.dsn)
    return make_conninfo(args.dsn, dbname=dataset.database)


def _finish(report: Report) -> int:
    sys.stdout.write(report.to_json() + "\n")
    if report.status != "ok":
        print(f"perfrun {report.mode}: failed: {report.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_seed(args: argparse.Namespace) -> int:
    dataset = _load(args, "synthetic")
    if dataset is None:
        return EXIT_CONFIG
    from perfrun.dataset.seed import seed

    run_id = args.run_id or os.environ.get("PERFRUN_RUN_ID") or None
    return _finish(seed(dataset, _dsn(args, dataset), run_id=run_id))


def _cmd_restore(args: argparse.Namespace) -> int:
    dataset = _load(args, "dump")
    if dataset is None:
        return EXIT_CONFIG
    from perfrun.dataset.restore import restore

    workdir = Path(args.workdir) if args.workdir else None
    return _finish(restore(dataset, _dsn(args, dataset), workdir=workdir))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="spec.dataset, YAML or JSON")
    p.add_argument(
        "--dsn",
        default=os.environ.get("PERFRUN_DSN"),
        required="PERFRUN_DSN" not in os.environ,
        help="libpq connection string or URI of the database (default: $PERFRUN_DSN)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `seed` and `restore`."""
    seed = subparsers.add_parser("seed", help="load deterministic synthetic data (COPY)")
    _common(seed)
    seed.add_argument(
        "--run-id", help="the run id for runId columns (default: $PERFRUN_RUN_ID)", default=None
    )
    seed.set_defaults(func=_cmd_seed)
    restore = subparsers.add_parser("restore", help="restore a golden dump (pg_restore -j)")
    _common(restore)
    restore.add_argument("--workdir", help="where a downloaded dump is kept while restoring")
    restore.set_defaults(func=_cmd_restore)
