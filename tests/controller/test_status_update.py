"""Which status writes may wait (issue 18): a change of progress wording only, never a change
of phase, condition status, reason, timestamp or result, and never in phases whose message
is read back."""

from __future__ import annotations

from typing import Any

import pytest

from perfrun.controller.status_update import can_wait


def _condition(ctype: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-01T12:00:00Z",
        "observedGeneration": 1,
    }


def _status(phase: str, message: str, ready: str = "False") -> dict[str, Any]:
    return {
        "phase": phase,
        "message": message,
        "namespace": "perf-x",
        "conditions": [
            _condition("Ready", ready, "InProgress", message),
            _condition("Reconciling", "True", phase, message),
        ],
    }


def _patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if old.get(k) != v}


def test_a_new_waiting_for_message_may_wait() -> None:
    old = _status("Provisioning", "waiting for api, prometheus")
    new = _status("Provisioning", "waiting for prometheus")
    assert can_wait(old, _patch(old, new))
    assert can_wait(old, {"message": "waiting for prometheus"})


@pytest.mark.parametrize(
    "change",
    [
        {"phase": "Loading"},
        {"namespace": "perf-y"},
        {"loadProgress": {"requests": 5}},
    ],
)
def test_anything_beside_the_wording_is_written_at_once(change: dict[str, Any]) -> None:
    old = _status("Provisioning", "waiting for api")
    new = {**_status("Provisioning", "waiting for prometheus"), **change}
    assert not can_wait(old, _patch(old, new))


def test_a_condition_that_changes_status_reason_or_time_is_written_at_once() -> None:
    old = _status("Provisioning", "waiting for api")
    assert not can_wait(old, _patch(old, _status("Provisioning", "ready", ready="True")))
    reasoned = _status("Provisioning", "waiting for api")
    reasoned["conditions"][1]["reason"] = "ImagePullBackOff"
    assert not can_wait(old, _patch(old, reasoned))
    timed = _status("Provisioning", "waiting for api")
    timed["conditions"][0]["lastTransitionTime"] = "2026-12-01T12:00:05Z"
    assert not can_wait(old, _patch(old, timed))
    fewer = _status("Provisioning", "waiting for api")
    fewer["conditions"].pop()
    assert not can_wait(old, _patch(old, fewer))


@pytest.mark.parametrize("phase", ["Pending", "Analyzing", "Succeeded", "Failed", None])
def test_outside_provisioning_and_loading_nothing_waits(phase: str | None) -> None:
    old = _status(str(phase), "analyzing")
    if phase is None:
        old.pop("phase")
    assert not can_wait(old, {"message": "prometheus did not answer"})


def test_an_empty_patch_is_not_a_write_to_hold() -> None:
    assert not can_wait(_status("Loading", "x"), {})
