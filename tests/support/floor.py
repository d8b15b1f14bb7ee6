"""The floor under any operator (issue 18): N minimal runs' environments written straight to
the API server, as fast as the operator's own write path can write them, timed until their
workloads are ready -- with no operator reading, deciding or writing status.

Each run's namespace and objects are rendered by the operator's own renderers and written
by its own client in its own waves (``controller/waves.py``) from as many threads as the
operator has handlers, all N runs at once: what is left of apply -> EnvironmentReady is the
cluster's work (the API server, etcd, the controllers, the scheduler, kwok) on this
machine. ``bench/operator_scale.py`` measures it in the same run as the operator, so the
operator's figure is read as a ratio to it (the machine is shared and noisy)."""

from __future__ import annotations

import functools
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.support.cluster import KubeCluster
from tests.support.scale import ensure_kwok_capacity, run_doc

from perfrun.api.perfrun import PerfRun
from perfrun.controller.apiserver import api_server_endpoints
from perfrun.controller.reconcile import context_for
from perfrun.controller.settings import OperatorSettings
from perfrun.controller.waves import Waves, apply_in_waves
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.informer import Informer
from perfrun.render import namespace as render_namespace
from perfrun.render.all import environment, readiness_targets
from perfrun.render.context import LABEL_PERFRUN_NAMESPACE, LABEL_RUN

POLL_S = 0.5


@dataclass
class Floor:
    n: int
    threads: int
    ready_s: list[float] = field(default_factory=list)  # per run: asked for -> all ready
    not_ready: int = 0  # runs not ready within the timeout
    written_s: float = 0.0  # asked for -> the last run's writes done


def _rendered(
    kube: Kube, n: int, group: str
) -> list[tuple[dict[str, Any], list[dict[str, Any]], int]]:
    """(namespace, environment, Deployments to wait for) of N minimal runs, rendered as the
    operator renders them for PerfRuns in namespace ``group`` (a minimal run's workloads are
    all Deployments)."""
    settings, api_server = OperatorSettings.from_env(), api_server_endpoints(kube)
    out = []
    for i in range(n):
        doc = run_doc(f"floor-{i:03d}", 20)
        doc["metadata"].update(namespace=group, uid=str(uuid.uuid4()))
        run = PerfRun.model_validate(doc)
        ctx = context_for(doc, settings, api_server)
        env = environment(run, ctx)
        deployments = sum(kind == "Deployment" for kind, _ in readiness_targets(env))
        out.append((render_namespace.namespace(run, ctx), env, deployments))
    return out


def _create(kube: Kube, manifest: dict[str, Any]) -> None:
    kube.create(manifest)


def _ready_runs(deployments: Informer) -> dict[str, int]:
    """Ready Deployments by run id."""
    ready: dict[str, int] = {}
    for d in deployments.items():
        spec, status = d.get("spec") or {}, d.get("status") or {}
        if (status.get("readyReplicas") or 0) >= (spec.get("replicas") or 1):
            run_id = d["metadata"]["labels"][LABEL_RUN]
            ready[run_id] = ready.get(run_id, 0) + 1
    return ready


def measure_floor(cluster: KubeCluster, n: int, timeout: float = 600.0) -> Floor:
    """Write N runs' environments at once; wait for each run's workloads to be ready (a
    watch, as the operator reads); delete the namespaces and wait until they are gone, so
    the next measurement starts clean. Each run's time is from when all N were asked for."""
    threads = OperatorSettings.from_env().workers
    kube = Kube(load_api_client(str(cluster.kubeconfig), 2 * threads))
    group = f"floor-{secrets.token_hex(3)}"
    selector = f"{LABEL_PERFRUN_NAMESPACE}={group}"
    runs = _rendered(kube, n, group)
    extra_nodes = ensure_kwok_capacity(cluster, n)
    deployments = Informer(kube, "apps/v1", "Deployment", selector).start()
    deployments.synced.wait(60)
    floor = Floor(n=n, threads=threads)
    pool, waves = ThreadPoolExecutor(threads), Waves(threads)
    written: list[float] = []

    def write(namespace: dict[str, Any], env: list[dict[str, Any]]) -> None:
        kube.create(namespace)
        apply_in_waves(env, functools.partial(_create, kube), waves)
        written.append(time.monotonic())

    wanted = {ns["metadata"]["labels"][LABEL_RUN]: count for ns, _, count in runs}
    t0 = time.monotonic()
    try:
        futures = [pool.submit(write, ns, env) for ns, env, _ in runs]
        ready_at: dict[str, float] = {}
        while len(ready_at) < n and time.monotonic() < t0 + timeout:
            now = time.monotonic()
            for run_id, count in _ready_runs(deployments).items():
                if run_id not in ready_at and count >= wanted[run_id]:
                    ready_at[run_id] = now - t0
            time.sleep(POLL_S)
        for f in futures:
            f.result()
        floor.written_s = max(written, default=t0) - t0
        floor.ready_s = sorted(ready_at.values())
        floor.not_ready = n - len(ready_at)
    finally:
        deployments.stop()
        pool.shutdown(wait=True)
        waves.shutdown()
        for ns, _, _ in runs:
            kube.delete("v1", "Namespace", ns["metadata"]["name"])
        gone_by = time.monotonic() + timeout
        while time.monotonic() < gone_by and kube.list("v1", "Namespace", label_selector=selector):
            time.sleep(1.0)
        for node in extra_nodes:
            cluster.kubectl("delete", "node", node, "--wait=false", check=False)
    return floor
