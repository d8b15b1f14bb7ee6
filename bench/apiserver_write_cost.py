"""The API server's CPU per write, by kind, on the local control plane (issue 18): what one
more write per run costs at N=200 depends on what it writes. The peer in the same run is a
server-side apply of a new ConfigMap; the PerfRun's own writes (create, a status patch, a
metadata patch) are measured against the real CRD, and against copies of it without its CEL
rules and without its CEL rules and defaults, to show where a PerfRun write's cost lies.

    .venv/bin/python bench/apiserver_write_cost.py [--writes 300] [--threads 16]

CPU is the kube-apiserver's and etcd's user+system time (/proc) around each batch, so every
other process on the machine adds noise: run it on a quiet machine, compare the ratios.
Only the local cluster is contacted; the scratch namespace and CRD copies are deleted.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.operator_scale import cluster as local_cluster
from tests.support.perfruns import minimal
from tests.support.scale import cluster_cpu, cpu_spent

REPO_ROOT = Path(__file__).resolve().parents[1]
CRD = REPO_ROOT / "crds" / "perfrun.dev_perfruns.yaml"
VERSION = "v1alpha1"
# CRD copies: group -> the schema keys removed from the real CRD
VARIANTS = {
    "perfrun.dev": (),
    "nocel.bench.perfrun.dev": ("x-kubernetes-validations",),
    "nocel-nodefault.bench.perfrun.dev": ("x-kubernetes-validations", "default"),
}


def without(doc: Any, key: str) -> None:
    if isinstance(doc, dict):
        doc.pop(key, None)
        for value in doc.values():
            without(value, key)
    elif isinstance(doc, list):
        for value in doc:
            without(value, key)


def crd_copy(group: str, removed: tuple[str, ...]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(CRD.read_text())
    doc["spec"]["group"] = group
    doc["metadata"] = {"name": f"perfruns.{group}"}
    for key in removed:
        without(doc, key)
    return doc


class Bench:
    def __init__(self, api: client.ApiClient, ns: str, writes: int, threads: int) -> None:
        self.core, self.custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        self.ns, self.writes, self.threads = ns, writes, threads
        self.dynamic = dynamic.DynamicClient(api)
        self.configmaps = self.dynamic.resources.get(api_version="v1", kind="ConfigMap")
        self.deployments = self.dynamic.resources.get(api_version="apps/v1", kind="Deployment")

    def measure(self, what: str, write: Callable[[int], object]) -> float:
        """API server CPU milliseconds per write of ``writes`` writes from ``threads``."""
        before, started = cluster_cpu(), time.monotonic()
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(write, range(self.writes)))
        spent, wall = cpu_spent(cluster_cpu(), before), time.monotonic() - started
        per = spent.get("kube-apiserver", 0.0) * 1000 / self.writes
        etcd = spent.get("etcd", 0.0) * 1000 / self.writes
        print(
            f"  {what:44s} {per:6.2f} ms API server, {etcd:5.2f} ms etcd per write "
            f"({self.writes} in {wall:.1f} s)",
            flush=True,
        )
        return per

    def configmap_body(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.ns, "labels": {"perfrun.dev/run": "x"}},
            "data": {"k": "v" * 200},
        }

    def configmap(self, i: int) -> object:
        return self.dynamic.server_side_apply(
            self.configmaps, body=self.configmap_body(f"c{i}"), namespace=self.ns,
            field_manager="bench", force_conflicts=True, _preload_content=False,
        )  # fmt: skip

    def configmap_created(self, i: int) -> object:
        return self.configmaps.create(
            body=self.configmap_body(f"p{i}"), namespace=self.ns, field_manager="bench",
            _preload_content=False,
        )  # fmt: skip

    def deployment(self, i: int, prefix: str) -> dict[str, Any]:
        """A run's workload as the renderer writes it, scaled to 0 (no pods: only the write
        and the Deployment controller's answer to it are measured)."""
        labels = {"app.kubernetes.io/name": f"{prefix}{i}", "perfrun.dev/run": "x"}
        container = {
            "name": "app",
            "image": "nginx:1.27",
            "ports": [{"containerPort": 80, "name": "http"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{prefix}{i}", "namespace": self.ns, "labels": labels},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        }

    def deployment_applied(self, i: int) -> object:
        return self.dynamic.server_side_apply(
            self.deployments, body=self.deployment(i, "a"), namespace=self.ns,
            field_manager="bench", force_conflicts=True, _preload_content=False,
        )  # fmt: skip

    def deployment_created(self, i: int) -> object:
        return self.deployments.create(
            body=self.deployment(i, "c"), namespace=self.ns, field_manager="bench",
            _preload_content=False,
        )  # fmt: skip

    def event(self, i: int) -> object:
        body = {
            "metadata": {"name": f"e{i}"},
            "involvedObject": {"kind": "ConfigMap", "name": "c0", "namespace": self.ns},
            "reason": "Bench",
            "message": "a run's event " * 4,
            "type": "Normal",
            "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "count": 1,
        }
        return self.core.create_namespaced_event(self.ns, body, _preload_content=False)

    def perfrun_writes(self, group: str) -> dict[str, float]:
        def create(i: int) -> object:
            doc = minimal(f"r{i}")
            doc["apiVersion"] = f"{group}/{VERSION}"
            return self.custom.create_namespaced_custom_object(
                group, VERSION, self.ns, "perfruns", doc, _preload_content=False
            )

        def status(i: int) -> object:
            patch = {"status": {"phase": "Loading", "message": f"{i} {time.time()}"}}
            return self.custom.patch_namespaced_custom_object_status(
                group, VERSION, self.ns, "perfruns", f"r{i}", patch, _preload_content=False
            )

        def metadata(i: int) -> object:
            patch = {"metadata": {"annotations": {"bench": f"{time.time()}"}}}
            return self.custom.patch_namespaced_custom_object(
                group, VERSION, self.ns, "perfruns", f"r{i}", patch, _preload_content=False
            )

        return {
            "create": self.measure(f"{group}: create PerfRun", create),
            "status": self.measure(f"{group}: merge-patch status", status),
            "metadata": self.measure(f"{group}: merge-patch an annotation", metadata),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    kube = local_cluster()
    copies = [crd_copy(g, removed) for g, removed in VARIANTS.items() if removed]
    kube.apply("\n---\n".join(yaml.safe_dump(d) for d in copies))
    names = [f"crd/{d['metadata']['name']}" for d in copies]
    kube.kubectl("wait", "--for=condition=Established", *names, "--timeout=60s")
    api = config.new_client_from_config(config_file=str(kube.kubeconfig))
    api.configuration.connection_pool_maxsize = args.threads * 2
    ns = f"bench-write-cost-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", ns)
    bench = Bench(api, ns, args.writes, args.threads)
    try:
        print(f"{args.writes} writes of each kind, {args.threads} at a time")
        peer = bench.measure("server-side apply, new ConfigMap (the peer)", bench.configmap)
        bench.measure("server-side apply, the same ConfigMap again", bench.configmap)
        created = bench.measure("create (POST), new ConfigMap", bench.configmap_created)
        applied = bench.measure("server-side apply, new Deployment", bench.deployment_applied)
        posted = bench.measure("create (POST), new Deployment", bench.deployment_created)
        print(
            f"  create over server-side apply of a new object: ConfigMap "
            f"{created / max(peer, 1e-9):.2f}x, Deployment {posted / max(applied, 1e-9):.2f}x"
        )
        bench.measure("create Event", bench.event)
        costs = {group: bench.perfrun_writes(group) for group in VARIANTS}
        print("ratios to the peer (a new ConfigMap, server-side apply):")
        for group, by_kind in costs.items():
            print(
                f"  {group:36s} "
                + ", ".join(f"{k} {v / max(peer, 1e-9):.1f}x" for k, v in by_kind.items())
            )
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        kube.kubectl("delete", *names, "--wait=false", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
