"""`perfrun baseline promote|show` against the real API server: the PerfBaseline store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.waiting import poll_until

pytestmark = pytest.mark.cluster
EXAMPLE = Path(__file__).parents[2] / "examples" / "perfrun-minimal.yaml"


def perfrun_with_results(cluster: KubeCluster, ns: str, name: str, verdict: str) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = name
    cluster.apply(yaml.safe_dump(doc), "-n", ns)
    status = {
        "status": {
            "phase": "Succeeded" if verdict == "Passed" else "Failed",
            "verdict": verdict,
            "results": {
                "p99Ms": 212.5,
                "errorRate": 0.004,
                "throughputRps": 790.0,
                "sources": {"p99Ms": "loadSummary"},
            },
        }
    }
    cluster.kubectl(
        "patch",
        "perfrun",
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def perfrun_cli(cluster: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfrun.cli", *args, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        env=cluster.env,
        check=False,
        timeout=60,
    )


def test_promote_stores_a_passed_runs_results_and_show_reads_them(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None
) -> None:
    perfrun_with_results(kube_cluster, kube_namespace, "release-1", "Passed")
    promoted = perfrun_cli(
        kube_cluster,
        "baseline",
        "promote",
        "release-1",
        "--as",
        "checkout-main",
        "-n",
        kube_namespace,
    )
    assert promoted.returncode == 0, promoted.stderr
    stored = kube_cluster.get_json("perfbaseline", "checkout-main", "-n", kube_namespace)
    assert stored["spec"]["values"]["p99Ms"] == 212.5
    assert stored["spec"]["values"]["throughputRps"] == 790.0
    assert stored["spec"]["source"]["run"] == "release-1"
    shown = perfrun_cli(kube_cluster, "baseline", "show", "checkout-main", "-n", kube_namespace)
    assert shown.returncode == 0, shown.stderr
    assert "212.5" in shown.stdout


def test_a_failed_run_is_not_promoted_without_force(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None
) -> None:
    perfrun_with_results(kube_cluster, kube_namespace, "release-2", "Failed")
    refused = perfrun_cli(
        kube_cluster, "baseline", "promote", "release-2", "--as", "bad", "-n", kube_namespace
    )
    assert refused.returncode == 1
    assert "not Passed" in refused.stderr
    assert not kube_cluster.exists("perfbaseline", "bad", "-n", kube_namespace)
    forced = perfrun_cli(
        kube_cluster,
        "baseline",
        "promote",
        "release-2",
        "--as",
        "bad",
        "--force",
        "-n",
        kube_namespace,
    )
    assert forced.returncode == 0, forced.stderr
    assert kube_cluster.exists("perfbaseline", "bad", "-n", kube_namespace)


def test_report_configmap_is_stored_read_back_and_outlives_its_perfrun(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None
) -> None:
    from perfrun.kube.client import Kube, load_api_client
    from perfrun.kube.reports import read_report, write_report

    perfrun_with_results(kube_cluster, kube_namespace, "release-3", "Passed")
    run = kube_cluster.get_json("perfrun", "release-3", "-n", kube_namespace)
    kube = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    files = {"report.md": "# release-3\n\nPassed", "report.json": '{"verdict": "Passed"}'}
    name = write_report(kube, run, files, "release-3-x7k2a")
    assert read_report(kube, kube_namespace, name) == files
    labels = kube_cluster.get_json("configmap", name, "-n", kube_namespace)["metadata"]["labels"]
    assert labels["perfrun.dev/perfrun"] == "release-3"  # the PerfRun's name
    assert labels["perfrun.dev/run"] == "release-3-x7k2a"  # the run id, as in its namespace
    # a report written again without a run id drops the label instead of keeping a stale one
    write_report(kube, run, files)
    relabelled = kube_cluster.get_json("configmap", name, "-n", kube_namespace)["metadata"]
    assert "perfrun.dev/run" not in relabelled["labels"]
    kube_cluster.kubectl("delete", "perfrun", "release-3", "-n", kube_namespace)
    poll_until(
        lambda: not kube_cluster.exists("perfrun", "release-3", "-n", kube_namespace),
        timeout=60,
        what="PerfRun release-3 deleted",
    )
    # not owned by its PerfRun: a GitOps prune of the run keeps the result (issue 19)
    assert read_report(kube, kube_namespace, name) == files
