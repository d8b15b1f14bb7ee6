"""The engine is honest when it cannot keep up (issue 17), as a real process against real
servers on 127.0.0.1: a step at the budget is delivered at the budget, slots it cannot send in
time are dropped and counted per step, the run ends with its ramp, the summary says what was
really sent, the load process's own CPU is reported, and closed-model latency runs from the
moment of sending with the wait for the budget reported apart.

Durations are bounded for the suite: the exact-rate test holds its step for 20 s (the issue's
60 s: ``PERFRUN_EXACT_RATE_SECONDS=60``); on the old engine the lag is already hundreds of ms
by then (it grew ~20 ms per second)."""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from tests.support.backoff import assert_settled_under, refusing_past
from tests.support.cpu import CpuPressure
from tests.support.loadservers import NginxServer, TestServer, run_load

from perfrun.analysis.model import Window
from perfrun.analysis.run import analyze
from perfrun.analysis.summaries import parse_summary
from perfrun.api.analysis import AnalysisSpec
from perfrun.api.load import LoadSpec
from perfrun.load.budget import share_of
from perfrun.load.engine import Engine

pytestmark = pytest.mark.services

EXACT_SECONDS = int(os.environ.get("PERFRUN_EXACT_RATE_SECONDS", "20"))
# The share of wall time some task may wait for a CPU (Linux PSI) for a run's latency to be a
# statement about the engine (see the step-at-the-budget test).
QUIET_PRESSURE = 0.15


def _open(url: str, rate: int, hold: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "target": url,
        "requestTimeout": "2s",
        "scenarios": [{"name": "get", "weight": 1, "path": "/"}],
        "budget": {"maxRps": rate, "maxInFlight": 64, "maxDuration": "2m"},
        "ramp": {"model": "open", "steps": [{"rate": rate, "hold": hold}]},
    }
    doc.update(over)
    return doc


def _full_seconds(times: list[float]) -> list[int]:
    """Requests the server saw in each whole second from the first arrival, the first and
    the last (partial) seconds left out."""
    t0 = min(times)
    counts: dict[int, int] = {}
    for t in times:
        k = int(t - t0)
        counts[k] = counts.get(k, 0) + 1
    last = max(counts)
    return [counts.get(k, 0) for k in range(1, last)]


# The most a second may show over the budget when its neighbour is short by as much (the
# server logged late what the client sent in time); measured: 315 after 282 at 300/s.
SHIFT_SHARE = 0.1


def test_a_step_at_the_budget_is_delivered_at_the_budget(
    nginx_server: NginxServer, tmp_path: Path
) -> None:
    """Defect 1: a step equal to maxRps used to be capped at maxRps/1.02 and fell behind for
    ever (p99 climbing by ~20 ms a second against a server answering at once). nginx (its
    own process, answering from memory) counts the arrivals in its access log."""
    rate = 300
    for attempt in (1, 2):
        p99, share = _step_at_the_budget(nginx_server, tmp_path / str(attempt), rate)
        # What the engine adds to a server answering at once: p99 under 5 ms (the issue's
        # bound) whenever the machine let the processes run. The old engine fell behind for
        # ever (its p50 was hundreds of ms by 20 s). On a saturated machine (CPU pressure: some
        # task waited for a CPU more than QUIET_PRESSURE of the time) the scheduler alone
        # delays the load process, nginx or the loopback's softirq by tens of ms, the load
        # process at nice -10 too: measured at this rate, pressure 0.19 / 0.21 / 0.28 gave p99
        # 1.9 / 2.2 / 2.9 ms, 0.24 / 0.37 / 0.41 / 0.55 gave 9.7 / 20 / 32 / 11 ms. A bound of a
        # few ms is then no statement about the engine, so only p99 < 100 ms is judged, and the
        # test says so (a warning). Below it, a p99 over 5 ms with some pressure is measured
        # once more (CI, a control plane beside it: 6.05 ms at pressure 0.07, max 15 ms, once):
        # an engine that adds the latency adds it every time, a scheduler burst rarely twice.
        if share is not None and share >= QUIET_PRESSURE:
            warnings.warn(
                f"CPU pressure {share:.0%} during the run (saturated machine): judged "
                f"p99 < 100 ms, not the issue's 5 ms; p99 was {p99} ms",
                stacklevel=1,
            )
            assert p99 < 100.0, (p99, share)
            return
        if p99 < 5.0 or attempt == 2 or not share:
            assert p99 < 5.0, (attempt, p99, share)
            return


