"""`perfrun operator`: run the kopf operator with kopf's own run options."""

from __future__ import annotations

import argparse
import secrets
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("operator", help="run the PerfRun operator (kopf)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch PerfRuns in this namespace (repeatable; globs allowed)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch PerfRuns in every namespace (default)",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="no peering: do not coordinate with other operator replicas",
    )
    parser.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="peering object name for running several replicas safely",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority: the live operator with the highest one works, the others wait "
        "(default: random, as kopf pauses every operator when two have the same priority, "
        "which replicas started alike would)",
    )
    parser.add_argument(
        "--liveness",
        default=None,
        metavar="URL",
        help="serve a health endpoint, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="P",
        help="serve operator metrics on /metrics at this port",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from perfrun.controller import handlers  # registers the handlers

    handlers.serve(list(args.namespace))

    if args.metrics_port is not None:
        start_http_server(args.metrics_port)
    kopf.configure(verbose=args.verbose)
    kopf.run(
        standalone=args.standalone,
        namespaces=list(args.namespace),
        clusterwide=not args.namespace,
        peering_name=args.peering,
        priority=args.priority if args.priority is not None else 1 + secrets.randbelow(2**31 - 1),
        liveness_endpoint=args.liveness,
    )
    return 0
