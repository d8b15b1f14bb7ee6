"""The body of a server-side apply against the real API server: characters outside the Basic
Multilingual Plane (an emoji in a setting or an env value) and the ones YAML does not take
raw arrive as written. The client's own JSON escaped an emoji as a surrogate pair, which the
API server's YAML reader refused: the run failed ApplyRejected for a legitimate value."""

from __future__ import annotations

import json

import pytest
from tests.support.cluster import KubeCluster

from perfrun.kube.client import Kube, apply_body, load_api_client

pytestmark = pytest.mark.cluster
TEXT = "caf\u00e9 \u2603 \U0001f600 nel\u0085 ls\u2028 ps\u2029 bom\ufeff del\x7f end"


def test_the_body_is_json_with_raw_utf8_and_escapes_only_what_yaml_refuses() -> None:
    body = apply_body({"data": {"k": TEXT}})
    assert json.loads(body) == {"data": {"k": TEXT}}
    text = body.decode()
    assert "\U0001f600" in text and "\\ud83d" not in text
    for escaped in ("\\u0085", "\\u2028", "\\u2029", "\\ufeff", "\\u007f"):
        assert escaped in text, text


def test_an_emoji_reaches_the_api_server_as_written(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    kube = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "emoji", "namespace": kube_namespace},
        "data": {"k": TEXT},
    }
    applied = kube.apply(manifest)
    assert applied["data"]["k"] == TEXT
    stored = kube.get("v1", "ConfigMap", "emoji", kube_namespace)
    assert stored is not None and stored["data"]["k"] == TEXT
