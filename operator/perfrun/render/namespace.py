"""The run's namespace and its fence: PodSecurity labels, a ResourceQuota and LimitRange
sized from the rendered pods, a default-deny-egress NetworkPolicy, and least-privilege
ServiceAccounts for the run's own pods."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from perfrun.api import PerfRun
from perfrun.render import jobs, prometheus
from perfrun.render.components import components
from perfrun.render.context import ANNOTATION_PERFRUN_UID, RunContext
from perfrun.render.meta import Manifest, obj
from perfrun.render.resources import MI, format_bytes, format_cpu
from perfrun.render.sizing import Totals, totals
from perfrun.render.workloads import workloads

QUOTA = "perfrun-quota"
LIMIT_RANGE = "perfrun-limits"
EGRESS_POLICY = "perfrun-egress"
PROMETHEUS_API_POLICY = "perfrun-prometheus-apiserver"
LOAD_API_POLICY = "perfrun-load-apiserver"
RBAC = "rbac.authorization.k8s.io"
# Headroom over the exact sum: a replacement pod starting while its predecessor terminates,
# a retried Job pod, small rounding.
HEADROOM_SHARE = Decimal("0.2")
HEADROOM_CPU = Decimal("0.25")
HEADROOM_MEMORY = 256 * MI
HEADROOM_PODS = 2


def namespace(run: PerfRun, ctx: RunContext) -> Manifest:
    level = run.spec.environment.pod_security
    labels = ctx.labels()
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ctx.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_PERFRUN_UID: ctx.uid},
        },
    }


def everything_that_runs(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    """All pod-owning objects a run ever has, for sizing."""
    return (
        components(run, ctx)
        + workloads(run, ctx)
        + prometheus.prometheus(run, ctx)
        + jobs.migrations_job(run, ctx)
        + jobs.dataset_job(run, ctx)
        + jobs.load_job(run, ctx)
    )


def _grow(amount: Decimal, fixed: Decimal) -> Decimal:
    return amount * (1 + HEADROOM_SHARE) + fixed


def resource_quota(ctx: RunContext, sum_: Totals) -> Manifest:
    """Requests and memory limits, not CPU limits: the workloads need none (CPU throttling
    would distort the latencies the run measures), and a quota on them would demand one."""
    hard: dict[str, str] = {
        "pods": str(sum_.pods + math.ceil(sum_.pods * HEADROOM_SHARE) + HEADROOM_PODS),
        "requests.cpu": format_cpu(_grow(sum_.requests_cpu, HEADROOM_CPU)),
        "requests.memory": format_bytes(_grow(sum_.requests_memory, HEADROOM_MEMORY)),
        "limits.memory": format_bytes(_grow(sum_.limits_memory, HEADROOM_MEMORY)),
        "persistentvolumeclaims": str(sum_.claims),
        "requests.storage": format_bytes(sum_.storage),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    out = obj("v1", "ResourceQuota", ctx, QUOTA)
    out["spec"] = {"hard": hard}
    return out


def limit_range(ctx: RunContext) -> Manifest:
    """Defaults for containers the renderers did not size (all of ours are sized)."""
    out = obj("v1", "LimitRange", ctx, LIMIT_RANGE)
    out["spec"] = {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                "default": {"memory": "512Mi"},
            }
        ]
    }
    return out


def egress_policy(run: PerfRun, ctx: RunContext) -> Manifest:
    """Deny all egress but: the namespace itself, cluster DNS, and each egressAllow rule."""
    rules: list[dict[str, Any]] = [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    }
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ]
    for allow in run.spec.environment.egress_allow:
        rule: dict[str, Any] = {"to": [{"ipBlock": {"cidr": allow.cidr}}]}
        if allow.ports:
            rule["ports"] = [{"protocol": allow.protocol, "port": p} for p in allow.ports]
        rules.append(rule)
    out = obj("networking.k8s.io/v1", "NetworkPolicy", ctx, EGRESS_POLICY)
    out["spec"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": rules}
    return out


def _api_server_policy(ctx: RunContext, name: str, component: str, role: str) -> Manifest | None:
    """Egress from ``component``'s pods, and only theirs, to the API server's addresses (the
    `default/kubernetes` endpoints the operator read, or PERFRUN_API_SERVER_CIDRS). Unknown
    addresses render no policy: nothing opens, rather than its ports to every address."""
    cidrs = ctx.api_server_cidrs
    if not cidrs or not ctx.api_server_ports:
        return None
    out = obj("networking.k8s.io/v1", "NetworkPolicy", ctx, name, component=component, role=role)
    out["spec"] = {
        "podSelector": {"matchLabels": ctx.selector(component)},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": c}} for c in cidrs],
                "ports": [{"protocol": "TCP", "port": p} for p in ctx.api_server_ports],
            }
        ],
    }
    return out


def prometheus_api_policy(ctx: RunContext) -> Manifest | None:
    """The embedded Prometheus discovers pods through the API server, which is outside the
    namespace: allow that pod, and only it, to reach the API server's addresses."""
    return _api_server_policy(ctx, PROMETHEUS_API_POLICY, prometheus.NAME, prometheus.ROLE)


def load_api_policy(ctx: RunContext) -> Manifest | None:
    """The load pods write their progress and summaries to ConfigMaps through the API
    server: allow them, and only them, to reach it."""
    return _api_server_policy(ctx, LOAD_API_POLICY, "load", "load")


def _service_account(ctx: RunContext, name: str, component: str) -> Manifest:
    out = obj("v1", "ServiceAccount", ctx, name, component=component, role=component)
    out["automountServiceAccountToken"] = False  # pods that need a token ask for it
    return out


def _role(
    ctx: RunContext, name: str, component: str, rules: list[dict[str, Any]]
) -> list[Manifest]:
    role = obj(f"{RBAC}/v1", "Role", ctx, name, component=component, role=component)
    role["rules"] = rules
    binding = obj(f"{RBAC}/v1", "RoleBinding", ctx, name, component=component, role=component)
    binding["roleRef"] = {"apiGroup": RBAC, "kind": "Role", "name": name}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": ctx.namespace}]
    return [role, binding]


def run_rbac(ctx: RunContext) -> list[Manifest]:
    """The load pods write their progress and summaries to two ConfigMaps. RBAC cannot limit
    ``create`` by name, so create is allowed on configmaps in this namespace; everything
    else only on those two."""
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [jobs.LOAD_SUMMARY_CONFIGMAP, jobs.LOAD_PROGRESS_CONFIGMAP],
            "verbs": ["get", "update", "patch"],
        },
    ]
    name = jobs.RUN_SERVICE_ACCOUNT
    return [_service_account(ctx, name, "load"), *_role(ctx, name, "load", rules)]


def prometheus_rbac(ctx: RunContext) -> list[Manifest]:
    """Pod discovery (role: pod) needs pods, nothing else."""
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    name = prometheus.SERVICE_ACCOUNT
    return [
        _service_account(ctx, name, prometheus.NAME),
        *_role(ctx, name, prometheus.NAME, rules),
    ]


def fence(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    out = [
        resource_quota(ctx, totals(everything_that_runs(run, ctx))),
        limit_range(ctx),
        egress_policy(run, ctx),
        *_present(load_api_policy(ctx)),
        *run_rbac(ctx),
    ]
    if prometheus.embedded(run):
        out += [*_present(prometheus_api_policy(ctx)), *prometheus_rbac(ctx)]
    return out


def _present(manifest: Manifest | None) -> list[Manifest]:
    return [] if manifest is None else [manifest]
