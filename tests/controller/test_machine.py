"""The phase machine, driven through every path with hand-made observations (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from perfrun.api import PerfRun
from perfrun.api.perfrun import PerfRunSpec
from perfrun.api.status import GateResult, PerfRunStatus, Phase, Regression, Results, Verdict
from perfrun.api.times import rfc3339
from perfrun.controller.machine import Action, decide
from perfrun.controller.observed import JobState, Observed, PodFailure
from perfrun.controller.status_update import next_status, status_patch

EXAMPLES = Path(__file__).parents[2] / "examples"
T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
READY = Observed(namespace_exists=True)


def spec(name: str = "perfrun-full.yaml", **changes: Any) -> PerfRunSpec:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    doc["spec"].update(changes)
    return PerfRun.model_validate(doc).spec


class Run:
    """A run's status advanced the way the reconciler advances it."""

    def __init__(self, s: PerfRunSpec) -> None:
        self.spec = s
        self.status = PerfRunStatus()
        self.now = T0

    def step(
        self, observed: Observed = READY, preflight: list[str] | None = None, after: float = 1.0
    ) -> list[Action]:
        self.now += timedelta(seconds=after)
        plan = decide(
            self.spec,
            self.status,
            observed,
            self.now,
            created_at=rfc3339(T0),
            namespace="perf-x-abcde",
            run_id="x-abcde",
            preflight=preflight or [],
        )
        self.status = next_status(self.status, plan, 1, self.now)
        return plan.actions

    def condition(self, ctype: str) -> tuple[str, str, str]:
        for c in self.status.conditions:
            if c.type == ctype:
                return c.status, c.reason, c.message
        raise AssertionError(f"no {ctype} condition")


def test_full_run_passes_through_every_phase() -> None:
    run = Run(spec())
    # the first tick creates the namespace and the environment; its status has expiresAt
    assert run.step() == [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]
    assert run.status.phase == Phase.PROVISIONING
    assert run.status.expires_at == rfc3339(T0 + timedelta(hours=2))
    # a tick that finds no namespace yet (the first one's write still on its way) creates it
    assert run.step(Observed()) == [Action.CREATE_NAMESPACE, Action.APPLY_ENVIRONMENT]
    assert run.condition("Reconciling")[0] == "True"
    assert run.condition("Ready")[0] == "False"
    assert run.condition("Finished")[0] == "False"

    assert run.step(Observed(namespace_exists=True, not_ready=("Deployment/api 1/3 ready",))) == [
        Action.APPLY_ENVIRONMENT
    ]
    assert run.step() == [Action.RUN_MIGRATIONS]
    assert run.status.phase == Phase.PROVISIONING
    done = {"migrations": JobState(succeeded=True)}
    assert run.step(Observed(namespace_exists=True, jobs=done)) == [Action.RUN_DATASET]
    assert run.status.phase == Phase.RESTORING
    assert run.condition("EnvironmentReady")[:2] == ("True", "Ready")

    done["dataset"] = JobState(succeeded=True)
    assert run.step(Observed(namespace_exists=True, jobs=done)) == [Action.RUN_LOAD]
    assert run.status.phase == Phase.LOADING
    assert run.condition("DatasetRestored")[0] == "True"
    assert run.step(Observed(namespace_exists=True, jobs=done)) == [Action.RUN_LOAD]
    start = run.status.load_window.start  # type: ignore[union-attr]

    done["load"] = JobState(succeeded=True)
    run.step(Observed(namespace_exists=True, jobs=done))
    assert run.status.phase == Phase.ANALYZING
    assert run.status.load_window.start == start  # type: ignore[union-attr]
    assert run.status.load_window.end is not None  # type: ignore[union-attr]
    # the queue-drains gate has within: 2m, so judging waits that long after the load
    assert run.step(Observed(namespace_exists=True, jobs=done), after=60) == []
    assert run.step(Observed(namespace_exists=True, jobs=done), after=61) == [Action.ANALYZE]

    run.status = run.status.model_copy(update={"verdict": Verdict.PASSED})
    run.step()
    assert run.status.phase == Phase.SUCCEEDED
    assert run.condition("Ready")[0] == "True"
    assert run.condition("Finished")[0] == "True"
    assert run.condition("Succeeded")[0] == "True"
    assert run.condition("Stalled")[0] == "False"
    assert run.condition("GatesPassed")[0] == "True"
    assert run.status.delete_at == rfc3339(run.now + timedelta(minutes=15))
    # the namespace stays for afterFinished, then goes exactly once
    assert run.step(after=14 * 60) == []
    assert run.step(after=61) == [Action.DELETE_NAMESPACE]
    assert run.step(Observed(namespace_exists=True, namespace_terminating=True)) == []


def test_failed_gates_fail_the_run_and_keep_the_namespace_longer() -> None:
    run = Run(spec("perfrun-minimal.yaml"))
    run.step()
    run.step()
    assert run.status.phase == Phase.LOADING
    run.step(Observed(namespace_exists=True, jobs={"load": JobState(succeeded=True)}))
    assert run.step() == [Action.ANALYZE]
    run.status = run.status.model_copy(
        update={
            "verdict": Verdict.FAILED,
            "results": Results(
                gates=[GateResult(name="p99", outcome=Verdict.FAILED, message="812ms > 500ms")]
            ),
        }
    )
    run.step()
    assert run.status.phase == Phase.FAILED
    assert run.condition("Stalled") == ("True", "GatesFailed", "p99: Failed (812ms > 500ms)")
    assert run.condition("Succeeded")[0] == "False"
    assert run.condition("Finished")[0] == "True"
    assert run.condition("GatesPassed")[:2] == ("False", "GatesFailed")
    assert run.status.delete_at == rfc3339(run.now + timedelta(hours=1))


