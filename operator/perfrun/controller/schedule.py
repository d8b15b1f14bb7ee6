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
    ones rarely),
  * a status write its last reconcile held back came due (``hold``: a change of messages
    only waits up to WORDING_HOLD_S after the run's last write).

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
# A status write that changes only messages waits until this long after the run's last
# status write (``Schedule.hold``); the run is judged again then, so its latest word is
# always written, at most this late.
WORDING_HOLD_S = 10.0
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

    def __init__(self, hold_s: float = WORDING_HOLD_S) -> None:
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()
        self._hold = timedelta(seconds=hold_s)
        self._written: dict[str, datetime] = {}  # each run's last status write
        self._held: dict[str, datetime] = {}  # when a held write is due

    def due(self, uid: str, version: str, changes: int, now: datetime) -> bool:
        with self._lock:
            seen = self._seen.get(uid)
        if seen is None or seen.poked:
            return True
        return version != seen.version or changes != seen.changes or now >= seen.wake

    def done(self, uid: str, version: str, changes: int, wake: datetime) -> None:
        """After a reconcile: what it saw (``changes`` read before it looked); a write it
        held back brings the next reconcile forward to when that write is due."""
        with self._lock:
            held = self._held.pop(uid, None)
            self._seen[uid] = _Seen(version, changes, min(wake, held) if held else wake)

    def hold(self, uid: str, now: datetime) -> bool:
        """Whether a status write of messages only waits (the run's last write was less
        than the hold ago); when it does, the run's next reconcile comes when it is due."""
        with self._lock:
            last = self._written.get(uid)
            if last is None or now >= last + self._hold:
                return False
            self._held[uid] = last + self._hold
            return True

    def wrote(self, uid: str, now: datetime) -> None:
        """The run's status was written (its reconcile's patch went to kopf)."""
        with self._lock:
            self._written[uid] = now

    def again(self, uid: str) -> None:
        """Judge the run at its next tick (its reconcile failed, or its analysis is done)."""
        with self._lock:
            seen = self._seen.get(uid)
            if seen is not None:
                seen.poked = True

    def forget(self, uid: str) -> None:
        with self._lock:
            self._seen.pop(uid, None)
            self._written.pop(uid, None)
            self._held.pop(uid, None)
