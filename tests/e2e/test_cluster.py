"""The local control plane (e2e/cluster.sh) behaves like a real cluster.

These tests run against real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
with kwok fake nodes: they show the behaviour the operator relies on (admission, CRD schema and
CEL validation, namespace deletion, garbage collection, Jobs, quotas) actually happens.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import (
    FAIL_EXIT_CODE_ANNOTATION,
    FAIL_LABEL,
    REPO_ROOT,
    KubeCluster,
    poll_until,
)

pytestmark = pytest.mark.cluster

CRD_DIR = REPO_ROOT / "crds"
EXAMPLES_DIR = REPO_ROOT / "examples"
INVALID_DIR = REPO_ROOT / "tests" / "api" / "invalid"


def _job(
    name: str, *, completions: int = 1, fail: bool = False, exit_code: int | None = None
) -> str:
    labels: dict[str, str] = {"app": name}
    annotations: dict[str, str] = {}
    if fail:
        labels[FAIL_LABEL] = "true"
        if exit_code is not None:
            annotations[FAIL_EXIT_CODE_ANNOTATION] = str(exit_code)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": completions,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "registry.invalid/noop:1"}],
                },
            },
        },
    }
    return json.dumps(job)


def _job_finished(cluster: KubeCluster, ns: str, name: str) -> str | None:
    job = cluster.get_json("-n", ns, "job", name)
    for cond_type in ("Complete", "Failed"):
        if cluster.condition(job, cond_type) == "True":
            return cond_type
    return None


# ---- version --------------------------------------------------------------------------------


def test_server_reports_pinned_version(kube_cluster: KubeCluster) -> None:
    out = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    pinned = kube_cluster.versions["kubernetes"]
    assert out["serverVersion"]["gitVersion"] == pinned
    assert out["clientVersion"]["gitVersion"] == pinned
    major, minor = pinned.removeprefix("v").split(".")[:2]
    assert (out["serverVersion"]["major"], out["serverVersion"]["minor"]) == (major, minor)
    raw = json.loads(kube_cluster.kubectl("get", "--raw", "/version").stdout)
    assert raw["gitVersion"] == pinned


def test_helm_and_kwok_are_built(kube_cluster: KubeCluster) -> None:
    helm = kube_cluster.bin_dir / "helm"
    out = subprocess.run(
        [str(helm), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith(kube_cluster.versions["helm"])
    nodes = kube_cluster.get_json("nodes")["items"]
    kwok_nodes = [
        n for n in nodes if n["metadata"]["annotations"].get("kwok.x-k8s.io/node") == "fake"
    ]
    assert kwok_nodes, "no kwok node"
    assert all(kube_cluster.condition(n, "Ready") == "True" for n in kwok_nodes)


# ---- the project's CRD ------------------------------------------------------------------------


def _crd_files() -> list[Path]:
    return sorted(p for p in CRD_DIR.glob("*.yaml") if p.is_file())


@pytest.fixture(scope="module")
def perfrun_crd(kube_cluster: KubeCluster) -> list[str]:
    """Apply every CRD under crds/ and wait until each is Established; return their names."""
    files = _crd_files()
    assert files, f"no CRD manifests in {CRD_DIR}"
    names: list[str] = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
        kube_cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=perfrun-tests",
            "-f",
            str(path),
        )
    assert names, "crds/ holds no CustomResourceDefinition"
    for name in names:

        def established(name: str = name) -> bool:
            crd = kube_cluster.get_json("crd", name)
            return kube_cluster.condition(crd, "Established") == "True"

        poll_until(established, timeout=60, what=f"CRD {name} Established")
    return names


def test_crd_is_established_and_structural(
    kube_cluster: KubeCluster, perfrun_crd: list[str]
) -> None:
    for name in perfrun_crd:
        crd = kube_cluster.get_json("crd", name)
        assert kube_cluster.condition(crd, "NamesAccepted") == "True"
        # A non-structural schema shows up as a NonStructuralSchema condition.
        assert kube_cluster.condition(crd, "NonStructuralSchema") in (None, "False"), crd["status"]
    # The API is served: discovery lists it.
    resources = kube_cluster.kubectl("api-resources", "--api-group=perfrun.dev", "-o", "name")
    assert "perfruns" in resources.stdout


def _example_files() -> list[Path]:
    files = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if any(d.get("kind") == "PerfRun" for d in docs):
            files.append(path)
    return files


@pytest.mark.parametrize("example", _example_files(), ids=lambda p: p.name)
def test_valid_example_is_accepted(
    kube_cluster: KubeCluster, perfrun_crd: list[str], kube_namespace: str, example: Path
) -> None:
    kube_cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=perfrun-tests",
        "-n",
        kube_namespace,
        "-f",
        str(example),
    )
    for doc in yaml.safe_load_all(example.read_text()):
        if doc and doc.get("kind") == "PerfRun":
            got = kube_cluster.get_json("-n", kube_namespace, "perfrun", doc["metadata"]["name"])
            assert got["spec"], "the stored PerfRun has an empty spec"


def test_examples_exist() -> None:
    names = {p.name for p in _example_files()}
    assert {"perfrun-minimal.yaml", "perfrun-full.yaml"} <= names, names


# ---- invalid specs are refused at admission --------------------------------------------------


def parse_invalid_header(path: Path) -> dict[str, str]:
    """The ``# key: value`` comment lines at the top of an invalid-spec file (format in
    tests/api/invalid/README.md: ``why``, ``offline``, ``admission``)."""
    header: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("#").strip().partition(":")
        if sep and key and " " not in key:
            header[key.lower()] = value.strip()
    return header


def _invalid_files() -> list[Path]:
    return sorted(INVALID_DIR.glob("*.yaml")) if INVALID_DIR.is_dir() else []


def test_invalid_specs_exist_and_say_what_admission_refuses() -> None:
    files = _invalid_files()
    assert files, f"no invalid specs in {INVALID_DIR}"
    for path in files:
        assert parse_invalid_header(path).get("admission"), f"{path.name}: no '# admission:' line"


@pytest.mark.parametrize("spec", _invalid_files(), ids=lambda p: p.name)
def test_invalid_spec_is_refused_at_admission(
    kube_cluster: KubeCluster, perfrun_crd: list[str], kube_namespace: str, spec: Path
) -> None:
    """The real API server (OpenAPI schema + CEL rules of the CRD) refuses each invalid spec,
    and its message carries the text the spec's header names (the field or the rule)."""
    expected = parse_invalid_header(spec)["admission"]
    proc = kube_cluster.kubectl("create", "-n", kube_namespace, "-f", str(spec), check=False)
    assert proc.returncode != 0, f"{spec.name} was accepted: {proc.stdout}"
    assert expected in proc.stderr, f"expected {expected!r} in the refusal:\n{proc.stderr}"
    stored = kube_cluster.kubectl("get", "-n", kube_namespace, "perfruns", "-o", "name").stdout
    assert stored.strip() == "", f"something was stored: {stored}"


