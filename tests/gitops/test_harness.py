"""The gitops harness and what it judges, without a cluster: `go test` (Argo CD's layout:
every health.lua on every object its health_test.yaml lists, message and all; kstatus on the
same captured objects), the README's argocd-cm snippet equal to the chart's health.lua, every
phase covered by a capture, and the release-gate examples judged with those captured
statuses grafted on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.gitops import HARNESS, PERFRUN_CHECK, Harness, build_verdicts, go, go_env

from perfrun.api.status import TERMINAL_PHASES, Phase

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "gitops"
SCRIPT_KEY = "resource.customizations.health.perfrun.dev_PerfRun"


def health_cases() -> dict[str, dict[str, str]]:
    tests = yaml.safe_load((PERFRUN_CHECK / "health_test.yaml").read_text())["tests"]
    return {Path(t["inputPath"]).stem: t["healthStatus"] for t in tests}


def test_go_harness_passes_on_the_captured_objects() -> None:
    proc = subprocess.run(
        [go(), "test", "-count=1", "-v", "./..."],
        cwd=HARNESS,
        env=go_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    passed = re.findall(r"--- PASS: (Test\w+/\S+)", proc.stdout)
    lua = [p for p in passed if p.startswith("TestHealthLua/")]
    kstatus = [p for p in passed if p.startswith("TestKstatus/")]
    assert len(lua) == len(health_cases()), proc.stdout
    assert len(kstatus) == len(health_cases()), proc.stdout
    assert "--- PASS: TestHarnessRefusesWhatArgoCDRefuses" in proc.stdout


def test_every_phase_has_a_captured_object_and_both_verdicts() -> None:
    kstatus = yaml.safe_load((HARNESS / "testdata" / "kstatus.yaml").read_text())["tests"]
    k_cases = {Path(t["inputPath"]).stem: t["status"] for t in kstatus}
    cases = health_cases()
    assert set(k_cases) == set(cases)
    phases = set()
    for case in cases:
        obj = yaml.safe_load((PERFRUN_CHECK / "testdata" / f"{case}.yaml").read_text())
        phase = Phase(obj["status"].get("phase", Phase.PENDING))
        phases.add(phase)
        want = (
            ("Healthy", "Current")
            if phase == Phase.SUCCEEDED
            else ("Degraded", "Failed")
            if phase in TERMINAL_PHASES
            else ("Progressing", "InProgress")
        )
        if obj["metadata"]["generation"] != obj["status"]["observedGeneration"]:
            want = ("Progressing", "InProgress")
        assert (cases[case]["status"], k_cases[case]) == want, case
    # Pending is never written: it is a run the operator has not taken up (the CRD's default
    # status, observedGeneration 0)
    assert phases == set(Phase)


def test_readme_argocd_cm_snippet_is_the_charts_health_lua() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    (cm,) = [yaml.safe_load(b) for b in blocks if "argocd-cm" in b]
    assert cm["data"][SCRIPT_KEY] == (PERFRUN_CHECK / "health.lua").read_text()


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness(build_verdicts())


def example_runs() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*.yaml") if "kind: PerfRun" in p.read_text())


def test_release_gate_examples_read_as_gates_in_every_phase(harness: Harness) -> None:
    """Each example PerfRun as Argo CD and Flux would see it: before the operator's first
    status (Argo CD: Progressing), then with every captured status on it."""
    runs = example_runs()
    assert {p.relative_to(EXAMPLES).as_posix() for p in runs} == {
        "argocd/checkout/perfrun.yaml",
        "argocd/perfrun-sync-wave.yaml",
        "flux/perf/perfrun.yaml",
    }
    cases = health_cases()
    for path in runs:
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        doc["metadata"]["generation"] = 1
        fresh = harness.judge(doc)
        assert fresh.health_status == "Progressing", (path, fresh)
        for case, want in cases.items():
            captured = yaml.safe_load((PERFRUN_CHECK / "testdata" / f"{case}.yaml").read_text())
            doc["metadata"]["generation"] = captured["metadata"]["generation"]
            doc["status"] = captured["status"]
            v = harness.judge(doc)
            assert v.health_status == want["status"], (path.name, case, v)
            kstatus = {"Healthy": "Current", "Degraded": "Failed", "Progressing": "InProgress"}
            assert v.kstatus["status"] == kstatus[want["status"]], (path.name, case, v)


def test_examples_name_one_run_per_release_and_wire_the_gate() -> None:
    hook = yaml.safe_load((EXAMPLES / "argocd" / "checkout" / "perfrun.yaml").read_text())
    notes = hook["metadata"]["annotations"]
    assert notes["argocd.argoproj.io/hook"] == "PreSync"
    assert notes["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    wave = yaml.safe_load((EXAMPLES / "argocd" / "perfrun-sync-wave.yaml").read_text())
    assert int(wave["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0
    app = yaml.safe_load((EXAMPLES / "argocd" / "application.yaml").read_text())
    assert (REPO_ROOT / app["spec"]["source"]["path"]).is_dir()
    gate, release = yaml.safe_load_all((EXAMPLES / "flux" / "kustomizations.yaml").read_text())
    assert gate["spec"]["wait"] is True
    assert release["spec"]["dependsOn"] == [{"name": gate["metadata"]["name"]}]
    for ks in (gate, release):
        assert (REPO_ROOT / ks["spec"]["path"]).is_dir(), ks["spec"]["path"]
    for path in example_runs():
        meta = yaml.safe_load(path.read_text())["metadata"]
        release_label = meta["labels"]["release"]
        assert meta["name"].startswith("checkout-" + release_label.replace(".", "-"))
