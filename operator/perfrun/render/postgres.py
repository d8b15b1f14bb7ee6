"""A PostgreSQL component: a one-replica StatefulSet of the official image with production's
settings as ``-c key=value``, a postgres-exporter sidecar, a headless and a ClusterIP Service.

The data directory is a subdirectory of the volume (PGDATA=.../data/pgdata): initdb, running
as the postgres uid, must own and chmod it, which it cannot do to a volume's root. A golden
VolumeSnapshot must hold its cluster at that same path."""

from __future__ import annotations

from typing import Any

from perfrun.api import PerfRun
from perfrun.api.environment import Component
from perfrun.render import images, resources, security
from perfrun.render.apps import service, statefulset, volume_claim
from perfrun.render.connections import connection, secret_env
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest
from perfrun.render.pods import metrics_port, pod_template, scrape_annotations

ROLE = "postgres"
PORT = 5432
EXPORTER_PORT = 9187
MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{MOUNT}/pgdata"
SNAPSHOT_FALLBACK_SIZE = "10Gi"  # a snapshot needs a PVC even when the spec gives no size
SHM_SIZE = "256Mi"


def snapshot_source(run: PerfRun, component: Component) -> dict[str, str] | None:
    """The PVC dataSource when the dataset is a VolumeSnapshot cloned into this component. It
    names a VolumeSnapshot *in the run's namespace* (see snapshot.py for the import)."""
    dataset = run.spec.dataset
    if dataset is None or dataset.snapshot is None or dataset.into != component.name:
        return None
    return {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": dataset.snapshot.volume_snapshot,
    }


def settings_args(component: Component) -> list[str]:
    args: list[str] = []
    for key, value in component.settings.items():
        args += ["-c", f"{key}={value}"]
    return args


def postgres(run: PerfRun, ctx: RunContext, component: Component) -> list[Manifest]:
    conn = connection(run, ctx, component)
    name = component.name
    main: dict[str, Any] = {
        "name": "postgres",
        "image": ctx.images.component(component),
        "env": [
            {"name": "POSTGRES_USER", "value": conn.user},
            {"name": "POSTGRES_DB", "value": conn.database},
            secret_env("POSTGRES_PASSWORD", conn.password_key),
            {"name": "PGDATA", "value": PGDATA},
        ],
        "ports": [{"name": "postgres", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "exec": {
                "command": [
                    "pg_isready",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(PORT),
                    "-U",
                    conn.user,
                    "-d",
                    str(conn.database),
                ]
            },
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "resources": resources.container_resources(component.resources, resources.DATABASE),
        "securityContext": security.known_user(images.UID_POSTGRES),
        "volumeMounts": [
            {"name": "data", "mountPath": MOUNT},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    args = settings_args(component)
    if args:
        main["args"] = args
    exporter = {
        "name": "exporter",
        "image": ctx.images.image(images.POSTGRES_EXPORTER),
        "env": [
            {
                "name": "DATA_SOURCE_URI",
                "value": f"127.0.0.1:{PORT}/{conn.database}?sslmode=disable",
            },
            {"name": "DATA_SOURCE_USER", "value": conn.user},
            secret_env("DATA_SOURCE_PASS", conn.password_key),
        ],
        "ports": [metrics_port(EXPORTER_PORT)],
        "readinessProbe": {"tcpSocket": {"port": EXPORTER_PORT}, "periodSeconds": 10},
        "resources": resources.container_resources(None, resources.SIDECAR),
        "securityContext": security.known_user(images.UID_POSTGRES_EXPORTER),
    }
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}}
    ]
    source = snapshot_source(run, component)
    size = component.storage or (SNAPSHOT_FALLBACK_SIZE if source else None)
    claims = None
    if size:
        claims = [volume_claim(ctx, name, ROLE, size, data_source=source)]
    else:
        volumes.insert(0, {"name": "data", "emptyDir": {}})
    template = pod_template(
        ctx,
        name,
        ROLE,
        [main, exporter],
        security=security.pod_security(images.UID_POSTGRES),
        annotations=scrape_annotations(EXPORTER_PORT),
        volumes=volumes,
    )
    headless = f"{name}-headless"
    return [
        service(ctx, headless, name, ROLE, [("postgres", PORT)], headless=True),
        service(ctx, name, name, ROLE, [("postgres", PORT)]),
        statefulset(ctx, name, ROLE, template, service_name=headless, claims=claims),
    ]
