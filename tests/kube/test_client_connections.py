"""The operator's API connections: as many as it has handler threads (urllib3 would open and
drop a TLS connection per request above its pool's size), with its user agent, and TCP
keepalive as client-go dials (probed after 30 s idle, given up after 9 unanswered probes 15 s
apart): a watch whose connection died silently (a node gone, a NAT entry dropped) has no read
timeout to end it and would leave its kind's cache stale for ever; so it fails and the
informer relists."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.kubeconfig import write_kubeconfig

from perfrun.kube.client import load_api_client


def _kubeconfig(tmp_path: Path) -> str:
    return str(write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1", {"token": "t"}))


def test_the_api_client_keeps_that_many_connections(tmp_path: Path) -> None:
    api = load_api_client(_kubeconfig(tmp_path), connections=40)
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == 40
    assert api.user_agent.startswith("perfrun/")


def test_every_api_connection_is_dialled_with_tcp_keepalive(tmp_path: Path) -> None:
    api = load_api_client(_kubeconfig(tmp_path))
    options = api.rest_client.pool_manager.connection_pool_kw["socket_options"]
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30) in options
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in options  # urllib3's own default kept
