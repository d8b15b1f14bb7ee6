"""Reaching a Service through the API server's service proxy with the client's own
credentials (a laptop with a kubeconfig cannot resolve a Service's cluster DNS name)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProxyRoute:
    """An URL on the API server and what a plain HTTP client needs to be let through: headers
    (credentials), TLS verification (bool or CA bundle path), client certificate paths,
    proxies. Credentials stay out of ``repr``."""

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True
    client_cert: tuple[str, str] | None = field(default=None, repr=False)
    proxies: dict[str, str] = field(default_factory=dict)


def _ca_file(pem: str | bytes) -> str:
    """A file holding ``pem`` (requests verifies against a path, not a string); one per
    distinct CA, written once."""
    data = pem.encode() if isinstance(pem, str) else pem
    path = Path(tempfile.gettempdir()) / f"perfrun-ca-{hashlib.sha256(data).hexdigest()[:16]}.pem"
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def api_server_route(configuration: Any, path: str) -> ProxyRoute:
    """A :class:`ProxyRoute` to ``path`` on the API server with the credentials of a
    ``kubernetes.client.Configuration`` (as loaded from a kubeconfig): client certificate,
    bearer token (refreshed through the client's own hook, e.g. exec plugins), or basic auth;
    its CA (file or inline data) or ``insecure-skip-tls-verify``; its HTTP proxy."""
    headers: dict[str, str] = {}
    token = configuration.get_api_key_with_prefix("authorization")
    if token:
        headers["Authorization"] = str(token)
    elif configuration.username or configuration.password:
        headers["Authorization"] = str(configuration.get_basic_auth_token())
    verify: bool | str = bool(configuration.verify_ssl)
    if verify and configuration.ssl_ca_cert:
        verify = str(configuration.ssl_ca_cert)
    elif verify and getattr(configuration, "ca_cert_data", None):
        verify = _ca_file(configuration.ca_cert_data)
    cert = None
    if configuration.cert_file and configuration.key_file:
        cert = (str(configuration.cert_file), str(configuration.key_file))
    if getattr(configuration, "tls_server_name", None):
        log.warning(
            "kubeconfig tls-server-name %s is not supported for Prometheus queries through "
            "the API server; the certificate is checked against %s",
            configuration.tls_server_name,
            configuration.host,
        )
    proxy = configuration.proxy
    return ProxyRoute(
        url=str(configuration.host).rstrip("/") + path,
        headers=headers,
        verify=verify,
        client_cert=cert,
        proxies={"http": proxy, "https": proxy} if proxy else {},
    )
