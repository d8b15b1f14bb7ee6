"""kopf handlers: thin glue from kopf's events to ``reconcile`` and teardown.

The PerfRun's own progress lives in its status (written by us) and kopf's bookkeeping in
annotations: the CRD's structural schema would prune anything kopf put in status."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from prometheus_client import Counter, Gauge, Histogram

from perfrun.api.perfrun import GROUP, PLURAL, VERSION
from perfrun.controller.janitor import in_scope, sweep
from perfrun.controller.machine import rfc3339
from perfrun.controller.reconcile import context_for, reconcile
from perfrun.controller.settings import OperatorSettings
from perfrun.kube.client import Kube, load_api_client

log = logging.getLogger(__name__)
FINALIZER = "perfrun.dev/teardown"

RUNS_BY_PHASE = Gauge("perfrun_runs", "PerfRuns by phase", ["phase"])
RECONCILE_ERRORS = Counter("perfrun_reconcile_errors_total", "Reconciles that raised")
RECONCILE_SECONDS = Histogram("perfrun_reconcile_seconds", "Duration of one reconcile")
KUBE_WRITES = Gauge("perfrun_kube_writes", "Kubernetes API writes made by this process")
_phases: dict[str, str] = {}


@functools.cache
def _kube() -> tuple[Kube, OperatorSettings]:
    """One API client and one settings object per process."""
    settings = OperatorSettings.from_env()
    return Kube(load_api_client(settings.kubeconfig)), settings


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="perfrun.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="perfrun.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    _kube()


def _record(name: str, phase: str | None) -> None:
    if phase:
        _phases[name] = phase
    RUNS_BY_PHASE.clear()
    for value in _phases.values():
        RUNS_BY_PHASE.labels(phase=value).inc()


def _reconcile_into(body: kopf.Body, patch: kopf.Patch) -> None:
    kube, settings = _kube()
    started = time.monotonic()
    try:
        outcome = reconcile(dict(body), kube, settings)
    except Exception:
        RECONCILE_ERRORS.inc()
        raise
    finally:
        RECONCILE_SECONDS.observe(time.monotonic() - started)
    if outcome.patch:
        patch.status.update(outcome.patch)
    for event in outcome.events:
        kube.event(dict(body), event.type, event.reason, event.message, rfc3339(datetime.now(UTC)))
    KUBE_WRITES.set(kube.writes)
    _record(f"{body.metadata.namespace}/{body.metadata.name}", outcome.phase)


@kopf.timer(GROUP, VERSION, PLURAL, interval=OperatorSettings.from_env().interval)
def tick(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """One reconcile per interval and run; the only writer of a run's status, so two
    handlers never race on a stale body (a restart resumes from the status)."""
    _reconcile_into(body, patch)


@kopf.on.delete(GROUP, VERSION, PLURAL)
def teardown(body: kopf.Body, **_: Any) -> None:
    """`kubectl delete perfrun` returns once the run's namespace is really gone."""
    kube, settings = _kube()
    ctx = context_for(dict(body), settings)
    namespace = kube.get("v1", "Namespace", ctx.namespace)
    if namespace is None:
        _phases.pop(f"{body.metadata.namespace}/{body.metadata.name}", None)
        return
    if (namespace.get("status") or {}).get("phase") != "Terminating":
        kube.delete("v1", "Namespace", ctx.namespace)
    raise kopf.TemporaryError(f"waiting for namespace {ctx.namespace} to go", delay=2)


_janitor_scope: list[str] = []


def serve(namespaces: list[str]) -> None:
    """The PerfRun namespaces (kopf globs) this process serves; empty means all. The
    janitor leaves other operators' namespaces to them."""
    _janitor_scope[:] = namespaces


async def _janitor() -> None:
    kube, settings = _kube()
    served = in_scope(list(_janitor_scope))
    while True:
        try:
            removed = await asyncio.to_thread(sweep, kube, datetime.now(UTC), served)
        except Exception:  # a failed sweep is retried next interval
            log.exception("janitor sweep failed")
            removed = {}
        for name, why in removed.items():
            log.info("janitor deleted namespace %s: %s", name, why)
        KUBE_WRITES.set(kube.writes)
        await asyncio.sleep(settings.janitor_interval)


@kopf.on.startup()
async def start_janitor(memo: kopf.Memo, **_: Any) -> None:
    """Every perf namespace this operator labelled is judged once per janitor interval:
    when its PerfRun is gone or its expiresAt passed, it goes."""
    memo["janitor"] = asyncio.create_task(_janitor(), name="perfrun-janitor")


@kopf.on.cleanup()
async def stop_janitor(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("janitor")
    if isinstance(task, asyncio.Task):
        task.cancel()
