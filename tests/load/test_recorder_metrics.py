"""The recorder's batched path: latencies appended on the hot path and moved into the HDR
histograms and the Prometheus arrays in bulk give exactly what one record per request gives;
scenario templates that would break a request's framing are refused."""

from __future__ import annotations

import bisect
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from perfrun.api.load import LoadSpec
from perfrun.cli import main
from perfrun.load.histograms import (
    HIGHEST_US,
    LOWEST_US,
    add_counts,
    bucket_floor,
    latency_ms,
    new_histogram,
    record_seconds,
    same_counts,
)
from perfrun.load.metrics import _BOUNDS_US, LoadMetrics
from perfrun.load.stats import Recorder
from perfrun.load.templates import Values, compile_scenarios


@given(st.integers(LOWEST_US, HIGHEST_US))
def test_bucket_floor_is_the_hdr_lowest_equivalent_value(us: int) -> None:
    assert bucket_floor(us) == _LAYOUT.get_lowest_equivalent_value(us)


_LAYOUT = new_histogram()


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.one_of(st.integers(-5, 3000), st.integers(LOWEST_US, 2 * HIGHEST_US)),
        st.integers(1, 1000),
        max_size=40,
    ),
    st.lists(st.integers(LOWEST_US, HIGHEST_US), max_size=5),
    st.lists(st.integers(LOWEST_US, HIGHEST_US), max_size=5),
)
def test_add_counts_is_one_record_value_per_entry(
    counts: dict[int, int], before: list[int], before_also: list[int]
) -> None:
    """Into one histogram, and into two in the same pass (the flush's scenario and window
    histograms), each holding values of its own already."""
    fast, slow = new_histogram(), new_histogram()
    also, also_slow = new_histogram(), new_histogram()
    for v in before:  # a histogram that holds values already
        fast.record_value(v)
        slow.record_value(v)
    for v in before_also:
        also.record_value(v)
        also_slow.record_value(v)
    add_counts(fast, counts)
    add_counts(fast, counts, also)
    for us, n in counts.items():
        slow.record_value(min(max(us, LOWEST_US), HIGHEST_US), 2 * n)
        also_slow.record_value(min(max(us, LOWEST_US), HIGHEST_US), n)
    for mine, expected in ((fast, slow), (also, also_slow)):
        assert bytes(mine.counts) == bytes(expected.counts)  # every bucket (raw bytes)
        assert mine.get_total_count() == expected.get_total_count()
        assert (mine.get_min_value(), mine.get_max_value()) == (
            expected.get_min_value(),
            expected.get_max_value(),
        )  # same buckets, count, min and max: every percentile and the mean are the same


@given(
    st.dictionaries(
        st.one_of(
            st.integers(0, 40_000_000),
            st.sampled_from([1000, 2500, 5000, 10_000_000, 30_000_000, 30_000_001]),
        ),
        st.integers(1, 1000),
        max_size=200,
    )
)
@settings(max_examples=200, deadline=None)
def test_observe_us_puts_each_value_where_prometheus_would(counts: dict[int, int]) -> None:
    """The sorted, running-total observe equals one ``le`` comparison per value (a value on a
    bound counts in that bound's bucket, as ``Histogram.observe`` does)."""
    metrics = LoadMetrics(["get"])
    metrics.observe_us(0, 1, counts)
    want = [0] * (len(_BOUNDS_US) + 1)
    for us, n in counts.items():
        want[bisect.bisect_left(_BOUNDS_US, us)] += n
    assert metrics._requests.buckets[0][1] == want
    total = sum(us * n for us, n in counts.items()) / 1_000_000
    assert metrics._requests.sums[0][1] == pytest.approx(total)


def test_batched_recording_equals_one_record_per_request_and_the_total_is_their_sum() -> None:
    rng = random.Random(3)
    rec = Recorder(["a", "b"], frozenset({429}))
    whole, per = new_histogram(), [new_histogram(), new_histogram()]
    for k in range(30_000):
        lat = rng.lognormvariate(-4.0, 1.2) if k % 500 else 5000.0  # some clamp at the top
        sc, status = k % 2, rng.choice([200, 200, 429, 503])
        if k % 3:
            rec.answered(sc, status, lat, status < 400)
        else:
            rec.attempt(sc, status, None, retry=False)
            rec.complete(sc, lat, status < 400, status)
        record_seconds(whole, lat)
        record_seconds(per[sc], lat)
        if k % 7000 == 0:
            rec.flush()  # flushes in the middle change nothing
    for mine, expected in zip(rec.scenarios, per, strict=True):
        assert same_counts(mine.hist, expected)
    total = rec.total
    assert same_counts(total.hist, whole)
    assert latency_ms(total.hist) == latency_ms(whole)
    assert total.requests == total.attempts == 30_000
    assert sum(total.status_codes.values()) == 30_000
    assert total.ok == total.status_codes["200"]


