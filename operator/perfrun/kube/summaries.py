"""Load summaries and progress into ConfigMaps in the run's namespace, one key per load pod:
the operator reads the summaries when the load Job is done and the progress while it runs.
The only load-side code that talks to the API.

``PERFRUN_SUMMARY_CONFIGMAP`` (and ``PERFRUN_PROGRESS_CONFIGMAP``) name the ConfigMap as
``namespace/name`` (or just ``name``, the namespace then coming from ``PERFRUN_NAMESPACE`` or
the pod's service account)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Re-exported: the pods and the tests name keys through here.
from perfrun.api.wire import progress_key as progress_key
from perfrun.api.wire import summary_key as summary_key

ENV_CONFIGMAP = "PERFRUN_SUMMARY_CONFIGMAP"
ENV_PROGRESS_CONFIGMAP = "PERFRUN_PROGRESS_CONFIGMAP"
ENV_NAMESPACE = "PERFRUN_NAMESPACE"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# A ConfigMap holds at most 1 MiB in all; a pod's summary is far below this.
MAX_VALUE_BYTES = 1_000_000


@dataclass(frozen=True)
class ConfigMapRef:
    namespace: str
    name: str


def target_from_env(
    env: Mapping[str, str],
    sa_namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE,
    variable: str = ENV_CONFIGMAP,
) -> ConfigMapRef | None:
    """Where to write the summary (or, with ``variable``, the progress), or None when not
    running in a cluster (the variable is unset)."""
    value = env.get(variable, "").strip()
    if not value:
        return None
    if "/" in value:
        namespace, _, name = value.partition("/")
    else:
        name = value
        namespace = env.get(ENV_NAMESPACE, "").strip()
        if not namespace and sa_namespace_file.is_file():
            namespace = sa_namespace_file.read_text().strip()
    if not namespace or not name:
        raise ValueError(
            f"{variable}={value!r}: need namespace/name, or {ENV_NAMESPACE} set "
            "(or a service account namespace)"
        )
    return ConfigMapRef(namespace=namespace, name=name)


def patch_body(key: str, text: str) -> dict[str, Any]:
    """A merge patch that adds one key and leaves the other pods' keys alone."""
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise ValueError(f"summary {key} is {len(text.encode())} bytes, over a ConfigMap's limit")
    return {"data": {key: text}}


def create_body(
    ref: ConfigMapRef, key: str, text: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ref.name, "namespace": ref.namespace, "labels": dict(labels)},
        **patch_body(key, text),
    }


@functools.cache
def core_api() -> Any:
    """A CoreV1Api from the pod's service account, or else the kubeconfig; it sends
    perfrun's User-Agent, so the audit log tells the load pods' writes apart. One per
    process: progress and summary writes share it."""
    from kubernetes import client

    from perfrun.kube.client import load_api_client

    return client.CoreV1Api(load_api_client())


def write_key(
    ref: ConfigMapRef,
    key: str,
    text: str,
    labels: Mapping[str, str] | None = None,
    api: Any | None = None,
) -> None:
    """Add (or replace) ``key`` in the ConfigMap, creating it if no pod has yet (a lost create
    race becomes a patch). ``api``: a CoreV1Api to use (default: :func:`core_api`)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    if api is None:
        api = core_api()
    body = patch_body(key, text)
    try:
        api.patch_namespaced_config_map(ref.name, ref.namespace, body)
        return
    except ApiException as exc:
        if exc.status != 404:
            raise
    try:
        created = create_body(ref, key, text, labels or {})
        cm = client.V1ConfigMap(
            api_version="v1",
            kind="ConfigMap",
            metadata=client.V1ObjectMeta(**created["metadata"]),
            data=created["data"],
        )
        api.create_namespaced_config_map(ref.namespace, cm)
    except ApiException as exc:
        if exc.status != 409:
            raise
        api.patch_namespaced_config_map(ref.name, ref.namespace, body)
