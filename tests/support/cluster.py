"""pytest plugin: a real local Kubernetes control plane for tests marked ``cluster``.

The cluster is the one ``e2e/cluster.sh`` runs (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok fake nodes, built from Go modules). The session fixture brings it up
once -- building the binaries first if they are missing, never skipping -- and leaves it running
afterwards (``up`` is idempotent and quick) unless ``PERFRUN_CLUSTER_DOWN=1``.

Fixtures:
  ``kube_cluster``   (session)  a KubeCluster: ``.kubeconfig``, ``.bin_dir``, ``.kubectl()``
  ``kube_namespace`` (function) a fresh, uniquely named namespace, deleted after the test

Make a pod fail (for failure paths): label it
``pod-container-running-failed.stage.kwok.x-k8s.io: "true"``; kwok then moves it from Running to
Failed with exit code 1 (annotation ``pod-container-running-failed.stage.kwok.x-k8s.io/exit-code``
overrides the code). See e2e/README.md.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.waiting import poll_until

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO_ROOT / "e2e" / "cluster.sh"

# A cold build of the control plane takes a while on two cores; `up` itself takes seconds.
UP_TIMEOUT_S = float(os.environ.get("PERFRUN_CLUSTER_UP_TIMEOUT", "3600"))

FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
FAIL_EXIT_CODE_ANNOTATION = "pod-container-running-failed.stage.kwok.x-k8s.io/exit-code"


def run_cluster_sh(*args: str, timeout: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``e2e/cluster.sh`` with ``args``; raise with its output if it fails."""
    proc = subprocess.run(
        ["bash", str(CLUSTER_SH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"e2e/cluster.sh {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass(frozen=True)
class KubeCluster:
    """Handle on the running local cluster."""

    kubeconfig: Path
    bin_dir: Path
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def audit_log(self) -> Path:
        """The API server's audit log of every write (e2e/cluster.sh writes it next to the
        kubeconfig, under logs/)."""
        return self.kubeconfig.parent / "logs" / "audit.log"

    @property
    def env(self) -> dict[str, str]:
        """An environment for subprocesses: KUBECONFIG set, the cluster's binaries first on PATH."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster. With ``check`` a non-zero exit raises AssertionError
        carrying stdout and stderr (so the apiserver's message shows in the test report)."""
        cmd = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed (exit {proc.returncode}):\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def get_json(self, *args: str) -> dict[str, Any]:
        """``kubectl get ARGS -o json`` parsed."""
        out = self.kubectl("get", *args, "-o", "json").stdout
        data: dict[str, Any] = json.loads(out)
        return data

    def exists(self, *args: str) -> bool:
        """Whether ``kubectl get ARGS`` finds the object (False on NotFound)."""
        proc = self.kubectl("get", *args, "-o", "name", check=False)
        if proc.returncode == 0:
            return True
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return False
        raise AssertionError(f"kubectl get {' '.join(args)} failed: {proc.stderr}")

    def apply(self, manifest: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Server-side apply a YAML/JSON manifest given as text."""
        return self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=perfrun-tests",
            "-f",
            "-",
            *args,
            input=manifest,
        )

    def condition(self, obj: dict[str, Any], cond_type: str) -> str | None:
        """The status of condition ``cond_type`` on ``obj`` or None."""
        for cond in obj.get("status", {}).get("conditions", []) or []:
            if cond.get("type") == cond_type:
                status: str = cond.get("status", "")
                return status
        return None


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", nodeid.rsplit("::", 1)[-1].lower()).strip("-")
    suffix = secrets.token_hex(3)
    return f"t-{base[: 63 - len(suffix) - 3].rstrip('-')}-{suffix}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the local Kubernetes control plane (e2e/cluster.sh)"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the binaries before any test runs when a collected test needs the cluster.

    A cold build takes ~10 minutes on two cores: done here it is not charged to the first
    test's timeout (pytest-timeout covers fixture set-up). It is instant once built.
    """
    if session.config.option.collectonly:
        return
    if any("kube_cluster" in getattr(item, "fixturenames", ()) for item in session.items):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("cluster tests selected: e2e/cluster.sh build (cached by version)")
        run_cluster_sh("build")


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """Bring the local cluster up once per session (building it if needed)."""
    run_cluster_sh("up")
    kubeconfig = Path(run_cluster_sh("kubeconfig", timeout=60).stdout.strip())
    bin_dir = Path(run_cluster_sh("bin-dir", timeout=60).stdout.strip())
    versions: dict[str, str] = {}
    for line in run_cluster_sh("versions", timeout=60).stdout.splitlines():
        name, _, version = line.partition(" ")
        versions[name] = version.strip()
    yield KubeCluster(kubeconfig=kubeconfig, bin_dir=bin_dir, versions=versions)
    if os.environ.get("PERFRUN_CLUSTER_DOWN") == "1":
        run_cluster_sh("down", timeout=120)


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace (with its default ServiceAccount) for one test; deleted afterwards."""
    name = _namespace_name(request.node.nodeid)
    kube_cluster.kubectl("create", "namespace", name)
    kube_cluster.kubectl("label", "namespace", name, "perfrun.dev/e2e-test=true")
    # Pods are refused until the serviceaccount controller has made `default`.
    poll_until(
        lambda: kube_cluster.exists("-n", name, "serviceaccount", "default"),
        timeout=60,
        what=f"ServiceAccount default in {name}",
    )
    yield name
    # The namespace controller finishes deletion in the background; no need to wait.
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
