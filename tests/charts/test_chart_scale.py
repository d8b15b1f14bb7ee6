"""The chart's scale settings (issue 18): PERFRUN_WORKERS and PERFRUN_ANALYSIS_WORKERS from
values, refused when not a positive whole number; and the operator's role may LIST and WATCH
every kind its informer cache watches (one cluster-wide watch per kind)."""

from __future__ import annotations

import subprocess

import pytest
from tests.charts.test_chart import CHART, Helm, by_kind, granted, resource_names
from tests.support.cluster import KubeCluster

from perfrun.controller.caching import KINDS

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def helm(kube_cluster: KubeCluster) -> Helm:
    return Helm(kube_cluster)


def _env(helm: Helm, *values: str) -> dict[str, str]:
    (container,) = by_kind(helm.template(*values), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_workers_and_analysis_workers_come_from_values(helm: Helm) -> None:
    env = _env(helm)
    assert "PERFRUN_WORKERS" not in env and "PERFRUN_ANALYSIS_WORKERS" not in env  # built-in
    env = _env(helm, "--set", "workers=64,analysisWorkers=8")
    assert env["PERFRUN_WORKERS"] == "64" and env["PERFRUN_ANALYSIS_WORKERS"] == "8"


@pytest.mark.parametrize("value", ["workers=0", "analysisWorkers=-1", "workers=many"])
def test_a_worker_count_that_is_not_positive_is_refused_naming_it(helm: Helm, value: str) -> None:
    proc = subprocess.run(
        [helm.cluster.bin_dir / "helm", "template", "x", str(CHART), "--set", value],
        env=helm.cluster.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert f"/{value.split('=')[0]}" in proc.stderr, proc.stderr


def test_the_role_lists_and_watches_every_cached_kind(
    helm: Helm, kube_cluster: KubeCluster
) -> None:
    rules = by_kind(helm.template(), "ClusterRole")["rules"]
    for api_version, kind in KINDS:
        resource = resource_names(kube_cluster, api_version)[kind]
        group = api_version.rpartition("/")[0]
        for verb in ("list", "watch"):
            assert granted(rules, group, resource, verb), f"{verb} {resource}.{group} ({kind})"
