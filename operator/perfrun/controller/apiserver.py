"""Where the API server really is, for the run's NetworkPolicy: the addresses and ports of
the ``default/kubernetes`` Service's endpoints (a policy is judged after kube-proxy's DNAT, so
the ClusterIP and 443 alone would not match, and 443/6443 to everyone would open too much)."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from typing import Any

from perfrun.kube.client import Kube
from perfrun.kube.errors import KubeError

log = logging.getLogger(__name__)
CACHE_S = 60.0
SERVICE_LABEL = "kubernetes.io/service-name=kubernetes"

Endpoints = tuple[tuple[str, ...], tuple[int, ...]]
_cache: dict[int, tuple[float, Endpoints]] = {}
_lock = threading.Lock()


def _host_cidr(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return f"{ip}/{ip.max_prefixlen}"


def from_slices(slices: list[dict[str, Any]]) -> Endpoints:
    """(CIDRs, ports) of the ready endpoints of EndpointSlices (pure)."""
    cidrs: list[str] = []
    ports: list[int] = []
    for s in slices:
        for endpoint in s.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                cidr = _host_cidr(address)
                if cidr and cidr not in cidrs:
                    cidrs.append(cidr)
        for port in s.get("ports") or []:
            number = port.get("port")
            if isinstance(number, int) and number not in ports:
                ports.append(number)
    return tuple(cidrs), tuple(ports)


def from_endpoints(endpoints: dict[str, Any] | None) -> Endpoints:
    """The same from a core/v1 Endpoints object (older clusters)."""
    cidrs: list[str] = []
    ports: list[int] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for address in subset.get("addresses") or []:
            cidr = _host_cidr(str(address.get("ip", "")))
            if cidr and cidr not in cidrs:
                cidrs.append(cidr)
        for port in subset.get("ports") or []:
            number = port.get("port")
            if isinstance(number, int) and number not in ports:
                ports.append(number)
    return tuple(cidrs), tuple(ports)


def read(kube: Kube) -> Endpoints:
    """Read the endpoints now; ((), ()) when they cannot be read (logged)."""
    try:
        found = from_slices(
            kube.list("discovery.k8s.io/v1", "EndpointSlice", "default", SERVICE_LABEL)
        )
        if found[0] and found[1]:
            return found
        return from_endpoints(kube.get("v1", "Endpoints", "kubernetes", "default"))
    except KubeError as exc:
        log.warning(
            "API server endpoints unreadable (%s): runs get no API server NetworkPolicy",
            getattr(exc, "status", type(exc).__name__),
        )
        return (), ()


def api_server_endpoints(kube: Kube, now: float | None = None) -> Endpoints:
    """``read`` at most once a minute per client."""
    now = time.monotonic() if now is None else now
    with _lock:
        hit = _cache.get(id(kube))
        if hit and now - hit[0] < CACHE_S:
            return hit[1]
    found = read(kube)
    with _lock:
        _cache[id(kube)] = (now, found)
    return found
