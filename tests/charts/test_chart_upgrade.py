"""The chart's CRD upgrade story on the real API server: the CRDs are chart templates (not
crds/, which Helm never upgrades), so `helm upgrade` to a chart whose CRD gained a field
really changes the CRD in the cluster, and `helm uninstall` keeps it (resource-policy keep).

The shared cluster's own PerfRun CRD belongs to every test session; this test works on a copy
of the chart whose CRDs are renamed into a group of its own, so it changes nothing of theirs."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "perfrun-operator"

pytestmark = pytest.mark.cluster


def helm(cluster: KubeCluster, *args: str) -> str:
    proc = subprocess.run(
        [str(cluster.bin_dir / "helm"), *args],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def chart_copy(tmp: Path, group: str, version: str) -> Path:
    """The chart with only the perfrun CRDs, renamed into ``group``."""
    out = tmp / f"chart-{version}"
    shutil.copytree(CHART, out)
    (out / "files" / "crds" / "kopf.dev_peerings.yaml").unlink()
    for path in (out / "files" / "crds").glob("*.yaml"):
        path.write_text(path.read_text().replace("perfrun.dev", group))
    meta = yaml.safe_load((out / "Chart.yaml").read_text())
    meta["version"] = version
    (out / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return out


def spec_properties(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    props: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return props


def test_helm_upgrade_brings_a_new_crd_field_and_uninstall_keeps_the_crd(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    group = f"u{secrets.token_hex(3)}.perfrun.dev"
    crd_name = f"perfruns.{group}"
    release = f"up-{secrets.token_hex(3)}"
    ns = kube_namespace
    values = ["--set", f"peering.create=false,peering.name={release},replicaCount=1"]
    try:
        old = chart_copy(tmp_path, group, "0.1.0")
        helm(kube_cluster, "install", release, str(old), "-n", ns, *values)
        kube_cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd_name}")
        before = kube_cluster.get_json("crd", crd_name)
        assert "upgradeProbe" not in spec_properties(before)
        assert before["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert before["metadata"]["labels"]["app.kubernetes.io/instance"] == release

        # the next chart version: its CRD has one more field
        new = chart_copy(tmp_path, group, "0.2.0")
        path = new / "files" / "crds" / "perfrun.dev_perfruns.yaml"
        crd = yaml.safe_load(path.read_text())
        spec_properties(crd)["upgradeProbe"] = {
            "type": "string",
            "description": "A field only the upgraded chart's CRD has.",
        }
        path.write_text(yaml.safe_dump(crd, sort_keys=False))
        helm(kube_cluster, "upgrade", release, str(new), "-n", ns, "--reuse-values")
        after = kube_cluster.get_json("crd", crd_name)
        assert spec_properties(after)["upgradeProbe"]["type"] == "string"
        assert after["metadata"]["labels"]["helm.sh/chart"] == "perfrun-operator-0.2.0"
        # the API server now keeps the new field (it would prune an unknown one)
        run = {
            "apiVersion": f"{group}/v1alpha1",
            "kind": "PerfRun",
            "metadata": {"name": "probe", "namespace": ns},
            "spec": yaml.safe_load((REPO_ROOT / "examples" / "perfrun-minimal.yaml").read_text())[
                "spec"
            ]
            | {"upgradeProbe": "kept"},
        }
        served = kube_cluster.kubectl(
            "create", "--dry-run=server", "-o", "json", "-f", "-", input=yaml.safe_dump(run)
        ).stdout
        assert '"upgradeProbe": "kept"' in served

        helm(kube_cluster, "uninstall", release, "-n", ns, "--wait")
        assert kube_cluster.exists("crd", crd_name), "uninstall deleted the CRD"
    finally:
        helm(kube_cluster, "uninstall", release, "-n", ns, "--ignore-not-found")
        for kind in ("perfruns", "perfbaselines"):
            kube_cluster.kubectl("delete", "crd", f"{kind}.{group}", "--ignore-not-found")
