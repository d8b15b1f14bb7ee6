"""An informer: one kind's objects in every namespace (label-selected), kept current by one
watch instead of a LIST per reader.

A LIST gives the objects and a resourceVersion; a WATCH from that version streams every
change (BOOKMARK events keep the version fresh while nothing changes); when the server ends
the watch it goes on from the last version; a 410 Gone (the version is too old) relists.
Readers see a copy of the store only once the first LIST is in (``synced``); each change
calls ``on_change(namespace)`` so whoever waits on that namespace can look again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from perfrun.api.jsoncopy import json_copy
from perfrun.kube.backoff import Backoff
from perfrun.kube.client import Kube
from perfrun.kube.errors import KubeError

log = logging.getLogger(__name__)
WATCH_S = 300  # the server ends each watch after this long; it is resumed at once
ERRORS = Backoff(attempts=1_000_000, first=0.5, cap=30.0)
Key = tuple[str, str]  # (namespace or "", name)


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion ``candidate`` is later than ``current``. Versions are opaque
    to clients, but every Kubernetes API server writes etcd's revision there: compared as
    numbers when both are, else the candidate wins (as a watch event would)."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return True


def where(key: Key) -> str:
    """The namespace a change is about: a namespaced object's, or a Namespace's own name."""
    return key[0] or key[1]


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without its managedFields (the largest part, and nobody here reads it)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "managedFields"})
    return obj


class Informer:
    """One kind, cluster-wide, label-selected."""

    def __init__(
        self,
        kube: Kube,
        api_version: str,
        kind: str,
        label_selector: str | None,
        on_change: Callable[[str], None] = lambda _namespace: None,
        field_selector: str | None = None,
    ) -> None:
        self.kube, self.api_version, self.kind = kube, api_version, kind
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_change = on_change
        self.synced = threading.Event()
        self.relists = 0  # LISTs done (the first, then one per 410 or failed watch)
        self.failed: str | None = None  # why the last LIST or WATCH failed, while it does
        self._store: dict[Key, dict[str, Any]] = {}
        # the same objects by namespace: a reconcile reads its own namespace's, and a scan of
        # the whole store per read made each of N runs' reads cost O(N)
        self._by_namespace: dict[str, dict[Key, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"informer-{kind}", daemon=True)

    def start(self) -> Informer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    # -- reading ------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._store.get((namespace or "", name))
        return json_copy(obj) if obj is not None else None

    def items(
        self,
        namespace: str | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the objects (in ``namespace``), only those ``keep`` accepts: chosen
        before they are copied, as a reader wants few of a namespace's objects."""
        with self._lock:
            if namespace is None:
                found = list(self._store.values())
            else:
                found = list(self._by_namespace.get(namespace, {}).values())
        return [json_copy(o) for o in found if keep is None or keep(o)]

    def _put(self, key: Key, obj: dict[str, Any]) -> None:
        """Store ``obj`` under ``key`` (the lock held)."""
        self._store[key] = obj
        self._by_namespace.setdefault(key[0], {})[key] = obj

    def _drop(self, key: Key) -> None:
        """Forget ``key`` (the lock held)."""
        self._store.pop(key, None)
        held = self._by_namespace.get(key[0])
        if held is not None:
            held.pop(key, None)
            if not held:
                del self._by_namespace[key[0]]

    def remember(self, obj: dict[str, Any]) -> None:
        """An object this process just wrote (the API server's answer): readers see it before
        its watch event arrives, so a reconcile right after a create does not create again."""
        key = _key(obj)
        with self._lock:
            held = self._store.get(key)
            if held is not None and not newer(_version(obj), _version(held)):
                return
            self._put(key, _slim(obj))
        self.on_change(where(key))

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        version = ""
        failures = 0
        while not self._stopped.is_set():
            try:
                if not version:
                    version = self._relist()
                version = self._watch(version)
                failures = 0
                self.failed = None
            except KubeError as exc:
                if exc.status == 410:  # the version is gone from the server's history
                    log.info("informer %s: %s; relisting", self.kind, exc.reason or "410 Gone")
                    version = ""
                    continue
                failures, version = self._failed(failures, f"{exc.status} {exc.reason}", exc)
            except Exception as exc:  # a dropped connection, a timeout: list again after a wait
                failures, version = self._failed(failures, type(exc).__name__, exc)

    def _failed(self, failures: int, what: str, exc: Exception) -> tuple[int, str]:
        self.failed = what
        wait = ERRORS.delay(failures, exc if isinstance(exc, KubeError) else KubeError(0, what))
        log.warning("informer %s: %s; again in %.1fs", self.kind, what, wait)
        self._stopped.wait(wait)
        return failures + 1, ""

    def _relist(self) -> str:
        items, version = self.kube.list_versioned(
            self.api_version, self.kind, self.label_selector, self.field_selector
        )
        fresh = {_key(o): _slim(o) for o in items}
        by_namespace: dict[str, dict[Key, dict[str, Any]]] = {}
        for key, obj in fresh.items():
            by_namespace.setdefault(key[0], {})[key] = obj
        with self._lock:
            old, self._store, self._by_namespace = self._store, fresh, by_namespace
        self.relists += 1
        changed = {where(k) for k in old.keys() ^ fresh.keys()}
        changed |= {
            where(k) for k in old.keys() & fresh.keys() if _version(old[k]) != _version(fresh[k])
        }
        self.synced.set()
        for namespace in changed:
            self.on_change(namespace)
        return version

    def _watch(self, version: str) -> str:
        """Follow one watch to its end; the last version seen."""
        for type_, obj in self.kube.watch(
            self.api_version, self.kind, version, self.label_selector, WATCH_S, self.field_selector
        ):
            if self._stopped.is_set():
                break
            version = _version(obj) or version
            if type_ == "BOOKMARK":
                continue
            key = _key(obj)
            with self._lock:
                held = self._store.get(key)
                if type_ == "DELETED":
                    self._drop(key)
                elif held is None or newer(_version(obj), _version(held)):
                    self._put(key, _slim(obj))
            self.on_change(where(key))
        return version
