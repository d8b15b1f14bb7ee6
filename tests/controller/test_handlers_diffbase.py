"""kopf keeps no "last handled state" for this level-triggered operator (handlers.NoDiffBase):
each event reads as unchanged and nothing is written for it. The cluster-side count of
kopf's PerfRun patches is in tests/controller/test_operator_e2e.py."""

from __future__ import annotations

import kopf

from perfrun.controller.handlers import NoDiffBase


def body(**metadata: object) -> kopf.Body:
    raw = {
        "apiVersion": "perfrun.dev/v1alpha1",
        "kind": "PerfRun",
        "metadata": {"name": "r", "namespace": "ns", "annotations": {"a": "1"}, **metadata},
        "spec": {"dataset": {"schema": "x" * 300_000}},
        "status": {"phase": "Loading"},
    }
    return kopf.Body(raw)


def test_every_event_reads_as_unchanged_and_nothing_is_stored() -> None:
    storage = NoDiffBase()
    for b in (body(), body(labels={"changed": "yes"}), body(annotations={"b": "2"})):
        assert storage.fetch(body=b) == storage.build(body=b) == {}
        patch = kopf.Patch()
        storage.store(body=b, patch=patch, essence=storage.build(body=b))
        assert not patch  # no write: the annotation kopf's default stored is never sent
