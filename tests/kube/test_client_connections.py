"""The operator's API connections: a watch whose connection died silently (a node gone, a
NAT entry dropped) would leave that kind's cache stale for ever, as no read timeout ends a
watch. The client dials with TCP keepalive as client-go does (probed after 30 s idle, given
up after 9 unanswered probes 15 s apart), so a dead watch fails and the informer relists."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from perfrun.kube.client import load_api_client


def test_every_api_connection_is_dialled_with_tcp_keepalive(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    api = load_api_client(str(kubeconfig), connections=8)
    options = api.rest_client.pool_manager.connection_pool_kw["socket_options"]
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30) in options
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in options  # urllib3's own default kept
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == 8
