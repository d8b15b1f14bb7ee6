"""Ramp plan and adaptive back-off decisions."""

from __future__ import annotations

from itertools import pairwise
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


def _controller(then: str, **on: Any) -> Controller:
    return Controller(Adaptive.model_validate({"then": then, "backOffOn": on}))


def _window(sent: float, refused_above: float | None = None, errors: float = 0.0) -> WindowSignals:
    """One second against a target that refuses (429) what it gets above ``refused_above``
    per second, and fails a share ``errors`` of what it answers."""
    attempts = round(sent)
    refused = max(0, attempts - round(refused_above)) if refused_above is not None else 0
    failed = round((attempts - refused) * errors)
    return WindowSignals(0.0, 1.0, attempts, refused, failed, 5.0, attempts=attempts)


def test_a_breach_cuts_to_under_what_the_target_handled_then_settles() -> None:
    ctl = _controller("stepDown")
    d = ctl.observe(_window(200, refused_above=100), 1, 200)
    assert d is not None and d.action == "stepDown" and (d.from_rate, d.to_rate) == (200, 90)
    assert ctl.rate(200) == 90.0
    # the next window is not judged (answers to the old rate are still coming in) ...
    assert ctl.observe(_window(100, refused_above=95), 1, 200) is None
    assert ctl.rate(200) == 90.0
    assert ctl.observe(_window(90), 1, 200) is None  # probes up from here
    assert ctl.rate(200) == 94.0


def test_a_cut_that_was_too_small_is_cut_again_without_waiting() -> None:
    """E.g. three pods, each of which saw the target half idle in its first window."""
    ctl = _controller("stepDown")
    ctl.observe(_window(100, refused_above=60), 1, 100)
    assert ctl.rate(100) == 54.0
    d = ctl.observe(_window(54, refused_above=30), 1, 100)  # settling, but 44 % refused
    assert d is not None and (d.from_rate, d.to_rate) == (54, 27)
    assert "share 0.444" in d.reasons[0]


def test_clean_windows_probe_up_additively_to_just_under_the_known_capacity() -> None:
    ctl = _controller("stepDown")
    ctl.observe(_window(200, refused_above=100), 1, 200)
    ctl.observe(_window(90), 1, 200)  # settling
    rates = []
    for _ in range(4):
        assert ctl.observe(_window(ctl.rate(200)), 1, 200) is None
        rates.append(ctl.rate(200))
    # +2 % of the scheduled 200 a window, held at 97 % of the 100/s the target served
    assert rates == [94.0, 97.0, 97.0, 97.0]


def test_retries_do_not_shrink_the_capacity_estimate() -> None:
    """The first window of an overload has retries in it: 300 first tries and 200 retries
    against a target serving 100/s is still a capacity of 100, not 300 x (100 / 500)."""
    ctl = _controller("stepDown")
    d = ctl.observe(WindowSignals(0.0, 1.0, 300, 400, 0, 5.0, attempts=500), 0, 300)
    assert d is not None and d.to_rate == 90


def test_step_down_rechecks_a_recovered_target_slowly_and_returns_to_the_ramp() -> None:
    ctl = _controller("stepDown")
    ctl.observe(_window(200, refused_above=100), 1, 200)
    ctl.observe(_window(90), 1, 200)  # settling
    seen = []
    for _ in range(60):  # the target recovered: everything is served now
        assert ctl.observe(_window(ctl.rate(200)), 1, 200) is None
        seen.append(ctl.rate(200))
    steps = [b - a for a, b in pairwise(seen)]
    assert max(steps) <= 4.0 + 1e-9  # never more than the additive probe at a time
    assert seen[-1] == 200.0 and ctl.cap is None  # back on the ramp, never above it
    small = _controller("stepDown")
    small.observe(_window(20, refused_above=15), 0, 20)
    small.observe(_window(13), 0, 20)
    for _ in range(30):
        small.observe(_window(small.rate(20)), 0, 20)
    assert small.cap is None and small.rate(20) == 20.0


