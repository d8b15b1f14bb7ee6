"""A RabbitMQ component: a one-replica StatefulSet of the official -management image with the
rabbitmq_prometheus plugin enabled (per-queue metrics on, for queue-depth gates), production's
rabbitmq.conf keys from the spec, and a Service with amqp 5672 and metrics 15692."""

from __future__ import annotations

from typing import Any

from perfrun.api import PerfRun
from perfrun.api.environment import Component
from perfrun.render import images, resources, security
from perfrun.render.apps import service, statefulset, volume_claim
from perfrun.render.connections import connection, secret_env
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, config_map
from perfrun.render.pods import metrics_port, pod_template, scrape_annotations

ROLE = "rabbitmq"
AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
METRICS_PORT = 15692
CONFIG_DIR = "/etc/perfrun/rabbitmq"
ENABLED_PLUGINS = "[rabbitmq_management,rabbitmq_prometheus].\n"


def rabbitmq_conf(component: Component) -> str:
    """Listeners and metrics first, then the spec's keys (which may override them)."""
    lines = [
        f"listeners.tcp.default = {AMQP_PORT}",
        f"management.tcp.port = {MANAGEMENT_PORT}",
        f"prometheus.tcp.port = {METRICS_PORT}",
        # rabbitmq_queue_messages{queue=...} needs per-object metrics on the default endpoint.
        "prometheus.return_per_object_metrics = true",
        "log.console = true",
    ]
    lines += [f"{key} = {value}" for key, value in component.settings.items()]
    return "\n".join(lines) + "\n"


def rabbitmq(run: PerfRun, ctx: RunContext, component: Component) -> list[Manifest]:
    conn = connection(run, ctx, component)
    name = component.name
    config_name = f"{name}-config"
    main: dict[str, Any] = {
        "name": "rabbitmq",
        "image": ctx.images.component(component),
        "env": [
            {"name": "RABBITMQ_DEFAULT_USER", "value": conn.user},
            secret_env("RABBITMQ_DEFAULT_PASS", conn.password_key),
            {"name": "RABBITMQ_ENABLED_PLUGINS_FILE", "value": f"{CONFIG_DIR}/enabled_plugins"},
        ],
        "ports": [
            {"name": "amqp", "containerPort": AMQP_PORT, "protocol": "TCP"},
            {"name": "management", "containerPort": MANAGEMENT_PORT, "protocol": "TCP"},
            metrics_port(METRICS_PORT),
        ],
        # The AMQP listener opens only once the node has booted.
        "readinessProbe": {"tcpSocket": {"port": AMQP_PORT}, "periodSeconds": 5},
        "resources": resources.container_resources(component.resources, resources.DATABASE),
        "securityContext": security.known_user(images.UID_RABBITMQ),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/rabbitmq"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {
                "name": "config",
                "mountPath": "/etc/rabbitmq/conf.d/20-perfrun.conf",
                "subPath": "rabbitmq.conf",
                "readOnly": True,
            },
        ],
    }
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": config_name}}]
    claims = None
    if component.storage:
        claims = [volume_claim(ctx, name, ROLE, component.storage)]
    else:
        volumes.insert(0, {"name": "data", "emptyDir": {}})
    template = pod_template(
        ctx,
        name,
        ROLE,
        [main],
        security=security.pod_security(images.UID_RABBITMQ),
        annotations=scrape_annotations(METRICS_PORT),
        volumes=volumes,
    )
    headless = f"{name}-headless"
    ports = [("amqp", AMQP_PORT), ("management", MANAGEMENT_PORT), ("metrics", METRICS_PORT)]
    return [
        config_map(
            ctx,
            config_name,
            {"enabled_plugins": ENABLED_PLUGINS, "rabbitmq.conf": rabbitmq_conf(component)},
            component=name,
            role=ROLE,
        ),
        service(ctx, headless, name, ROLE, ports, headless=True),
        service(ctx, name, name, ROLE, ports),
        statefulset(ctx, name, ROLE, template, service_name=headless, claims=claims),
    ]
