"""``status.load`` from the load pods' progress reports (pure): the ConfigMap
``load-progress`` (rendered with the load Job) holds each pod's latest report under
``progress-<i>.json``; the run's progress is their sum. A pod whose report is final has
stopped sending, so it adds its counts but no current rate, target or in-flight requests."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import ValidationError

from perfrun.api.status import LoadProgress
from perfrun.api.wire import PROGRESS_KEY_PREFIX, ProgressReport

log = logging.getLogger(__name__)


def _report(key: str, text: str) -> ProgressReport | None:
    """One pod's report, or None (logged) when it is not one: a bad report is skipped, never
    a reason to fail the run."""
    try:
        return ProgressReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "report"
        log.warning("load progress %s unreadable: %s: %s", key, where, first["msg"])
        return None


def sum_progress(data: Mapping[str, str]) -> LoadProgress | None:
    """The run's progress from the ConfigMap's data; None when no pod has reported yet."""
    reports = [
        doc
        for key, text in sorted(data.items())
        if key.startswith(PROGRESS_KEY_PREFIX) and (doc := _report(key, text)) is not None
    ]
    if not reports:
        return None
    live = [r for r in reports if not r.final]
    return LoadProgress(
        pods=len(reports),
        step=max(r.step for r in reports),
        steps=max(r.steps for r in reports),
        target_rps=round(sum(r.target_rps for r in live), 3),
        target_users=sum(r.target_users for r in live),
        achieved_rps=round(sum(r.achieved_rps for r in live), 3),
        in_flight=sum(r.in_flight for r in live),
        backed_off=any(r.backed_off for r in live),
        requests=sum(r.requests for r in reports),
        errors=sum(r.errors for r in reports),
        dropped=sum(r.dropped for r in reports),
        load_cpu_cores=round(sum(r.cpu_cores for r in live), 3),
        p99_ms=max((r.p99_ms for r in reports if r.p99_ms is not None), default=None),
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
    if progress.dropped:
        parts.append(f"{progress.dropped} dropped (the load pods could not keep up)")
    if progress.backed_off:
        parts.append("backed off")
    pods = "1 pod" if progress.pods == 1 else f"{progress.pods} pods"
    return f"{', '.join(parts)} ({pods})"
