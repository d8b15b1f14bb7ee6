"""Checks of a spec that passed the schema but cannot run. A problem here ends the run
``Invalid`` (Stalled, reason InvalidSpec) before any namespace is created."""

from __future__ import annotations

from urllib.parse import urlsplit

from perfrun.api.analysis import Metric
from perfrun.api.environment import ComponentKind
from perfrun.api.perfrun import PerfRunSpec


def preflight(spec: PerfRunSpec) -> list[str]:
    """Every reason the run cannot work, one sentence each."""
    problems: list[str] = []
    env = spec.environment
    target = urlsplit(spec.load.target)
    host, port = target.hostname or "", target.port or (443 if target.scheme == "https" else 80)
    workloads = {w.name: w for w in env.workloads}
    if host not in workloads:
        known = ", ".join(sorted(workloads)) or "none"
        problems.append(
            f"load.target host {host!r} is not a workload of this run (workloads: {known}); "
            "egress leaves the namespace only to egressAllow CIDRs"
        )
    elif workloads[host].port != port:
        problems.append(
            f"load.target port {port} does not match workload {host!r} port {workloads[host].port}"
        )
    kinds = {c.kind for c in env.components}
    for gate in spec.analysis.gates:
        if gate.metric == Metric.QUEUE_DEPTH and ComponentKind.RABBITMQ not in kinds:
            problems.append(
                f"analysis gate {gate.name!r} measures queueDepth but the environment has "
                "no rabbitmq component"
            )
    if spec.dataset is not None and spec.dataset.synthetic is not None:
        for table in spec.dataset.synthetic.tables:
            for column in table.columns:
                if column.generator == "parent" and table.per_parent is None:
                    problems.append(
                        f"dataset table {table.name!r} column {column.name!r} uses the parent "
                        "generator but the table has no perParent"
                    )
    return problems
