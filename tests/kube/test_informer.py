"""The informer's store as readers see it, per namespace, through a LIST, watch events and
the operator's own writes (pure logic: a scripted list and watch stand in for the API
server; tests/kube/test_informer_cluster.py runs it against the real one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from perfrun.kube.client import Kube
from perfrun.kube.informer import Informer


def cm(namespace: str, name: str, version: int, **data: str) -> dict[str, Any]:
    meta = {"namespace": namespace, "name": name, "resourceVersion": str(version)}
    return {"metadata": meta, "data": data}


class ScriptedKube:
    def __init__(self, items: list[dict[str, Any]], events: list[tuple[str, dict[str, Any]]]):
        self.items, self.events = items, events

    def list_versioned(self, *_: Any) -> tuple[list[dict[str, Any]], str]:
        return self.items, "10"

    def watch(self, *_: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.events


def names(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in objs}


def test_each_namespace_reads_its_own_objects_through_list_watch_and_own_writes() -> None:
    listed = [cm("a", "1", 1), cm("a", "2", 2), cm("b", "1", 3)]
    events = [
        ("ADDED", cm("c", "1", 11)),
        ("MODIFIED", cm("a", "1", 12)),
        ("MODIFIED", cm("a", "2", 1)),  # older than held: ignored
        ("DELETED", cm("b", "1", 13)),
        ("BOOKMARK", {"metadata": {"resourceVersion": "14"}}),
    ]
    changed: list[str] = []
    kube = cast(Kube, ScriptedKube(listed, events))
    inf = Informer(kube, "v1", "ConfigMap", None, changed.append)
    assert inf._relist() == "10"
    assert names(inf.items("a")) == {"1": "1", "2": "2"} and names(inf.items("b")) == {"1": "3"}
    assert inf._watch("10") == "14"
    assert names(inf.items("a")) == {"1": "12", "2": "2"}
    assert inf.items("b") == [] and names(inf.items("c")) == {"1": "11"}
    inf.remember(cm("d", "9", 15))
    inf.remember(cm("c", "1", 5))  # older than the watch's: ignored
    assert names(inf.items("d")) == {"9": "15"} and names(inf.items("c")) == {"1": "11"}
    assert len(inf.items()) == 4 and inf.get("a", "1") == cm("a", "1", 12)
    assert set(changed) >= {"a", "b", "c", "d"}
    # a relist replaces everything, the per-namespace view included
    inf.kube = cast(Kube, ScriptedKube([cm("e", "1", 20)], []))
    inf._relist()
    assert inf.items("a") == [] and inf.items("d") == [] and names(inf.items("e")) == {"1": "20"}
    # readers get copies
    inf.items("e")[0]["data"]["x"] = "changed"
    assert inf.items("e")[0]["data"] == {}
    # a reader's filter chooses before anything is copied; the copies are still copies
    kept = inf.items("e", lambda o: o["metadata"]["name"] == "1")
    assert names(kept) == {"1": "20"} and inf.items("e", lambda o: False) == []
    kept[0]["metadata"]["name"] = "renamed"
    assert names(inf.items("e")) == {"1": "20"}
