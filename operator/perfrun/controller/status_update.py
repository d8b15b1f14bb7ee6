"""Fold a Plan into the PerfRun status (pure): phase, conditions, timestamps, message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perfrun.api.status import PerfRunStatus, Phase
from perfrun.api.times import rfc3339
from perfrun.controller.conditions import merge_conditions, summary_conditions
from perfrun.controller.machine import Plan


def next_status(
    status: PerfRunStatus, plan: Plan, generation: int | None, now: datetime
) -> PerfRunStatus:
    """The status after ``plan``; equal to ``status`` when nothing changed."""
    wanted = summary_conditions(plan.phase, plan.reason, plan.message)
    wanted.update(plan.steps)
    data: dict[str, Any] = status.model_dump()
    data.update(plan.updates)
    data["phase"] = plan.phase
    data["message"] = plan.message or None
    data["observed_generation"] = generation
    data["conditions"] = [
        c.model_dump()
        for c in merge_conditions(status.conditions, wanted, generation, rfc3339(now))
    ]
    return PerfRunStatus.model_validate(data)


def status_patch(old: PerfRunStatus, new: PerfRunStatus) -> dict[str, Any]:
    """A merge patch for the status subresource: only the top-level fields that changed
    (None deletes a field), so an idle reconcile writes nothing."""
    before = old.model_dump(by_alias=True, mode="json", exclude_none=True)
    after = new.model_dump(by_alias=True, mode="json", exclude_none=True)
    patch: dict[str, Any] = {k: v for k, v in after.items() if before.get(k) != v}
    patch.update({k: None for k in before if k not in after})
    return patch


# The fields of a condition that are only its wording.
_WORDING = frozenset({"message"})
# Phases whose messages are only progress for a reader ("waiting for prometheus", the load's
# rate): nothing reads them back. Others' are not held: an analysis leaves its reason in the
# message, and the verdict reads it from the stored status.
_PROGRESS_PHASES = frozenset({Phase.PROVISIONING.value, Phase.LOADING.value})


def can_wait(old: dict[str, Any], patch: dict[str, Any]) -> bool:
    """Whether ``patch`` (from :func:`status_patch`) to the stored status ``old`` only
    rewords a run's progress: its message and its conditions' messages change, in
    Provisioning or Loading, and nothing else -- no phase, reason, condition status,
    timestamp or result. Such a write may come a little late (issue 18: at 200 runs starting
    at once, "waiting for api, prometheus" then "waiting for prometheus" were a PerfRun write
    each, every one a pass through the CRD's schema and CEL rules on a saturated API
    server)."""
    if old.get("phase") not in _PROGRESS_PHASES:
        return False
    if not patch or not set(patch) <= {"message", "conditions"}:
        return False
    if "conditions" not in patch:
        return True
    before = {c["type"]: _without_wording(c) for c in _conditions(old)}
    after = {c["type"]: _without_wording(c) for c in _conditions(patch)}
    return before == after


def _without_wording(condition: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in condition.items() if k not in _WORDING}


def _conditions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = doc.get("conditions") or []
    return [c for c in found if isinstance(c, dict) and "type" in c]
