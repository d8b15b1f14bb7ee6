"""Where run pods may reach the API server (PERFRUN_API_SERVER_CIDRS/_PORTS): into the run
context, and from there into the NetworkPolicies of the pods that need it."""

from __future__ import annotations

import pytest
from tests.render.helpers import by_kind, example, make_run

from perfrun.controller.reconcile import context_for
from perfrun.controller.settings import OperatorSettings
from perfrun.render.namespace import fence

BODY = {"metadata": {"name": "r", "namespace": "team", "uid": "u-1"}}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PERFRUN_API_SERVER_CIDRS", "PERFRUN_API_SERVER_PORTS"):
        monkeypatch.delenv(name, raising=False)


def test_unset_means_the_endpoints_the_operator_read_and_unknown_opens_nothing() -> None:
    """Issue 14: never 443/6443 to every address. Unset, the context gets the
    `default/kubernetes` endpoints the reconcile read; none known, no such policy."""
    ctx = context_for(BODY, OperatorSettings.from_env(), (("10.245.255.1/32",), (16443,)))
    assert ctx.api_server_cidrs == ("10.245.255.1/32",) and ctx.api_server_ports == (16443,)
    ctx = context_for(BODY, OperatorSettings.from_env())
    assert ctx.api_server_cidrs == ()
    policies = by_kind(fence(make_run(example("perfrun-full.yaml")), ctx), "NetworkPolicy")
    assert "perfrun-load-apiserver" not in policies
    assert "perfrun-prometheus-apiserver" not in policies


def test_the_endpoints_reach_prometheus_and_load_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local cluster's API server on 10.247.255.1:47443 (what kube-proxy sends
    10.96.0.1:443 to, and what the policy agent judges)."""
    monkeypatch.setenv("PERFRUN_API_SERVER_CIDRS", "10.247.255.1/32")
    monkeypatch.setenv("PERFRUN_API_SERVER_PORTS", "47443")
    ctx = context_for(BODY, OperatorSettings.from_env())
    policies = by_kind(fence(make_run(example("perfrun-full.yaml")), ctx), "NetworkPolicy")
    for name, component in (
        ("perfrun-prometheus-apiserver", "prometheus"),
        ("perfrun-load-apiserver", "load"),
    ):
        spec = policies[name]["spec"]
        assert spec["podSelector"]["matchLabels"]["perfrun.dev/component"] == component
        assert spec["egress"] == [
            {
                "to": [{"ipBlock": {"cidr": "10.247.255.1/32"}}],
                "ports": [{"protocol": "TCP", "port": 47443}],
            }
        ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "PERFRUN_API_SERVER_CIDRS",
            "10.0.0.0/8,nope",
            "PERFRUN_API_SERVER_CIDRS: not a network: 'nope'",
        ),
        ("PERFRUN_API_SERVER_PORTS", "443,70000", "PERFRUN_API_SERVER_PORTS: not a port: '70000'"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        OperatorSettings.from_env()