def test_the_window_sees_every_latency_since_the_last_one() -> None:
    rec = Recorder(["a"], frozenset({429}))
    for ms in range(1, 101):
        rec.answered(0, 429 if ms > 90 else 200, ms / 1000, ms <= 90)
    w = rec.take_window(0.0, 1.0)
    assert (w.requests, w.attempts, w.back_off_answers, w.errors) == (100, 100, 10, 10)
    assert w.p95_ms == pytest.approx(95.0, rel=0.001)
    rec.answered(0, 200, 0.5, True)
    w = rec.take_window(1.0, 2.0)
    assert (w.requests, w.p95_ms) == (1, pytest.approx(500.0, rel=0.001))


def test_the_recorder_publishes_attempts_and_durations_by_status_class() -> None:
    m = LoadMetrics(["dash", "write"])
    rec = Recorder(["dash", "write"], frozenset({429}), m)
    rec.answered(0, 200, 0.02, True)
    rec.answered(0, 200, 0.2, True)
    rec.attempt(1, None, "connect", retry=False)
    rec.attempt(1, 503, None, retry=True)
    rec.complete(1, 0.003, False, 503)
    rec.flush()
    text = generate_latest(m.registry).decode()
    assert 'perfrun_requests_total{scenario="dash",status_class="2xx"} 2.0' in text
    assert 'perfrun_requests_total{scenario="write",status_class="error"} 1.0' in text
    assert 'perfrun_requests_total{scenario="write",status_class="5xx"} 1.0' in text
    bucket = "perfrun_request_duration_seconds_bucket"
    assert f'{bucket}{{le="0.025",scenario="dash",status_class="2xx"}} 1.0' in text
    assert f'{bucket}{{le="0.25",scenario="dash",status_class="2xx"}} 2.0' in text
    assert f'{bucket}{{le="+Inf",scenario="dash",status_class="2xx"}} 2.0' in text
    assert f'{bucket}{{le="0.005",scenario="write",status_class="5xx"}} 1.0' in text
    assert 'perfrun_request_duration_seconds_count{scenario="dash",status_class="2xx"} 2.0' in text
    assert 'perfrun_request_duration_seconds_sum{scenario="dash",status_class="2xx"} 0.22' in text


def _spec(scenario: dict[str, Any]) -> LoadSpec:
    return LoadSpec.model_validate(
        {
            "target": "http://127.0.0.1:1",
            "scenarios": [{"name": "a", "weight": 1, **scenario}],
            "accounts": {"min": 1, "max": 5},
            "budget": {"maxRps": 10, "maxInFlight": 2, "maxDuration": "1m"},
            "ramp": {"steps": [{"rate": 1, "hold": "1s"}]},
        }
    )


def test_path_literals_are_percent_encoded_once_and_fixed_scenarios_are_marked() -> None:
    [sc] = compile_scenarios(_spec({"path": "/a b/{account}/ü?q=1&r=%20"}))
    assert sc.render_path(Values(account=3, seq=0)) == "/a%20b/3/%C3%BC?q=1&r=%20"
    assert not sc.fixed
    [sc] = compile_scenarios(_spec({"path": "/x", "method": "POST", "body": {"k": [1, "v"]}}))
    assert sc.fixed and not sc.creates
    [sc] = compile_scenarios(_spec({"path": "/x", "body": "n={seq}", "createsRows": 1}))
    assert not sc.fixed and sc.creates


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # refused by the schema itself (issue 14: no control characters, header names tokens)
        ({"X-A": "1\r\nX-Injected: 2"}, "load.scenarios[0].headers.X-A: '1\\r\\nX-Injected: 2'"),
        ({"Bad Name": "1"}, "load.scenarios[0].headers: header names must be HTTP tokens"),
    ],
)
def test_headers_that_would_break_the_request_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], headers: dict[str, str], expected: str
) -> None:
    cfg = tmp_path / "load.json"
    doc = _spec({"path": "/"}).to_wire()
    doc["scenarios"][0]["headers"] = headers
    cfg.write_text(json.dumps(doc))
    assert main(["load", "--config", str(cfg)]) == 2
    assert expected in capsys.readouterr().err
