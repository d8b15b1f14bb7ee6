"""kopf handlers: thin glue from kopf's events to ``reconcile`` and teardown.

The PerfRun's own progress lives in its status (written by us) and kopf's bookkeeping in
annotations: the CRD's structural schema would prune anything kopf put in status."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from prometheus_client import Counter, Gauge, Histogram

from perfrun.api.perfrun import GROUP, PLURAL, VERSION
from perfrun.api.times import rfc3339
from perfrun.controller import guard
from perfrun.controller.analyses import Analyses
from perfrun.controller.caching import KINDS, run_cache
from perfrun.controller.janitor import KOPF_FINALIZER, Peering, in_scope, paused, sweep
from perfrun.controller.reconcile import context_for, reconcile
from perfrun.controller.rendered import Rendered
from perfrun.controller.schedule import Schedule, wake_at
from perfrun.controller.settings import OperatorSettings
from perfrun.controller.status_update import can_wait
from perfrun.controller.waves import Waves
from perfrun.kube.cache import Cache
from perfrun.kube.client import Kube, load_api_client
from perfrun.kube.errors import is_api_trouble

log = logging.getLogger(__name__)
FINALIZER = KOPF_FINALIZER
TIMER_EXIT_POLLING_S = 1.0
# A deleted PerfRun's handler waits this long for its namespace to go before it hands back to
# kopf (which logs a retry at ERROR level and posts it as an Event: a normal teardown should
# not read like a fault). A coroutine that waits holds no thread: 100 runs deleted at once
# took up to 37 s to lose their namespaces, past the 30 s this was while it held one.
TEARDOWN_WAIT_S = 120.0
TEARDOWN_POLL_S = 0.5  # a look at the cache: no request until it says gone

RUNS_BY_PHASE = Gauge("perfrun_runs", "PerfRuns by phase", ["phase"])
RECONCILE_ERRORS = Counter("perfrun_reconcile_errors_total", "Reconciles that raised")
RECONCILE_SECONDS = Histogram("perfrun_reconcile_seconds", "Duration of one reconcile")
KUBE_WRITES = Gauge(
    "perfrun_kube_writes", "Kubernetes API writes made by this process (not kopf's own)"
)
JANITOR_SWEEPS = Counter(
    "perfrun_janitor_sweeps_total",
    "Janitor rounds: swept, paused (another replica works) or failed",
    ["result"],
)
_phases: dict[str, str] = {}
_faults = guard.FaultCounter()
# ticks run in kopf's thread pool, several at once: the gauge's bookkeeping is shared (without
# the lock one tick's update broke another's iteration and kopf retried that tick a minute
# later -- seen at 25 concurrent runs, bench/operator_scale.py)
_phases_lock = threading.Lock()


@functools.cache
def _kube() -> tuple[Kube, OperatorSettings]:
    """One API client and one settings object per process: a connection for each handler
    thread and each thread of the apply pool (``_applies``)."""
    settings = OperatorSettings.from_env()
    return Kube(load_api_client(settings.kubeconfig, 2 * settings.workers)), settings


@functools.cache
def _applies() -> Waves:
    """The pool every run's environment is applied with, in waves (one per process), as
    many threads as handlers: a bound on the writes in flight shared by all runs."""
    return Waves(_kube()[1].workers)


@functools.cache
def _io() -> tuple[Cache, Analyses, Schedule]:
    """The informer cache (its own client: each watch holds a connection), the analysis
    pool and the tick schedule, one each per process."""
    kube, settings = _kube()
    watcher = Kube(load_api_client(settings.kubeconfig, len(KINDS) + 2))
    schedule = Schedule()
    return run_cache(kube, watcher), Analyses(settings.analysis_workers, schedule.again), schedule


@functools.cache
def _rendered() -> Rendered:
    """The runs' rendered environments, kept between their reconciles (one per process)."""
    return Rendered()


def _writes() -> float:
    """Read at scrape time, so every writer (reconcile, teardown, janitor) is counted."""
    return float(_kube()[0].writes) if _kube.cache_info().currsize else 0.0


KUBE_WRITES.set_function(_writes)


