"""The `perfrun` dispatcher: every verb is listed, but a command imports only its package."""

from __future__ import annotations

import subprocess
import sys

VERBS = ("crd", "validate", "operator", "load", "seed", "restore", "analyze", "report", "baseline")


def _imported_after(argv: list[str]) -> set[str]:
    code = (
        "import sys; from perfrun.cli import build_parser; "
        f"build_parser({argv!r}); print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_help_lists_every_verb() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for verb in VERBS:
        assert f"    {verb} " in out or f"    {verb}\n" in out, verb


def test_a_load_pod_does_not_import_the_analysis_or_the_operator() -> None:
    modules = _imported_after(["load", "--config", "x.yaml"])
    assert "perfrun.load.cli" in modules
    assert not {"perfrun.analysis.run", "kopf", "prometheus_api_client"} & modules


def test_version_imports_no_plugin() -> None:
    modules = _imported_after(["--version"])
    assert not any(m.endswith(".cli") and m != "perfrun.cli" for m in modules)
