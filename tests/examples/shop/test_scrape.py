"""A workload's ``metrics: {port, path}`` through the run's own Prometheus config: a real
Prometheus runs the rendered scrape job's relabelling over the targets Kubernetes pod
discovery would hand it for the rendered api pod (one per container port, with the pod's
labels and annotations as ``__meta_kubernetes_pod_*``), keeps only the metrics port and
scrapes the running shop there."""

from __future__ import annotations

import copy
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from tests.examples.shop.conftest import Shop, example
from tests.render.helpers import by_kind, context, make_run
from tests.support.prometheus import launch_prometheus
from tests.support.waiting import poll_until

from perfrun.render import prometheus as run_prometheus
from perfrun.render.workloads import workloads

pytestmark = pytest.mark.services

META = "__meta_kubernetes_"


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered(namespace: str, pod: str, template: dict[str, Any]) -> list[dict[str, Any]]:
    """What role: pod discovery yields for a running pod of ``template`` on 127.0.0.1: one
    target per container port (Prometheus' documented meta labels)."""
    meta = template["metadata"]
    common = {
        f"{META}namespace": namespace,
        f"{META}pod_name": pod,
        f"{META}pod_phase": "Running",
        **{f"{META}pod_label_{_sanitize(k)}": v for k, v in meta.get("labels", {}).items()},
        **{
            f"{META}pod_annotation_{_sanitize(k)}": v
            for k, v in meta.get("annotations", {}).items()
        },
    }
    out = []
    for c in template["spec"]["containers"]:
        for port in c.get("ports", []):
            labels = {
                **common,
                f"{META}pod_container_name": c["name"],
                f"{META}pod_container_port_name": port["name"],
                f"{META}pod_container_port_number": str(port["containerPort"]),
            }
            out.append({"targets": [f"127.0.0.1:{port['containerPort']}"], "labels": labels})
    return out


def test_the_run_prometheus_scrapes_a_workload_metrics_port(
    start_shop: Callable[..., Shop], tmp_path: Path
) -> None:
    shop = start_shop(worker=False)
    assert shop.api.port is not None
    doc = copy.deepcopy(example())
    api = doc["spec"]["environment"]["workloads"][0]
    api.update(port=shop.api.port, metrics={"port": shop.api.metrics_port, "path": "/metrics"})
    doc["spec"]["load"]["target"] = f"http://api:{shop.api.port}"
    run = make_run(doc)
    ctx = context(run)
    template = by_kind(workloads(run, ctx), "Deployment")["api"]["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert ports == {"http": shop.api.port, "metrics": shop.api.metrics_port}

    # the rendered job, with file-based discovery standing in for the API server's
    (job,) = run_prometheus.config(ctx)["scrape_configs"]
    server = launch_prometheus(tmp_path / "prom")
    try:
        sd = tmp_path / "prom" / "pods.json"
        sd.write_text(json.dumps(discovered(ctx.namespace, "api-0", template)))
        job = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
        job["file_sd_configs"] = [{"files": [str(sd)], "refresh_interval": "1s"}]
        job["scrape_interval"] = "1s"
        config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}
        (tmp_path / "prom" / "prometheus.yml").write_text(yaml.safe_dump(config))
        server.proc.send_signal(signal.SIGHUP)  # reload the config

        requests.get(f"{shop.api.url}/accounts/1/dashboard", timeout=10).raise_for_status()
        series = 'app_http_request_duration_seconds_count{route="/accounts/{account}/dashboard"}'
        found = poll_until(
            lambda: server.query(series), timeout=60, interval=0.5, what="the shop's series"
        )
        (sample,) = found
        labels = sample["metric"]
        assert labels["job"] == "perfrun-pods"
        assert labels["instance"] == f"127.0.0.1:{shop.api.metrics_port}"
        assert (labels["namespace"], labels["pod"], labels["container"]) == (
            ctx.namespace,
            "api-0",
            "api",
        )
        assert (labels["component"], labels["role"]) == ("api", "workload")
        targets = requests.get(f"{server.url}/api/v1/targets", timeout=5).json()["data"]
        active = [t["labels"]["instance"] for t in targets["activeTargets"]]
        assert active == [f"127.0.0.1:{shop.api.metrics_port}"]  # not the http port
        assert targets["activeTargets"][0]["health"] == "up"
        assert len(targets["droppedTargets"]) == 1
    finally:
        server.stop()
