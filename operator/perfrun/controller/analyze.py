"""Hand a finished load window to the analysis and turn its result into status fields."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from perfrun.analysis.model import Window
from perfrun.analysis.run import analyze
from perfrun.analysis.summaries import LoadSummary, SummaryError, parse_summary
from perfrun.api.perfrun import PerfRun
from perfrun.api.status import PerfRunStatus
from perfrun.controller.machine import parse_time
from perfrun.kube.client import Kube
from perfrun.render.context import RunContext

log = logging.getLogger(__name__)
SUMMARY_CONFIGMAP = "load-summary"


def prometheus_url(run: PerfRun, ctx: RunContext) -> str | None:
    """The embedded Prometheus by its Service DNS name (reachable when the operator runs in
    the cluster), or the external one from the spec."""
    source = run.spec.analysis.prometheus
    if source.url:
        return source.url
    return f"http://prometheus.{ctx.namespace}.svc:9090"


def load_summaries(kube: Kube, ctx: RunContext) -> list[LoadSummary]:
    """The per-pod summaries the load Job wrote; unreadable ones are skipped (and logged):
    the analysis then falls back to Prometheus, or ends Inconclusive."""
    cm = kube.get("v1", "ConfigMap", SUMMARY_CONFIGMAP, ctx.namespace)
    out: list[LoadSummary] = []
    for key, text in sorted(((cm or {}).get("data") or {}).items()):
        try:
            out.append(parse_summary(json.loads(text), name=key))
        except (ValueError, SummaryError) as exc:
            log.warning("load summary %s unreadable: %s", key, exc)
    return out


def analyze_run(
    run: PerfRun, ctx: RunContext, kube: Kube, status: PerfRunStatus, now: datetime
) -> dict[str, Any]:
    window = status.load_window
    start = parse_time(window.start).timestamp() if window else now.timestamp()
    end = parse_time(window.end).timestamp() if window and window.end else now.timestamp()
    result = analyze(
        run.spec.analysis,
        prometheus_url(run, ctx),
        Window(start=start, end=end),
        load_summaries(kube, ctx),
        now=now.timestamp(),
    )
    return {
        "results": result.results.model_dump(),
        "verdict": result.verdict,
        "message": result.reason or None,
    }
