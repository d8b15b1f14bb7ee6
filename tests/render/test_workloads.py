"""The application's workloads: Deployments with the connections Secret, probes, and a
Service named like the workload when it has a port."""

from __future__ import annotations

from typing import Any

from tests.render.helpers import by_kind, context, variant

from perfrun.api import PerfRun
from perfrun.render.pods import METRICS_PORT_NAME
from perfrun.render.workloads import workloads


def test_workload_deployments_and_services(full: PerfRun) -> None:
    objs = workloads(full, context(full))
    deployments, services = by_kind(objs, "Deployment"), by_kind(objs, "Service")
    assert set(deployments) == {"api", "worker"}
    assert set(services) == {"api"}  # the worker has no port
    api = deployments["api"]
    assert api["spec"]["replicas"] == 3
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "perfrun.local/shop:1.8.0"
    assert c["command"] == ["/usr/local/bin/shop"] and c["args"] == ["serve"]
    assert {"name": "SHOP_DB_POOL", "value": "20"} in c["env"]
    assert c["envFrom"] == [{"secretRef": {"name": "perfrun-connections"}}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
    ]
    assert services["api"]["spec"]["ports"][0]["port"] == 8080
    assert services["api"]["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    worker = deployments["worker"]
    assert worker["spec"]["replicas"] == 2
    assert "readinessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]
    assert api["spec"]["progressDeadlineSeconds"] == 600  # environment.readyTimeout 10m


def test_load_target_resolves_to_a_service(run: PerfRun) -> None:
    services = by_kind(workloads(run, context(run)), "Service")
    host, _, port = run.spec.load.target.removeprefix("http://").partition(":")
    assert host in services
    assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]]


def _with_metrics(doc: dict[str, Any]) -> None:
    doc["spec"]["environment"]["workloads"][0]["metrics"] = {"port": 9100, "path": "/m"}
    doc["spec"]["environment"]["workloads"][1]["metrics"] = {"port": 9100}


def test_workload_metrics_port_is_a_scrape_target() -> None:
    """The workload's metrics follow the scrape convention the run's Prometheus keeps: the pod
    is annotated, the port is named ``metrics``; the Service still exposes only ``port``."""
    run = variant("perfrun-full.yaml", _with_metrics)
    objs = workloads(run, context(run))
    deployments = by_kind(objs, "Deployment")
    for name, path in (("api", "/m"), ("worker", "/metrics")):
        template = deployments[name]["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            **template["metadata"]["annotations"],
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9100",
            "prometheus.io/path": path,
        }
        (c,) = template["spec"]["containers"]
        assert {"name": METRICS_PORT_NAME, "containerPort": 9100, "protocol": "TCP"} in c["ports"]
    # the user's annotation is kept beside the run's
    api_annotations = deployments["api"]["spec"]["template"]["metadata"]["annotations"]
    assert api_annotations["sidecar.istio.io/inject"] == "false"
    (port,) = by_kind(objs, "Service")["api"]["spec"]["ports"]
    assert port["port"] == 8080


def test_workload_without_metrics_is_not_scraped(full: PerfRun) -> None:
    def no_metrics(doc: dict[str, Any]) -> None:
        for w in doc["spec"]["environment"]["workloads"]:
            w.pop("metrics", None)

    run = variant("perfrun-full.yaml", no_metrics)
    for dep in by_kind(workloads(run, context(run)), "Deployment").values():
        annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
        assert "prometheus.io/scrape" not in annotations
