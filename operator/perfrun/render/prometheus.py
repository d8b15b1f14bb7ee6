"""The per-run Prometheus (when ``analysis.prometheus.embedded``): it discovers the run's pods
through the API server (role: pod, this namespace only) and keeps the ports that follow the
scrape convention of pods.py: the components' exporters, the load pods, and each workload
that declares ``metrics: {port, path}``. Storage is an emptyDir: its data lives as long as
the run."""

from __future__ import annotations

import math
from typing import Any

from perfrun.api import PerfRun, yamltext
from perfrun.api.types import parse_duration
from perfrun.render import images, resources, security
from perfrun.render.apps import deployment, service
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, config_map
from perfrun.render.pods import METRICS_PORT_NAME, pod_template

NAME = "prometheus"
ROLE = "prometheus"
PORT = 9090
SERVICE_ACCOUNT = "perfrun-prometheus"
SCRAPE_INTERVAL = "5s"
CONFIG_DIR = "/etc/prometheus"


def embedded(run: PerfRun) -> bool:
    return run.spec.analysis.prometheus.embedded


def _label(name: str) -> str:
    """A pod label or annotation as a service-discovery meta label."""
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def config(ctx: RunContext) -> dict[str, Any]:
    """prometheus.yml: one job over the run's pods; keep annotated pods' ``metrics`` ports."""
    meta = "__meta_kubernetes_pod_"
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
            "external_labels": {"perfrun_run": ctx.run_id},
        },
        "scrape_configs": [
            {
                "job_name": "perfrun-pods",
                "kubernetes_sd_configs": [
                    {"role": "pod", "namespaces": {"names": [ctx.namespace]}}
                ],
                "relabel_configs": [
                    {
                        "source_labels": [f"{meta}annotation_prometheus_io_scrape"],
                        "regex": "true",
                        "action": "keep",
                    },
                    {
                        "source_labels": [f"{meta}container_port_name"],
                        "regex": METRICS_PORT_NAME,
                        "action": "keep",
                    },
                    {
                        "source_labels": [f"{meta}phase"],
                        "regex": "Pending|Succeeded|Failed",
                        "action": "drop",
                    },
                    {
                        "source_labels": [f"{meta}annotation_prometheus_io_path"],
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": [f"{meta}name"], "target_label": "pod"},
                    {"source_labels": [f"{meta}container_name"], "target_label": "container"},
                    {
                        "source_labels": [f"{meta}label_{_label('perfrun.dev/component')}"],
                        "target_label": "component",
                    },
                    {
                        "source_labels": [f"{meta}label_{_label('perfrun.dev/role')}"],
                        "target_label": "role",
                    },
                ],
            }
        ],
    }


def retention(run: PerfRun) -> str:
    """As long as the run may live, so nothing is dropped before the analysis reads it."""
    return f"{math.ceil(parse_duration(run.spec.ttl.max_duration) / 60) + 60}m"


def prometheus(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    if not embedded(run):
        return []
    config_name = f"{NAME}-config"
    text = yamltext.dump(config(ctx))
    container = {
        "name": "prometheus",
        "image": ctx.images.image(images.PROMETHEUS),
        "args": [
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={retention(run)}",
            f"--web.listen-address=:{PORT}",
        ],
        "ports": [{"name": "web", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 5},
        "resources": resources.container_resources(None, resources.PROMETHEUS),
        "securityContext": security.known_user(images.UID_PROMETHEUS),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": "/prometheus"},
        ],
    }
    template = pod_template(
        ctx,
        NAME,
        ROLE,
        [container],
        security=security.pod_security(images.UID_PROMETHEUS),
        volumes=[
            {"name": "config", "configMap": {"name": config_name}},
            {"name": "data", "emptyDir": {}},
        ],
        service_account=SERVICE_ACCOUNT,
    )
    dep = deployment(ctx, NAME, ROLE, 1, template)
    dep["spec"]["strategy"] = {"type": "Recreate"}
    return [
        config_map(ctx, config_name, {"prometheus.yml": text}, component=NAME, role=ROLE),
        # headless: no ClusterIP to allocate. The API server hands out ClusterIPs one at a
        # time, cluster-wide (~10/s on the test cluster: 200 runs' 400 Services took 45 s);
        # the operator reaches Prometheus through the Service's endpoints (its proxy) or its
        # DNS name, which a headless Service answers with the ready pod's address.
        service(ctx, NAME, NAME, ROLE, [("web", PORT)], headless=True, publish_not_ready=False),
        dep,
    ]
