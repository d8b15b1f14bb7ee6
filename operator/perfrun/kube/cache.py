"""Reads of the run namespaces from informers (``perfrun.kube.informer``) instead of the API
server: the same ``get``/``list`` as :class:`perfrun.kube.client.Kube`, served from memory
for the kinds it caches once their first LIST is in, and from the API server for every other
kind, a kind whose informer has not synced yet, or a selector it cannot judge. So a reader
never acts on a cache that has not synced.

Each namespace has a change count: it grows with every change the watches see there (and
every write remembered), so a reconcile can tell whether anything changed since it last
looked."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from perfrun.kube.client import Kube
from perfrun.kube.informer import Informer

Kind = tuple[str, str]  # (apiVersion, kind)


class Reader(Protocol):
    """What observing a run needs: :class:`Kube` and :class:`Cache` both are one."""

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None: ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...


def parse_selector(text: str | None) -> dict[str, str | None] | None:
    """{label: value, or None for "exists"} of a selector of equalities and existence checks
    ("a=b,c"); None for anything else (set-based terms, inequalities: left to the server)."""
    out: dict[str, str | None] = {}
    for term in (t.strip() for t in (text or "").split(",")):
        if not term:
            continue
        if any(c in term for c in "!()<> ") or term.count("=") > 1 or "==" in term:
            return None
        name, _, value = term.partition("=")
        out[name] = value if "=" in term else None
    return out


def _terms(selector: str | None) -> frozenset[str]:
    return frozenset(t.strip() for t in (selector or "").split(",") if t.strip())


def matches(obj: dict[str, Any], selector: Mapping[str, str | None]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(
        name in labels and (value is None or labels[name] == value)
        for name, value in selector.items()
    )


class Cache:
    """Informers for ``kinds`` ({(apiVersion, kind): the label selector every cached object
    carries}), each started on first use (or all at once by ``start``)."""

    def __init__(
        self,
        kube: Kube,
        watcher: Kube,
        kinds: Mapping[Kind, str],
        fields: Mapping[Kind, str] | None = None,
    ) -> None:
        self.kube = kube  # for what is not cached
        self.watcher = watcher  # the informers' own client (a watch holds a connection)
        self.kinds = dict(kinds)
        # a field selector some kinds are watched with (Events: only the reasons wanted)
        self.fields = dict(fields or {})
        self._informers: dict[Kind, Informer] = {}
        self._changes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    # -- informers ----------------------------------------------------------------------

    def start(self) -> None:
        for kind in self.kinds:
            self.informer(kind)

    def stop(self) -> None:
        with self._lock:
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop()

    def informer(self, kind: Kind) -> Informer | None:
        """The informer of a cached kind (started now if it was not), else None."""
        if kind not in self.kinds:
            return None
        with self._lock:
            found = self._informers.get(kind)
            if found is None:
                found = Informer(
                    self.watcher,
                    kind[0],
                    kind[1],
                    self.kinds[kind] or None,
                    self._note,
                    self.fields.get(kind),
                )
                self._informers[kind] = found.start()
        return found

    def _synced(self, kind: Kind) -> Informer | None:
        informer = self.informer(kind)
        return informer if informer is not None and informer.synced.is_set() else None

    def synced(self) -> bool:
        """Whether every cached kind's first LIST is in."""
        return all(self._synced(kind) is not None for kind in self.kinds)

    # -- changes --------------------------------------------------------------------------

    def _note(self, namespace: str) -> None:
        with self._changed:
            self._changes[namespace] += 1
            self._changed.notify_all()

    def changes(self, namespace: str) -> int:
        """How many changes the watches saw in ``namespace`` and to the namespace itself."""
        with self._lock:
            return self._changes[namespace]

    # -- reads ----------------------------------------------------------------------------

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        informer = self._synced((api_version, kind))
        if informer is None:
            return self.kube.get(api_version, kind, name, namespace)
        # every object this operator reads carries the informer's label: one the informer
        # does not hold is absent, and no request is made
        obj = informer.get(namespace, name)
        if obj is not None:
            obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", api_version)
        return obj

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        if _terms(field_selector) != _terms(self.fields.get((api_version, kind))):
            # fields are judged by the server only: from memory when they are the watch's own
            return self.kube.list(api_version, kind, namespace, label_selector, field_selector)
        informer = self._synced((api_version, kind))
        wanted = parse_selector(label_selector)
        own = parse_selector(self.kinds.get((api_version, kind)))
        # served from memory only when the asked selector implies the informer's own
        covered = (
            wanted is not None
            and own is not None
            and all(
                name in wanted and (value is None or wanted[name] == value)
                for name, value in own.items()
            )
        )
        if informer is None or wanted is None or not covered:
            return self.kube.list(api_version, kind, namespace, label_selector, field_selector)
        return informer.items(namespace, lambda o: matches(o, wanted))

    def remember(self, obj: dict[str, Any]) -> None:
        """A written object (the API server's answer), seen at once by the next read."""
        kind = (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
        own = parse_selector(self.kinds.get(kind))
        if own is None or not matches(obj, own):
            return  # not what its informer selects: its watch would never tell of it again
        informer = self.informer(kind)
        if informer is not None:
            informer.remember(obj)
