"""The release-gate examples and the chart's Argo CD value against the real API server: the
manifests the GitOps tools would apply pass `kubectl apply --dry-run=server` with the CRDs
installed, and the health check the chart renders, merged into an argocd-cm as the README
says, is the script that judges the captured runs correctly."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.gitops import CUSTOMIZATIONS, PERFRUN_CHECK, Harness, build_verdicts

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "gitops"
CHART = REPO_ROOT / "charts" / "perfrun-operator"
SCRIPT_KEY = "resource.customizations.health.perfrun.dev_PerfRun"

pytestmark = pytest.mark.cluster

# What Argo CD and Flux apply to the cluster (their own Application and Kustomization objects
# need their CRDs, which this cluster does not have).
APPLIED = (
    "argocd/checkout/perfrun.yaml",
    "argocd/checkout/deployment.yaml",
    "argocd/perfrun-sync-wave.yaml",
    "flux/perf/perfrun.yaml",
    "flux/app/deployment.yaml",
)


@pytest.mark.parametrize("path", APPLIED)
def test_release_gate_manifests_pass_server_side_dry_run(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None, path: str
) -> None:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / path).read_text())
    doc["metadata"]["namespace"] = kube_namespace  # the examples' own namespace is checkout
    out = kube_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-o", "yaml", "-f", "-",
        input=yaml.safe_dump(doc),
    ).stdout  # fmt: skip
    served = yaml.safe_load(out)
    assert served["kind"] == doc["kind"]
    assert served["metadata"]["name"] == doc["metadata"]["name"]
    assert not kube_cluster.exists(
        doc["kind"].lower(), doc["metadata"]["name"], "-n", kube_namespace
    )


def test_chart_health_check_merged_into_argocd_cm_judges_the_captured_runs(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    ns = kube_namespace
    rendered = subprocess.run(
        [
            str(kube_cluster.bin_dir / "helm"), "template", "perfrun", str(CHART), "-n", ns,
            "--show-only", "templates/argocd-health.yaml",
            "--set", f"argocd.healthCheck.enabled=true,argocd.healthCheck.namespace={ns}",
        ],
        env=kube_cluster.env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    kube_cluster.apply(rendered, "-n", ns)
    kube_cluster.apply(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "namespace": ns},
                "data": {"url": "https://argocd.example"},
            }
        ),
        "-n",
        ns,
    )
    # the README's command, word for word but for the namespace
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("kubectl -n argocd patch configmap argocd-cm")
    command = readme[start : readme.index("\n```", start)].replace("-n argocd", f"-n {ns}")
    subprocess.run(["bash", "-c", command], env=kube_cluster.env, check=True, timeout=60)
    cm = kube_cluster.get_json("configmap", "argocd-cm", "-n", ns)
    assert cm["data"]["url"] == "https://argocd.example"  # merged, not replaced
    script = cm["data"][SCRIPT_KEY]
    assert script == (PERFRUN_CHECK / "health.lua").read_text()

    # that script, in a tree of its own, gives the frozen verdicts
    root = tmp_path / "customizations"
    (root / "perfrun.dev" / "PerfRun").mkdir(parents=True)
    (root / "perfrun.dev" / "PerfRun" / "health.lua").write_text(script)
    harness = Harness(build_verdicts(), root)
    tests = yaml.safe_load((PERFRUN_CHECK / "health_test.yaml").read_text())["tests"]
    for case in tests:
        obj = yaml.safe_load((PERFRUN_CHECK / case["inputPath"]).read_text())
        assert harness.judge(obj).health == case["healthStatus"], case["inputPath"]
    assert root != CUSTOMIZATIONS