class NoDiffBase(kopf.DiffBaseStorage):
    """No "last handled state" for kopf: this operator is level-triggered (a timer and
    on.delete, no on.create/on.update handlers that would diff), so every object reads as
    unchanged and nothing is stored.

    kopf's default kept it in an annotation: one more PerfRun write per run on its first
    event (~14 ms of API server CPU: the CRD's schema, defaults and CEL rules run on every
    PerfRun write, against ~3 ms for a ConfigMap, bench/apiserver_write_cost.py), and, for a
    large spec (a 250 KiB dataset.schema), an annotation over the API server's 256 KiB limit
    that failed every patch kopf sent, the finalizer's included. An annotation an older
    version stored stays as it is, unread."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return cast(kopf.BodyEssence, {})

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="perfrun.dev")
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    # A PerfRun deleted while its `tick` runs (a sync timer, in a thread, cannot be
    # cancelled) keeps its finalizer until kopf polls the timer again: 60 s by default,
    # which `kubectl delete` waited out (seen in CI: teardown done, finalizer removed a
    # minute later). A tick lasts well under a second; poll at that pace.
    settings.background.cancellation_polling = TIMER_EXIT_POLLING_S
    # sync handlers (every tick, every teardown) share this pool: Python's default of CPU
    # count + 4 queued the ticks of a few dozen runs behind each other
    settings.execution.max_workers = _kube()[1].workers


@kopf.on.startup()
def start_cache(**_: Any) -> None:
    """The informers start with the operator (each LISTs its kind, then watches): the first
    ticks read from the API server only until they synced."""
    _io()


@kopf.on.cleanup()
def stop_cache(**_: Any) -> None:
    if _io.cache_info().currsize:
        _io()[0].stop()


def _record(name: str, phase: str | None) -> None:
    with _phases_lock:
        if phase:
            _phases[name] = phase
        RUNS_BY_PHASE.clear()
        for value in _phases.values():
            RUNS_BY_PHASE.labels(phase=value).inc()


def _forget(name: str, uid: str = "") -> None:
    with _phases_lock:
        _phases.pop(name, None)
    _faults.clear(uid)


def _reconcile_into(body: kopf.Body, patch: kopf.Patch) -> bool:
    """One reconcile; whether it went through (False: a fault of ours or a passing API error
    met on the way -- the run is judged again at the next tick, not at its next resync)."""
    started = time.monotonic()
    uid = str(body.metadata.uid)
    try:
        went_through = _reconcile_once(body, patch)
    except Exception as exc:
        RECONCILE_ERRORS.inc()
        if is_api_trouble(exc):  # an outage passes: kopf retries the tick after its backoff
            raise
        _fault(body, patch, exc, _faults.fault(uid))
        return False
    else:
        _faults.clear(uid)
        return went_through
    finally:
        RECONCILE_SECONDS.observe(time.monotonic() - started)


def _fault(body: kopf.Body, patch: kopf.Patch, exc: Exception, ticks: int) -> None:
    """A tick raised a fault of ours: logged with its traceback and retried at the next
    interval; the ``guard.LIMIT``-th in a row ends the run (see controller/guard.py)."""
    name = f"{body.metadata.namespace}/{body.metadata.name}"
    log.error("reconcile of %s failed (%d/%d in a row)", name, ticks, guard.LIMIT, exc_info=exc)
    if ticks < guard.LIMIT:
        return
    kube, settings = _kube()
    now = datetime.now(UTC)
    result = guard.give_up(dict(body), exc, ticks, now)
    patch.status.update(result.patch)
    for event in result.events:
        kube.event(dict(body), event.type, event.reason, event.message, rfc3339(now))
    if result.delete_namespace:
        kube.delete("v1", "Namespace", context_for(dict(body), settings).namespace)
    log.error("run %s: %s", name, result.events[0].message if result.events else guard.REASON)
    _faults.clear(uid=str(body.metadata.uid))


def _reconcile_once(body: kopf.Body, patch: kopf.Patch) -> bool:
    kube, settings = _kube()
    cache, analyses, schedule = _io()
    outcome = reconcile(
        dict(body), kube, settings,
        reads=cache, analyses=analyses, rendered=_rendered(), applies=_applies(),
    )  # fmt: skip
    if outcome.retried:  # a passing API error: the status is written, the next tick retries
        RECONCILE_ERRORS.inc()
    uid, now = str(body.metadata.uid), datetime.now(UTC)
    if outcome.patch and not (
        can_wait(dict(body.status), outcome.patch) and schedule.hold(uid, now)
    ):
        patch.status.update(outcome.patch)
        schedule.wrote(uid, now)
    for event in outcome.events:
        kube.event(dict(body), event.type, event.reason, event.message, rfc3339(now))
    _record(f"{body.metadata.namespace}/{body.metadata.name}", outcome.phase)
    return not outcome.retried


@kopf.timer(GROUP, VERSION, PLURAL, interval=OperatorSettings.from_env().interval)
def tick(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Each interval, one reconcile of the run when it is due (``schedule``: a change of
    the PerfRun or in its namespace, a deadline, a resync); the only writer of a run's
    status, so two handlers never race on a stale body (a restart resumes from the status)."""
    cache, _analyses, schedule = _io()
    uid, version = str(body.metadata.uid), str(body.metadata.get("resourceVersion") or "")
    changes = cache.changes(str(body.status.get("namespace") or ""))
    now = datetime.now(UTC)
    if not schedule.due(uid, version, changes, now):
        return
    try:
        went_through = _reconcile_into(body, patch)
    except Exception:
        schedule.again(uid)
        raise
    if went_through:
        schedule.done(uid, version, changes, wake_at(dict(body), now))
    else:
        schedule.again(uid)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def teardown(body: kopf.Body, **_: Any) -> None:
    """`kubectl delete perfrun` returns once the run's namespace is really gone. A coroutine:
    while the namespace goes it holds no handler thread (200 deletes at once wait side by
    side), and it watches the informer cache rather than polling the API server; the
    finalizer goes only after a GET of the namespace answered 404."""
    kube, settings = _kube()
    cache, analyses, schedule = _io()
    ctx = context_for(dict(body), settings)
    run = f"{body.metadata.namespace}/{body.metadata.name}"
    namespace = await asyncio.to_thread(kube.get, "v1", "Namespace", ctx.namespace)
    if namespace is not None and (namespace.get("status") or {}).get("phase") != "Terminating":
        await asyncio.to_thread(kube.delete, "v1", "Namespace", ctx.namespace)
    if namespace is not None:
        log.info(
            "teardown of %s: waiting for namespace %s to go", body.metadata.name, ctx.namespace
        )
        if not await _gone(kube, cache, ctx.namespace):
            raise kopf.TemporaryError(
                f"namespace {ctx.namespace} still there after {TEARDOWN_WAIT_S:g}s; waiting on",
                delay=2,
            )
    _forget(run, str(body.metadata.uid))
    schedule.forget(str(body.metadata.uid))
    analyses.forget(str(body.metadata.uid))
    _rendered().forget(str(body.metadata.uid))


