"""Specs that pass the schema but cannot run, and the janitor's judgement (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from perfrun.api import PerfRun
from perfrun.api.perfrun import PerfRunSpec
from perfrun.controller.janitor import (
    KOPF_FINALIZER,
    finalizers_to_keep,
    in_scope,
    orphan_reason,
    paused_by,
)
from perfrun.controller.preflight import preflight

EXAMPLES = Path(__file__).parents[2] / "examples"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def spec(mutate: Any = None, name: str = "perfrun-full.yaml") -> PerfRunSpec:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    if mutate:
        mutate(doc["spec"])
    return PerfRun.model_validate(doc).spec


def test_examples_can_run() -> None:
    assert preflight(spec()) == []
    assert preflight(spec(name="perfrun-minimal.yaml")) == []


def test_target_must_be_a_workload_of_the_run() -> None:
    (problem,) = preflight(spec(lambda s: s["load"].update(target="http://shop.example:8080")))
    assert "'shop.example' is not a workload" in problem
    assert "api" in problem


def test_target_port_must_match() -> None:
    (problem,) = preflight(spec(lambda s: s["load"].update(target="http://api:9999")))
    assert "port 9999" in problem and "8080" in problem


def test_queue_gate_needs_a_queue() -> None:
    def drop_rabbit(s: dict[str, Any]) -> None:
        s["environment"]["components"] = s["environment"]["components"][:2]

    (problem,) = preflight(spec(drop_rabbit))
    assert "queue-drains" in problem and "rabbitmq" in problem


def namespace(**labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "perf-x-abcde",
            "labels": labels,
            "annotations": {"perfrun.dev/perfrun-uid": "uid-1"},
        },
        "status": {"phase": "Active"},
    }


OURS = {"app.kubernetes.io/managed-by": "perfrun-operator"}


def perfrun(uid: str = "uid-1", **status: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": status}


def test_janitor_never_touches_foreign_namespaces() -> None:
    assert orphan_reason(namespace(), None, NOW) is None
    assert orphan_reason(namespace(**{"app.kubernetes.io/managed-by": "helm"}), None, NOW) is None


def test_janitor_deletes_orphans_and_expired_runs() -> None:
    assert orphan_reason(namespace(**OURS), None, NOW) == "its PerfRun no longer exists"
    assert "re-created" in str(orphan_reason(namespace(**OURS), perfrun(uid="uid-2"), NOW))
    expired = perfrun(expiresAt="2026-11-22T11:00:00Z")
    assert "expiresAt" in str(orphan_reason(namespace(**OURS), expired, NOW))


def test_janitor_keeps_live_and_finished_runs() -> None:
    live = perfrun(expiresAt="2026-11-22T13:00:00Z")
    assert orphan_reason(namespace(**OURS), live, NOW) is None
    # finished runs are torn down by their own reconcile after afterFinished/keepOnFailure
    done = perfrun(expiresAt="2026-11-22T11:00:00Z", finishedAt="2026-11-22T10:00:00Z")
    assert orphan_reason(namespace(**OURS), done, NOW) is None


def test_an_unreadable_expires_at_is_left_to_the_runs_reconcile_and_stops_no_sweep() -> None:
    """A status edited by hand (expiresAt no timestamp) used to raise in the sweep, which
    then judged none of the namespaces after it, every round."""
    for text in ("yesterday", "", "2026-13-99T99:99:99Z", "1700000000"):
        assert orphan_reason(namespace(**OURS), perfrun(expiresAt=text), NOW) is None


def test_janitor_scope_follows_the_operators_namespace_globs() -> None:
    everything = in_scope([])
    assert everything("team-a") and everything("anything")
    some = in_scope(["team-*", "perf"])
    assert some("team-a") and some("perf")
    assert not some("other") and not some("perf-x")


def terminating(finalizers: list[str], **labels: str) -> dict[str, Any]:
    ns = namespace(**labels)
    ns["metadata"]["finalizers"] = finalizers
    ns["metadata"]["deletionTimestamp"] = "2026-11-22T11:59:00Z"
    ns["status"]["phase"] = "Terminating"
    return ns


def test_janitor_strips_only_kopfs_finalizer_from_our_terminating_namespaces() -> None:
    other = "example.com/keep-me"
    assert finalizers_to_keep(terminating([KOPF_FINALIZER], **OURS)) == []
    assert finalizers_to_keep(terminating([other, KOPF_FINALIZER], **OURS)) == [other]
    # phase alone (deletionTimestamp not yet seen) counts as being deleted too
    ns = terminating([KOPF_FINALIZER], **OURS)
    del ns["metadata"]["deletionTimestamp"]
    assert finalizers_to_keep(ns) == []


def test_janitor_leaves_other_finalizers_and_namespaces_alone() -> None:
    assert finalizers_to_keep(terminating([KOPF_FINALIZER])) is None  # not ours
    helm = {"app.kubernetes.io/managed-by": "helm"}
    assert finalizers_to_keep(terminating([KOPF_FINALIZER], **helm)) is None
    assert finalizers_to_keep(terminating(["example.com/keep-me"], **OURS)) is None
    assert finalizers_to_keep(terminating([], **OURS)) is None
    alive = namespace(**OURS)  # not being deleted: kopf's finalizer stays until it is
    alive["metadata"]["finalizers"] = [KOPF_FINALIZER]
    assert finalizers_to_keep(alive) is None


def peer(priority: int, seen: timedelta = timedelta(0), lifetime: int = 60) -> dict[str, Any]:
    """A peer as kopf writes it in the peering object's status, last seen ``seen`` ago."""
    lastseen = (NOW - seen).isoformat()  # kopf: datetime.isoformat(), "+00:00"
    return {"priority": priority, "lifetime": lifetime, "lastseen": lastseen}


def peering(**peers: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "perfrun"}, "status": peers}


def test_janitor_works_in_the_replica_kopf_lets_work() -> None:
    alone = peering(me=peer(10))
    assert paused_by(alone, "me", 10, True, NOW) is None
    lower = peering(me=peer(10), other=peer(5))
    assert paused_by(lower, "me", 10, True, NOW) is None
    # a higher one that died (last keep-alive older than its own lifetime) no longer counts
    dead = peering(me=peer(10), other=peer(50, seen=timedelta(seconds=11), lifetime=10))
    assert paused_by(dead, "me", 10, True, NOW) is None
    # auto-detected peering without the object: kopf runs standalone
    assert paused_by(None, "me", 10, False, NOW) is None


def test_janitor_waits_as_kopf_does() -> None:
    higher = peering(me=peer(10), other=peer(50, seen=timedelta(seconds=9), lifetime=10))
    assert "other (priority 50)" in str(paused_by(higher, "me", 10, True, NOW))
    # kopf pauses every operator that ties
    assert "other (priority 10)" in str(
        paused_by(peering(me=peer(10), other=peer(10)), "me", 10, True, NOW)
    )
    # --peering NAME without the object: kopf waits
    assert "does not exist" in str(paused_by(None, "me", 10, True, NOW))
    # kopf has not registered this replica yet: it is starting and may be paused
    assert "not registered" in str(paused_by(peering(other=peer(5)), "me", 10, True, NOW))
