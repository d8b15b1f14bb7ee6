"""One reconcile of one PerfRun: observe -> decide -> act -> status patch.

Idempotent by construction: objects have deterministic names and are created only when
missing, so a reconcile repeated after a crash creates nothing twice."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import urllib3
from pydantic import ValidationError

from perfrun.api.perfrun import PerfRun
from perfrun.api.policy import AdminPolicy, violations
from perfrun.api.status import TERMINAL_PHASES, PerfRunStatus, Phase
from perfrun.api.times import rfc3339
from perfrun.api.validate import error_lines
from perfrun.controller.analyses import Analyses
from perfrun.controller.apiserver import Endpoints, api_server_endpoints
from perfrun.controller.machine import Action, Event, Plan, decide, refused
from perfrun.controller.observe import observe, observe_namespace
from perfrun.controller.observed import Observed
from perfrun.controller.preflight import preflight, rendered_sizes
from perfrun.controller.refusal import ObjectRefusedError, refusal_of
from perfrun.controller.rendered import Rendered
from perfrun.controller.settings import OperatorSettings
from perfrun.controller.status_update import next_status, status_patch
from perfrun.controller.waves import Waves, apply_in_waves
from perfrun.kube.cache import Reader
from perfrun.kube.client import Kube
from perfrun.kube.errors import KubeError
from perfrun.render import jobs as render_jobs
from perfrun.render import namespace as render_namespace
from perfrun.render.all import environment as render_environment
from perfrun.render.context import RunContext

log = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    """What one reconcile wants written: a status merge patch and events."""

    patch: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    phase: Phase | None = None
    # a passing API error this reconcile met (retried next tick; counted as an error)
    retried: str | None = None


@dataclass(frozen=True)
class _Pools:
    """Where a reconcile's slow parts run: analyses, the environment's applies (None: in
    the reconcile's own thread)."""

    analyses: Analyses | None = None
    applies: Waves | None = None


def context_for(
    body: dict[str, Any], settings: OperatorSettings, api_server: Endpoints = ((), ())
) -> RunContext:
    meta = body["metadata"]
    # where the API server is: PERFRUN_API_SERVER_CIDRS/_PORTS when the admin says so, else
    # the `default/kubernetes` endpoints the operator read; unknown: no policy opens it
    if settings.api_server_cidrs:
        api_server = (settings.api_server_cidrs, settings.api_server_ports)
    return RunContext(
        name=meta["name"],
        perfrun_namespace=meta["namespace"],
        uid=meta["uid"],
        image=settings.image,
        storage_class=settings.storage_class,
        secret_seed=settings.secret_seed,
        images=settings.images,
        placement=settings.placement(),
        report_retention_s=settings.report_retention,
        api_server_cidrs=api_server[0],
        api_server_ports=api_server[1],
    )


def _invalid(body: dict[str, Any], problems: list[str], now: datetime) -> ReconcileResult:
    """A stored object our models refuse (e.g. applied before a CRD upgrade)."""
    status = PerfRunStatus.model_validate(body.get("status") or {})
    if status.phase == Phase.INVALID:
        return ReconcileResult({})
    plan = Plan(Phase.INVALID, "InvalidSpec", "; ".join(problems))
    plan.events.append(Event("Warning", "InvalidSpec", plan.message))
    new = next_status(status, plan, body["metadata"].get("generation"), now)
    return ReconcileResult(status_patch(status, new), plan.events, Phase.INVALID)


def reconcile(
    body: dict[str, Any],
    kube: Kube,
    settings: OperatorSettings,
    now: datetime | None = None,
    *,
    reads: Reader | None = None,
    analyses: Analyses | None = None,
    rendered: Rendered | None = None,
    applies: Waves | None = None,
) -> ReconcileResult:
    """``reads``: where the run's namespace is read (the operator's informer cache), else
    ``kube``; ``analyses``: the pool analyses run in, else in this thread; ``rendered``: the
    renders kept between reconciles, else the environment is rendered each time;
    ``applies``: the pool the environment is applied with, in waves (controller/waves.py),
    else one object after another."""
    now = now or datetime.now(UTC)
    try:
        run = PerfRun.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError as exc:
        return _invalid(body, error_lines(exc), now)
    status = PerfRunStatus.model_validate(body.get("status") or {})
    finished = status.phase in TERMINAL_PHASES
    ctx = context_for(body, settings, ((), ()) if finished else api_server_endpoints(kube))
    pending = status.phase in (None, Phase.PENDING)
    # a finished run only tears down: one GET, no rendering, no LISTs
    try:
        if finished:
            environment = []
        elif rendered is None:
            environment = render_environment(run, ctx)
        else:
            generation = body["metadata"].get("generation")
            environment = rendered.get(generation, ctx, lambda: render_environment(run, ctx))
    except Exception as exc:  # a spec the renderer cannot handle must not stall the run
        log.exception("run %s/%s cannot be rendered", ctx.perfrun_namespace, ctx.name)
        return _invalid(body, [f"cannot render the run: {type(exc).__name__}: {exc}"], now)
    if status.phase in (None, Phase.PENDING):
        observed = Observed()
    elif finished:
        observed = observe_namespace(reads or kube, ctx)
    else:
        observed = observe(reads or kube, ctx, environment)
    created = body["metadata"].get("creationTimestamp") or rfc3339(now)
    if isinstance(created, datetime):
        created = rfc3339(created)
    plan = decide(
        run.spec,
        status,
        observed,
        now,
        created_at=created,
        namespace=ctx.namespace,
        run_id=ctx.run_id,
        preflight=_preflight(run, ctx, environment) if pending else [],
        violations=violations(run.spec, settings.policy, ctx.namespace) if pending else [],
    )
    plan, retried = _carry_out(
        plan, run, ctx, kube, environment, observed, status, now, settings.policy,
        pools=_Pools(analyses, applies),
    )  # fmt: skip
    new = next_status(status, plan, body["metadata"].get("generation"), now)
    return ReconcileResult(status_patch(status, new), plan.events, plan.phase, retried=retried)


def _carry_out(
    plan: Plan,
    run: PerfRun,
    ctx: RunContext,
    kube: Kube,
    environment: list[dict[str, Any]],
    observed: Observed,
    status: PerfRunStatus,
    now: datetime,
    policy: AdminPolicy,
    *,
    pools: _Pools,
) -> tuple[Plan, str | None]:
    """Run the plan's actions. An object the API server refuses ends the run (ApplyRejected,
    naming it); a passing error (5xx, 429, a timeout) keeps the plan's status -- its deadline
    with it -- and the next reconcile tries again."""
    for action in plan.actions:
        try:
            _act(
                action, run, ctx, kube, environment, observed, plan, status, now,
                policy=policy, pools=pools,
            )  # fmt: skip
        except ObjectRefusedError as exc:
            log.warning("run %s/%s: %s", ctx.perfrun_namespace, ctx.name, exc.refusal.describe())
            failed = refused(run.spec, now, exc.refusal.describe())
            # what the plan had learnt stays (a first tick's namespace and deadline)
            failed.updates = {**plan.updates, **failed.updates}
            return failed, None
        except (KubeError, OSError, urllib3.exceptions.HTTPError) as exc:
            what = f"{action}: {type(exc).__name__} {getattr(exc, 'status', '') or ''}".strip()
            log.warning("run %s/%s: %s; retrying", ctx.perfrun_namespace, ctx.name, what)
            if plan.phase not in TERMINAL_PHASES:
                plan.message = f"{plan.message}; retrying after {what}".lstrip("; ")
            return plan, what
    return plan, None


def _apply(kube: Kube, manifest: dict[str, Any], *, converge: bool = True) -> None:
    """Write an object a reconcile found missing: created (a POST costs the API server less
    than a server-side apply of a new object), and, when it exists after all (a cache behind
    the API server), server-side applied so that it converges -- unless ``converge`` is
    False (the namespace: one that exists is left as it is)."""
    try:
        if kube.create(manifest) is None and converge:
            kube.apply(manifest)
    except KubeError as exc:
        found = refusal_of(manifest, exc)
        if found is None:
            raise
        raise ObjectRefusedError(found) from exc


def _preflight(
    run: PerfRun, ctx: RunContext, environment: list[dict[str, Any]] | None = None
) -> list[str]:
    """Every reason the run cannot work (``environment``: its render, when made already). A
    spec these checks themselves cannot handle is one more reason, never an exception:
    raised here, it would fail every tick and stall the run before its deadline is even
    written."""
    problems: list[str] = []
    checks: tuple[tuple[str, Callable[[], list[str]]], ...] = (
        ("check", lambda: preflight(run.spec)),
        ("render", lambda: rendered_sizes(run, ctx, environment)),
    )
    for what, check in checks:
        try:
            problems += check()
        except Exception as exc:
            log.exception("run %s/%s: cannot %s the run", ctx.perfrun_namespace, ctx.name, what)
            problems.append(f"cannot {what} the run: {type(exc).__name__}: {exc}")
    return problems


def _apply_missing(
    kube: Kube,
    manifests: list[dict[str, Any]],
    missing: set[str] | None,
    applies: Waves | None = None,
) -> None:
    wanted = [
        m for m in manifests if missing is None or f"{m['kind']}/{m['metadata']['name']}" in missing
    ]
    apply_in_waves(wanted, functools.partial(_apply, kube), applies)


def _act(
    action: Action,
    run: PerfRun,
    ctx: RunContext,
    kube: Kube,
    environment: list[dict[str, Any]],
    observed: Observed,
    plan: Plan,
    status: PerfRunStatus,
    now: datetime,
    *,
    policy: AdminPolicy,
    pools: _Pools,
) -> None:
    if action == Action.CREATE_NAMESPACE:
        _apply(kube, render_namespace.namespace(run, ctx), converge=False)
    elif action == Action.APPLY_ENVIRONMENT:
        missing = set(observed.missing) if observed.namespace_exists else None
        _apply_missing(kube, environment, missing, pools.applies)
    elif action in (Action.RUN_MIGRATIONS, Action.RUN_DATASET, Action.RUN_LOAD):
        job_name, render = {
            Action.RUN_MIGRATIONS: (render_jobs.MIGRATIONS_JOB, render_jobs.migrations_job),
            Action.RUN_DATASET: (render_jobs.DATASET_JOB, render_jobs.dataset_job),
            Action.RUN_LOAD: (render_jobs.LOAD_JOB, render_jobs.load_job),
        }[action]
        if job_name not in observed.jobs:
            _apply_missing(kube, render(run, ctx), None)
    elif action == Action.STOP_LOAD:
        kube.delete("batch/v1", "Job", render_jobs.LOAD_JOB, ctx.namespace)
    elif action == Action.ANALYZE:
        found = _analysis(run, ctx, kube, status, now, policy, pools.analyses)
        plan.updates.update(found)
        message = found.get("message")
        if isinstance(message, str):  # the verdict's reason, until the end
            plan.message = message
    elif action == Action.DELETE_NAMESPACE:
        kube.delete("v1", "Namespace", ctx.namespace)


def _analysis(
    run: PerfRun,
    ctx: RunContext,
    kube: Kube,
    status: PerfRunStatus,
    now: datetime,
    policy: AdminPolicy,
    analyses: Analyses | None,
) -> dict[str, object]:
    """The analysis's status fields: at once without a pool; with one, once the run's
    analysis there is done (nothing until then: the run stays Analyzing, the tick returns)."""
    from perfrun.controller.analyze import analyze_run

    if analyses is None:
        return analyze_run(run, ctx, kube, status, now, policy)
    window = status.load_window
    key = (ctx.uid, f"{window.start}/{window.end}" if window else "")
    return analyses.poll(key, lambda: analyze_run(run, ctx, kube, status, now, policy)) or {}
