"""The phase machine: a pure function from (spec, status, observed, now) to a Plan.

No I/O happens here: the reconciler reads the cluster into ``Observed``, asks ``decide`` what
to do, then carries out the plan's actions and writes its status. Every deadline is computed
from timestamps in the object (creationTimestamp, status), so a restarted operator makes the
same decision and misses none."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from perfrun.api.perfrun import PerfRunSpec
from perfrun.api.status import TERMINAL_PHASES, ConditionType, PerfRunStatus, Phase, Verdict
from perfrun.api.times import parse_time, rfc3339
from perfrun.api.types import parse_duration
from perfrun.controller.conditions import Outcome
from perfrun.controller.observed import Observed
from perfrun.controller.progress import describe
from perfrun.render.jobs import DATASET_JOB, LOAD_JOB, MIGRATIONS_JOB


class Action(StrEnum):
    """Side effects the reconciler carries out, in this order."""

    CREATE_NAMESPACE = "CreateNamespace"
    APPLY_ENVIRONMENT = "ApplyEnvironment"  # creates the missing environment objects only
    RUN_MIGRATIONS = "RunMigrations"
    RUN_DATASET = "RunDataset"
    RUN_LOAD = "RunLoad"
    STOP_LOAD = "StopLoad"
    ANALYZE = "Analyze"
    DELETE_NAMESPACE = "DeleteNamespace"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the PerfRun."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Plan:
    """What ``decide`` wants: the phase with its reason, step conditions, status fields to
    set, actions and events."""

    phase: Phase
    reason: str
    message: str
    steps: dict[str, Outcome] = field(default_factory=dict)
    updates: dict[str, object] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _after(start: str, duration: str) -> datetime:
    return parse_time(start) + timedelta(seconds=parse_duration(duration))


def _terminal(
    spec: PerfRunSpec,
    phase: Phase,
    reason: str,
    message: str,
    now: datetime,
    *,
    keep_for: str | None = None,
) -> Plan:
    """Enter a terminal phase: record when, and when the namespace goes."""
    if keep_for is None:
        keep_for = keep_after(spec, phase)
    finished = rfc3339(now)
    plan = Plan(phase, reason, message)
    plan.updates["finished_at"] = finished
    plan.updates["delete_at"] = rfc3339(now + timedelta(seconds=parse_duration(keep_for)))
    kind = "Normal" if phase == Phase.SUCCEEDED else "Warning"
    plan.events.append(Event(kind, reason, f"{phase}: {message}"))
    if phase in (Phase.EXPIRED, Phase.ABORTED):
        plan.actions.append(Action.STOP_LOAD)
    return plan


def decide(
    spec: PerfRunSpec,
    status: PerfRunStatus,
    observed: Observed,
    now: datetime,
    *,
    created_at: str,
    namespace: str,
    run_id: str,
    preflight: list[str],
    violations: list[str] | tuple[str, ...] = (),
) -> Plan:
    """The next step of one run."""
    phase = Phase(status.phase) if status.phase else Phase.PENDING

    if phase in TERMINAL_PHASES:
        return _after_finish(spec, status, observed, now, phase)

    if phase == Phase.PENDING:
        if violations:  # the cluster admin's limits (see api/policy.py)
            plan = _terminal(
                spec, Phase.INVALID, "PolicyViolation", "; ".join(violations), now, keep_for="0s"
            )
            plan.updates["delete_at"] = None
            return plan
        if preflight:
            plan = _terminal(
                spec,
                Phase.INVALID,
                "InvalidSpec",
                "; ".join(preflight),
                now,
                keep_for="0s",
            )
            plan.updates["delete_at"] = None  # nothing was created, nothing to delete
            return plan
        plan = Plan(Phase.PROVISIONING, "Provisioning", f"creating namespace {namespace}")
        plan.updates.update(
            namespace=namespace,
            run_id=run_id,
            started_at=created_at,
            expires_at=rfc3339(_after(created_at, spec.ttl.max_duration)),
        )
        plan.steps[ConditionType.ENVIRONMENT_READY] = Outcome("False", "Provisioning", "")
        # The namespace and the environment are created in this same tick, and its one status
        # write carries the deadline whatever happens to them: a refused object's Failed
        # status keeps these updates (reconcile.py), a passing error keeps this plan, and a
        # crash before the write changes nothing (expiresAt is the creation time plus
        # maxDuration, the applies are idempotent). A tick of its own for this status cost
        # every run a status write and a reconcile interval (issue 18).
        plan.actions += [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]
        plan.events.append(Event("Normal", "Provisioning", f"namespace {namespace}"))
        return plan

    # ttl is mutable: the deadline follows the spec's current maxDuration, from the start
    started = status.started_at or created_at
    expires_at = rfc3339(_after(started, spec.ttl.max_duration))
    if spec.abort:
        return _terminal(spec, Phase.ABORTED, "Aborted", "spec.abort was set", now, keep_for="0s")
    if now >= parse_time(expires_at):
        return _terminal(
            spec,
            Phase.EXPIRED,
            "Expired",
            f"ttl.maxDuration {spec.ttl.max_duration} passed in phase {phase}",
            now,
            keep_for="0s",
        )
    plan = _running(spec, status, observed, now, phase)
    if plan.phase not in TERMINAL_PHASES:
        plan.updates["expires_at"] = expires_at
    return plan


def _running(
    spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime, phase: Phase
) -> Plan:
    if phase == Phase.PROVISIONING:
        return _provisioning(spec, status, observed, now)
    if phase == Phase.RESTORING:
        return _restoring(spec, status, observed, now)
    if phase == Phase.LOADING:
        return _loading(spec, status, observed, now)
    return _analyzing(spec, status, observed, now)


def refused(spec: PerfRunSpec, now: datetime, what: str) -> Plan:
    """The API server refused one of the run's objects: no retry changes that, the run ends
    (Failed, Stalled=True, reason ApplyRejected) and its namespace goes after keepOnFailure."""
    plan = _terminal(spec, Phase.FAILED, "ApplyRejected", what, now)
    plan.steps[ConditionType.ENVIRONMENT_READY] = Outcome("False", "ApplyRejected", what)
    return plan


def ended(spec: PerfRunSpec, reason: str, message: str, now: datetime) -> Plan:
    """The run fails for a reason of no step in particular (e.g. the operator's own fault):
    Failed, Stalled=True, its namespace going after keepOnFailure."""
    return _terminal(spec, Phase.FAILED, reason, message, now)


def _failed(spec: PerfRunSpec, now: datetime, step: str, reason: str, message: str) -> Plan:
    plan = _terminal(spec, Phase.FAILED, reason, message, now)
    plan.steps[step] = Outcome("False", reason, message)
    return plan


def _job_step_failure(
    spec: PerfRunSpec, observed: Observed, now: datetime, step: str, job: str, reason: str
) -> Plan | None:
    """The run fails when the step's Job failed, or any pod is broken beyond waiting."""
    failed = _job_failure(observed, job)
    if failed:
        return _failed(spec, now, step, reason, failed)
    failure = _pod_failure(observed)
    if failure:
        return _failed(spec, now, step, failure[0], failure[1])
    return None


def _pod_failure(observed: Observed) -> tuple[str, str] | None:
    for failure in observed.pod_failures:
        detail = f": {failure.message}" if failure.message else ""
        return failure.reason, f"{failure.owner} pod {failure.pod} is {failure.reason}{detail}"
    return None


def _job_failure(observed: Observed, job: str) -> str | None:
    state = observed.jobs.get(job)
    if state and state.failed:
        return f"Job/{job} failed" + (f": {state.message}" if state.message else "")
    return None


def _next_after_environment(spec: PerfRunSpec) -> Plan:
    if spec.dataset is not None and spec.dataset.snapshot is None:
        plan = Plan(Phase.RESTORING, "Restoring", f"restoring the dataset into {spec.dataset.into}")
        plan.actions.append(Action.RUN_DATASET)
        plan.steps[ConditionType.DATASET_RESTORED] = Outcome("False", "Restoring", "")
        return plan
    plan = Plan(Phase.LOADING, "Loading", "load started")
    if spec.dataset is not None:
        plan.steps[ConditionType.DATASET_RESTORED] = Outcome(
            "True",
            "SnapshotCloned",
            f"cloned from {spec.dataset.snapshot.volume_snapshot}",  # type: ignore[union-attr]
        )
    plan.actions.append(Action.RUN_LOAD)
    return plan


def _provisioning(
    spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime
) -> Plan:
    step = ConditionType.ENVIRONMENT_READY
    failure = _pod_failure(observed)
    if failure:
        return _failed(spec, now, step, failure[0], failure[1])
    migrations_failed = _job_failure(observed, MIGRATIONS_JOB)
    if migrations_failed:
        return _failed(spec, now, step, "MigrationsFailed", migrations_failed)
    started = status.started_at or rfc3339(now)
    if now >= _after(started, spec.environment.ready_timeout):
        waiting = ", ".join(observed.not_ready + observed.missing) or "migrations"
        return _failed(
            spec,
            now,
            step,
            "EnvironmentNotReady",
            f"not ready after {spec.environment.ready_timeout}: {waiting}",
        )
    if not observed.namespace_exists:
        plan = Plan(Phase.PROVISIONING, "Provisioning", f"creating namespace {status.namespace}")
        plan.actions += [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]
        return plan
    if observed.missing or observed.not_ready:
        plan = Plan(
            Phase.PROVISIONING,
            "Provisioning",
            "waiting for " + ", ".join((observed.missing + observed.not_ready)[:5]),
        )
        plan.actions.append(Action.APPLY_ENVIRONMENT)
        return plan
    if spec.environment.migrations is not None:
        migrations = observed.jobs.get(MIGRATIONS_JOB)
        if migrations is None or not migrations.succeeded:
            plan = Plan(Phase.PROVISIONING, "Migrating", "running Job/migrations")
            plan.actions.append(Action.RUN_MIGRATIONS)
            return plan
    plan = _next_after_environment(spec)
    plan.steps[step] = Outcome("True", "Ready", "all components and workloads are ready")
    plan.events.append(Event("Normal", "EnvironmentReady", "all components and workloads ready"))
    return plan


def _restoring(spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime) -> Plan:
    step = ConditionType.DATASET_RESTORED
    failed = _job_step_failure(spec, observed, now, step, DATASET_JOB, "DatasetJobFailed")
    if failed:
        return failed
    job = observed.jobs.get(DATASET_JOB)
    if job is None or not job.succeeded:
        plan = Plan(Phase.RESTORING, "Restoring", "running Job/dataset")
        plan.actions.append(Action.RUN_DATASET)
        return plan
    plan = Plan(Phase.LOADING, "Loading", "load started")
    plan.steps[step] = Outcome("True", "Restored", "Job/dataset completed")
    plan.actions.append(Action.RUN_LOAD)
    plan.events.append(Event("Normal", "DatasetRestored", "Job/dataset completed"))
    return plan


def _loading(spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime) -> Plan:
    step = ConditionType.LOAD_COMPLETED
    failed = _job_step_failure(spec, observed, now, step, LOAD_JOB, "LoadJobFailed")
    if failed:
        return failed
    job = observed.jobs.get(LOAD_JOB)
    window_start = status.load_window.start if status.load_window else rfc3339(now)
    if job is None or not job.succeeded:
        progress = observed.load_progress
        message = f"Job/load running: {describe(progress)}" if progress else "Job/load running"
        plan = Plan(Phase.LOADING, "Loading", message)
        plan.actions.append(Action.RUN_LOAD)
        plan.updates["load_window"] = {"start": window_start}
        if progress is not None:
            plan.updates["load"] = progress.model_dump()
        return plan
    plan = Plan(Phase.ANALYZING, "Analyzing", "load finished; analyzing")
    plan.steps[step] = Outcome("True", "Completed", "Job/load completed")
    plan.updates["load_window"] = {"start": window_start, "end": rfc3339(now)}
    if observed.load_progress is not None:  # the pods' final counts
        plan.updates["load"] = observed.load_progress.model_dump()
    plan.events.append(Event("Normal", "LoadCompleted", "Job/load completed"))
    return plan


def drain_wait(spec: PerfRunSpec) -> float:
    """Seconds to wait after the load stops before judging: the longest drain gate's 'within'."""
    return spec.analysis.drain_horizon_s()


ANALYZING_MESSAGE = "querying metrics"


def _analyzing(spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime) -> Plan:
    end = status.load_window.end if status.load_window and status.load_window.end else None
    if end and now < parse_time(end) + timedelta(seconds=drain_wait(spec)):
        return Plan(Phase.ANALYZING, "WaitingForDrain", "waiting for queues to drain")
    verdict = status.verdict
    if verdict is None:
        plan = Plan(Phase.ANALYZING, "Analyzing", ANALYZING_MESSAGE)
        plan.actions.append(Action.ANALYZE)
        return plan
    step = ConditionType.GATES_PASSED
    if verdict == Verdict.PASSED:
        plan = _terminal(spec, Phase.SUCCEEDED, "Passed", "all gates passed", now)
        plan.steps[step] = Outcome("True", "Passed", "all gates passed")
        return plan
    gates = status.results.gates if status.results else []
    regressions = status.results.regressions if status.results else []
    bad_gates = [
        f"{g.name}: {g.outcome}" + (f" ({g.message})" if g.message else "")
        for g in gates
        if g.outcome != Verdict.PASSED
    ]
    bad_baseline = [
        f"baseline {r.metric}: {r.outcome}" + (f" ({r.message})" if r.message else "")
        for r in regressions
        if r.outcome != Verdict.PASSED
    ]
    # no gate or check to blame (none were set, or the load generator saturated): the
    # analysis' own reason, which its tick left as the message
    analysed = status.message if status.message and status.message != ANALYZING_MESSAGE else None
    message = "; ".join(bad_gates + bad_baseline) or analysed or f"verdict {verdict}"
    if verdict != Verdict.FAILED:
        reason = "Inconclusive"
    elif any(g.outcome == Verdict.FAILED for g in gates):
        reason = "GatesFailed"
    else:
        reason = "BaselineRegressed"
    return _failed(spec, now, step, reason, message)


def keep_after(spec: PerfRunSpec, phase: Phase) -> str:
    """How long a finished run keeps its namespace, by the spec's current ttl."""
    if phase in (Phase.EXPIRED, Phase.ABORTED, Phase.INVALID):
        return "0s"
    return spec.ttl.after_finished if phase == Phase.SUCCEEDED else spec.ttl.keep_on_failure


def _after_finish(
    spec: PerfRunSpec, status: PerfRunStatus, observed: Observed, now: datetime, phase: Phase
) -> Plan:
    reason = next(
        (c.reason for c in status.conditions if c.type == ConditionType.FINISHED), str(phase)
    )
    message = status.message or ""
    plan = Plan(phase, reason, message)
    delete_at = status.delete_at
    if delete_at and status.finished_at:
        # ttl is mutable: an edit of afterFinished or keepOnFailure moves the deletion time,
        # and one shortened below "now" deletes at once
        delete_at = rfc3339(_after(status.finished_at, keep_after(spec, phase)))
        plan.updates["delete_at"] = delete_at
    if (
        delete_at
        and now >= parse_time(delete_at)
        and (observed.namespace_exists and not observed.namespace_terminating)
    ):
        plan.actions.append(Action.DELETE_NAMESPACE)
        plan.events.append(Event("Normal", "TornDown", f"deleting namespace {status.namespace}"))
    return plan
