"""status.load while the load runs, end to end: the real operator, the real API server, and
the real `perfrun load` program. kwok cannot run the load pod's container, so the test runs
the program on this machine as the rendered Job would (its args, its environment, its config
read back from the run's ConfigMap) while kwok holds the pod Running; then it lets the pod
complete and the run finishes with the program's own summary and final counts.

The one change: the target. In a cluster ``http://api:80`` is the workload's Service; here a
server on 127.0.0.1 stands in for it (the spec must name a workload: preflight refuses
anything else)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.loadpods import KWOK_COMPLETE_DELAY, host_command
from tests.support.loadservers import TestServer
from tests.support.operator import OperatorProcess
from tests.support.perfruns import minimal, perfrun, wait_finished
from tests.support.waiting import poll_until

pytestmark = [pytest.mark.cluster, pytest.mark.services]


def test_status_load_follows_the_load_pods_progress_and_keeps_their_final_counts(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
    test_server: TestServer,
    tmp_path: Path,
) -> None:
    test_server.behaviour.latency = lambda k: 0.002
    test_server.behaviour.status = lambda k, now: 500 if k % 20 == 0 else 200
    doc = minimal("e2e-progress")
    load = doc["spec"]["load"]
    load["ramp"] = {"steps": [{"rate": 20, "hold": "4s"}, {"rate": 40, "hold": "4s"}]}
    load["budget"] = {"maxRps": 100, "maxInFlight": 8, "maxDuration": "1m"}
    # kwok would complete the load pod at once; hold it Running until the program is done
    load["podMetadata"] = {"annotations": {KWOK_COMPLETE_DELAY: "10m"}}
    name = doc["metadata"]["name"]
    kube_cluster.apply(yaml.safe_dump(doc), "-n", kube_namespace)

    def loading() -> dict[str, Any] | None:
        obj = perfrun(kube_cluster, kube_namespace, name)
        phase = obj.get("status", {}).get("phase")
        assert phase in (None, "Pending", "Provisioning", "Restoring", "Loading"), obj["status"]
        return obj if phase == "Loading" else None

    obj = poll_until(loading, timeout=120, what=f"{name} Loading")
    run_ns = obj["status"]["namespace"]
    command, env, summary_path = host_command(kube_cluster, run_ns, tmp_path, test_server.url)
    log = (tmp_path / "load.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    seen: list[tuple[dict[str, Any], str]] = []
    try:
        while proc.poll() is None:
            status = perfrun(kube_cluster, kube_namespace, name)["status"]
            assert status["phase"] == "Loading", status  # kwok holds the pod: still loading
            if status.get("load") and (not seen or seen[-1][0] != status["load"]):
                seen.append((status["load"], status["message"]))
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == 0, (tmp_path / "load.log").read_text()[-3000:]
    summary = yaml.safe_load(summary_path.read_text())

    # the progress moved through status while the load ran
    assert len(seen) >= 4, seen
    loads = [s for s, _ in seen]
    assert [s["requests"] for s in loads] == sorted(s["requests"] for s in loads)
    assert all(s["pods"] == 1 and s["steps"] == 2 for s in loads)
    by_step = {s["step"]: s for s in loads if s["targetRps"]}
    assert by_step[1]["targetRps"] == 20 and by_step[2]["targetRps"] == 40, loads
    assert any(s["achievedRps"] > 0 and s["step"] == 2 for s in loads), loads
    assert any("step 2/2" in m and "(1 pod)" in m for _, m in seen), seen

    # let kwok complete the pod: the Job completes and the run finishes with the final counts
    pod = kube_cluster.get_json("pods", "-n", run_ns, "-l", "job-name=load")["items"][0]
    kube_cluster.kubectl(
        "annotate",
        "-n",
        run_ns,
        "pod",
        pod["metadata"]["name"],
        "--overwrite",
        f"{KWOK_COMPLETE_DELAY}=0s",
    )
    obj = wait_finished(kube_cluster, kube_namespace, name, timeout=120)
    final = obj["status"]["load"]
    assert final["requests"] == summary["requests"] > 200
    assert final["errors"] == summary["failed"] > 0
    assert final["inFlight"] == 0 and final["targetRps"] == 0
    assert obj["status"]["results"]["requests"] == summary["requests"]
    assert test_server.snapshot()  # the requests really reached the server
    assert len(test_server.snapshot()) == summary["attempts"]
