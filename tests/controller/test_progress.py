"""status.load from the load pods' progress reports: summing, bad reports, the Loading
message, and the final counts carried into Analyzing."""

from __future__ import annotations

import json
from typing import Any

from tests.controller.test_machine import READY, Run, spec

from perfrun.api.status import LoadProgress, Phase
from perfrun.api.wire import ProgressReport
from perfrun.controller.observed import JobState, Observed
from perfrun.controller.progress import describe, sum_progress
from perfrun.controller.status_update import status_patch


def report(**over: Any) -> str:
    """A pod's report in the wire contract's keys; ``over`` may set any value (bad ones too)."""
    doc = ProgressReport(
        step=2,
        steps=3,
        target_rps=100.0,
        achieved_rps=98.5,
        in_flight=4,
        requests=1000,
        errors=3,
    ).model_dump(by_alias=True)
    doc.update(over)
    return json.dumps(doc)


def test_no_report_yet_is_no_progress() -> None:
    assert sum_progress({}) is None
    assert sum_progress({"notes": "x"}) is None


def test_pods_are_summed_and_a_finished_pod_adds_only_its_counts() -> None:
    data = {
        "progress-0.json": report(),
        "progress-1.json": report(step=3, backedOff=True, requests=500, errors=0),
        "progress-2.json": report(final=True, inFlight=0, requests=2000, errors=5),
        "summary-2.json": "{}",  # not a progress report
    }
    p = sum_progress(data)
    assert p == LoadProgress(
        pods=3,
        step=3,
        steps=3,
        target_rps=200.0,
        achieved_rps=197.0,
        in_flight=8,
        backed_off=True,
        requests=3500,
        errors=8,
    )


def test_a_bad_report_is_skipped_not_fatal() -> None:
    data = {
        "progress-0.json": report(),
        "progress-1.json": "{not json",
        "progress-2.json": report(requests=-1),
        "progress-3.json": report(achievedRps="fast"),
        "progress-4.json": report(inFlight=True),
        "progress-5.json": "[1, 2]",
        "progress-6.json": report(targetRps=float("nan")),
    }
    p = sum_progress(data)
    assert p is not None and p.pods == 1 and p.requests == 1000


def test_the_loading_message_says_where_the_load_is() -> None:
    p = sum_progress({"progress-0.json": report(), "progress-1.json": report()})
    assert p is not None
    assert describe(p) == (
        "step 2/3, 197 of 200 req/s, 2000 requests, 6 failed, 8 in flight (2 pods)"
    )
    closed = LoadProgress(pods=1, step=1, steps=1, target_users=50, achieved_rps=12.5)
    assert describe(closed) == (
        "step 1/1, 12.5 req/s from 50 users, 0 requests, 0 failed, 0 in flight (1 pod)"
    )
    assert describe(closed.model_copy(update={"backed_off": True})).endswith("backed off (1 pod)")


def _to_loading(run: Run) -> dict[str, JobState]:
    run.step()
    jobs = {"migrations": JobState(succeeded=True), "dataset": JobState(succeeded=True)}
    run.step(Observed(namespace_exists=True, jobs=dict(jobs)))
    run.step(Observed(namespace_exists=True, jobs=dict(jobs)))
    run.step(Observed(namespace_exists=True, jobs=dict(jobs)))
    assert run.status.phase == Phase.LOADING
    jobs["load"] = JobState()
    return jobs


def test_progress_reaches_status_while_loading_and_its_final_counts_stay() -> None:
    run = Run(spec())
    jobs = _to_loading(run)
    run.step(Observed(namespace_exists=True, jobs=jobs))
    assert run.status.load is None and run.status.message == "Job/load running"

    first = sum_progress({"progress-0.json": report(requests=100)})
    run.step(Observed(namespace_exists=True, jobs=jobs, load_progress=first))
    assert run.status.load == first
    assert run.status.message is not None
    assert run.status.message.startswith("Job/load running: step 2/3, 98.5 of 100 req/s")

    before = run.status
    run.step(Observed(namespace_exists=True, jobs=jobs, load_progress=first))
    assert status_patch(before, run.status) == {}  # same reports: nothing to write

    final = sum_progress({"progress-0.json": report(final=True, requests=900)})
    jobs["load"] = JobState(succeeded=True)
    run.step(Observed(namespace_exists=True, jobs=jobs, load_progress=final))
    assert run.status.phase == Phase.ANALYZING
    assert run.status.load is not None and run.status.load.requests == 900
    assert run.status.load.in_flight == 0
    run.step(READY)  # later reconciles without progress keep what was recorded
    assert run.status.load is not None and run.status.load.requests == 900


def test_dropped_requests_and_the_load_pods_cpu_reach_status_load() -> None:
    data = {
        "progress-0.json": report(dropped=120, cpuCores=0.97),
        "progress-1.json": report(dropped=30, cpuCores=0.95),
    }
    p = sum_progress(data)
    assert p is not None and p.dropped == 150 and p.load_cpu_cores == 1.92
    assert "150 dropped (the load pods could not keep up)" in describe(p)


def test_p99_so_far_is_the_highest_of_the_pods() -> None:
    data = {
        "progress-0.json": report(p99Ms=40.5),
        "progress-1.json": report(p99Ms=55.25),
        "progress-2.json": report(),
    }
    progress = sum_progress(data)
    assert progress is not None and progress.p99_ms == 55.25
    assert sum_progress({"progress-0.json": report()}).p99_ms is None  # type: ignore[union-attr]
