"""PerfRun documents and status readers shared by the operator's end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import KubeCluster

EXAMPLES = Path(__file__).parents[2] / "examples"
# kwok stages (e2e/kwok-stages.yaml) that stand in for what a real node would do
FAIL = "pod-container-running-failed.stage.kwok.x-k8s.io"
IMAGE_PULL_BACKOFF = "pod-image-pull-backoff.stage.kwok.x-k8s.io"
NEVER_READY = "pod-running-unready.stage.kwok.x-k8s.io"


def example(file: str, name: str, **ttl: str) -> dict[str, Any]:
    """An example PerfRun renamed, with a TTL that keeps its namespace for the test."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / file).read_text())
    doc["metadata"]["name"] = name
    doc["spec"]["ttl"] = {"afterFinished": "10m", "keepOnFailure": "10m", **ttl}
    return doc


def minimal(name: str, **ttl: str) -> dict[str, Any]:
    return example("perfrun-minimal.yaml", name, **ttl)


def pod_labels(section: dict[str, Any], *labels: str) -> None:
    """Put kwok stage labels on the pods of a workload, migrations or load section."""
    section.setdefault("podMetadata", {}).setdefault("labels", {}).update(
        dict.fromkeys(labels, "true")
    )


def perfrun(cluster: KubeCluster, ns: str, name: str) -> dict[str, Any]:
    return cluster.get_json("perfrun", name, "-n", ns)


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def run_namespaces(cluster: KubeCluster, name: str) -> list[dict[str, Any]]:
    items = cluster.get_json("namespaces", "-l", f"perfrun.dev/perfrun={name}")["items"]
    return list(items)


def wait_finished(cluster: KubeCluster, ns: str, name: str, timeout: int = 240) -> dict[str, Any]:
    """`kubectl wait --for=condition=Finished`, exactly as a user or a pipeline would."""
    cluster.kubectl(
        "wait",
        "--for=condition=Finished",
        f"perfrun/{name}",
        "-n",
        ns,
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )
    return perfrun(cluster, ns, name)