def test_a_baseline_regression_fails_the_run_naming_metric_and_numbers() -> None:
    run = Run(spec("perfrun-minimal.yaml"))
    run.step()
    run.step()
    run.step(Observed(namespace_exists=True, jobs={"load": JobState(succeeded=True)}))
    why = "this run 495ms vs baseline 396ms: +25.0% worse (tolerance 5%)"
    regression = Regression(
        metric="latencyP99", tolerance_percent=5, outcome=Verdict.FAILED, message=why
    )
    run.status = run.status.model_copy(
        update={
            "verdict": Verdict.FAILED,
            "results": Results(
                gates=[GateResult(name="p99", outcome=Verdict.PASSED)], regressions=[regression]
            ),
        }
    )
    run.step()
    assert run.status.phase == Phase.FAILED
    assert run.condition("Stalled") == (
        "True",
        "BaselineRegressed",
        f"baseline latencyP99: Failed ({why})",
    )


def test_inconclusive_is_never_a_pass() -> None:
    run = Run(spec("perfrun-minimal.yaml"))
    run.step()
    run.step()
    run.step(Observed(namespace_exists=True, jobs={"load": JobState(succeeded=True)}))
    run.status = run.status.model_copy(update={"verdict": Verdict.INCONCLUSIVE})
    run.step()
    assert run.status.phase == Phase.FAILED
    assert run.condition("Ready")[0] == "False"
    assert run.condition("Stalled")[1] == "Inconclusive"


def test_pod_failure_fails_the_run_with_the_child_name() -> None:
    run = Run(spec())
    run.step()
    failure = PodFailure("Deployment/api", "api-7d9f-x1", "ImagePullBackOff", "no such image")
    run.step(Observed(namespace_exists=True, pod_failures=(failure,)))
    assert run.status.phase == Phase.FAILED
    status, reason, message = run.condition("EnvironmentReady")
    assert (status, reason) == ("False", "ImagePullBackOff")
    assert "Deployment/api" in message and "api-7d9f-x1" in message
    assert run.condition("Stalled")[1] == "ImagePullBackOff"


def test_environment_timeout_names_what_never_became_ready() -> None:
    run = Run(spec())
    run.step()
    slow = Observed(namespace_exists=True, not_ready=("StatefulSet/db 0/1 ready",))
    run.step(slow, after=9 * 60)
    assert run.status.phase == Phase.PROVISIONING
    run.step(slow, after=61)
    assert run.status.phase == Phase.FAILED
    assert run.condition("EnvironmentReady")[1] == "EnvironmentNotReady"
    assert "StatefulSet/db" in run.condition("EnvironmentReady")[2]


def test_failed_jobs_fail_their_step() -> None:
    for job, step_condition, reason in [
        ("dataset", "DatasetRestored", "DatasetJobFailed"),
        ("load", "LoadCompleted", "LoadJobFailed"),
    ]:
        run = Run(spec())
        run.step()
        jobs = {"migrations": JobState(succeeded=True)}
        run.step(Observed(namespace_exists=True, jobs=jobs))
        if job == "load":
            jobs["dataset"] = JobState(succeeded=True)
            run.step(Observed(namespace_exists=True, jobs=jobs))
        jobs[job] = JobState(failed=True, message="BackoffLimitExceeded")
        run.step(Observed(namespace_exists=True, jobs=jobs))
        assert run.status.phase == Phase.FAILED
        status, got_reason, message = run.condition(step_condition)
        assert (status, got_reason) == ("False", reason)
        assert f"Job/{job}" in message


def test_preflight_problems_make_the_run_invalid_without_a_namespace() -> None:
    run = Run(spec())
    actions = run.step(preflight=["load.target host 'nope' is not a workload of the run"])
    assert actions == []
    assert run.status.phase == Phase.INVALID
    assert run.status.namespace is None
    assert run.condition("Stalled")[:2] == ("True", "InvalidSpec")
    assert "nope" in run.condition("Stalled")[2]
    assert run.step() == []  # and nothing is deleted later either


def test_expiry_stops_an_unfinished_run_and_tears_it_down() -> None:
    run = Run(spec())
    run.step()
    run.step(
        Observed(namespace_exists=True, not_ready=("Deployment/api 0/3 ready",)), after=2 * 3600
    )
    assert run.status.phase == Phase.EXPIRED
    assert run.condition("Stalled")[1] == "Expired"
    assert run.step() == [Action.DELETE_NAMESPACE]


def test_abort_stops_the_load_and_tears_down() -> None:
    run = Run(spec("perfrun-minimal.yaml"))
    run.step()
    run.step()
    assert run.status.phase == Phase.LOADING
    run.spec = run.spec.model_copy(update={"abort": True})
    assert Action.STOP_LOAD in run.step()
    assert run.status.phase == Phase.ABORTED
    assert run.step() == [Action.DELETE_NAMESPACE]


def test_an_idle_reconcile_writes_nothing() -> None:
    run = Run(spec("perfrun-minimal.yaml"))
    run.step()
    waiting = Observed(namespace_exists=True, not_ready=("Deployment/api 0/1 ready",))
    run.step(waiting)
    before = run.status
    run.step(waiting)
    assert status_patch(before, run.status) == {}


def test_conditions_carry_generation_reason_and_message() -> None:
    run = Run(spec())
    run.step()
    for condition in run.status.conditions:
        assert condition.observed_generation == 1
        assert condition.reason[0].isupper()
        assert condition.last_transition_time.endswith("Z")
