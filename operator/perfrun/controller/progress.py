"""``status.load`` from the load pods' progress reports (pure): the ConfigMap
``load-progress`` (rendered with the load Job) holds each pod's latest report under
``progress-<i>.json``; the run's progress is their sum. A pod whose report is final has
stopped sending, so it adds its counts but no current rate, target or in-flight requests."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from perfrun.api.status import LoadProgress

log = logging.getLogger(__name__)
KEY_PREFIX = "progress-"


COUNTS = ("step", "steps", "targetUsers", "inFlight", "requests", "errors")
RATES = ("targetRps", "achievedRps")


def _report(key: str, text: str) -> dict[str, Any] | None:
    """One pod's report, or None (logged) when it is not one: a bad report is skipped, never
    a reason to fail the run."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        for name in COUNTS:
            value = doc.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} is not a count: {value!r}")
        for name in RATES:
            value = doc.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} is not a number: {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} is not a rate: {value!r}")
        return doc
    except ValueError as exc:
        log.warning("load progress %s unreadable: %s", key, exc)
        return None


def sum_progress(data: Mapping[str, str]) -> LoadProgress | None:
    """The run's progress from the ConfigMap's data; None when no pod has reported yet."""
    reports = [
        doc
        for key, text in sorted(data.items())
        if key.startswith(KEY_PREFIX) and (doc := _report(key, text)) is not None
    ]
    if not reports:
        return None
    live = [r for r in reports if not r.get("final")]
    return LoadProgress(
        pods=len(reports),
        step=max(int(r.get("step", 0)) for r in reports),
        steps=max(int(r.get("steps", 0)) for r in reports),
        target_rps=round(sum(float(r.get("targetRps", 0.0)) for r in live), 3),
        target_users=sum(int(r.get("targetUsers", 0)) for r in live),
        achieved_rps=round(sum(float(r.get("achievedRps", 0.0)) for r in live), 3),
        in_flight=sum(int(r.get("inFlight", 0)) for r in live),
        backed_off=any(bool(r.get("backedOff")) for r in live),
        requests=sum(int(r.get("requests", 0)) for r in reports),
        errors=sum(int(r.get("errors", 0)) for r in reports),
    )


def describe(progress: LoadProgress) -> str:
    """One line for the Loading phase's message, e.g. ``step 2/3, 180.5 of 200 req/s, 12345
    requests, 3 failed, 2 in flight (2 pods)``."""
    if progress.target_users:
        aim = f"{progress.achieved_rps:g} req/s from {progress.target_users} users"
    else:
        aim = f"{progress.achieved_rps:g} of {progress.target_rps:g} req/s"
    parts = [
        f"step {progress.step}/{progress.steps}",
        aim,
        f"{progress.requests} requests",
        f"{progress.errors} failed",
        f"{progress.in_flight} in flight",
    ]
    if progress.backed_off:
        parts.append("backed off")
    pods = "1 pod" if progress.pods == 1 else f"{progress.pods} pods"
    return f"{', '.join(parts)} ({pods})"
