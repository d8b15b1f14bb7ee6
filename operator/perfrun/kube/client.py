"""The operator's door to the Kubernetes API: server-side apply under one field manager,
reads, deletes. Everything else in the package works on plain dicts it returns, and sees the
client's errors as :mod:`perfrun.kube.errors` types."""

from __future__ import annotations

import builtins
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kubernetes import config, watch
from kubernetes.client import ApiClient, rest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.resource import Resource
from kubernetes.utils.keepalive import tcp_keepalive_socket_options
from urllib3.util.retry import Retry

from perfrun import __version__
from perfrun.kube.backoff import DEFAULT, Backoff, with_backoff
from perfrun.kube.errors import KindNotServedError, KubeError, translated
from perfrun.kube.proxy import ProxyRoute, api_server_route

FIELD_MANAGER = "perfrun-operator"
T = TypeVar("T")


USER_AGENT = f"perfrun/{__version__}"


def _as_dict(_client: object, data: Any) -> Any:
    """The dynamic client's answer as the JSON it was: its default wraps every answer (and
    every watch event) in a ResourceInstance, recursively, which callers here turned back
    into a dict -- at 200 runs a seventh of the operator's CPU (py-spy)."""
    return data


def load_api_client(kubeconfig: str | None = None, connections: int | None = None) -> ApiClient:
    """An ApiClient from the in-cluster service account, else from a kubeconfig file. It
    says who it is, so the API server's audit log can tell perfrun's requests apart.
    ``connections``: how many it keeps open (one per thread using it at once; urllib3 would
    otherwise open and drop a TLS connection per request above its pool's size)."""
    api: ApiClient | None = None
    if kubeconfig is None:
        try:
            config.load_incluster_config()
            api = ApiClient()
        except config.ConfigException:
            pass
    if api is None:
        api = config.new_client_from_config(config_file=kubeconfig)
    api.user_agent = USER_AGENT
    if connections is not None:
        api.configuration.connection_pool_maxsize = connections
    return _answers_reach_us(api)


def _answers_reach_us(api: ApiClient) -> ApiClient:
    """urllib3 by default sleeps out a 429/503's Retry-After inside the request, however long
    the server asks (a tick thread held for minutes): here it retries connection failures
    only, and the API server's answers reach :func:`perfrun.kube.backoff.with_backoff`. A
    dead connection is found by TCP keepalive."""
    api.configuration.retries = Retry(
        total=3, status=0, status_forcelist=(), respect_retry_after_header=False
    )
    # TCP keepalive as client-go dials: a watch on a connection that died silently has no
    # read timeout to end it, and would leave its kind's cache stale for ever
    api.configuration.socket_options = tcp_keepalive_socket_options()
    api.rest_client = rest.RESTClientObject(api.configuration)
    return api


# Characters YAML does not take raw (outside its printable set, the byte-order mark) or
# reads as a line break inside a string (NEL, LS, PS: folded, the value changed): sent as
# JSON escapes, which it reads as written. Everything else goes raw, as UTF-8.
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def apply_body(manifest: dict[str, Any]) -> bytes:
    """The body of a server-side apply: JSON, which the API server reads as YAML (the apply
    content type). The client's own ``json.dumps`` escapes a character outside the Basic
    Multilingual Plane (an emoji) as a surrogate pair, which the API server's YAML reader
    refuses ("found invalid Unicode character escape code"): so an emoji in a setting or an
    env value failed the run. Raw UTF-8 it reads."""
    text = json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


