"""Container requests and limits: the spec's, else small defaults, always explicit.

Every container gets explicit cpu/memory requests and a memory limit, so the namespace's
ResourceQuota can be computed exactly from the rendered pods. CPU limits are only set when the
spec asks: CPU throttling would distort exactly the latencies a run measures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perfrun.api.environment import Resources
from perfrun.api.types import parse_quantity

MI = Decimal(2) ** 20


@dataclass(frozen=True)
class Defaults:
    """Requests (cpu, memory) and memory limit used where the spec says nothing."""

    cpu: str
    memory: str
    memory_limit: str


SMALL = Defaults("100m", "128Mi", "512Mi")
SIDECAR = Defaults("10m", "32Mi", "128Mi")
DATABASE = Defaults("250m", "256Mi", "1Gi")
CACHE = Defaults("100m", "64Mi", "512Mi")
LOAD = Defaults("250m", "256Mi", "1Gi")
PROMETHEUS = Defaults("100m", "256Mi", "1Gi")


def container_resources(spec: Resources | None, defaults: Defaults) -> dict[str, Any]:
    """Requests and limits for one container. A limit without a request gets the limit as its
    request (what Kubernetes itself would do); a request above the default memory limit
    raises that limit to the request, so the pod stays valid."""
    req = spec.requests if spec and spec.requests else None
    lim = spec.limits if spec and spec.limits else None
    cpu_req = (req.cpu if req else None) or (lim.cpu if lim else None) or defaults.cpu
    mem_req = (req.memory if req else None) or (lim.memory if lim else None) or defaults.memory
    mem_lim = lim.memory if lim and lim.memory else None
    if mem_lim is None:
        mem_lim = max(defaults.memory_limit, mem_req, key=parse_quantity)
    limits: dict[str, str] = {"memory": mem_lim}
    if lim and lim.cpu:
        limits["cpu"] = lim.cpu
    return {"requests": {"cpu": cpu_req, "memory": mem_req}, "limits": limits}


def format_cpu(cores: Decimal) -> str:
    """Millicores, rounded up: ``1.25`` -> ``1250m``."""
    return f"{math.ceil(cores * 1000)}m"


def format_bytes(amount: Decimal) -> str:
    """Mebibytes, rounded up: always a valid quantity, never less than asked."""
    return f"{math.ceil(amount / MI)}Mi"