# ---- core controllers -------------------------------------------------------------------------


def test_namespace_with_workloads_is_deleted_completely(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=a=b")
    kube_cluster.kubectl(
        "-n", ns, "create", "deployment", "web", "--image=registry.invalid/web:1", "--replicas=2"
    )
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_job("batch"))
    poll_until(
        lambda: (
            kube_cluster.get_json("-n", ns, "deployment", "web")
            .get("status", {})
            .get("readyReplicas")
            == 2
        ),
        timeout=60,
        what="deployment web with 2 ready replicas (kwok pods)",
    )
    poll_until(lambda: _job_finished(kube_cluster, ns, "batch"), timeout=60, what="job batch done")
    kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")
    poll_until(
        lambda: not kube_cluster.exists("namespace", ns),
        timeout=120,
        what=f"namespace {ns} to disappear",
    )
    leftovers = kube_cluster.kubectl(
        "get",
        "pods,replicasets,deployments,jobs,configmaps",
        "-A",
        f"--field-selector=metadata.namespace={ns}",
        "-o",
        "name",
    ).stdout.strip()
    assert leftovers == ""


def test_owned_object_is_garbage_collected(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("-n", ns, "create", "configmap", "owner")
    owner_uid = kube_cluster.get_json("-n", ns, "configmap", "owner")["metadata"]["uid"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
            ],
        },
        "data": {"k": "v"},
    }
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(child))
    assert kube_cluster.exists("-n", ns, "configmap", "child")
    kube_cluster.kubectl("-n", ns, "delete", "configmap", "owner")
    poll_until(
        lambda: not kube_cluster.exists("-n", ns, "configmap", "child"),
        timeout=60,
        what="the garbage collector to delete the owned ConfigMap",
    )


