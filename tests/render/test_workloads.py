"""The application's workloads: Deployments with the connections Secret, probes, and a
Service named like the workload when it has a port."""

from __future__ import annotations

from tests.render.helpers import by_kind, context

from perfrun.api import PerfRun
from perfrun.render.workloads import workloads


def test_workload_deployments_and_services(full: PerfRun) -> None:
    objs = workloads(full, context(full))
    deployments, services = by_kind(objs, "Deployment"), by_kind(objs, "Service")
    assert set(deployments) == {"api", "worker"}
    assert set(services) == {"api"}  # the worker has no port
    api = deployments["api"]
    assert api["spec"]["replicas"] == 3
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "ghcr.io/acme/shop:1.8.0"
    assert c["command"] == ["/app/shop"] and c["args"] == ["serve"]
    assert {"name": "LOG_LEVEL", "value": "info"} in c["env"]
    assert c["envFrom"] == [{"secretRef": {"name": "perfrun-connections"}}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
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
