"""Fold a Plan into the PerfRun status (pure): phase, conditions, timestamps, message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perfrun.api.status import PerfRunStatus
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
