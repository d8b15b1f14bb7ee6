"""The namespace and its fence: PodSecurity labels, a quota that admits every pod the run
will ever have, egress denied but for the namespace, DNS and egressAllow, least-privilege
RBAC."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from tests.render.helpers import by_kind, context, pod_templates, render_everything, variant

from perfrun.api import PerfRun
from perfrun.api.types import parse_quantity
from perfrun.render import jobs
from perfrun.render.context import ANNOTATION_PERFRUN_UID
from perfrun.render.namespace import fence, namespace


def test_namespace_has_pod_security_labels_and_the_uid(run: PerfRun) -> None:
    ctx = context(run)
    ns = namespace(run, ctx)
    level = run.spec.environment.pod_security
    for mode in ("enforce", "audit", "warn"):
        assert ns["metadata"]["labels"][f"pod-security.kubernetes.io/{mode}"] == level
    assert ns["metadata"]["annotations"][ANNOTATION_PERFRUN_UID] == ctx.uid


def test_restricted_level_is_carried_to_the_namespace() -> None:
    def restrict(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["podSecurity"] = "restricted"

    run = variant("perfrun-minimal.yaml", restrict)
    labels = namespace(run, context(run))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def _sum(manifests: list[dict[str, Any]], section: str, name: str) -> Decimal:
    total = Decimal(0)
    for owner, template in pod_templates(manifests):
        count = owner["spec"].get("replicas", owner["spec"].get("parallelism", 1))
        for c in template["spec"]["containers"]:
            value = c["resources"][section].get(name)
            total += parse_quantity(value) * count if value else 0
    return total


def test_quota_covers_every_pod_the_run_has(run: PerfRun) -> None:
    everything = render_everything(run, context(run))
    hard = by_kind(everything, "ResourceQuota")["perfrun-quota"]["spec"]["hard"]
    pods = sum(
        o["spec"].get("replicas", o["spec"].get("parallelism", 1))
        for o, _ in pod_templates(everything)
    )
    assert int(hard["pods"]) >= pods
    assert parse_quantity(hard["requests.cpu"]) >= _sum(everything, "requests", "cpu")
    assert parse_quantity(hard["requests.memory"]) >= _sum(everything, "requests", "memory")
    assert parse_quantity(hard["limits.memory"]) >= _sum(everything, "limits", "memory")
    # ...and not absurdly more (headroom, not a blank cheque).
    assert parse_quantity(hard["requests.cpu"]) <= _sum(everything, "requests", "cpu") * 2 + 1


def test_every_container_is_sized_so_the_quota_admits_it(run: PerfRun) -> None:
    for owner, template in pod_templates(render_everything(run, context(run))):
        for c in template["spec"]["containers"]:
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys(), owner
            assert "memory" in c["resources"]["limits"], owner
            req = parse_quantity(c["resources"]["requests"]["memory"])
            assert parse_quantity(c["resources"]["limits"]["memory"]) >= req


def test_quota_counts_the_volumes(full: PerfRun) -> None:
    hard = by_kind(fence(full, context(full)), "ResourceQuota")["perfrun-quota"]["spec"]["hard"]
    assert hard["persistentvolumeclaims"] == "2"  # db 20Gi, queue 5Gi
    assert parse_quantity(hard["requests.storage"]) == 25 * 2**30
    assert hard["services.nodeports"] == "0" and hard["services.loadbalancers"] == "0"


def test_spec_resources_are_used_as_given(full: PerfRun) -> None:
    sts = by_kind(render_everything(full, context(full)), "StatefulSet")["db"]
    db = sts["spec"]["template"]["spec"]["containers"][0]
    assert db["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    api = by_kind(render_everything(full, context(full)), "Deployment")["api"]
    res = api["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}


def test_egress_is_denied_but_for_namespace_dns_and_egress_allow(full: PerfRun) -> None:
    policies = by_kind(fence(full, context(full)), "NetworkPolicy")
    egress = policies["perfrun-egress"]["spec"]
    assert egress["podSelector"] == {}
    assert egress["policyTypes"] == ["Egress"]
    assert egress["egress"] == [
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
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
    ]


def test_egress_allow_without_ports_allows_every_port() -> None:
    def allow(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["egressAllow"] = [{"cidr": "192.0.2.0/24"}]

    run = variant("perfrun-minimal.yaml", allow)
    rules = by_kind(fence(run, context(run)), "NetworkPolicy")["perfrun-egress"]["spec"]["egress"]
    assert rules[-1] == {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}


def test_only_load_and_prometheus_reach_the_api_server_endpoints(full: PerfRun) -> None:
    ctx = replace(context(full), api_server_cidrs=("10.0.0.7/32",), api_server_ports=(16443,))
    policies = by_kind(fence(full, ctx), "NetworkPolicy")
    for name, component in (
        ("perfrun-prometheus-apiserver", "prometheus"),
        ("perfrun-load-apiserver", "load"),
    ):
        spec = policies[name]["spec"]
        assert spec["podSelector"]["matchLabels"]["perfrun.dev/component"] == component
        (rule,) = spec["egress"]
        assert rule["to"] == [{"ipBlock": {"cidr": "10.0.0.7/32"}}]
        assert rule["ports"] == [{"protocol": "TCP", "port": 16443}]


def test_unknown_api_server_endpoints_open_nothing(full: PerfRun) -> None:
    """No 443/6443 to every address: without the endpoints there is no such policy."""
    objs = fence(full, context(full))
    names = by_kind(objs, "NetworkPolicy")
    assert "perfrun-prometheus-apiserver" not in names and "perfrun-load-apiserver" not in names
    for policy in by_kind(objs, "NetworkPolicy").values():
        for rule in policy["spec"]["egress"]:
            for peer in rule.get("to", []):
                assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0")


def test_run_service_account_may_only_write_the_load_summary_and_progress(run: PerfRun) -> None:
    objs = fence(run, context(run))
    assert "perfrun-run" in by_kind(objs, "ServiceAccount")
    rules = by_kind(objs, "Role")["perfrun-run"]["rules"]
    for rule in rules:
        assert rule["apiGroups"] == [""] and rule["resources"] == ["configmaps"]
        assert "*" not in rule["verbs"] and "delete" not in rule["verbs"]
        if rule["verbs"] != ["create"]:  # RBAC cannot restrict create by name
            assert rule["resourceNames"] == [
                jobs.LOAD_SUMMARY_CONFIGMAP,
                jobs.LOAD_PROGRESS_CONFIGMAP,
            ]
    binding = by_kind(objs, "RoleBinding")["perfrun-run"]
    assert binding["roleRef"]["name"] == "perfrun-run"
    assert binding["subjects"][0]["name"] == "perfrun-run"


def test_only_the_load_pods_and_prometheus_get_an_api_token(run: PerfRun) -> None:
    for owner, template in pod_templates(render_everything(run, context(run))):
        spec = template["spec"]
        name = owner["metadata"]["name"]
        if name == "load":
            assert spec["serviceAccountName"] == "perfrun-run"
            assert spec["automountServiceAccountToken"] is True
        elif name == "prometheus":
            assert spec["serviceAccountName"] == "perfrun-prometheus"
        else:
            assert spec["automountServiceAccountToken"] is False, name


def test_prometheus_rbac_only_when_embedded(full: PerfRun) -> None:
    objs = fence(full, context(full))
    assert by_kind(objs, "Role")["perfrun-prometheus"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]

    def external(doc: dict[str, Any]) -> None:
        doc["spec"]["analysis"]["prometheus"] = {"embedded": False, "url": "http://prom:9090"}

    run = variant("perfrun-full.yaml", external)
    objs = fence(run, context(run))
    assert "perfrun-prometheus" not in by_kind(objs, "ServiceAccount")
    assert "perfrun-prometheus-apiserver" not in by_kind(objs, "NetworkPolicy")
    ctx = replace(context(run), api_server_cidrs=("10.0.0.7/32",), api_server_ports=(443,))
    names = by_kind(fence(run, ctx), "NetworkPolicy")
    assert "perfrun-load-apiserver" in names and "perfrun-prometheus-apiserver" not in names


def test_prometheus_reaches_a_workloads_metrics_port() -> None:
    """Egress is default-deny, but the namespace itself is one rule without ports: the run's
    Prometheus reaches a workload's metrics port, whatever port it is."""

    def metrics(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["workloads"][0]["metrics"] = {"port": 9187}

    run = variant("perfrun-full.yaml", metrics)
    policies = by_kind(fence(run, context(run)), "NetworkPolicy")
    egress = policies["perfrun-egress"]["spec"]
    assert egress["podSelector"] == {}  # every pod, Prometheus included
    assert {"to": [{"podSelector": {}}]} in egress["egress"]  # the namespace, any port
    assert all("Ingress" not in p["spec"]["policyTypes"] for p in policies.values())
