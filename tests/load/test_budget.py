"""Budget shares and limiters: the pure guarantees behind 'never exceeded'."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfrun.api.load import LoadSpec
from perfrun.load.budget import CreationBudget, WindowLimiter, rate_limiter, share_of, split


@given(total=st.integers(0, 10**6), count=st.integers(1, 64))
def test_shares_sum_exactly_and_differ_by_at_most_one(total: int, count: int) -> None:
    shares = [split(total, count, i) for i in range(count)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


@given(a=st.integers(1, 10**5), b=st.integers(1, 10**5), count=st.integers(1, 64))
def test_smaller_total_never_gets_a_bigger_share(a: int, b: int, count: int) -> None:
    lo, hi = sorted((a, b))
    assert all(split(lo, count, i) <= split(hi, count, i) for i in range(count))


def test_split_refuses_an_index_outside_the_count() -> None:
    with pytest.raises(ValueError):
        split(10, 4, 4)


def _spec(**budget: object) -> LoadSpec:
    return LoadSpec.model_validate(
        {
            "target": "http://127.0.0.1:1",
            "scenarios": [{"name": "a", "weight": 1, "path": "/"}],
            "budget": {"maxRps": 803, "maxInFlight": 65, "maxDuration": "1m", **budget},
            "ramp": {"steps": [{"rate": 50, "hold": "10s"}, {"rate": 803, "hold": "10s"}]},
        }
    )


def test_every_limit_and_step_is_split_exactly_across_pods() -> None:
    spec = _spec(maxAccountsPerMinute=101, maxRows=7)
    shares = [share_of(spec, i, 4) for i in range(4)]
    assert sum(s.max_rps for s in shares) == 803
    assert sum(s.max_in_flight for s in shares) == 65
    assert sum(s.max_accounts_per_minute or 0 for s in shares) == 101
    assert sum(s.max_rows or 0 for s in shares) == 7
    assert [sum(r) for r in zip(*(s.step_rates for s in shares), strict=True)] == [50, 803]


@given(
    limit=st.integers(1, 50),
    gaps=st.lists(st.floats(0.0, 0.2, allow_nan=False), min_size=1, max_size=400),
)
def test_window_limiter_never_admits_more_than_its_limit_in_any_window(
    limit: int, gaps: list[float]
) -> None:
    lim = WindowLimiter(limit, 1.0)
    now, admitted = 0.0, []
    for g in gaps:
        now += g
        wait = lim.wait_time(now)
        assert wait is not None and wait >= 0.0
        for _ in range(5):  # at most a rounding step or two past the computed wait
            if wait == 0.0:
                break
            now += wait
            wait = lim.wait_time(now)
            assert wait is not None
        assert lim.try_acquire(now)
        admitted.append(now)
    j = 0
    for i, t in enumerate(admitted):
        while admitted[j] <= t - 1.0:
            j += 1
        assert i - j + 1 <= limit


def test_window_limiter_admits_a_burst_then_waits_for_the_oldest_to_leave() -> None:
    lim = WindowLimiter(3, 1.0)
    assert all(lim.try_acquire(0.1) for _ in range(3))
    assert not lim.try_acquire(0.5)
    assert lim.wait_time(0.5) == pytest.approx(0.6)
    assert lim.try_acquire(1.1)
    assert lim.wait_time(0.0, units=4) is None


def test_rate_limiter_window_has_a_jitter_guard() -> None:
    lim = rate_limiter(10)
    assert lim.limit == 10 and 1.0 < lim.window <= 1.02


def test_creation_budget_counts_accounts_per_minute_and_rows_in_all() -> None:
    b = CreationBudget(accounts_per_minute=2, max_rows=3)
    assert b.try_take(0.0, accounts=1, rows=1)
    assert b.try_take(1.0, accounts=1, rows=1)
    assert not b.try_take(2.0, accounts=1, rows=0)  # third account inside the minute
    assert b.try_take(60.5, accounts=1, rows=1)  # the first has left the window
    assert not b.try_take(61.0, accounts=0, rows=1)  # rows are spent for good
    assert (b.accounts_created, b.rows_created) == (3, 3)
