"""A load pod whose share runs in several processes (``perfrun load --processes P``, set by
the renderer from the pod's CPU request): one Python process sends at most about one core's
worth, so a pod given more cores runs P of them.

Process j of pod i of N runs *virtual pod* ``i*P + j`` of ``N*P``: its exact share
(``budget.share_of``) of every limit and every step, so the P shares add up to exactly the
pod's and no second of the processes together ever holds more than the pod's ``maxRps``
(each process' own window limiter holds its share). This parent starts them, lets them open
their connections, then starts their ramps at one wall-clock instant; it reports the pod's
progress once (the processes' counters added up), serves the pod's ``/metrics`` as the sum of
theirs (``metrics.MergedProcesses``), and merges their summaries exactly into the pod's
(``summary.merge_processes``), which it writes where a single process would have. SIGTERM
is passed on: the processes drain and write their summaries as one would."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from perfrun.api.load import LoadSpec
from perfrun.api.wire import SUMMARY_VERSION
from perfrun.kube import summaries as kube_summaries
from perfrun.load.metrics import serve_merged
from perfrun.load.progress import Counters
from perfrun.load.runner import ENV_PROGRESS_FILE, ProgressReporter, emit, publish_summary
from perfrun.load.summary import dumps, merge_processes

log = logging.getLogger("perfrun.load")

# How long the processes may take to start and open their connections before the ramp
# starts without the late ones (they then start at once on their own clock, late).
READY_TIMEOUT_S = 60.0
# The ramps start this long after the last process is ready (the start line must reach all).
START_DELAY_S = 0.05


def processes_for(index: int, count: int, processes: int, max_rps: int, in_flight: int) -> int:
    """How many processes pod ``index`` of ``count`` can run: at most ``processes``, and few
    enough that every virtual pod gets a share of at least 1 of maxRps and maxInFlight."""
    del index
    return max(1, min(processes, min(max_rps, in_flight) // count))


class Children:
    """The pod's processes as one source of progress counters (their latest, added up)."""

    def __init__(self, directory: Path, indexes: list[int]) -> None:
        self.dir = directory
        self.indexes = indexes

    def counters(self) -> Counters:
        parts: list[Counters] = []
        for k in self.indexes:
            try:
                parts.append(Counters(**json.loads((self.dir / f"counters-{k}.json").read_text())))
            except (OSError, ValueError, TypeError):
                continue
        if not parts:
            return Counters(0.0, 0, 0, 0.0, 0, 0, False, 0, 0)
        p99s = [c.p99_ms for c in parts if c.p99_ms is not None]
        return Counters(
            at=max(c.at for c in parts),
            step=max(c.step for c in parts),
            steps=max(c.steps for c in parts),
            target_rps=sum(c.target_rps for c in parts),
            target_users=sum(c.target_users for c in parts),
            in_flight=sum(c.in_flight for c in parts),
            backed_off=any(c.backed_off for c in parts),
            requests=sum(c.requests for c in parts),
            errors=sum(c.errors for c in parts),
            dropped=sum(c.dropped for c in parts),
            cpu_s=sum(c.cpu_s for c in parts),
            # the slowest process' p99: an upper bound of the pod's (the summary's is exact)
            p99_ms=max(p99s) if p99s else None,
        )


