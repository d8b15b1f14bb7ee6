"""pytest plugin: fixtures for tests on the local cluster's real node
(``e2e/cluster.sh up --with-node``): containerd 2 + runc, kubelet, kube-proxy, CoreDNS and
kube-network-policies in a network
namespace of their own. Mark such tests ``node`` (and ``cluster``). The node is brought up once
per session (building it and the images first when needed); it is never skipped.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.cluster import REPO_ROOT, KubeCluster, poll_until, run_cluster_sh
from tests.support.operator import OperatorProcess

IMAGES_SH = REPO_ROOT / "e2e" / "images.sh"


@dataclass(frozen=True)
class RealNode:
    """The running real node: its facts (``cluster.sh node-env``), the images it imported and
    the operator settings that put run pods on it with those images."""

    cluster: KubeCluster
    facts: dict[str, str]
    images: dict[str, str]
    operator_env: dict[str, str]

    @property
    def name(self) -> str:
        return self.facts["NODE_NAME"]

    def nsx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the node's network namespace."""
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.facts['NODE_NETNS']}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def ctr(self, *args: str) -> str:
        """``ctr -n k8s.io ARGS`` against the node's containerd; stdout."""
        proc = subprocess.run(
            [self.facts["CTR"], "--address", self.facts["CONTAINERD_SOCK"], "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return proc.stdout

    def placement(self) -> dict[str, Any]:
        """The pod spec fields that put a pod on this node."""
        return {
            "nodeSelector": json.loads(self.facts["NODE_SELECTOR"]),
            "tolerations": json.loads(self.facts["NODE_TOLERATIONS"]),
        }

    def pod(
        self, name: str, image: str, command: list[str], labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {
                **self.placement(),
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}
                ],
            },
        }

    def run_pod(self, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create a pod and wait until it is Ready; its status."""
        self.cluster.apply(json.dumps(manifest), "-n", ns)
        name = manifest["metadata"]["name"]
        self.cluster.kubectl(
            "wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=120s", timeout=130
        )
        return self.cluster.get_json("pod", name, "-n", ns)


def _api_server_endpoints(cluster: KubeCluster) -> tuple[str, str]:
    """The `kubernetes` Service's real endpoint addresses and ports (what pods reach after
    kube-proxy's DNAT), as PERFRUN_API_SERVER_CIDRS / _PORTS values."""
    slices = cluster.get_json(
        "endpointslice", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes"
    )["items"]
    cidrs = sorted({f"{a}/32" for s in slices for e in s["endpoints"] for a in e["addresses"]})
    ports = sorted({str(p["port"]) for s in slices for p in s["ports"]})
    assert cidrs and ports, f"no endpoints for the kubernetes Service: {slices}"
    return ",".join(cidrs), ",".join(ports)


def _operator_env(cluster: KubeCluster, node_facts: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(IMAGES_SH), "operator-env"], capture_output=True, text=True, check=True
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            words = words[1:]
        for word in words:
            key, sep, value = word.partition("=")
            if sep:
                env[key] = value
    env["PERFRUN_NODE_SELECTOR"] = node_facts["NODE_SELECTOR"]
    env["PERFRUN_TOLERATIONS"] = node_facts["NODE_TOLERATIONS"]
    env["PERFRUN_API_SERVER_CIDRS"], env["PERFRUN_API_SERVER_PORTS"] = _api_server_endpoints(
        cluster
    )
    return env


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the images before any test runs when a collected test needs the real node: a
    cold ``e2e/images.sh build`` takes minutes, which would otherwise be charged to the first
    node test's timeout. Instant when nothing changed."""
    if session.config.option.collectonly:
        return
    if any("real_node" in getattr(item, "fixturenames", ()) for item in session.items):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("node tests selected: e2e/images.sh build (cached by inputs)")
        proc = subprocess.run(
            ["bash", str(IMAGES_SH), "build"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"e2e/images.sh build failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def real_node(kube_cluster: KubeCluster) -> RealNode:
    """``e2e/cluster.sh up --with-node`` once per session (a no-op when it runs)."""
    run_cluster_sh("up", "--with-node")
    facts = dict(
        line.split("=", 1)
        for line in run_cluster_sh("node-env", timeout=60).stdout.splitlines()
        if "=" in line
    )
    images: dict[str, str] = {}
    for line in Path(facts["IMAGES_TSV"]).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            images[parts[0]] = parts[1]
    node = RealNode(kube_cluster, facts, images, _operator_env(kube_cluster, facts))

    def ready() -> bool:
        obj = kube_cluster.get_json("node", node.name)
        return any(
            c["type"] == "Ready" and c["status"] == "True" for c in obj["status"]["conditions"]
        )

    poll_until(ready, timeout=120, what=f"node {node.name} Ready")
    return node


@pytest.fixture
def node_operator(
    real_node: RealNode, kube_namespace: str, perfrun_crds: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator for this test's namespace whose run pods go to the real node, with the
    local images (``e2e/images.sh operator-env``)."""
    op = OperatorProcess(
        real_node.cluster, kube_namespace, tmp_path / "operator.log", env=real_node.operator_env
    )
    op.start()
    yield op
    real_node.cluster.kubectl(
        "delete", "perfrun", "--all", "-n", kube_namespace, "--timeout=180s", check=False
    )
    op.stop()
