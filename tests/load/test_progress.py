"""Load progress reports: the pure pieces (meter, wall-clock alignment, the interval setting)
and the engine's counters reported while it runs against a real HTTP server."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from tests.support.loadservers import TestServer

from perfrun.api.load import LoadSpec
from perfrun.load.budget import share_of
from perfrun.load.engine import Engine
from perfrun.load.progress import (
    Counters,
    ProgressMeter,
    interval_from_env,
    next_report_delay,
)
from perfrun.load.runner import ProgressReporter, _run_reporting


def _counters(at: float, requests: int, **over: Any) -> Counters:
    values: dict[str, Any] = {
        "at": at,
        "step": 1,
        "steps": 2,
        "target_rps": 100.0,
        "target_users": 0,
        "in_flight": 3,
        "backed_off": False,
        "requests": requests,
        "errors": 0,
    }
    values.update(over)
    return Counters(**values)


def test_achieved_rate_is_measured_between_two_reports() -> None:
    meter = ProgressMeter()
    first = meter.report(_counters(2.0, 150))
    second = meter.report(_counters(4.0, 550, errors=7))
    assert first["achievedRps"] == 75.0  # 150 since the start, over 2 s
    assert second["achievedRps"] == 200.0  # 400 more over the next 2 s
    assert second["requests"] == 550 and second["errors"] == 7
    assert second["final"] is False
    assert meter.report(_counters(4.0, 550), final=True)["final"] is True


def test_reports_land_on_the_same_wall_clock_boundaries_for_every_pod() -> None:
    # Pods that started at different moments still report just after the same multiples of
    # the interval, so the operator sees one change per interval, not one per pod.
    interval = 15.0
    for index in range(3):
        for now in (1000.0, 1003.7, 1012.2):
            at = now + next_report_delay(now, interval, index)
            spread = at - math.floor(at / interval) * interval
            assert math.isclose(spread, index * 0.02, abs_tol=1e-6), (index, now, at)
            assert at > now


def test_a_report_just_made_is_not_repeated_at_once() -> None:
    # A sleep that woke a hair before its boundary (the report was just made) does not
    # report again 0.1 s later: the next one is the following boundary.
    assert next_report_delay(1019.9, 15.0, 0) == pytest.approx(15.1)
    assert next_report_delay(1018.0, 15.0, 0) == pytest.approx(2.0)


def test_progress_interval_setting() -> None:
    assert interval_from_env(None) == 15.0
    assert interval_from_env(" ") == 15.0
    assert interval_from_env("2.5") == 2.5
    assert interval_from_env("0") == 0.0  # off
    for bad in ("0.1", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match=r"at least 0\.5 seconds"):
            interval_from_env(bad)
    with pytest.raises(ValueError):
        interval_from_env("often")


def test_reporter_is_off_outside_a_cluster_and_names_a_bad_interval() -> None:
    assert ProgressReporter.from_env({}, 0) is None
    env = {"PERFRUN_PROGRESS_CONFIGMAP": "ns/load-progress"}
    assert ProgressReporter.from_env({**env, "PERFRUN_PROGRESS_INTERVAL": "0"}, 0) is None
    with pytest.raises(ValueError, match="PERFRUN_PROGRESS_INTERVAL"):
        ProgressReporter.from_env({**env, "PERFRUN_PROGRESS_INTERVAL": "0.01"}, 0)


@pytest.mark.services
def test_engine_reports_its_progress_while_it_runs_and_its_final_counts(
    test_server: TestServer,
) -> None:
    test_server.behaviour.latency = lambda k: 0.002
    test_server.behaviour.status = lambda k, now: 500 if k % 10 == 0 else 200
    spec = LoadSpec.model_validate(
        {
            "target": test_server.url,
            "requestTimeout": "5s",
            "scenarios": [{"name": "get", "weight": 1, "path": "/x"}],
            "budget": {"maxRps": 400, "maxInFlight": 16, "maxDuration": "30s", "maxRetries": 0},
            "ramp": {
                "model": "open",
                "steps": [{"rate": 60, "hold": "2s"}, {"rate": 120, "hold": "2s"}],
            },
        }
    )
    engine = Engine(spec, share_of(spec, 0, 1), drain_timeout_s=2.0)
    written: list[dict[str, Any]] = []
    reporter = ProgressReporter(lambda text: written.append(json.loads(text)), 0.5, 0)
    summary = asyncio.run(_run_reporting(engine, reporter))
    reporter.final(engine)

    live, final = written[:-1], written[-1]
    assert len(live) >= 5, written  # ~4 s at one report per 0.5 s
    assert [r["requests"] for r in live] == sorted(r["requests"] for r in live)
    assert {r["step"] for r in live} >= {1, 2} and all(r["steps"] == 2 for r in written)
    assert {r["targetRps"] for r in live if r["step"] == 1} == {60.0}
    assert {r["targetRps"] for r in live if r["step"] == 2} <= {120.0, 0.0}  # 0 once stopping
    # in step 2 the achieved rate is close to its target
    mid = [r["achievedRps"] for r in live if r["step"] == 2 and r["targetRps"] == 120.0]
    assert mid and max(mid) == pytest.approx(120, rel=0.3), mid
    assert final["final"] is True and final["inFlight"] == 0
    assert final["requests"] == summary["requests"] > 300
    assert final["errors"] == summary["failed"] > 0
    assert reporter.writes == len(written)


def test_the_report_carries_the_pods_p99_so_far() -> None:
    meter = ProgressMeter()
    assert meter.report(_counters(1.0, 0)).get("p99Ms") is None  # nothing measured yet
    assert meter.report(_counters(2.0, 10, p99_ms=12.34567))["p99Ms"] == 12.346


def test_recorder_p99_is_that_of_every_request_so_far() -> None:
    from perfrun.load.stats import Recorder

    rec = Recorder(["a", "b"], frozenset({429, 503}))
    assert rec.p99_ms() is None
    for i in range(1, 1001):  # 1..1000 ms over two scenarios
        rec.attempt(i % 2, 200, None, retry=False)
        rec.complete(i % 2, i / 1000.0, ok=True)
    p99 = rec.p99_ms()
    assert p99 is not None and 985 <= p99 <= 1000, p99