def run_pod(
    spec: LoadSpec,
    *,
    index: int,
    count: int,
    processes: int,
    summary_path: str | None,
    metrics_port: int | None,
    drain_timeout_s: float | None,
) -> int:
    """Run pod ``index`` of ``count`` as ``processes`` processes; write the pod's summary
    (file or stdout, and the run's ConfigMap in a cluster); return the exit code."""
    b = spec.budget
    p = processes_for(index, count, processes, b.max_rps, b.max_in_flight)
    if p < processes:
        log.info("%d processes, not %d: every process needs a share of at least 1", p, processes)
    try:
        progress = ProgressReporter.from_env(os.environ, index)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    work = Path(tempfile.mkdtemp(prefix="perfrun-load-"))
    virtual = [index * p + j for j in range(p)]
    total = count * p
    children = Children(work, virtual)
    if metrics_port is not None:
        serve_merged([work / f"metrics-{k}.prom" for k in virtual], metrics_port)
        log.info("serving the %d processes' /metrics on :%d", p, metrics_port)
    config = work / "load.json"
    config.write_text(json.dumps(spec.to_wire()))
    log.info(
        "pod %d of %d: %d processes, virtual pods %s of %d", index, count, p, virtual, count * p
    )
    try:
        summaries, failure = asyncio.run(
            _run(work, config, virtual, total, drain_timeout_s, progress, children)
        )
    except Exception:
        traceback.print_exc()
        summaries, failure = [], "the parent failed: " + traceback.format_exc(limit=3)
    code = 1 if failure else 0
    result: dict[str, Any] = {"version": SUMMARY_VERSION, "outcome": "failed", "error": failure}
    if not failure:
        try:
            result = merge_processes(summaries, index, count)
        except ValueError as exc:
            code, result["error"] = 1, f"merging the processes' summaries: {exc}"
    if progress is not None:
        progress.final(children)
    text = dumps(result)
    emit(text, summary_path)
    if not publish_summary(text, index):
        code = code or 1
    shutil.rmtree(work, ignore_errors=True)
    return code


async def _run(
    work: Path,
    config: Path,
    virtual: list[int],
    total: int,
    drain_timeout_s: float | None,
    progress: ProgressReporter | None,
    children: Children,
) -> tuple[list[dict[str, Any]], str | None]:
    """Start the processes, start their ramps together, wait for them; their summaries, or
    why there is no pod summary."""
    procs = [await _spawn(work, config, k, total, drain_timeout_s) for k in virtual]
    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True
        _release(procs, "")  # a process still waiting to start: sends nothing
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    reporter = asyncio.create_task(progress.loop(children)) if progress is not None else None
    try:
        limit = time.monotonic() + READY_TIMEOUT_S
        while not stopping and time.monotonic() < limit:
            if all((work / f"ready-{k}").exists() for k in virtual):
                break
            if any(proc.returncode is not None for proc in procs):
                break  # one ended before starting: the rest start, its summary says why
            await asyncio.sleep(0.01)
        if not stopping:
            _release(procs, f"{time.time() + START_DELAY_S!r}\n")
        codes = await asyncio.gather(*(proc.wait() for proc in procs))
    finally:
        if reporter is not None:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
    return _collect(work, virtual, codes)


async def _spawn(
    work: Path, config: Path, k: int, total: int, drain_timeout_s: float | None
) -> asyncio.subprocess.Process:
    """Virtual pod ``k`` of ``total`` as a process reporting to ``work`` (never to the
    cluster: the parent reports for the pod)."""
    own = (kube_summaries.ENV_CONFIGMAP, kube_summaries.ENV_PROGRESS_CONFIGMAP, ENV_PROGRESS_FILE)
    env = {name: value for name, value in os.environ.items() if name not in own}
    cmd = [sys.executable, "-m", "perfrun.cli", "load", "--config", str(config)]
    cmd += ["--index", str(k), "--count", str(total), "--process-dir", str(work)]
    cmd += ["--summary", str(work / f"summary-{k}.json")]
    if drain_timeout_s is not None:
        cmd += ["--drain-timeout", str(drain_timeout_s)]
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        cmd.append("-q")
    return await asyncio.create_subprocess_exec(*cmd, stdin=subprocess.PIPE, env=env)


def _release(procs: list[asyncio.subprocess.Process], start: str) -> None:
    """Tell every process waiting to start when to (``start``), or to send nothing ('')."""
    for proc in procs:
        if proc.stdin is not None and not proc.stdin.is_closing():
            if start:
                proc.stdin.write(start.encode())
            proc.stdin.close()


def _collect(
    work: Path, virtual: list[int], codes: list[int]
) -> tuple[list[dict[str, Any]], str | None]:
    summaries: list[dict[str, Any]] = []
    for k, code in zip(virtual, codes, strict=True):
        j = k - virtual[0]
        try:
            doc = json.loads((work / f"summary-{k}.json").read_text())
        except (OSError, ValueError):
            return [], f"process {j} exited with code {code} and no summary"
        if code != 0 or doc.get("outcome") == "failed":
            return [], f"process {j} failed: {doc.get('error') or f'exit code {code}'}"
        summaries.append(doc)
    return summaries, None
