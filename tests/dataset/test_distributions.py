"""Distributions: percentile fits land on their targets, shapes are what they claim."""

from __future__ import annotations

import random

import pytest

from perfrun.api.dataset import Distribution
from perfrun.dataset.distributions import (
    ZipfSampler,
    fit_percentiles,
    lognormal,
    sampler_for,
    to_count,
)


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


@pytest.mark.parametrize(
    ("p50", "p95", "p99", "upper"),
    [(3, 20, 500, 5000), (0, 2, 10, None), (10, 12, 15, None), (100, 1000, 20000, None)],
)
def test_fitted_percentiles_land_within_tolerance(
    p50: int, p95: int, p99: int, upper: int | None
) -> None:
    dist = fit_percentiles(p50, p95, p99, None if upper is None else float(upper))
    assert dist.quantile(0.5) == pytest.approx(p50, abs=1e-6)
    assert dist.quantile(0.95) == pytest.approx(p95, rel=1e-6)
    assert dist.quantile(0.99) == pytest.approx(p99, rel=1e-6)
    rng = random.Random(7)
    counts = [to_count(dist.sample(rng)) for _ in range(50_000)]
    for q, want in ((0.5, p50), (0.95, p95), (0.99, p99)):
        got = _quantile(counts, q)
        assert abs(got - want) <= max(1, 0.1 * want), (q, got, want)
    if upper is not None:
        assert max(counts) <= upper


def test_percentiles_make_many_small_and_a_few_whales() -> None:
    dist = fit_percentiles(3, 20, 500, 5000)
    rng = random.Random(1)
    counts = [to_count(dist.sample(rng)) for _ in range(20_000)]
    assert sum(c <= 5 for c in counts) > 0.6 * len(counts)
    assert max(counts) > 1000  # whales exist


def test_zipf_frequencies_follow_the_power_law() -> None:
    s, n = 1.2, 1000
    sampler = ZipfSampler(s, n)
    rng = random.Random(3)
    draws = [int(sampler.sample(rng)) for _ in range(60_000)]
    assert min(draws) >= 1 and max(draws) <= n
    harmonic = sum(k**-s for k in range(1, n + 1))
    for k in (1, 2, 5):
        expected = k**-s / harmonic
        assert draws.count(k) / len(draws) == pytest.approx(expected, rel=0.05)


def test_lognormal_median() -> None:
    dist = lognormal(40.0, 0.8)
    rng = random.Random(5)
    values = sorted(dist.sample(rng) for _ in range(20_000))
    assert values[len(values) // 2] == pytest.approx(40.0, rel=0.05)


def test_uniform_and_constant_bounds() -> None:
    rng = random.Random(9)
    uni = sampler_for(Distribution.model_validate({"uniform": {"min": 2, "max": 4}}))
    assert {int(uni.sample(rng)) for _ in range(2000)} == {2, 3, 4}
    const = sampler_for(Distribution.model_validate({"constant": 7}))
    assert const.sample(rng) == 7


def test_same_stream_same_values() -> None:
    dist = fit_percentiles(3, 20, 500, None)
    a = [dist.sample(r) for r in [random.Random(11)] for _ in range(100)]
    b = [dist.sample(r) for r in [random.Random(11)] for _ in range(100)]
    assert a == b