def _step_at_the_budget(
    nginx_server: NginxServer, tmp_path: Path, rate: int
) -> tuple[float, float | None]:
    """One run of a step at the budget, its delivery judged; (p99 ms, CPU pressure share)."""
    tmp_path.mkdir()
    nginx_server.mark()
    with CpuPressure() as pressure:
        res = run_load(
            tmp_path,
            _open(nginx_server.url, rate, f"{EXACT_SECONDS}s"),
            timeout=EXACT_SECONDS + 60,
        )
    assert res.returncode == 0, res.stderr
    seconds = _full_seconds([t for t, _ in nginx_server.arrivals()])
    s = res.summary
    detail = (seconds, s["dropped"], s["latencyMs"], pressure.share)
    assert len(seconds) >= EXACT_SECONDS - 2, detail
    # Within 1 % of the budget: on average, and in (nearly) every second. The count is the
    # server's: nginx logs a request when it gets to it, so when nginx (or the loopback) is
    # not scheduled for tens of ms it logs a bunch at once, in the next second: measured
    # [..., 298, 282, 315, 298, ...] at pressure 20 %, nothing dropped. At pressure 8-13 %
    # four of five runs had every second at 298 or 299 (the pace is 298.2/s; one request
    # moved across a boundary makes 297 or 300), one had a second outside [297, 300]: a
    # strict per-second check would be flaky on a shared machine. Such a second over the
    # budget comes with a short neighbour, the two within twice the budget: the server saw
    # late what the client sent in time, never more (the engine never puts more than maxRps
    # into any window of 1 s + 2 ms guard; unit-tested in test_budget). A second in which
    # the load process was not scheduled for a few hundred ms is short (nothing may make up
    # for it without going over; the summary says so: dropped). So: every second over is
    # such a shift, of at most SHIFT_SHARE of the budget (~100 ms of nginx not logging: a
    # burst the client sent, e.g. [600, 0], fails however it is paired), and 80 % of the
    # seconds within 1 %.
    assert sum(seconds) / len(seconds) >= 0.99 * rate, detail
    for k, n in enumerate(seconds):
        if n > rate:
            assert n <= (1 + SHIFT_SHARE) * rate, (k, detail)
            pair = [seconds[j] for j in (k - 1, k + 1) if 0 <= j < len(seconds)]
            assert any(n + m <= 2 * rate for m in pair), (k, detail)
    assert sum(n >= 0.99 * rate for n in seconds) >= 0.8 * len(seconds), detail
    assert s["latencyMs"]["p50"] < 2.0, detail
    assert s["dropped"] <= 0.01 * s["steps"][0].get("due", 0), detail
    assert s["steps"][0].get("due", 0) >= 0.99 * rate * EXACT_SECONDS
    return float(s["latencyMs"]["p99"]), pressure.share


def test_slots_it_cannot_send_in_time_are_dropped_counted_and_judged(
    test_server: TestServer, tmp_path: Path
) -> None:
    """Defect 2: with half the answers 503 and two retries, retries take budget from new
    requests; the old engine sent late instead, ran past its ramp and said ``dropped: 0``."""
    test_server.behaviour.status = lambda k, now: 503 if k % 2 else 200
    load = _open(test_server.url, 200, "5s")
    load["budget"]["maxRetries"] = 2
    started = time.monotonic()
    res = run_load(tmp_path, load)
    wall = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    s = res.summary
    step = s["steps"][0]
    # the run ends with its ramp, give or take the drain (request timeout 2 s) and start-up
    assert s["durationSeconds"] <= 5.0 + 2.0, s["durationSeconds"]
    assert wall < 5.0 + 2.0 + 5.0
    # every slot is either sent or dropped, and the summary says which
    assert step.get("due", 0) >= 0.99 * 200 * 5
    assert step.get("dropped", 0) > 0.1 * step.get("due", 0), step
    assert s["dropped"] == step.get("dropped", 0)
    assert s["requests"] + s["dropped"] == step["due"]
    assert step["sentPerSecond"] <= 200 * 1.01  # attempts, retries included, never over
    # the load process says what it cost
    (pod,) = s["pods"]
    assert pod.get("cpuSeconds", 0.0) > 0.0 and 0.0 < pod.get("cpuCores", 0.0) < 2.0
    # and the analysis will not take such a run for a measurement of the target
    result = analyze(
        AnalysisSpec.model_validate(
            {"gates": [{"name": "p99", "metric": "latencyP99", "max": "1s"}]}
        ),
        None,
        Window(start=0.0, end=s["durationSeconds"]),
        [parse_summary(s)],
        api=_NoPrometheus(),
    )
    assert result.verdict == "Inconclusive"
    assert "LoadGeneratorSaturated" in result.reason and "step 1" in result.reason, result.reason


