"""The tick guard: a reconcile that keeps raising something other than an API trouble (a bug
of ours met by an odd spec, status or child object) must not retry forever. Each run's
consecutive faults are counted (in memory: a restart merely starts the count anew); the
``LIMIT``-th ends the run Failed, reason ``ReconcileError``, naming the exception's type and
where it was raised. An API outage (5xx, a timeout, a conflict) is never counted: it passes.

The exception's own text stays in the operator's log (with the traceback), never in the
status: it may quote anything the failing code held."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from perfrun.api.perfrun import PerfRun
from perfrun.api.status import TERMINAL_PHASES, PerfRunStatus, Phase
from perfrun.api.times import rfc3339
from perfrun.controller.machine import Event, Plan, ended
from perfrun.controller.status_update import next_status, status_patch

LIMIT = 3
REASON = "ReconcileError"


class FaultCounter:
    """Consecutive faulty ticks per run uid (thread-safe: ticks run in a pool)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def fault(self, uid: str) -> int:
        """One more faulty tick of ``uid``; how many in a row now."""
        with self._lock:
            self._counts[uid] = self._counts.get(uid, 0) + 1
            return self._counts[uid]

    def clear(self, uid: str) -> None:
        """A tick of ``uid`` went through (or its fault was acted on)."""
        with self._lock:
            self._counts.pop(uid, None)


def _frame(frame: traceback.FrameSummary) -> str:
    parts = PurePath(frame.filename).parts
    path = "/".join(parts[parts.index("perfrun") :]) if "perfrun" in parts else parts[-1]
    return f"{path}:{frame.lineno} ({frame.name})"


def where(exc: BaseException) -> str:
    """Where ``exc`` was raised, as the innermost two frames of our own code, e.g.
    ``perfrun/api/times.py:17 (parse_time) from perfrun/controller/machine.py:61 (_after)``;
    a frame of a library below ours is named first."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "perfrun" in PurePath(f.filename).parts]
    named = [_frame(f) for f in reversed(ours[-2:])]
    if frames and (not ours or frames[-1] is not ours[-1]):
        named.insert(0, _frame(frames[-1]))
    return " from ".join(named) or "an unknown place"


def describe(exc: BaseException, ticks: int, phase: str | None) -> str:
    during = f" in phase {phase}" if phase else ""
    return (
        f"the reconcile raised {type(exc).__name__}{during} {ticks} times in a row, at "
        f"{where(exc)}; the operator's log has the traceback (this is a bug of the operator, "
        "please report it with the spec)"
    )


@dataclass(frozen=True)
class GuardResult:
    """What the guard wants written: a status merge patch (maybe empty) and Events, and
    whether the run's namespace must go now (the one its name and uid make, never the
    status' word for it: the status may be what is wrong)."""

    patch: dict[str, Any]
    events: list[Event]
    delete_namespace: bool = False


def _status(body: dict[str, Any]) -> PerfRunStatus:
    try:
        return PerfRunStatus.model_validate(body.get("status") or {})
    except ValidationError:  # the status itself may be what broke the ticks
        return PerfRunStatus()


def give_up(body: dict[str, Any], exc: BaseException, ticks: int, now: datetime) -> GuardResult:
    """The run after ``ticks`` faulty reconciles in a row (pure). A run in progress ends
    Failed/ReconcileError; its namespace goes after keepOnFailure, as for any failed run. A
    run already over whose teardown tick keeps failing loses its namespace now: nothing more
    is to be learned from it, and it must not outlive its TTL."""
    raw = body.get("status") or {}
    phase = raw.get("phase") if isinstance(raw, dict) else None
    message = describe(exc, ticks, phase if isinstance(phase, str) else None)
    status = _status(body)
    if status.phase in TERMINAL_PHASES:
        event = Event("Warning", REASON, f"{message}; deleting the run's namespace now")
        return GuardResult({}, [event], delete_namespace=True)
    generation = body.get("metadata", {}).get("generation")
    try:
        spec = PerfRun.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        ).spec
        plan = ended(spec, REASON, message, now)
    except ValidationError:
        plan = Plan(Phase.FAILED, REASON, message)
        plan.updates.update(finished_at=rfc3339(now), delete_at=rfc3339(now))
        plan.events.append(Event("Warning", REASON, f"{Phase.FAILED}: {message}"))
    new = next_status(status, plan, generation, now)
    return GuardResult(status_patch(status, new), plan.events)
