"""The `perfrun` dispatcher: every verb is listed, but a command imports only its package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


_MINIMAL = (Path(__file__).parents[1] / "examples" / "perfrun-minimal.yaml").read_text()


def _without(*keys: str) -> str:
    doc = yaml.safe_load(_MINIMAL)
    for key in keys:
        doc.pop(key)
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n", "not a PerfRun"),
        (_MINIMAL.replace("perfrun.dev/v1alpha1", "perfrun.dev/v1beta1"), "not a PerfRun"),
        (
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(_MINIMAL)]}
            ),
            "its own YAML document",
        ),
        (_without("apiVersion"), "apiVersion: required"),
        (_without("kind"), "kind: required"),
        (_without("apiVersion", "kind"), "apiVersion and kind: required"),
        ("- a\n- b\n", "is a list, not a mapping"),
        ("42\n", "is a int, not a mapping"),
        ("just words\n", "is a str, not a mapping"),
        ("", "no PerfRun in the file"),
        (_MINIMAL.replace("name: hello-minimal", "name: 5"), "metadata.name: must be a string"),
        (_MINIMAL.replace("  name: hello-minimal", "  labels: {}"), "metadata.name: required"),
        (
            _MINIMAL.replace("metadata:\n  name: hello-minimal", "metadata: [a]"),
            "must be a mapping",
        ),
        (_MINIMAL + "---\nkind: Secret\napiVersion: v1\n", "[2]: ?: not a PerfRun"),
    ],
    ids=lambda v: v if len(v) < 30 else None,
)
def test_validate_refuses_what_is_no_perfrun_in_one_clear_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "unknown field" not in result.stderr  # no schema noise for a foreign document


def test_validate_still_calls_the_examples_valid() -> None:
    path = Path(__file__).parents[1] / "examples" / "perfrun-minimal.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"{path}: hello-minimal: valid"
