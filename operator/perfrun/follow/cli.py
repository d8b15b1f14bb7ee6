"""`perfrun run -f FILE` (apply or attach, follow to the verdict) and `perfrun ls`."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from perfrun.api.perfrun import API_VERSION, KIND
from perfrun.api.validate import DocumentError, load_documents, problems
from perfrun.follow.view import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_TIMEOUT,
    exit_code,
    finished,
    outcome,
    table,
    view,
)
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.errors import KubeError

# A blip of the API server is retried this many polls before `perfrun run` gives up.
MAX_FAILED_POLLS = 30


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 30m, 2h)") from None


def _kube(kubeconfig: str | None) -> Kube:
    return Kube(load_api_client(kubeconfig))


def _read_perfrun(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        docs = load_documents(text)
    except (OSError, DocumentError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    runs = [d for d in docs if d.get("kind") == KIND]
    if len(runs) != 1:
        raise ValueError(f"{path}: expected one PerfRun, found {len(runs)}")
    found = problems(runs[0])
    if found:
        name = (runs[0].get("metadata") or {}).get("name", "?")
        raise ValueError("\n".join(f"{path}: {name}: {line}" for line in found))
    return runs[0]


class Display:
    """A live line redrawn in place on a terminal; one timestamped line per change otherwise."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self.last: tuple[Any, ...] | None = None

    def show(self, obj: dict[str, Any]) -> None:
        v = view(obj, datetime.now(UTC))
        if self.live:
            width = shutil.get_terminal_size((120, 24)).columns
            self.out.write("\r\x1b[2K" + v.line()[: max(20, width - 1)])
            self.out.flush()
        elif v.key() != self.last:
            self.out.write(f"{datetime.now(UTC):%H:%M:%S} {v.line()}\n")
            self.out.flush()
        self.last = v.key()

    def end(self) -> None:
        if self.live:
            self.out.write("\n")
            self.out.flush()


def follow(
    kube: Kube, name: str, namespace: str, display: Display, timeout: float, interval: float
) -> int:
    deadline = time.monotonic() + timeout
    failures = 0
    while True:
        try:
            obj = kube.get(API_VERSION, KIND, name, namespace)
            failures = 0
        except KubeError as exc:
            failures += 1
            if failures >= MAX_FAILED_POLLS:
                display.end()
                print(f"perfrun run: cannot read perfrun/{name}: {exc}", file=sys.stderr)
                return EXIT_FAILED
            time.sleep(interval)
            continue
        if obj is None:
            display.end()
            print(f"perfrun run: perfrun/{name} in {namespace} was deleted", file=sys.stderr)
            return EXIT_FAILED
        display.show(obj)
        if finished(obj):
            display.end()
            print(outcome(obj))
            if (obj.get("status") or {}).get("report"):
                print(f"report: perfrun report {name} -n {namespace} --open")
            return exit_code(obj)
        if time.monotonic() >= deadline:
            display.end()
            print(f"perfrun run: perfrun/{name} not finished after {timeout:.0f}s", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(interval)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        doc = _read_perfrun(args.file)
    except ValueError as exc:
        print(f"perfrun run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    meta = doc.setdefault("metadata", {})
    namespace = args.namespace or meta.get("namespace") or "default"
    meta["namespace"] = namespace
    name = str(meta["name"])
    kube = _kube(args.kubeconfig)
    try:
        existing = kube.get(API_VERSION, KIND, name, namespace)
        if existing is not None:
            phase = (existing.get("status") or {}).get("phase") or "Pending"
            print(f"perfrun/{name} exists in {namespace} ({phase}): following it", file=sys.stderr)
        else:
            kube.apply(doc)
            print(f"perfrun/{name} created in {namespace}", file=sys.stderr)
    except KubeError as exc:
        print(f"perfrun run: perfrun/{name} in {namespace}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.status in (400, 403, 404, 422) else EXIT_FAILED
    live = sys.stdout.isatty() and not args.plain
    return follow(kube, name, namespace, Display(sys.stdout, live), args.timeout, args.interval)


def cmd_ls(args: argparse.Namespace) -> int:
    kube = _kube(args.kubeconfig)
    namespace = None if args.all_namespaces else args.namespace
    try:
        objs = kube.list(API_VERSION, KIND, namespace)
    except KubeError as exc:
        print(f"perfrun ls: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not objs:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No PerfRuns in {where}.", file=sys.stderr)
        return 0
    sys.stdout.write(table(objs, datetime.now(UTC), namespaces=namespace is None))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = subparsers.add_parser(
        "run",
        help="apply a PerfRun (or attach to it) and follow it to its verdict",
        description="Exit 0 Passed, 1 Failed (or ended without a verdict), 2 bad input, "
        "3 Inconclusive, 4 not finished within --timeout.",
    )
    r.add_argument("-f", "--file", required=True, help="PerfRun YAML (- for stdin)")
    r.add_argument("-n", "--namespace", help="namespace (default: the file's, else default)")
    r.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube)")
    r.add_argument("--timeout", type=_duration, default=_duration("3h"), help="give up after")
    r.add_argument("--interval", type=_duration, default=1.0, help="seconds between reads")
    r.add_argument("--plain", action="store_true", help="one line per change, even on a TTY")
    r.set_defaults(func=cmd_run)

    ls = subparsers.add_parser("ls", help="list PerfRuns: phase, verdict, p99, errors, age")
    ls.add_argument("-n", "--namespace", default="default", help="namespace (default default)")
    ls.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    ls.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube)")
    ls.set_defaults(func=cmd_ls)
