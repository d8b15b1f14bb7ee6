"""When a tick reconciles (issue 18): on a change, at the run's next deadline, else at a slow
resync -- and never later than a deadline the phase machine would act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from perfrun.api.times import rfc3339
from perfrun.controller.schedule import RESYNC_ACTIVE_S, RESYNC_FINISHED_S, Schedule, wake_at

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return rfc3339(NOW + timedelta(seconds=seconds))


def _body(status: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"spec": spec or {}, "status": status}


def test_an_active_run_with_no_deadline_near_waits_one_active_resync() -> None:
    body = _body({"phase": "Loading", "expiresAt": _at(3600)})
    assert wake_at(body, NOW) == NOW + timedelta(seconds=RESYNC_ACTIVE_S)


def test_expiry_ready_timeout_and_drain_end_wake_it_on_time() -> None:
    assert wake_at(_body({"phase": "Loading", "expiresAt": _at(7)}), NOW) == NOW + timedelta(
        seconds=7
    )
    provisioning = _body(
        {"phase": "Provisioning", "startedAt": _at(-50), "expiresAt": _at(3600)},
        {"environment": {"readyTimeout": "1m"}},
    )
    assert wake_at(provisioning, NOW) == NOW + timedelta(seconds=10)
    analyzing = _body(
        {"phase": "Analyzing", "expiresAt": _at(3600), "loadWindow": {"end": _at(-10)}},
        {"analysis": {"gates": [{"within": "30s"}, {"within": "15s"}]}},
    )
    assert wake_at(analyzing, NOW) == NOW + timedelta(seconds=20)


def test_a_finished_run_wakes_at_its_delete_time_else_rarely() -> None:
    assert wake_at(_body({"phase": "Failed", "deleteAt": _at(42)}), NOW) == NOW + timedelta(
        seconds=42
    )
    far = _body({"phase": "Succeeded", "deleteAt": _at(86400)})
    assert wake_at(far, NOW) == NOW + timedelta(seconds=RESYNC_FINISHED_S)
    past = _body({"phase": "Succeeded", "deleteAt": _at(-5)})  # due now: the resync bounds it
    assert wake_at(past, NOW) == NOW + timedelta(seconds=RESYNC_FINISHED_S)


def test_garbage_in_the_status_never_raises() -> None:
    body = _body({"phase": "Loading", "expiresAt": "not a time", "startedAt": 5})
    assert wake_at(body, NOW) == NOW + timedelta(seconds=RESYNC_ACTIVE_S)


def test_due_on_first_sight_a_new_version_a_change_a_poke_or_the_wake_time() -> None:
    s = Schedule()
    assert s.due("u", "1", 0, NOW)  # never judged by this process (a restart)
    s.done("u", "1", 0, NOW + timedelta(seconds=30))
    assert not s.due("u", "1", 0, NOW + timedelta(seconds=29))
    assert s.due("u", "2", 0, NOW)  # the PerfRun changed (spec, or our own status write)
    assert s.due("u", "1", 1, NOW)  # something changed in its namespace
    assert s.due("u", "1", 0, NOW + timedelta(seconds=30))  # its wake time
    s.again("u")  # its analysis finished, or its reconcile failed
    assert s.due("u", "1", 0, NOW)
    s.forget("u")
    assert s.due("u", "1", 0, NOW)


def test_a_held_write_brings_the_next_reconcile_forward_to_when_it_is_due() -> None:
    s = Schedule(hold_s=10)
    assert not s.hold("u", NOW)  # nothing written yet by this process: never held
    s.wrote("u", NOW)
    assert s.hold("u", NOW + timedelta(seconds=4))
    s.done("u", "1", 0, NOW + timedelta(seconds=30))
    assert not s.due("u", "1", 0, NOW + timedelta(seconds=9))
    assert s.due("u", "1", 0, NOW + timedelta(seconds=10))  # the held write's time
    assert not s.hold("u", NOW + timedelta(seconds=10))  # then it goes out
    s.done("u", "1", 0, NOW + timedelta(seconds=30))  # nothing held: the wake time stands
    assert not s.due("u", "1", 0, NOW + timedelta(seconds=29))
    assert not s.hold("v", NOW + timedelta(seconds=4))  # per run
