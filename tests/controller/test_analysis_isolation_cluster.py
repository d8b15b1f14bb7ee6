"""A Prometheus that never answers delays only its own run (issue 18). One run's Prometheus
is a real socket that accepts connections and never replies; three other runs query a real
Prometheus. The operator has ONE handler thread (PERFRUN_WORKERS=1): an analysis run inside
the tick would hold it for the dead Prometheus's timeouts and retries (a minute), and every
other run's verdict would wait for it. The healthy runs' verdicts come within a couple of
reconcile intervals of their load's end, while the dead one is still being queried."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.prometheus import PrometheusServer
from tests.support.scale import _condition_time, run_doc
from tests.support.waiting import host_ip

pytestmark = pytest.mark.cluster

INTERVAL_S = 1
# LoadCompleted -> Finished of a healthy run: the tick that starts its analysis (one
# interval), the analysis of a real Prometheus (~1 s), the tick that sees it done (one
# interval), the timestamps' 1 s resolution, and slack for a loaded machine. The dead
# Prometheus holds its analysis for its timeouts and retries: far longer.
HEALTHY_VERDICT_S = 4 * INTERVAL_S + 4


@pytest.fixture
def silent_prometheus() -> Iterator[str]:
    """http://HOST:PORT of a socket that accepts and never answers (nor closes)."""
    server = socket.socket()
    server.bind((host_ip(), 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)  # never read from, never written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://{host_ip()}:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def _run(name: str, url: str, load_s: int) -> dict[str, Any]:
    doc = run_doc(name, load_s)
    doc["spec"]["analysis"]["prometheus"] = {"embedded": False, "url": url}
    return doc


@pytest.mark.timeout(420)
def test_a_prometheus_that_never_answers_delays_only_its_own_run(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_crds: None,
    host_prometheus: PrometheusServer,
    silent_prometheus: str,
    tmp_path: Path,
) -> None:
    op = OperatorProcess(
        kube_cluster, kube_namespace, tmp_path / "operator.log",
        env={
            "PERFRUN_WORKERS": "1",
            "PERFRUN_RECONCILE_INTERVAL": str(INTERVAL_S),
            "PERFRUN_POLICY_PROMETHEUS_URLS": f"{silent_prometheus},{host_prometheus.url}",
        },
    )  # fmt: skip
    op.start()
    try:
        # the silent run's load ends first, so its analysis is running while theirs run
        docs = [_run("silent", silent_prometheus, 3)]
        docs += [_run(f"healthy-{i}", host_prometheus.url, 12) for i in range(3)]
        kube_cluster.apply("\n---\n".join(yaml.safe_dump(d) for d in docs), "-n", kube_namespace)
        objs = _wait(kube_cluster, kube_namespace, _healthy_done, 300, op)
        silent = objs["silent"]
        silent_phase = (silent.get("status") or {}).get("phase")
        assert silent_phase == "Analyzing", (silent.get("status"), op.logs())
        for name in (n for n in objs if n.startswith("healthy-")):
            obj = objs[name]
            loaded = _condition_time(obj, "LoadCompleted")
            finished = _condition_time(obj, "Finished")
            assert loaded and finished, (obj.get("status"), op.logs())
            took = finished - loaded
            print(f"{name}: load end -> verdict {took:.0f}s ({obj['status'].get('verdict')})")
            assert took <= HEALTHY_VERDICT_S, (name, took, obj.get("status"), op.logs())
        # and the silent run gets its verdict in the end, from its own analysis
        objs = _wait(kube_cluster, kube_namespace, lambda o: _finished(o.get("silent")), 240, op)
        status = objs["silent"]["status"]
        assert status.get("verdict") == "Inconclusive", status
    finally:
        kube_cluster.kubectl(
            "delete", "perfrun", "--all", "-n", kube_namespace, "--timeout=120s", check=False
        )
        op.stop()


def _finished(obj: dict[str, Any] | None) -> bool:
    return obj is not None and _condition_time(obj, "Finished") is not None


def _healthy_done(objs: dict[str, dict[str, Any]]) -> bool:
    healthy = [o for n, o in objs.items() if n.startswith("healthy-")]
    return len(healthy) == 3 and all(_finished(o) for o in healthy)


def _wait(
    cluster: KubeCluster, ns: str, done: Any, timeout: float, op: OperatorProcess
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        out = cluster.kubectl("get", "perfrun", "-n", ns, "-o", "yaml").stdout
        objs = {o["metadata"]["name"]: o for o in yaml.safe_load(out)["items"]}
        if done(objs):
            return objs
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out: {[o.get('status') for o in objs.values()]}\n{op.logs()}"
            )
        time.sleep(1.0)
