"""Runs the engine as a process: event loop (uvloop when there), signals, metrics server, and
the summary to a file/stdout and, in a cluster, to the run's ConfigMap. The summary is
written whatever happened to the run."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from perfrun.api.load import LoadSpec
from perfrun.kube import summaries as kube_summaries
from perfrun.load.budget import share_of
from perfrun.load.engine import Engine
from perfrun.load.metrics import LoadMetrics
from perfrun.load.summary import dumps

log = logging.getLogger("perfrun.load")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(
    spec: LoadSpec,
    *,
    index: int,
    count: int,
    summary_path: str | None,
    metrics_port: int | None,
    drain_timeout_s: float | None,
) -> int:
    """Run pod ``index`` of ``count``; write the summary; return the exit code."""
    share = share_of(spec, index, count)
    metrics = LoadMetrics([s.name for s in spec.scenarios])
    if metrics_port is not None:
        metrics.serve(metrics_port)
        log.info("serving /metrics on :%d", metrics_port)
    engine = Engine(spec, share, metrics=metrics, drain_timeout_s=drain_timeout_s)
    log.info(
        "pod %d of %d: maxRps %d, maxInFlight %d, steps %s (%s model), target %s",
        index,
        count,
        share.max_rps,
        share.max_in_flight,
        list(share.step_rates),
        spec.ramp.model,
        spec.target,
    )
    loop = _new_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.stop, "interrupted")
    code = 0
    result: dict[str, Any]
    try:
        result = loop.run_until_complete(engine.run())
    except Exception:
        traceback.print_exc()
        code = 1
        result = {"version": 1, "outcome": "failed", "error": traceback.format_exc(limit=3)}
    finally:
        loop.close()
    text = dumps(result)
    _emit(text, summary_path)
    try:
        ref = kube_summaries.target_from_env(os.environ)
        if ref is not None:
            kube_summaries.write_summary(
                ref, kube_summaries.summary_key(index), text, {"perfrun.dev/part": "load-summary"}
            )
            log.info("summary written to ConfigMap %s/%s", ref.namespace, ref.name)
    except Exception as exc:
        log.error("could not write the summary ConfigMap: %s", exc)
        code = code or 1
    log.info(
        "done: %s, %s requests, %s failed, p99 %sms",
        result.get("outcome"),
        result.get("requests"),
        result.get("failed"),
        (result.get("latencyMs") or {}).get("p99"),
    )
    return code


def _emit(text: str, path: str | None) -> None:
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
