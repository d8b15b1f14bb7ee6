"""Reports survive GitOps pruning: on the real API server (with the real garbage collector of
kube-controller-manager), deleting a PerfRun takes what it owns and leaves its report, which
`perfrun report NAME` still serves (HTML included, `--open` in a browser); the janitor deletes
a report once its keep-until passed, and only then."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.perfruns import minimal
from tests.support.waiting import poll_until

from perfrun.analysis.bounded import report_files
from perfrun.analysis.model import AnalysisResult, Series, Window
from perfrun.api.status import Results
from perfrun.api.times import rfc3339
from perfrun.controller.janitor import sweep_reports
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.reports import report_name, write_report

pytestmark = pytest.mark.cluster
PERFRUN = [sys.executable, "-m", "perfrun.cli"]


def result() -> AnalysisResult:
    pts = [(1000.0 + i, 10.0 + (i % 7)) for i in range(120)]
    return AnalysisResult(
        verdict="Passed",
        reason="all gates passed",
        window=Window(start=1000, end=1120),
        results=Results(p99_ms=16.0, sources={"p99Ms": "loadSummary"}),
        series=[Series(metric="latencyP99", points=pts)],
    )


def test_report_outlives_its_pruned_perfrun_until_keep_until(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None, tmp_path: Path
) -> None:
    ns = kube_namespace
    kube = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    now = datetime.now(UTC)
    runs = {}
    for name in ("pruned", "old"):
        kube_cluster.apply(yaml.safe_dump(minimal(name)), "-n", ns)
        runs[name] = kube_cluster.get_json("perfrun", name, "-n", ns)
    files = report_files(result(), "pruned")
    write_report(kube, runs["pruned"], files, "pruned-x1", rfc3339(now + timedelta(days=30)))
    write_report(kube, runs["old"], files, "old-x1", rfc3339(now - timedelta(seconds=1)))
    # a control: a ConfigMap the PerfRun does own, which the garbage collector must take
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned-by-pruned",
            "namespace": ns,
            "ownerReferences": [
                {
                    "apiVersion": "perfrun.dev/v1alpha1",
                    "kind": "PerfRun",
                    "name": "pruned",
                    "uid": runs["pruned"]["metadata"]["uid"],
                }
            ],
        },
    }
    kube_cluster.apply(json.dumps(owned), "-n", ns)

    # the prune: GitOps deletes the PerfRun (no operator here, so no finalizer holds it)
    kube_cluster.kubectl("delete", "perfrun", "pruned", "-n", ns, "--wait=true")
    poll_until(
        lambda: not kube_cluster.exists("configmap", "owned-by-pruned", "-n", ns),
        timeout=60,
        what="the garbage collector to delete what the PerfRun owned",
    )
    assert kube_cluster.exists("configmap", report_name("pruned"), "-n", ns)

    # perfrun report still serves it, with the page as stored
    html = tmp_path / "report.html"
    subprocess.run(
        [*PERFRUN, "report", "pruned", "-n", ns, "--kubeconfig", str(kube_cluster.kubeconfig),
         "-o", str(html)],
        check=True, timeout=60, env=kube_cluster.env,
    )  # fmt: skip
    assert "<svg" in html.read_text() and "pruned" in html.read_text()
    # --open: the page goes to the browser ($BROWSER, as webbrowser reads it)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = dict(kube_cluster.env, BROWSER=str(browser))
    env.pop("DISPLAY", None)
    subprocess.run(
        [*PERFRUN, "report", "pruned", "-n", ns, "--kubeconfig", str(kube_cluster.kubeconfig),
         "--open"],
        check=True, timeout=60, env=env,
    )  # fmt: skip
    url = poll_until(lambda: opened.exists() and opened.read_text().strip(), timeout=10)
    assert url.startswith("file://") and "<svg" in Path(url.removeprefix("file://")).read_text()

    # the janitor: the expired report goes, the kept one stays; only in namespaces it serves
    assert sweep_reports(kube, datetime.now(UTC), lambda n: n != ns) == []
    gone = sweep_reports(kube, datetime.now(UTC), lambda n: n == ns)
    assert gone == [f"{ns}/{report_name('old')}"]
    assert not kube_cluster.exists("configmap", report_name("old"), "-n", ns)
    assert kube_cluster.exists("configmap", report_name("pruned"), "-n", ns)