def test_a_slot_past_its_lateness_is_dropped_even_with_the_budget_free(
    test_server: TestServer,
) -> None:
    """A loop held for 0.5 s (the engine behind, budget to spare): the slots that fell due
    more than maxLateness (100 ms) before it could send are dropped and counted, the rest
    go out late by at most maxLateness. The engine sent every one of them late instead
    (0 dropped at 30k req/s on loopback nginx with a p50 of 375 ms)."""
    budget = {"maxRps": 2000, "maxInFlight": 64, "maxDuration": "1m"}
    spec = LoadSpec.model_validate(_open(test_server.url, 200, "3s", budget=budget))
    engine = Engine(spec, share_of(spec, 0, 1), drain_timeout_s=2.0)

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        loop.call_later(1.5, time.sleep, 0.5)  # the loop held: nothing runs for 0.5 s
        return await engine.run()

    s = asyncio.run(main())
    (step,) = s["steps"]
    # ~0.4 s of slots (200/s) could not go out within 100 ms: dropped, not sent late
    assert 60 <= step["dropped"] <= 100, step
    assert s["requests"] + s["dropped"] == step["due"] >= 0.99 * 200 * 3, (s["requests"], step)
    assert step["maxLateMs"] <= 100.0 + 5.0, step


def test_closed_model_latency_runs_from_sending_and_the_budget_wait_is_apart(
    test_server: TestServer, tmp_path: Path
) -> None:
    """Defect 3: 64 users at maxRps 150 against a 0 ms server: each user waits ~0.4 s for
    the budget; the old engine counted that wait as latency (p90 about 1 s)."""
    load = {
        "target": test_server.url,
        "scenarios": [{"name": "get", "weight": 1, "path": "/"}],
        "budget": {"maxRps": 150, "maxInFlight": 64, "maxDuration": "1m"},
        "ramp": {"model": "closed", "steps": [{"rate": 64, "hold": "4s"}]},
    }
    res = run_load(tmp_path, load)
    assert res.returncode == 0, res.stderr
    s = res.summary
    # the old engine: about 1,000 ms; here a few ms, tens when the shared machine is busy
    assert s["latencyMs"]["p90"] < 150.0, s["latencyMs"]
    wait = s.get("budgetWaitMs", {})
    assert wait.get("count", 0) == s["requests"]
    assert wait.get("mean", 0.0) > 100.0, wait  # 64 users sharing 150/s: ~0.4 s each
    # and they take turns (first come, first served): with fewer users than maxRps, a user
    # waits at most one window of the limiter (1 s + 2 ms guard: the oldest token must leave
    # it) before it is sent; racing for tokens, one waited 1.97 s while others went first.
    assert wait["max"] <= 1002.0 + 100.0, wait


class _NoPrometheus:
    """No Prometheus at all: the numbers come from the load summary."""

    def ping(self) -> None:
        from perfrun.analysis.queries import QueryError

        raise QueryError("ping: no Prometheus in this test")

    def instant(self, query: str, at: float) -> list[object]:
        raise AssertionError("not asked once down")

    def range(self, *a: object) -> list[object]:
        raise AssertionError("not asked once down")


@pytest.mark.parametrize("then", ["stepDown", "holdPreviousStep"])
def test_back_off_finds_a_known_capacity_and_stays_under_it(
    test_server: TestServer, tmp_path: Path, then: str
) -> None:
    """Defect 4: against a server refusing past 100 req/s the old holdPreviousStep ended at
    50/s and stepDown at 75/s or climbing back into the limit."""
    test_server.behaviour.status = refusing_past(100)
    load = _open(test_server.url, 300, "15s")
    load["budget"].update(maxRps=400, maxRetries=1)
    load["adaptive"] = {"window": "1s", "then": then}
    res = run_load(tmp_path, load)
    assert res.returncode == 0, res.stderr
    # within 10 % under the capacity, and the 429 share under statusShare (default 1 %)
    assert_settled_under(test_server.snapshot(), then, res.summary["decisions"], share=0.01)


def test_a_constant_error_rate_is_reported_not_followed_down(
    test_server: TestServer, tmp_path: Path
) -> None:
    """Defect 4: 10 % of answers fail whatever the rate; the old back-off drove the rate
    down to 1 req/s. Now the cut is undone and the errors are reported."""
    test_server.behaviour.status = lambda k, now: 500 if k % 10 == 0 else 200
    load = _open(test_server.url, 200, "8s")
    load["adaptive"] = {"window": "1s", "then": "stepDown", "backOffOn": {"errorRate": 0.05}}
    res = run_load(tmp_path, load)
    assert res.returncode == 0, res.stderr
    hits = test_server.snapshot()
    t0 = min(h.arrived for h in hits)
    last = [h for h in hits if 5.0 <= h.arrived - t0 < 7.0]
    actions = [d["action"] for d in res.summary["decisions"]]
    assert "constantErrors" in actions, actions
    assert len(last) / 2.0 >= 0.9 * 200, (len(last), actions)
