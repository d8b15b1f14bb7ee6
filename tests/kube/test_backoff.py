"""Backoff on 429/5xx honouring Retry-After (issue 18), against a real HTTP server that
speaks enough of the Kubernetes API for the real client (discovery, one namespace)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes.client import ApiClient, Configuration

from perfrun.kube.backoff import Backoff
from perfrun.kube.client import Kube
from perfrun.kube.errors import KubeError

DISCOVERY = {
    "/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False,
             "kind": "Namespace", "verbs": ["get", "list"]},
        ],
    },
}  # fmt: skip
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a"}}


class _Server:
    """Answers the namespace GET with the queued (status, headers) first, then 200."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, dict[str, str]]] = []
        self.hits: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in DISCOVERY:
                    return self._send(200, DISCOVERY[path])
                if not path.startswith("/api/v1/namespaces/"):
                    return self._send(404, {"kind": "Status", "code": 404})
                server.hits.append(time.monotonic())
                if server.queue:
                    status, headers = server.queue.pop(0)
                    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "message": "slow down", "code": status}  # fmt: skip
                    return self._send(status, body, headers)
                return self._send(200, NAMESPACE)

            def _send(
                self, status: int, body: object, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.httpd.shutdown()


def _kube(url: str, policy: Backoff) -> Kube:
    conf = Configuration()
    conf.host = url
    return Kube(ApiClient(conf), backoff=policy)


def test_429_waits_what_retry_after_says_then_succeeds(server: _Server) -> None:
    kube = _kube(server.url, Backoff(attempts=4, first=0.05, cap=5))
    server.queue = [(429, {"Retry-After": "1"}), (429, {"Retry-After": "1"})]
    got = kube.get("v1", "Namespace", "ns-a")
    assert got is not None and got["metadata"]["name"] == "ns-a"
    assert len(server.hits) == 3
    gaps = [b - a for a, b in zip(server.hits, server.hits[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # the server's 1 s, not the 0.05 s default


def test_503_without_retry_after_backs_off_exponentially(server: _Server) -> None:
    kube = _kube(server.url, Backoff(attempts=4, first=0.2, cap=5))
    server.queue = [(503, {}), (503, {})]
    assert kube.get("v1", "Namespace", "ns-a") is not None
    gaps = [b - a for a, b in zip(server.hits, server.hits[1:], strict=False)]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps


def test_retry_after_is_capped_and_the_last_error_reaches_the_caller(server: _Server) -> None:
    kube = _kube(server.url, Backoff(attempts=2, first=0.05, cap=0.3))
    server.queue = [(429, {"Retry-After": "120"})] * 3
    started = time.monotonic()
    with pytest.raises(KubeError) as err:
        kube.get("v1", "Namespace", "ns-a")
    assert err.value.status == 429 and err.value.retry_after == 120
    assert len(server.hits) == 2
    assert time.monotonic() - started < 5  # capped at 0.3 s, not 120 s


def test_a_refusal_is_not_retried(server: _Server) -> None:
    kube = _kube(server.url, Backoff(attempts=4, first=0.05, cap=1))
    server.queue = [(403, {})]
    with pytest.raises(KubeError) as err:
        kube.get("v1", "Namespace", "ns-a")
    assert err.value.status == 403 and len(server.hits) == 1
