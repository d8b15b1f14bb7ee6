"""`perfrun load`: the program in every load-Job pod, and `perfrun load merge`.

Exit codes: 0 a summary was written (whatever the target did; the summary says how it went),
2 the config is invalid (the message names the field), 1 anything unexpected."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ENV_INDEX = "JOB_COMPLETION_INDEX"
ENV_COUNT = "PERFRUN_LOAD_COUNT"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = subparsers.add_parser(
        "load",
        help="run a PerfRun's load (spec.load) from this pod, or merge pod summaries",
        description="Run pod I of N's exact share of spec.load and write a summary. "
        "`perfrun load merge FILE...` merges pod summaries exactly.",
    )
    load.add_argument("--config", metavar="FILE", help="spec.load of a PerfRun, YAML or JSON")
    load.add_argument("--index", type=int, help=f"this pod's index (default ${ENV_INDEX}, else 0)")
    load.add_argument(
        "--count",
        type=int,
        help=f"number of load pods (default ${ENV_COUNT}, else spec.load.parallelism)",
    )
    load.add_argument("--summary", metavar="PATH", help="write the summary JSON here, not stdout")
    load.add_argument("--metrics-port", type=int, metavar="P", help="serve /metrics on port P")
    load.add_argument(
        "--drain-timeout",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM or at the end, wait this long for in-flight requests "
        "(default: the request timeout)",
    )
    load.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="P",
        help="run this pod's share in P processes, each an exact part of it (one process "
        "sends about one core's worth; the operator sets P from the pod's CPU request)",
    )
    load.add_argument("--process-dir", help=argparse.SUPPRESS)  # one of a pod's processes
    load.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    load.set_defaults(func=_cmd_load)
    verbs = load.add_subparsers(dest="load_verb", metavar="VERB")
    merge = verbs.add_parser("merge", help="merge pod summaries into one (exact percentiles)")
    merge.add_argument("files", nargs="+", metavar="SUMMARY")
    merge.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    merge.set_defaults(func=_cmd_merge)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def _cmd_merge(args: argparse.Namespace) -> int:
    from perfrun.load.summary import dumps, merge_summaries

    summaries: list[dict[str, Any]] = []
    for name in args.files:
        try:
            summaries.append(json.loads(Path(name).read_text()))
        except (OSError, ValueError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
    try:
        merged = merge_summaries(summaries)
    except ValueError as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 2
    _emit(dumps(merged), args.output)
    return 0


def _emit(text: str, path: str | None) -> None:
    if path:
        Path(path).write_text(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _cmd_load(args: argparse.Namespace) -> int:
    import logging

    from perfrun.load.config import ConfigError, load_file

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.config:
        print("perfrun load: --config FILE is required", file=sys.stderr)
        return 2
    try:
        spec = load_file(args.config)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"{args.config}: {line}", file=sys.stderr)
        return 2
    try:
        index = args.index if args.index is not None else (_env_int(ENV_INDEX) or 0)
        count = args.count if args.count is not None else (_env_int(ENV_COUNT) or spec.parallelism)
    except ValueError as exc:
        print(f"perfrun load: {ENV_INDEX}/{ENV_COUNT}: {exc}", file=sys.stderr)
        return 2
    if count < 1 or not 0 <= index < count:
        print(f"perfrun load: --index {index} must be in [0, --count {count})", file=sys.stderr)
        return 2
    if count > min(spec.budget.max_rps, spec.budget.max_in_flight):
        print(
            f"perfrun load: --count {count} exceeds budget.maxRps or budget.maxInFlight: "
            "every pod needs a share of at least 1",
            file=sys.stderr,
        )
        return 2
    if args.processes < 1:
        print(f"perfrun load: --processes {args.processes} must be at least 1", file=sys.stderr)
        return 2
    if args.processes > 1 and not args.process_dir:
        from perfrun.load.processes import run_pod

        return run_pod(
            spec,
            index=index,
            count=count,
            processes=args.processes,
            summary_path=args.summary,
            metrics_port=args.metrics_port,
            drain_timeout_s=args.drain_timeout,
        )
    from perfrun.load.runner import run

    return run(
        spec,
        index=index,
        count=count,
        summary_path=args.summary,
        metrics_port=args.metrics_port,
        drain_timeout_s=args.drain_timeout,
        process_dir=args.process_dir,
    )
