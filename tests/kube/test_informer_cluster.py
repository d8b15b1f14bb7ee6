"""The informer and its cache (issue 18) against the real API server: LIST then WATCH,
label-selected; a 410 Gone relists; reads fall back to the API server until the first LIST
is in; a write is seen at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from tests.support.cluster import KubeCluster

from perfrun.kube.cache import Cache
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.errors import KubeError
from perfrun.kube.events import FAILED_CREATES, failed_creates
from perfrun.kube.informer import Informer

pytestmark = pytest.mark.cluster
LABEL = "perfrun.test/informer"


@pytest.fixture
def kube(kube_cluster: KubeCluster) -> Kube:
    return Kube(load_api_client(str(kube_cluster.kubeconfig)))


def _cm(ns: str, name: str, labelled: bool = True, value: str = "1") -> dict[str, object]:
    labels = {LABEL: "yes"} if labelled else {}
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "data": {"v": value},
    }  # fmt: skip


def _until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def informer(kube: Kube) -> Iterator[tuple[Informer, Counter[str]]]:
    changes: Counter[str] = Counter()
    lock = threading.Lock()

    def note(ns: str) -> None:
        with lock:
            changes[ns] += 1

    inf = Informer(kube, "v1", "ConfigMap", LABEL, note).start()
    yield inf, changes
    inf.stop()


def test_it_lists_then_follows_every_change_of_selected_objects(
    kube: Kube, kube_namespace: str, informer: tuple[Informer, Counter[str]]
) -> None:
    inf, changes = informer
    kube.apply(_cm(kube_namespace, "before"))
    _until("the first LIST", inf.synced.is_set)
    _until("the object made before", lambda: inf.get(kube_namespace, "before") is not None)
    kube.apply(_cm(kube_namespace, "after"))
    kube.apply(_cm(kube_namespace, "ignored", labelled=False))
    _until("the new object", lambda: inf.get(kube_namespace, "after") is not None)
    kube.apply(_cm(kube_namespace, "after", value="2"))
    _until("its change", lambda: (inf.get(kube_namespace, "after") or {}).get("data") == {"v": "2"})
    kube.delete("v1", "ConfigMap", "before", kube_namespace)
    _until("its deletion", lambda: inf.get(kube_namespace, "before") is None)
    assert inf.get(kube_namespace, "ignored") is None  # not selected
    assert {o["metadata"]["name"] for o in inf.items(kube_namespace)} == {"after"}
    assert changes[kube_namespace] >= 4
    assert "managedFields" not in inf.items(kube_namespace)[0]["metadata"]  # kept slim
    assert inf.relists == 1


def test_a_version_too_old_is_410_and_the_informer_relists(kube: Kube, kube_namespace: str) -> None:
    with pytest.raises(KubeError) as gone:
        for _ in kube.watch("v1", "ConfigMap", "1", LABEL, timeout_s=5):
            pass
    assert gone.value.status == 410

    class Stale(Informer):
        """Its first LIST hands the watch a compacted version, as after a long outage."""

        def _relist(self) -> str:
            version = super()._relist()
            return "1" if self.relists == 1 else version

    inf = Stale(kube, "v1", "ConfigMap", LABEL).start()
    try:
        _until("the relist after 410", lambda: inf.relists >= 2)
        kube.apply(_cm(kube_namespace, "later"))
        _until("a change after the relist", lambda: inf.get(kube_namespace, "later") is not None)
    finally:
        inf.stop()


def test_the_cache_reads_the_api_until_synced_and_sees_its_own_writes_at_once(
    kube: Kube, kube_namespace: str, kube_cluster: KubeCluster
) -> None:
    kube.apply(_cm(kube_namespace, "one"))
    watcher = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    cache = Cache(kube, watcher, {("v1", "ConfigMap"): LABEL})
    try:
        # not synced: the answer is the API server's, never an empty cache's
        listed = cache.list("v1", "ConfigMap", kube_namespace, f"{LABEL}=yes")
        assert [o["metadata"]["name"] for o in listed] == ["one"]
        _until("sync", cache.synced)
        kube.on_written = cache.remember
        before = cache.changes(kube_namespace)
        kube.apply(_cm(kube_namespace, "two"))
        # the write's answer is in the cache before any watch event could be
        assert cache.get("v1", "ConfigMap", "two", kube_namespace) is not None
        assert cache.changes(kube_namespace) > before
        selected = cache.list("v1", "ConfigMap", kube_namespace, f"{LABEL}=yes")
        assert {o["metadata"]["name"] for o in selected} == {"one", "two"}
        kube.apply(_cm(kube_namespace, "three", labelled=False))
        # a cached kind's object without the informer's label is not there for the cache...
        assert cache.get("v1", "ConfigMap", "three", kube_namespace) is None
        # ...and a selector that does not imply the informer's goes to the API server
        everything = cache.list("v1", "ConfigMap", kube_namespace)
        assert {"one", "two", "three"} <= {o["metadata"]["name"] for o in everything}
    finally:
        cache.stop()


def test_failed_create_events_come_from_a_field_selected_watch(
    kube: Kube, kube_namespace: str, kube_cluster: KubeCluster
) -> None:
    watcher = Kube(load_api_client(str(kube_cluster.kubeconfig)))
    kinds = {("v1", "Event"): ""}
    cache = Cache(kube, watcher, kinds, {("v1", "Event"): FAILED_CREATES})
    involved = _cm(kube_namespace, "owner")
    kube.apply(involved)
    try:
        cache.start()
        _until("sync", cache.synced)
        now = "2026-01-01T00:00:00Z"
        kube.event(involved, "Warning", "FailedCreate", "pods is forbidden: quota", now)
        kube.event(involved, "Normal", "SuccessfulCreate", "created", now)
        _until(
            "the FailedCreate event in the cache",
            lambda: len(cache.informer(("v1", "Event")).items(kube_namespace)) == 1,  # type: ignore[union-attr]
        )
        (seen,) = failed_creates(cache, kube_namespace)
        assert seen.reason == "FailedCreate" and "forbidden" in seen.message
        # the same read as from the API server
        assert failed_creates(kube, kube_namespace) == [seen]
    finally:
        cache.stop()
