"""The application's own workloads (the system under test): a Deployment each, with the
connections Secret as environment, and a Service named like the workload when it has a port
(so ``load.target: http://api:8080`` resolves inside the namespace)."""

from __future__ import annotations

from typing import Any

from perfrun.api import PerfRun
from perfrun.api.environment import Workload
from perfrun.render import resources, security
from perfrun.render.apps import deployment, service
from perfrun.render.components import ready_timeout_s
from perfrun.render.connections import env_from
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest
from perfrun.render.pods import metrics_port, pod_template, scrape_annotations

ROLE = "workload"
PORT_NAME = "http"


def readiness_probe(workload: Workload) -> dict[str, Any] | None:
    """HTTP GET readinessPath on the port; a port without a path gets a TCP check."""
    if workload.port is None:
        return None
    if workload.readiness_path:
        check: dict[str, Any] = {"httpGet": {"path": workload.readiness_path, "port": PORT_NAME}}
    else:
        check = {"tcpSocket": {"port": PORT_NAME}}
    return {**check, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3}


def container(run: PerfRun, ctx: RunContext, workload: Workload) -> dict[str, Any]:
    out: dict[str, Any] = {"name": workload.name, "image": workload.image}
    if workload.command is not None:
        out["command"] = list(workload.command)
    if workload.args:
        out["args"] = list(workload.args)
    out["env"] = [
        {"name": "PERFRUN_RUN_ID", "value": ctx.run_id},
        *({"name": e.name, "value": e.value} for e in workload.env),
    ]
    out["envFrom"] = env_from()
    ports: list[dict[str, Any]] = []
    if workload.port is not None:
        ports.append({"name": PORT_NAME, "containerPort": workload.port, "protocol": "TCP"})
    if workload.metrics is not None:
        ports.append(metrics_port(workload.metrics.port))
    if ports:
        out["ports"] = ports
    probe = readiness_probe(workload)
    if probe is not None:
        out["readinessProbe"] = probe
    out["resources"] = resources.container_resources(workload.resources, resources.SMALL)
    out["securityContext"] = security.unknown_user(run.spec.environment.pod_security)
    return out


def workload_objects(run: PerfRun, ctx: RunContext, workload: Workload) -> list[Manifest]:
    template = pod_template(
        ctx,
        workload.name,
        ROLE,
        [container(run, ctx, workload)],
        security=security.pod_security(),
        annotations=(
            scrape_annotations(workload.metrics.port, workload.metrics.path)
            if workload.metrics is not None
            else None
        ),
        extra=workload.pod_metadata,
    )
    out: list[Manifest] = []
    if workload.port is not None:
        out.append(service(ctx, workload.name, workload.name, ROLE, [(PORT_NAME, workload.port)]))
    out.append(
        deployment(
            ctx,
            workload.name,
            ROLE,
            workload.replicas,
            template,
            progress_deadline_s=ready_timeout_s(run),
        )
    )
    return out


def workloads(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    return [m for w in run.spec.environment.workloads for m in workload_objects(run, ctx, w)]
