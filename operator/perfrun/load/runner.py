"""Runs the engine as a process: event loop (uvloop when there), signals, metrics server,
progress reports to the run's ``load-progress`` ConfigMap while it runs, and the summary to a
file/stdout and, in a cluster, to the run's ``load-summary`` ConfigMap. The summary is
written whatever happened to the run; a progress write that fails is only logged."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from perfrun.api.load import LoadSpec
from perfrun.api.wire import SUMMARY_VERSION
from perfrun.kube import summaries as kube_summaries
from perfrun.load.budget import share_of
from perfrun.load.engine import Engine
from perfrun.load.metrics import LoadMetrics
from perfrun.load.progress import (
    ENV_INTERVAL,
    Counters,
    ProgressMeter,
    interval_from_env,
    next_report_delay,
)
from perfrun.load.progress import dumps as progress_dumps
from perfrun.load.summary import dumps

log = logging.getLogger("perfrun.load")

ENV_PROGRESS_FILE = "PERFRUN_PROGRESS_FILE"


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def publish_summary(text: str, index: int) -> bool:
    """The pod's summary into the run's ConfigMap (key ``summary-<index>``) when the pod is
    told one; False when that write failed (the summary is still on stdout and in its file)."""
    try:
        ref = kube_summaries.target_from_env(os.environ)
        if ref is not None:
            kube_summaries.write_key(
                ref, kube_summaries.summary_key(index), text, {"perfrun.dev/part": "load-summary"}
            )
            log.info("summary written to ConfigMap %s/%s", ref.namespace, ref.name)
    except Exception as exc:
        log.error("could not write the summary ConfigMap: %s", exc)
        return False
    return True


def run(
    spec: LoadSpec,
    *,
    index: int,
    count: int,
    summary_path: str | None,
    metrics_port: int | None,
    drain_timeout_s: float | None,
    process_dir: str | None = None,
) -> int:
    """Run pod ``index`` of ``count``; write the summary; return the exit code. With
    ``process_dir`` this is one of a pod's processes (``perfrun.load.processes``): it reports
    to the pod's parent through that directory, not to the cluster."""
    child = ChildReporter(Path(process_dir), index) if process_dir else None
    try:
        progress = None if child else ProgressReporter.from_env(os.environ, index)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
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
    # What exists now lives for the whole run: out of the collector's sight, and collections
    # rarer, so a full collection does not stall the sending loop for milliseconds.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.stop, "interrupted")
    code = 0
    result: dict[str, Any]
    try:
        if child is not None:
            result = loop.run_until_complete(child.run(engine, metrics))
        else:
            result = loop.run_until_complete(_run_reporting(engine, progress))
    except Exception:
        traceback.print_exc()
        code = 1
        result = {
            "version": SUMMARY_VERSION,
            "outcome": "failed",
            "error": traceback.format_exc(limit=3),
        }
    finally:
        loop.close()
    if progress is not None:
        progress.final(engine)
    text = dumps(result)
    emit(text, summary_path)
    if child is not None:
        child.write(engine, metrics)  # the final counts, after the summary
        return code
    if not publish_summary(text, index):
        code = code or 1
    log.info(
        "done: %s, %s requests, %s failed, p99 %sms",
        result.get("outcome"),
        result.get("requests"),
        result.get("failed"),
        (result.get("latencyMs") or {}).get("p99"),
    )
    return code


class CountersSource(Protocol):
    """What progress is read from: an engine, or a pod's processes together."""

    def counters(self) -> Counters: ...


class ProgressReporter:
    """Writes this pod's progress every interval, aligned to the wall clock (see
    ``perfrun.load.progress``), and once more at the end with the final counts."""

    def __init__(self, write: Callable[[str], None], interval_s: float, index: int) -> None:
        self.write = write
        self.interval_s = interval_s
        self.index = index
        self.meter = ProgressMeter()
        self.writes = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str], index: int) -> ProgressReporter | None:
        """None outside a cluster (no ``PERFRUN_PROGRESS_CONFIGMAP``) or with interval 0.
        ``PERFRUN_PROGRESS_FILE`` writes the reports to that file instead (each replaces the
        last), for a run outside a cluster."""
        ref = kube_summaries.target_from_env(env, variable=kube_summaries.ENV_PROGRESS_CONFIGMAP)
        interval = interval_from_env(env.get(ENV_INTERVAL))
        if interval == 0:
            return None
        path = env.get(ENV_PROGRESS_FILE, "").strip()
        if path:

            def to_file(text: str) -> None:
                emit(text, path)

            log.info("progress to %s every %gs", path, interval)
            return cls(to_file, interval, index)
        if ref is None:
            return None
        key = kube_summaries.progress_key(index)

        def write(text: str) -> None:
            kube_summaries.write_key(ref, key, text, {"perfrun.dev/part": "load-progress"})

        log.info("progress to ConfigMap %s/%s every %gs", ref.namespace, ref.name, interval)
        return cls(write, interval, index)

    def _text(self, engine: CountersSource, final: bool = False) -> str:
        return progress_dumps(self.meter.report(engine.counters(), final=final))

    def _write(self, text: str) -> None:
        try:
            self.write(text)
            self.writes += 1
        except Exception as exc:  # progress is best effort; the summary is what counts
            log.warning("could not write progress: %s", exc)

    async def loop(self, engine: CountersSource) -> None:
        """Report until cancelled: counters read on the loop, the write in a thread."""
        while True:
            await asyncio.sleep(next_report_delay(time.time(), self.interval_s, self.index))
            await asyncio.to_thread(self._write, self._text(engine))

    def final(self, engine: CountersSource) -> None:
        self._write(self._text(engine, final=True))


class ChildReporter:
    """One process of a pod that runs several (see ``perfrun.load.processes``): it tells the
    pod's parent when it is ready, starts when the parent says (on stdin, a wall-clock time,
    so every process starts its ramp at the same instant), and writes its counters and its
    metrics' exposition to ``process_dir`` every second and at its end."""

    INTERVAL_S = 1.0

    def __init__(self, directory: Path, index: int) -> None:
        self.dir = directory
        self.index = index

    def counters_path(self) -> Path:
        return self.dir / f"counters-{self.index}.json"

    def write(self, engine: Engine, metrics: LoadMetrics) -> None:
        _replace(self.dir / f"metrics-{self.index}.prom", metrics.exposition())
        counters = json.dumps(dataclasses.asdict(engine.counters())).encode()
        _replace(self.counters_path(), counters)

    async def _gate(self, engine: Engine) -> None:
        _replace(self.dir / f"ready-{self.index}", b"")
        line = await asyncio.to_thread(sys.stdin.readline)
        try:
            start = float(line)
        except ValueError:
            engine.stop("interrupted")  # the parent is gone or gave up: send nothing
            return
        await asyncio.sleep(max(0.0, start - time.time()))

    async def run(self, engine: Engine, metrics: LoadMetrics) -> dict[str, Any]:
        async def report() -> None:
            while True:
                await asyncio.sleep(self.INTERVAL_S)
                self.write(engine, metrics)

        reporter = asyncio.create_task(report())
        try:
            return await engine.run(gate=lambda: self._gate(engine))
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a reader sees the old or the new, never half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def _run_reporting(engine: Engine, progress: ProgressReporter | None) -> dict[str, Any]:
    """The engine's run, with the progress reporter beside it until it ends."""
    if progress is None:
        return await engine.run()
    reporter = asyncio.create_task(progress.loop(engine), name="progress")
    try:
        return await engine.run()
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


def emit(text: str, path: str | None) -> None:
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
