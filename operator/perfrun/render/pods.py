"""Pod templates and the scrape convention shared by every renderer.

Scrape convention (what the embedded Prometheus keeps, see prometheus.py): a pod is scraped
when it carries the annotation ``prometheus.io/scrape: "true"``, on each container port
*named* ``metrics``, at ``prometheus.io/path`` (default /metrics). ``prometheus.io/port`` is
set as well so an existing Prometheus with the common annotation-based config finds the same
targets."""

from __future__ import annotations

from typing import Any

from perfrun.api.podmeta import PodMetadata
from perfrun.render.context import RunContext

METRICS_PORT_NAME = "metrics"


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
    }


def metrics_port(port: int) -> dict[str, Any]:
    return {"name": METRICS_PORT_NAME, "containerPort": port, "protocol": "TCP"}


def pod_template(
    ctx: RunContext,
    component: str,
    role: str,
    containers: list[dict[str, Any]],
    *,
    security: dict[str, Any],
    annotations: dict[str, str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    service_account: str | None = None,
    restart_policy: str | None = None,
    extra: PodMetadata | None = None,
) -> dict[str, Any]:
    """A pod template labelled with the run and its part. Pods get no API token unless they
    are given a ServiceAccount (only the load pods and Prometheus talk to the API server),
    and no service-link environment (production pods do not see one either). The user's
    ``extra`` labels and annotations come first, so the run's own always win. Every pod gets
    the operator's placement (nodeSelector, tolerations) and image pull secrets."""
    labels = {**(extra.labels if extra else {}), **ctx.part_labels(component, role)}
    merged = {**(extra.annotations if extra else {}), **(annotations or {})}
    metadata: dict[str, Any] = {"labels": labels}
    if merged:
        metadata["annotations"] = merged
    spec: dict[str, Any] = {
        "automountServiceAccountToken": service_account is not None,
        "enableServiceLinks": False,
        "securityContext": security,
        "containers": containers,
        **ctx.placement.pod_spec_fields(),
    }
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": metadata, "spec": spec}
