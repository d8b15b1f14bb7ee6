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

# Packages whose `cli` module adds subcommands (operator, load, seed/restore, analyze/report).
SUBCOMMAND_MODULES = (
    "perfrun.controller.cli",
    "perfrun.load.cli",
    "perfrun.dataset.cli",
    "perfrun.analysis.cli",
)


def _cmd_crd(args: argparse.Namespace) -> int:
    from perfrun.api.crd import crd_yaml

    text = crd_yaml(args.kind)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from perfrun.api.validate import DocumentError, load_documents, problems

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
        for doc in docs:
            found = problems(doc)
            label = (doc.get("metadata") or {}).get("name", "?")
            for line in found:
                print(f"{name}: {label}: {line}", file=sys.stderr)
            failed = failed or bool(found)
            if not found:
                print(f"{name}: {label}: valid")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
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

    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that package has no subcommands yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