class Kube:
    """Thin, typed wrapper over the dynamic client. Counts its writes: the number of API
    writes one PerfRun costs is a figure worth knowing."""

    def __init__(self, api_client: ApiClient, backoff: Backoff = DEFAULT) -> None:
        self.api_client = _answers_reach_us(api_client)
        self.dynamic = DynamicClient(api_client)
        self._resources: dict[tuple[str, str], Resource] = {}
        self._lock = threading.Lock()
        self.writes = 0
        self.backoff = backoff
        # told each object an apply wrote (the API server's answer): an informer's cache
        # then holds it before its watch event comes
        self.on_written: Callable[[dict[str, Any]], None] | None = None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """One API call, its errors translated, retried on 429/5xx (``perfrun.kube.backoff``)."""

        def translated_call() -> T:
            with translated():
                return call()

        return with_backoff(translated_call, what, self.backoff)

    def service_proxy(self, path: str) -> ProxyRoute:
        """``path`` on the API server (e.g. a Service's proxy path) with this client's
        credentials, for a plain HTTP client."""
        return api_server_route(self.api_client.configuration, path)

    def _resource(self, api_version: str, kind: str) -> Resource:
        key = (api_version, kind)
        with self._lock, translated():
            if key not in self._resources:
                self._resources[key] = self.dynamic.resources.get(
                    api_version=api_version, kind=kind
                )
            return self._resources[key]

    def _count_write(self) -> None:
        with self._lock:
            self.writes += 1

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: create or converge, idempotent, one field manager."""
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        self._count_write()
        result = self._call(
            f"apply {manifest['kind']}/{meta['name']}",
            lambda: resource.server_side_apply(
                body=apply_body(manifest),
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                serializer=_as_dict,
            ),
        )
        return self._written(result)

    def _written(self, answer: Any) -> dict[str, Any]:
        """The API server's answer to a write, told to ``on_written``."""
        written = dict(answer)
        if self.on_written is not None:
            self.on_written(written)
        return written

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create an object the caller knows is missing (POST, one field manager); None when
        it exists after all (409: the caller decides whether to converge it). Cheaper for
        the API server than a server-side apply of a new object, which builds the object
        from a typed merge (bench/apiserver_write_cost.py)."""
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        self._count_write()
        try:
            result = self._call(
                f"create {manifest['kind']}/{meta['name']}",
                lambda: resource.create(
                    body=manifest,
                    namespace=meta.get("namespace"),
                    field_manager=FIELD_MANAGER,
                    serializer=_as_dict,
                ),
            )
        except KubeError as exc:
            if exc.status == 409:  # AlreadyExists: a create meets no other conflict
                return None
            raise
        return self._written(result)

    def json_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        operations: list[dict[str, Any]],
        namespace: str | None = None,
    ) -> None:
        """An RFC 6902 JSON patch: for edits that must be conditional (a ``test`` op) or that
        touch fields no field manager owns, such as another controller's finalizer."""
        resource = self._resource(api_version, kind)
        self._count_write()
        self._call(
            f"patch {kind}/{name}",
            lambda: resource.patch(
                body=operations,
                name=name,
                namespace=namespace,
                content_type="application/json-patch+json",
            ),
        )

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        resource = self._resource(api_version, kind)
        try:
            obj = self._call(
                f"get {kind}/{name}",
                lambda: resource.get(name=name, namespace=namespace, serializer=_as_dict),
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(obj)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        resource = self._resource(api_version, kind)
        fields = {"field_selector": field_selector} if field_selector else {}
        try:
            result = self._call(
                f"list {kind}",
                lambda: resource.get(
                    namespace=namespace,
                    label_selector=label_selector,
                    serializer=_as_dict,
                    **fields,
                ),
            )
        except KindNotServedError:
            raise
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        return [dict(item) for item in result.get("items", [])]

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone."""
        resource = self._resource(api_version, kind)
        self._count_write()
        try:
            self._call(
                f"delete {kind}/{name}",
                lambda: resource.delete(
                    name=name, namespace=namespace, body={"propagationPolicy": propagation}
                ),
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str, now: str
    ) -> None:
        """A core/v1 Event on ``involved`` (kubectl describe shows it). Written through the
        dynamic client as a plain dict: ``client.CoreV1Api`` is imported lazily by the
        kubernetes package, a 1.8 s import under Python's import lock, and at an operator's
        start every tick that posted an event waited for it (11 % of the handler threads'
        samples in the first 100 s at 200 runs, bench/operator_scale.py)."""
        meta = involved["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
        }
        resource = self._resource("v1", "Event")
        self._count_write()
        self._call(
            f"event {reason}", lambda: resource.create(body=body, namespace=meta["namespace"])
        )

    def list_versioned(
        self,
        api_version: str,
        kind: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """Every object of a kind in all namespaces (label- and field-selected), and the
        list's resourceVersion, from which a watch goes on."""
        resource = self._resource(api_version, kind)
        fields = {"field_selector": field_selector} if field_selector else {}
        result = self._call(
            f"list {kind}",
            lambda: resource.get(label_selector=label_selector, serializer=_as_dict, **fields),
        )
        version = str((result.get("metadata") or {}).get("resourceVersion") or "")
        return [dict(item) for item in result.get("items", [])], version

    def watch(
        self,
        api_version: str,
        kind: str,
        resource_version: str,
        label_selector: str | None = None,
        timeout_s: int = 300,
        field_selector: str | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) of each change after ``resource_version``, in all namespaces, until
        the server ends the watch (``timeout_s``). BOOKMARK events carry only a version. A
        version too old raises KubeError 410 (relist then)."""
        resource = self._resource(api_version, kind)
        # as DynamicClient.watch, without wrapping each event's object (see _as_dict)
        with translated():
            for event in watch.Watch().stream(
                resource.get,
                label_selector=label_selector,
                field_selector=field_selector,
                resource_version=resource_version,
                serialize=False,
                timeout_seconds=timeout_s,
                allow_watch_bookmarks=True,
            ):
                yield str(event["type"]), dict(event["raw_object"])
