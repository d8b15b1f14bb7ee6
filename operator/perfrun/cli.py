"""`perfrun`: one entry point for the operator, the in-pod programs and the tools.

Each package contributes its own subcommands through a ``register(subparsers)`` function in
its ``cli`` module, so this file stays small and no package has to edit it to add a verb."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from perfrun import __version__

# Which package's `cli` module adds each subcommand. Only the module owning the command
# given is imported: a load pod should not pay for importing the Prometheus client.
SUBCOMMAND_MODULES = {
    "operator": "perfrun.controller.cli",
    "load": "perfrun.load.cli",
    "seed": "perfrun.dataset.cli",
    "restore": "perfrun.dataset.cli",
    "analyze": "perfrun.analysis.cli",
    "report": "perfrun.analysis.cli",
    "baseline": "perfrun.analysis.cli",
    "run": "perfrun.follow.cli",
    "ls": "perfrun.follow.cli",
}


def _cmd_crd(args: argparse.Namespace) -> int:
    from perfrun.api.crd import crd_yaml

    text = crd_yaml(args.kind)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from perfrun.api.validate import DocumentError, label, load_documents, problems

    failed = False
    for name in args.files:
        try:
            docs = load_documents(Path(name).read_text())
        except (OSError, DocumentError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed = True
            continue
        if not docs:
            print(f"{name}: no PerfRun in the file", file=sys.stderr)
            failed = True
        for i, doc in enumerate(docs, 1):
            found = problems(doc)
            where = f"{name}: {label(doc)}" if len(docs) == 1 else f"{name}[{i}]: {label(doc)}"
            for line in found:
                print(f"{where}: {line}", file=sys.stderr)
            failed = failed or bool(found)
            if not found:
                print(f"{where}: valid")
    return 1 if failed else 0


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a plug-in command, only its module is imported (help
    and unknown commands import them all, so every verb is listed)."""
    parser = argparse.ArgumentParser(
        prog="perfrun", description="Production-shaped, self-cleaning performance tests."
    )
    parser.add_argument("--version", action="version", version=f"perfrun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    crd = sub.add_parser("crd", help="print a CustomResourceDefinition (PerfRun, PerfBaseline)")
    crd.add_argument("-o", "--output", help="write to this file instead of stdout")
    crd.add_argument(
        "--kind",
        choices=("PerfRun", "PerfBaseline"),
        default="PerfRun",
        help="which CRD (default PerfRun); crds/ holds one file per kind",
    )
    crd.set_defaults(func=_cmd_crd)

    validate = sub.add_parser("validate", help="validate PerfRun YAML files offline")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=_cmd_validate)

    command = next((a for a in argv or () if not a.startswith("-")), None)
    if command in ("crd", "validate") or (command is None and "--version" in (argv or ())):
        return parser
    owner = SUBCOMMAND_MODULES.get(command or "")
    for module_name in [owner] if owner else dict.fromkeys(SUBCOMMAND_MODULES.values()):
        importlib.import_module(module_name).register(sub)
    return parser


# The API server takes JSON nested up to 10000 levels (in a scenario body, which the schema
# cannot bound); json, copy and yaml recurse once per level or two, and Python stops at 1000
# by default: a deep PerfRun then broke kopf's watch stream (the whole operator) and any
# command reading it. Every level up to the API server's own limit is read; the schema
# refuses the deep ones with a message (api/load.py MAX_BODY_DEPTH).
RECURSION_LIMIT = 30_000


def main(argv: Sequence[str] | None = None) -> int:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