def test_job_pods_run_on_kwok_node_and_job_completes(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_job("ok", completions=3))
    outcome = poll_until(lambda: _job_finished(kube_cluster, ns, "ok"), timeout=90, what="job")
    assert outcome == "Complete"
    job = kube_cluster.get_json("-n", ns, "job", "ok")
    assert job["status"]["succeeded"] == 3
    pods = kube_cluster.get_json("-n", ns, "pods", "-l", "job-name=ok")["items"]
    assert len(pods) == 3
    fake_nodes = {
        n["metadata"]["name"]
        for n in kube_cluster.get_json("nodes")["items"]
        if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
    }
    for pod in pods:
        assert pod["spec"]["nodeName"] in fake_nodes
        assert pod["status"]["phase"] == "Succeeded"


def test_failing_pod_fails_its_job(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_job("bad", fail=True, exit_code=3))
    outcome = poll_until(lambda: _job_finished(kube_cluster, ns, "bad"), timeout=90, what="job")
    assert outcome == "Failed"
    pods = kube_cluster.get_json("-n", ns, "pods", "-l", "job-name=bad")["items"]
    assert pods
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pods[0]["status"]["phase"] == "Failed"
    assert terminated["exitCode"] == 3


def test_failing_pod_default_exit_code_is_1(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_job("bad1", fail=True))
    poll_until(lambda: _job_finished(kube_cluster, ns, "bad1"), timeout=90, what="job bad1")
    pod = kube_cluster.get_json("-n", ns, "pods", "-l", "job-name=bad1")["items"][0]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_resource_quota_status_is_filled_and_enforced(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ns = kube_namespace
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "fence"},
        "spec": {"hard": {"configmaps": "3", "pods": "10", "requests.cpu": "4"}},
    }
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(quota))

    def used() -> dict[str, Any] | None:
        status = kube_cluster.get_json("-n", ns, "resourcequota", "fence").get("status", {})
        got: dict[str, Any] | None = status.get("used")
        return got

    first = poll_until(used, timeout=60, what="ResourceQuota status.used")
    assert set(first) == {"configmaps", "pods", "requests.cpu"}
    # kube-root-ca.crt is already there; two more configmaps reach the hard limit of 3.
    kube_cluster.kubectl("-n", ns, "create", "configmap", "one")
    kube_cluster.kubectl("-n", ns, "create", "configmap", "two")
    poll_until(lambda: (used() or {}).get("configmaps") == "3", timeout=60, what="used=3")
    refused = kube_cluster.kubectl("-n", ns, "create", "configmap", "three", check=False)
    assert refused.returncode != 0
    assert "exceeded quota" in refused.stderr, refused.stderr


def _pod_with_label(name: str, label: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {label: "true"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        }
    )


def test_pod_with_unpullable_image_label_waits_in_image_pull_backoff(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ns = kube_namespace
    label = "pod-image-pull-backoff.stage.kwok.x-k8s.io"
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_pod_with_label("pull", label))

    def waiting_reason() -> str | None:
        pod = kube_cluster.get_json("-n", ns, "pod", "pull")
        statuses = pod.get("status", {}).get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("waiting", {}).get("reason")

    assert poll_until(waiting_reason, timeout=60, what="ImagePullBackOff") == "ImagePullBackOff"
    assert kube_cluster.get_json("-n", ns, "pod", "pull")["status"]["phase"] == "Pending"


def test_pod_with_unready_label_runs_but_never_gets_ready(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    ns = kube_namespace
    label = "pod-running-unready.stage.kwok.x-k8s.io"
    kube_cluster.kubectl("-n", ns, "create", "-f", "-", input=_pod_with_label("unready", label))

    def phase() -> str | None:
        phase = kube_cluster.get_json("-n", ns, "pod", "unready").get("status", {}).get("phase")
        return phase if phase == "Running" else None

    poll_until(phase, timeout=60, what="pod Running")
    pod = kube_cluster.get_json("-n", ns, "pod", "unready")
    ready = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
