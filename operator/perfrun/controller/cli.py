"""`perfrun operator`: run the kopf operator with kopf's own run options."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import socket
import time
from typing import Any

from perfrun.controller.settings import OperatorSettings

# kopf sends keep-alives every lifetime minus 5 to 10 s, at least every second: below a few
# seconds one slow PATCH would make a live replica look dead
MIN_PEERING_LIFETIME = 5


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
        "--peering-lifetime",
        type=int,
        default=None,
        metavar="SECONDS",
        help="how long a replica counts as alive after its last keep-alive: a killed leader "
        "is replaced after at most this long (keep-alives every SECONDS minus 5 to 10, at "
        "least every second; default: $PERFRUN_PEERING_LIFETIME, else kopf's 60)",
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


def identity() -> str:
    """kopf's identity in the peering object, chosen as kopf does (the pod's name in $POD_ID,
    else user@host/time/random), but by us: the janitor must tell itself from its peers."""
    pod = os.environ.get("POD_ID")
    if pod:
        return pod
    now = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return f"{getpass.getuser()}@{socket.gethostname()}/{now}/{secrets.token_hex(2)}"


def _run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    try:  # a malformed setting stops the start with its name, not a traceback
        from_env = OperatorSettings.from_env()
    except ValueError as exc:
        raise SystemExit(f"perfrun operator: {exc}") from None

    from perfrun.controller import handlers  # registers the handlers

    lifetime = args.peering_lifetime
    if lifetime is None:
        lifetime = from_env.peering_lifetime
    if lifetime < MIN_PEERING_LIFETIME:
        raise SystemExit(f"--peering-lifetime: at least {MIN_PEERING_LIFETIME} seconds")
    me = identity()
    handlers.serve(list(args.namespace), identity=me)

    if args.metrics_port is not None:
        start_http_server(args.metrics_port)
    kopf.configure(verbose=args.verbose)
    settings = kopf.OperatorSettings()
    settings.peering.lifetime = lifetime
    kopf.run(
        settings=settings,
        identity=me,  # type: ignore[arg-type]  # kopf's Identity is a NewType of str
        standalone=args.standalone,
        namespaces=list(args.namespace),
        clusterwide=not args.namespace,
        peering_name=args.peering,
        priority=args.priority if args.priority is not None else 1 + secrets.randbelow(2**31 - 1),
        liveness_endpoint=args.liveness,
    )
    return 0
