"""Pure parts of the ANALYZE step: where the run's Prometheus is, and how the operator
reaches it from outside the cluster (credentials from a real kubernetes Configuration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import Configuration

from perfrun.analysis.queries import Connection
from perfrun.api.perfrun import PerfRun
from perfrun.controller.analyze import (
    VIA_API_SERVER,
    ServiceRef,
    in_cluster,
    prometheus_service,
    prometheus_url,
    proxied,
)
from perfrun.kube.proxy import api_server_route
from perfrun.render.context import RunContext

CTX = RunContext(name="checkout", perfrun_namespace="team", uid="u-1", image="perfrun:test")


def run_with(prometheus: dict[str, Any]) -> PerfRun:
    return PerfRun.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "team"},
            "spec": {
                "environment": {"workloads": [{"name": "api", "image": "nginx:1.27"}]},
                "load": {
                    "target": "http://api:80",
                    "scenarios": [{"name": "home", "weight": 1, "path": "/"}],
                    "budget": {"maxRps": 20, "maxInFlight": 8, "maxDuration": "1m"},
                    "ramp": {"steps": [{"rate": 10, "hold": "20s"}]},
                },
                "analysis": {"prometheus": prometheus},
            },
        }
    )


def test_the_embedded_prometheus_is_the_run_namespaces_service() -> None:
    run = run_with({"embedded": True})
    service = prometheus_service(run, CTX)
    assert service == ServiceRef(CTX.namespace, "prometheus", 9090)
    assert prometheus_url(run, CTX) == service.dns_url
    assert service.dns_url == f"http://prometheus.{CTX.namespace}.svc:9090"
    assert service.proxy_path == (
        f"/api/v1/namespaces/{CTX.namespace}/services/prometheus:9090/proxy"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://prometheus.monitoring.svc:9090", ServiceRef("monitoring", "prometheus", 9090)),
        (
            "https://thanos.obs.svc.cluster.local/prom/",
            ServiceRef("obs", "thanos", 443, "https", "/prom"),
        ),
        ("http://prometheus.monitoring:9090", None),  # not unmistakably a Service name
        ("http://prometheus.example.com:9090", None),
        ("http://10.1.2.3:9090", None),
    ],
)
def test_an_external_url_is_proxied_only_when_it_names_a_service(
    url: str, expected: ServiceRef | None
) -> None:
    run = run_with({"embedded": False, "url": url})
    assert prometheus_service(run, CTX) == expected
    assert prometheus_url(run, CTX) == url


def test_https_services_are_proxied_with_their_scheme() -> None:
    ref = ServiceRef("obs", "thanos", 443, "https", "/prom")
    assert ref.proxy_path == "/api/v1/namespaces/obs/services/https:thanos:443/proxy/prom"


def test_in_cluster_means_the_kubelets_service_host_variable() -> None:
    assert in_cluster({"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert not in_cluster({})
    assert not in_cluster({"KUBERNETES_SERVICE_HOST": ""})


def test_client_certificate_credentials(tmp_path: Path) -> None:
    cfg = Configuration(host="https://127.0.0.1:6443/")
    cfg.ssl_ca_cert = str(tmp_path / "ca.crt")
    cfg.cert_file, cfg.key_file = str(tmp_path / "c.crt"), str(tmp_path / "c.key")
    conn = proxied(api_server_route(cfg, "/api/v1/namespaces/ns/services/prometheus:9090/proxy"))
    assert conn.url == "https://127.0.0.1:6443/api/v1/namespaces/ns/services/prometheus:9090/proxy"
    assert conn.verify == str(tmp_path / "ca.crt")
    assert conn.client_cert == (str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    assert conn.headers == {}
    assert conn.via == VIA_API_SERVER
    assert conn.trust_env is False


def test_token_credentials_go_in_a_header_that_repr_does_not_show() -> None:
    cfg = Configuration(host="https://k8s.example:443", api_key={"authorization": "Bearer s3cr3t"})
    conn = proxied(api_server_route(cfg, "/p"))
    assert conn.headers == {"Authorization": "Bearer s3cr3t"}
    assert conn.client_cert is None and conn.verify is True
    assert "s3cr3t" not in repr(conn)
    session = conn.session()
    assert session.headers["Authorization"] == "Bearer s3cr3t"
    assert session.trust_env is False


def test_token_refresh_hook_is_called(tmp_path: Path) -> None:
    cfg = Configuration(host="https://k8s.example")

    def refresh(c: Configuration) -> None:
        c.api_key["authorization"] = "Bearer fresh"

    cfg.refresh_api_key_hook = refresh
    assert proxied(api_server_route(cfg, "/p")).headers == {"Authorization": "Bearer fresh"}


def test_basic_auth_insecure_and_proxy() -> None:
    cfg = Configuration(host="https://k8s.example", username="admin", password="pw")
    cfg.verify_ssl = False
    cfg.proxy = "http://proxy.corp:3128"
    conn = proxied(api_server_route(cfg, "/p"))
    assert conn.headers["Authorization"].startswith("Basic ")
    assert conn.verify is False
    assert conn.proxies == {"http": "http://proxy.corp:3128", "https": "http://proxy.corp:3128"}


def test_inline_ca_data_is_written_to_a_file_requests_can_verify_with() -> None:
    cfg = Configuration(host="https://k8s.example")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    cfg.ca_cert_data = pem
    conn = proxied(api_server_route(cfg, "/p"))
    assert isinstance(conn.verify, str) and Path(conn.verify).read_text() == pem
    assert proxied(api_server_route(cfg, "/p")).verify == conn.verify  # one file per CA


def test_a_plain_url_connection_keeps_the_old_defaults() -> None:
    session = Connection(url="http://127.0.0.1:9090").session()
    assert session.verify is True and session.cert is None and session.trust_env is True
