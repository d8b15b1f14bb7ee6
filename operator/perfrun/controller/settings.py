"""Operator settings, from the environment so the same binary runs on a laptop and in a pod."""

from __future__ import annotations

import os
from dataclasses import dataclass

from perfrun import __version__


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

    @classmethod
    def from_env(cls) -> OperatorSettings:
        return cls(
            image=os.environ.get("PERFRUN_IMAGE", f"ghcr.io/perfrun/perfrun:{__version__}"),
            storage_class=os.environ.get("PERFRUN_STORAGE_CLASS") or None,
            interval=float(os.environ.get("PERFRUN_RECONCILE_INTERVAL", "2")),
            janitor_interval=float(os.environ.get("PERFRUN_JANITOR_INTERVAL", "30")),
            kubeconfig=os.environ.get("KUBECONFIG") or None,
            secret_seed=os.environ.get("PERFRUN_SECRET_SEED", ""),
            peering_lifetime=int(os.environ.get("PERFRUN_PEERING_LIFETIME", "60")),
        )
