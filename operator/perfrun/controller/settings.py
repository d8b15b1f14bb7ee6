"""Operator settings, from the environment so the same binary runs on a laptop and in a pod."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfrun import __version__
from perfrun.api.policy import AdminPolicy
from perfrun.render.images import DEFAULT_MAP, PERFRUN, ImageMap, parse_image_map
from perfrun.render.placement import (
    Placement,
    PullSecret,
    parse_node_selector,
    parse_pull_secret_names,
    parse_tolerations,
)

DEFAULT_API_SERVER_PORTS = (443, 6443)


def parse_api_server_cidrs(text: str) -> tuple[str, ...]:
    """PERFRUN_API_SERVER_CIDRS: comma-separated networks; empty means the `default/kubernetes`
    endpoints the operator reads."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"PERFRUN_API_SERVER_CIDRS: not a network: {item!r}") from None
    return tuple(out)


def parse_api_server_ports(text: str) -> tuple[int, ...]:
    """PERFRUN_API_SERVER_PORTS: comma-separated ports; empty means 443 and 6443."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ValueError(f"PERFRUN_API_SERVER_PORTS: not a port: {item!r}")
        out.append(int(item))
    return tuple(out) or DEFAULT_API_SERVER_PORTS


# Where the chart mounts each pull secret named in PERFRUN_IMAGE_PULL_SECRETS (one folder each).
PULL_SECRET_DIR = "/etc/perfrun/pull-secrets"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: not a number of seconds: {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: must be more than 0 seconds, not {text!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: not a whole number: {text!r}") from None
    if value < 1:
        raise ValueError(f"{name}: must be at least 1, not {text!r}")
    return value


# kopf runs each run's sync tick in a thread pool: Python's default (CPU count + 4, six on
# two cores) held every tick of 25 runs in a queue (bench/operator_scale.py). At 200 runs,
# 32 still queued them: a run's namespace was applied 16 s (p50) after its PerfRun; 64: 5 s
# (the N=200 bench, 32/48/64 side by side: EnvironmentReady p99 39/39/33 s).
DEFAULT_WORKERS = 64
# Analyses at once (each queries a Prometheus, which may be slow or never answer): their
# own pool, apart from the handlers' (perfrun.controller.analyses).
DEFAULT_ANALYSIS_WORKERS = 4


@dataclass(frozen=True)
class OperatorSettings:
    image: str  # runs `perfrun seed|restore|load` inside Jobs
    storage_class: str | None
    interval: float  # seconds between reconciles of one run
    janitor_interval: float
    kubeconfig: str | None
    # Mixed into the run's component passwords: without it they follow from the PerfRun's
    # uid alone, which anyone who can read the PerfRun can see. Deterministic either way,
    # so a restarted operator renders the same Secret.
    secret_seed: str = ""
    # kopf's peering lifetime: a replica counts as alive this long after its last keep-alive
    peering_lifetime: int = 60
    # The cluster admin's limits on every run (PERFRUN_POLICY_*, from the chart's policy.*)
    policy: AdminPolicy = field(default_factory=AdminPolicy)
    # Role -> image template and default version (PERFRUN_IMAGES, PERFRUN_DEFAULT_VERSIONS).
    images: ImageMap = DEFAULT_MAP
    # On every run pod: PERFRUN_NODE_SELECTOR, PERFRUN_TOLERATIONS (JSON) and the pull
    # secrets PERFRUN_IMAGE_PULL_SECRETS names, read from PERFRUN_PULL_SECRET_DIR/NAME/.
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    pull_secret_names: tuple[str, ...] = ()
    pull_secret_dir: str = PULL_SECRET_DIR
    # Seconds a run's report ConfigMap is kept after its analysis (PERFRUN_REPORT_RETENTION):
    # it outlives the PerfRun (a GitOps prune must not lose the result); the janitor deletes it.
    report_retention: float = 30 * 86400
    # Where run pods that talk to the API server (Prometheus' pod discovery, the load pods'
    # ConfigMaps) may connect, as the NetworkPolicy sees it: the addresses and ports of the
    # `kubernetes` Service's endpoints (PERFRUN_API_SERVER_CIDRS, PERFRUN_API_SERVER_PORTS).
    api_server_cidrs: tuple[str, ...] = ()
    api_server_ports: tuple[int, ...] = DEFAULT_API_SERVER_PORTS
    # Threads for the handlers (reconciles, teardowns) at once, and the API client's
    # connections to match (PERFRUN_WORKERS)
    workers: int = DEFAULT_WORKERS
    # Analyses at once (PERFRUN_ANALYSIS_WORKERS), in their own pool
    analysis_workers: int = DEFAULT_ANALYSIS_WORKERS

    def placement(self) -> Placement:
        """Placement for one run, with the pull secrets as mounted now (a rotated Secret is
        picked up by the next run). A named secret that is not mounted is an error."""
        secrets = []
        for name in self.pull_secret_names:
            path = Path(self.pull_secret_dir) / name / ".dockerconfigjson"
            try:
                secrets.append(PullSecret(name, path.read_text()))
            except OSError as exc:
                raise RuntimeError(
                    f"PERFRUN_IMAGE_PULL_SECRETS: {name}: cannot read {path}: {exc.strerror}"
                ) from None
        return Placement(self.node_selector, self.tolerations, tuple(secrets))

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """Raises ValueError naming the variable when a setting is malformed."""
        env = os.environ
        images = parse_image_map(
            env.get("PERFRUN_IMAGES", ""),
            env.get("PERFRUN_DEFAULT_VERSIONS", ""),
            perfrun_version=__version__,
        )
        names = tuple(parse_pull_secret_names(env.get("PERFRUN_IMAGE_PULL_SECRETS", "")))
        secret_dir = env.get("PERFRUN_PULL_SECRET_DIR") or PULL_SECRET_DIR
        for name in names:
            if not (Path(secret_dir) / name / ".dockerconfigjson").is_file():
                raise ValueError(
                    f"PERFRUN_IMAGE_PULL_SECRETS: {name}: no {secret_dir}/{name}/.dockerconfigjson"
                    " (mount the kubernetes.io/dockerconfigjson Secret there)"
                )
        return cls(
            # PERFRUN_IMAGE (older, still honoured) wins over the map's perfrun role.
            image=env.get("PERFRUN_IMAGE") or images.image(PERFRUN),
            storage_class=os.environ.get("PERFRUN_STORAGE_CLASS") or None,
            interval=float(os.environ.get("PERFRUN_RECONCILE_INTERVAL", "2")),
            janitor_interval=float(os.environ.get("PERFRUN_JANITOR_INTERVAL", "30")),
            kubeconfig=os.environ.get("KUBECONFIG") or None,
            secret_seed=os.environ.get("PERFRUN_SECRET_SEED", ""),
            peering_lifetime=int(os.environ.get("PERFRUN_PEERING_LIFETIME", "60")),
            report_retention=_seconds(env, "PERFRUN_REPORT_RETENTION", 30 * 86400),
            images=images,
            node_selector=parse_node_selector(env.get("PERFRUN_NODE_SELECTOR", "")),
            tolerations=parse_tolerations(env.get("PERFRUN_TOLERATIONS", "")),
            pull_secret_names=names,
            pull_secret_dir=secret_dir,
            api_server_cidrs=parse_api_server_cidrs(env.get("PERFRUN_API_SERVER_CIDRS", "")),
            api_server_ports=parse_api_server_ports(env.get("PERFRUN_API_SERVER_PORTS", "")),
            policy=AdminPolicy.from_env(env),
            workers=_positive_int(env, "PERFRUN_WORKERS", DEFAULT_WORKERS),
            analysis_workers=_positive_int(
                env, "PERFRUN_ANALYSIS_WORKERS", DEFAULT_ANALYSIS_WORKERS
            ),
        )
