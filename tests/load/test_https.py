"""HTTPS targets: the engine verifies the server's certificate against the trusted CAs (the
system's, or ``SSL_CERT_FILE``), and a target it cannot trust is reported by name in the
summary instead of being loaded blindly. A real nginx with a certificate from a CA made
here with openssl."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.loadservers import run_load, start_nginx, stop_nginx
from tests.support.waiting import free_port

pytestmark = pytest.mark.services


@dataclass
class TlsServer:
    url: str
    ca: Path
    other_ca: Path


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(prefix: Path, name: str) -> None:
    _openssl(
        prefix,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.pem",
    )


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    prefix = Path(tempfile.mkdtemp(prefix="perfrun-tls-"))
    _ca(prefix, "ca")
    _ca(prefix, "other-ca")
    _openssl(
        prefix,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (prefix / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        prefix,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    server = start_nginx(
        prefix, free_port(), access_log=False, tls=(prefix / "server.pem", prefix / "server.key")
    )
    try:
        url = f"https://localhost:{server.port}"
        yield TlsServer(url, prefix / "ca.pem", prefix / "other-ca.pem")
    finally:
        stop_nginx(server)
        shutil.rmtree(prefix, ignore_errors=True)


def _load(url: str) -> dict[str, object]:
    return {
        "target": url,
        "requestTimeout": "5s",
        "scenarios": [{"name": "home", "weight": 1, "path": "/"}],
        "budget": {"maxRps": 200, "maxInFlight": 4, "maxDuration": "30s", "maxRetries": 0},
        "ramp": {"model": "open", "steps": [{"rate": 100, "hold": "2s"}]},
    }


def test_https_target_with_a_trusted_certificate_is_loaded(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca))
    res = run_load(tmp_path, _load(tls_server.url))
    assert res.returncode == 0, res.stderr
    s = res.summary
    assert s["requests"] >= 150 and s["failed"] == 0, s
    assert s["statusCodes"] == {"200": s["requests"]}
    assert s["target"]["reachable"] is True


def test_https_target_it_cannot_trust_is_reported_not_loaded(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.other_ca))
    res = run_load(tmp_path, _load(tls_server.url))
    assert res.returncode == 0, res.stderr  # a summary was written; it says what happened
    s = res.summary
    assert s["requests"] > 0 and s["failed"] == s["requests"], s
    assert s["target"]["reachable"] is False
    assert "certificate verify failed" in s["target"]["lastError"], s["target"]
