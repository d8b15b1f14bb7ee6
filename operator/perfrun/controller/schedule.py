"""When a run's tick reconciles: on a change, at its next deadline, else at a slow resync.

kopf calls every run's tick each reconcile interval. A reconcile is cheap now that reads come
from the informer cache, but a run that waits for nothing still need not be judged every two
seconds. A tick reconciles when

  * this process has not reconciled the run yet (a restarted operator judges every run once),
  * the PerfRun changed (its resourceVersion: a spec edit, or the status our last reconcile
    wrote -- the next step follows at once),
  * something changed in the run's namespace (the informers' change count),
  * its analysis finished (``poke``),
  * one of its deadlines came (``wake_at``: expiry, readyTimeout, the drain wait, the
    namespace's deletion time), or the resync interval passed (active runs often, finished
    ones rarely).

Deadlines are computed from the status, as the phase machine computes them, so a skipped
tick never makes a deadline late by more than one interval."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from perfrun.api.times import parse_time
from perfrun.api.types import parse_duration

RESYNC_ACTIVE_S = 30.0
RESYNC_FINISHED_S = 300.0
TERMINAL = frozenset({"Succeeded", "Failed", "Expired", "Aborted", "Invalid"})


def _at(stamp: Any, plus_s: float = 0.0) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return parse_time(stamp) + timedelta(seconds=plus_s)
    except ValueError:
        return None


def _duration(text: Any) -> float:
    try:
        return float(parse_duration(str(text))) if text else 0.0
    except (ValueError, TypeError):
        return 0.0


def _drain_s(spec: dict[str, Any]) -> float:
    gates = ((spec.get("analysis") or {}).get("gates")) or []
    return max([_duration((g or {}).get("within")) for g in gates if isinstance(g, dict)] + [0.0])


def wake_at(body: dict[str, Any], now: datetime) -> datetime:
    """The latest time the run must be judged again if nothing changes (pure): its next
    deadline, at most a resync interval away."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    phase = status.get("phase")
    finished = phase in TERMINAL
    resync = now + timedelta(seconds=RESYNC_FINISHED_S if finished else RESYNC_ACTIVE_S)
    deadlines: list[datetime | None] = []
    if finished:
        deadlines.append(_at(status.get("deleteAt")))
    else:
        deadlines.append(_at(status.get("expiresAt")))
        started = status.get("startedAt")
        if phase in (None, "Pending", "Provisioning"):
            ready = (spec.get("environment") or {}).get("readyTimeout")
            deadlines.append(_at(started, _duration(ready)) if ready else None)
        window = status.get("loadWindow") or {}
        if phase == "Analyzing":
            deadlines.append(_at(window.get("end"), _drain_s(spec)))
    due = [d for d in deadlines if d is not None and d > now]
    return min([resync, *due])


@dataclass
class _Seen:
    version: str
    changes: int
    wake: datetime
    poked: bool = False


class Schedule:
    """Per run (by uid), what its last reconcile saw; thread-safe (ticks run in a pool)."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def due(self, uid: str, version: str, changes: int, now: datetime) -> bool:
        with self._lock:
            seen = self._seen.get(uid)
        if seen is None or seen.poked:
            return True
        return version != seen.version or changes != seen.changes or now >= seen.wake

    def done(self, uid: str, version: str, changes: int, wake: datetime) -> None:
        """After a reconcile: what it saw (``changes`` read before it looked)."""
        with self._lock:
            self._seen[uid] = _Seen(version, changes, wake)

    def again(self, uid: str) -> None:
        """Judge the run at its next tick (its reconcile failed, or its analysis is done)."""
        with self._lock:
            seen = self._seen.get(uid)
            if seen is not None:
                seen.poked = True

    def forget(self, uid: str) -> None:
        with self._lock:
            self._seen.pop(uid, None)
