"""Ramp plan and adaptive back-off decisions."""

from __future__ import annotations

from typing import Any

import pytest

from perfrun.api.load import Adaptive, LoadSpec
from perfrun.load.adaptive import Controller, WindowSignals, breaches
from perfrun.load.budget import share_of
from perfrun.load.schedule import level_rate, phase_offset, plan, step_at


def _spec(**over: Any) -> LoadSpec:
    doc: dict[str, Any] = {
        "target": "http://127.0.0.1:1",
        "scenarios": [{"name": "a", "weight": 1, "path": "/"}],
        "budget": {"maxRps": 1000, "maxInFlight": 64, "maxDuration": "25s"},
        "ramp": {
            "steps": [
                {"rate": 100, "hold": "10s"},
                {"rate": 200, "hold": "10s"},
                {"rate": 400, "hold": "5s"},
            ]
        },
    }
    doc.update(over)
    return LoadSpec.model_validate(doc)


def test_plan_lays_steps_back_to_back_with_the_pods_share() -> None:
    steps = plan(_spec(), share_of(_spec(), 1, 3))
    assert [(s.rate, s.start, s.end) for s in steps] == [
        (33, 0.0, 10.0),
        (67, 10.0, 20.0),
        (133, 20.0, 25.0),
    ]
    assert step_at(steps, 0.0) == 0 and step_at(steps, 19.99) == 1 and step_at(steps, 25.0) is None


def test_levels_below_the_first_step_halve_the_rate_but_never_reach_zero() -> None:
    steps = plan(_spec(), share_of(_spec(), 0, 1))
    assert [level_rate(steps, lvl) for lvl in (2, 1, 0, -1, -2, -20)] == [400, 200, 100, 50, 25, 1]


def test_pods_interleave_their_first_arrivals() -> None:
    assert [phase_offset(i, 4, 100) for i in range(4)] == [0.0, 0.0025, 0.005, 0.0075]


def _w(requests: int = 100, back_off: int = 0, errors: int = 0, p95: float = 10.0) -> WindowSignals:
    return WindowSignals(0.0, 5.0, requests, back_off, errors, p95, attempts=requests)


def test_breaches_name_each_signal_with_its_numbers() -> None:
    cfg = Adaptive.model_validate(
        {"backOffOn": {"statusShare": 0.05, "p95": "200ms", "errorRate": 0.1}}
    )
    assert breaches(_w(back_off=4), cfg) == []
    assert breaches(_w(back_off=5), cfg) == ["429/503 share 0.050 >= 0.05 (5 of 100)"]
    assert breaches(_w(p95=250.0), cfg) == ["p95 250.0ms > 200ms"]
    assert breaches(_w(errors=11), cfg) == ["error rate 0.110 > 0.1 (11 of 100)"]
    assert breaches(_w(requests=0, back_off=0), cfg) == []


def _controller(then: str) -> tuple[Controller, Any]:
    steps = plan(_spec(), share_of(_spec(), 0, 1))
    ctl = Controller(Adaptive.model_validate({"then": then}))
    return ctl, lambda lvl: level_rate(steps, lvl)


def test_hold_previous_step_caps_the_ramp_for_good() -> None:
    ctl, rate_of = _controller("holdPreviousStep")
    d = ctl.observe(_w(back_off=10), 1, rate_of)
    assert d is not None and (d.from_rate, d.to_rate, d.action) == (200, 100, "holdPreviousStep")
    assert ctl.level(2) == 0  # the ramp moves on, the cap holds
    assert ctl.observe(_w(), 2, rate_of) is None
    d2 = ctl.observe(_w(back_off=10), 2, rate_of)
    assert d2 is not None and d2.to_rate == 50
    assert [d.to_json()["toRate"] for d in ctl.decisions] == [100, 50]


def test_step_down_follows_the_ramp_one_step_lower() -> None:
    ctl, rate_of = _controller("stepDown")
    ctl.observe(_w(back_off=10), 1, rate_of)
    assert (ctl.level(1), ctl.level(2)) == (0, 1)


def test_abort_is_decided_once() -> None:
    ctl, rate_of = _controller("abort")
    d = ctl.observe(_w(back_off=10), 0, rate_of)
    assert d is not None and ctl.aborted and d.to_rate == 0
    assert ctl.observe(_w(back_off=10), 0, rate_of) is None
    assert "abort" in d.log_line() and "429/503 share" in d.log_line()


def test_no_adaptive_section_never_decides() -> None:
    ctl = Controller(None)
    assert ctl.observe(_w(back_off=100), 0, lambda lvl: 1) is None


def test_arrivals_do_not_drift_and_rebase_when_the_rate_changes() -> None:
    from perfrun.load.schedule import Arrivals

    slots = Arrivals(0.0)
    times = []
    t = slots.next(51)
    while t < 3.0:
        times.append(t)
        slots.advance()
        t = slots.next(51)
    assert len(times) == 153  # k/51 < 3 exactly, no float creep past the end
    slots.advance()
    before = slots.next(51)
    assert slots.next(100) == pytest.approx(before)  # a new rate starts where the old one was
    slots.advance()
    assert slots.next(100) == pytest.approx(before + 0.01)
