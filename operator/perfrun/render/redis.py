"""A Redis component: a one-replica Deployment of the official image (a cache keeps nothing
worth a volume), production's redis.conf directives as ``--key value``, a password, a
redis_exporter sidecar and a ClusterIP Service."""

from __future__ import annotations

from typing import Any

from perfrun.api import PerfRun
from perfrun.api.environment import Component
from perfrun.render import images, resources, security
from perfrun.render.apps import deployment, service
from perfrun.render.connections import connection, secret_env
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest
from perfrun.render.pods import metrics_port, pod_template, scrape_annotations

ROLE = "redis"
PORT = 6379
EXPORTER_PORT = 9121


def settings_args(component: Component) -> list[str]:
    args: list[str] = []
    for key, value in component.settings.items():
        args += [f"--{key}", value]
    return args


def redis(
    run: PerfRun, ctx: RunContext, component: Component, *, progress_deadline_s: int
) -> list[Manifest]:
    conn = connection(run, ctx, component)
    name = component.name
    main: dict[str, Any] = {
        "name": "redis",
        "image": ctx.images.component(component),
        "args": [
            "redis-server",
            "--requirepass",
            "$(REDIS_PASSWORD)",
            *settings_args(component),
        ],
        "env": [secret_env("REDIS_PASSWORD", conn.password_key)],
        "ports": [{"name": "redis", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    'redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
                ]
            },
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        },
        "resources": resources.container_resources(component.resources, resources.CACHE),
        "securityContext": security.known_user(images.UID_REDIS),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    exporter = {
        "name": "exporter",
        "image": ctx.images.image(images.REDIS_EXPORTER),
        "env": [
            {"name": "REDIS_ADDR", "value": f"redis://127.0.0.1:{PORT}"},
            secret_env("REDIS_PASSWORD", conn.password_key),
        ],
        "ports": [metrics_port(EXPORTER_PORT)],
        "readinessProbe": {"tcpSocket": {"port": EXPORTER_PORT}, "periodSeconds": 10},
        "resources": resources.container_resources(None, resources.SIDECAR),
        "securityContext": security.known_user(images.UID_REDIS_EXPORTER),
    }
    template = pod_template(
        ctx,
        name,
        ROLE,
        [main, exporter],
        security=security.pod_security(images.UID_REDIS),
        annotations=scrape_annotations(EXPORTER_PORT),
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    dep = deployment(ctx, name, ROLE, 1, template, progress_deadline_s=progress_deadline_s)
    dep["spec"]["strategy"] = {"type": "Recreate"}
    return [service(ctx, name, name, ROLE, [("redis", PORT)]), dep]