async def _gone(kube: Kube, cache: Cache, name: str) -> bool:
    """Whether namespace ``name`` went within TEARDOWN_WAIT_S: the cache says so (no request
    while it does not), then the API server confirms."""
    deadline = time.monotonic() + TEARDOWN_WAIT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(TEARDOWN_POLL_S)
        cached = await asyncio.to_thread(cache.get, "v1", "Namespace", name)
        if cached is None and await asyncio.to_thread(kube.get, "v1", "Namespace", name) is None:
            return True
    return False


_janitor_scope: list[str] = []
_identity: list[str] = []


def serve(namespaces: list[str], identity: str | None = None) -> None:
    """The PerfRun namespaces (kopf globs) this process serves, empty means all (the janitor
    leaves other operators' namespaces to them); and the identity kopf peers under."""
    _janitor_scope[:] = namespaces
    _identity[:] = [identity] if identity else []


def _peering(settings: kopf.OperatorSettings) -> Peering | None:
    """This replica in kopf's peering, from the settings kopf runs with."""
    peering = settings.peering
    if peering.standalone:
        return Peering(identity="", priority=peering.priority, name=peering.name, standalone=True)
    identity = _identity[0] if _identity else os.environ.get("POD_ID")
    if not identity:  # kopf made up its own: we cannot tell ourselves from the others
        log.warning("janitor: kopf's peering identity unknown; sweeping in every replica")
        return None
    return Peering(
        identity=identity,
        priority=peering.priority,
        name=peering.name,
        mandatory=peering.mandatory,
        namespaces=() if peering.clusterwide else tuple(_janitor_scope),
    )


def _janitor_round(
    kube: Kube, served: Callable[[str], bool], peering: Peering | None
) -> str | None:
    """One round: why this replica waits, or None after a sweep (logged)."""
    now = datetime.now(UTC)
    why = paused(kube, peering, now)
    if why:
        return why
    swept = sweep(kube, now, served)
    for name, reason in swept.deleted.items():
        log.info("janitor deleted namespace %s: %s", name, reason)
    for name in swept.released:
        log.info("janitor removed finalizer %s from Terminating namespace %s", FINALIZER, name)
    for name in swept.reports:
        log.info("janitor deleted report %s: past its keep-until", name)
    return None


async def _janitor(peering: Peering | None) -> None:
    kube, settings = _kube()
    served = in_scope(list(_janitor_scope))
    was: str | None = ""
    while True:
        try:
            why = await asyncio.to_thread(_janitor_round, kube, served, peering)
        except Exception:  # a failed sweep is retried next interval
            log.exception("janitor sweep failed")
            JANITOR_SWEEPS.labels(result="failed").inc()
        else:
            JANITOR_SWEEPS.labels(result="paused" if why else "swept").inc()
            if why and why != was:
                log.info("janitor paused: %s", why)
            elif was and not why:
                log.info("janitor active: this replica works")
            was = why
        await asyncio.sleep(settings.janitor_interval)


@kopf.on.startup()
async def start_janitor(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
    """Every perf namespace this operator labelled is judged once per janitor interval:
    when its PerfRun is gone or its expiresAt passed, it goes. Only in the replica kopf's
    peering lets work: the others wait, as kopf makes their handlers wait."""
    task = asyncio.create_task(_janitor(_peering(settings)), name="perfrun-janitor")
    memo["janitor"] = task


@kopf.on.cleanup()
async def stop_janitor(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("janitor")
    if isinstance(task, asyncio.Task):
        task.cancel()
