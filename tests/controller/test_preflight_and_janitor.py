"""Specs that pass the schema but cannot run, and the janitor's judgement (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from perfrun.api import PerfRun
from perfrun.api.perfrun import PerfRunSpec
from perfrun.controller.janitor import in_scope, orphan_reason
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


def test_janitor_scope_follows_the_operators_namespace_globs() -> None:
    everything = in_scope([])
    assert everything("team-a") and everything("anything")
    some = in_scope(["team-*", "perf"])
    assert some("team-a") and some("perf")
    assert not some("other") and not some("perf-x")