def test_it_settles_just_under_a_known_capacity() -> None:
    for then in ("stepDown", "holdPreviousStep"):
        ctl = _controller(then)
        seen = []
        for _ in range(120):
            rate = ctl.rate(300)
            ctl.observe(_window(rate, refused_above=100), 1, 300)
            seen.append(rate)
        late = seen[20:]
        assert min(late) >= 90.0 and max(late) <= 110.0, (then, late)
        refused = sum(max(0.0, r - 100) for r in late) / sum(late)
        assert refused < 0.01, (then, refused)  # the 429 share after it found the capacity


def test_hold_previous_step_never_probes_past_the_first_breach() -> None:
    ctl = _controller("holdPreviousStep")
    ctl.observe(_window(200, refused_above=100), 1, 200)
    for _ in range(100):
        ctl.observe(_window(ctl.rate(400)), 2, 400)  # the ramp moves on; the target is fine
    assert ctl.rate(400) == 97.0  # just under the 100/s it served at the breach
    ctl.observe(_window(97, refused_above=80), 2, 400)  # a second breach lowers the hold
    for _ in range(20):
        ctl.observe(_window(ctl.rate(400)), 2, 400)
    assert ctl.rate(400) == 0.97 * 80


def test_a_constant_error_rate_is_reported_not_followed_to_nothing() -> None:
    ctl = _controller("stepDown", errorRate=0.05)
    d = ctl.observe(_window(200, errors=0.10), 1, 200)
    assert d is not None and d.to_rate == 180
    ctl.observe(_window(180, errors=0.10), 1, 200)  # settling
    d2 = ctl.observe(_window(180, errors=0.10), 1, 200)
    assert d2 is not None and d2.action == "constantErrors"
    assert "errorRate did not fall" in d2.reasons[0]
    assert ctl.rate(200) == 200.0  # the cut is undone
    for _ in range(20):
        assert ctl.observe(_window(200, errors=0.10), 1, 200) is None
    assert ctl.rate(200) == 200.0


def _refusing_share(sent: float, share: float) -> WindowSignals:
    """One second against a target that refuses (503) ``share`` of everything, at any rate."""
    attempts = round(sent)
    return WindowSignals(0.0, 1.0, attempts, round(attempts * share), 0, 5.0, attempts=attempts)


def test_a_constant_refusal_is_undone_to_the_ramp_even_after_a_re_cut() -> None:
    """A share of 503s that does not depend on the load is large enough to be cut again while
    settling; undoing it must restore the rate from before the first cut, not the first cut."""
    ctl = _controller("stepDown")
    d = ctl.observe(_refusing_share(300, 0.5), 1, 300)
    assert d is not None and d.to_rate == 135  # 0.9 x the 150/s served
    d = ctl.observe(_refusing_share(135, 0.5), 1, 300)  # settling: still 50 %, cut again
    assert d is not None and d.to_rate == 60
    # ... but once: the next settling window is not cut a third time (it would follow the
    # constant share down to 1/s, as the first wave's controller did)
    assert ctl.observe(_refusing_share(60, 0.5), 1, 300) is None
    d = ctl.observe(_refusing_share(60, 0.5), 1, 300)
    assert d is not None and d.action == "constantErrors"
    assert "from 300" in d.reasons[0]
    assert ctl.rate(300) == 300.0 and not ctl.holding
    assert ctl.known is None


def test_a_cut_rate_makes_slow_down_answers_final() -> None:
    ctl = _controller("stepDown")
    assert not ctl.holding
    ctl.observe(_window(200, refused_above=100), 1, 200)
    assert ctl.holding  # the engine does not retry a 429/503 now


def test_abort_is_decided_once() -> None:
    ctl = _controller("abort")
    d = ctl.observe(_w(back_off=10), 0, 100)
    assert d is not None and ctl.aborted and d.to_rate == 0
    assert ctl.observe(_w(back_off=10), 0, 100) is None
    assert "abort" in d.log_line() and "429/503 share" in d.log_line()


def test_no_adaptive_section_never_decides() -> None:
    ctl = Controller(None)
    assert ctl.observe(_w(back_off=100), 0, 1) is None


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
