"""What the rendered pods add up to, so the namespace's ResourceQuota is computed from the
objects themselves rather than from a second, drifting copy of the defaults."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perfrun.api.types import parse_quantity
from perfrun.render.meta import Manifest


@dataclass(frozen=True)
class Totals:
    pods: int = 0
    requests_cpu: Decimal = Decimal(0)
    requests_memory: Decimal = Decimal(0)
    limits_memory: Decimal = Decimal(0)
    storage: Decimal = Decimal(0)
    claims: int = 0


def pod_specs(manifests: Iterable[Manifest]) -> list[tuple[dict[str, Any], int]]:
    """Each pod template with how many pods of it can run at once."""
    out: list[tuple[dict[str, Any], int]] = []
    for m in manifests:
        spec = m.get("spec", {})
        if m["kind"] in ("Deployment", "StatefulSet"):
            out.append((spec["template"]["spec"], int(spec.get("replicas", 1))))
        elif m["kind"] == "Job":
            out.append((spec["template"]["spec"], int(spec.get("parallelism", 1))))
    return out


def _amount(resources: dict[str, Any], section: str, name: str) -> Decimal:
    value = resources.get(section, {}).get(name)
    return parse_quantity(str(value)) if value is not None else Decimal(0)


def totals(manifests: Iterable[Manifest]) -> Totals:
    manifests = list(manifests)
    pods, cpu, mem, mem_lim, storage, claims = 0, Decimal(0), Decimal(0), Decimal(0), Decimal(0), 0
    for spec, count in pod_specs(manifests):
        pods += count
        for c in spec["containers"]:
            r = c.get("resources", {})
            cpu += _amount(r, "requests", "cpu") * count
            mem += _amount(r, "requests", "memory") * count
            mem_lim += _amount(r, "limits", "memory") * count
    for m in manifests:
        if m["kind"] == "StatefulSet":
            replicas = int(m["spec"].get("replicas", 1))
            for claim in m["spec"].get("volumeClaimTemplates", []):
                storage += _amount(claim["spec"]["resources"], "requests", "storage") * replicas
                claims += replicas
    return Totals(pods, cpu, mem, mem_lim, storage, claims)
