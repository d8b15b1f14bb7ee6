"""Pure sampling of the API's distributions, with percentile fitting.

Only ``random.Random.random()`` is used as the source of randomness (its output is the one
Python guarantees to reproduce across versions); every transform on top of it is written here,
so the same seed gives the same values on any Python and any machine."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist
from typing import Protocol

from perfrun.api.dataset import Distribution

_NORMAL = NormalDist()
_TINY = 1e-12
# Standard normal quantiles of the knots a Percentiles distribution is given by.
Z50 = 0.0
Z95 = _NORMAL.inv_cdf(0.95)
Z99 = _NORMAL.inv_cdf(0.99)


def _open_unit(rng: random.Random) -> float:
    """A uniform draw strictly inside (0, 1), as inverse CDFs need."""
    u = rng.random()
    return min(max(u, _TINY), 1.0 - _TINY)


class Sampler(Protocol):
    """Draws one value at a time from a distribution."""

    def sample(self, rng: random.Random) -> float: ...


@dataclass(frozen=True)
class ConstantSampler:
    value: float

    def sample(self, rng: random.Random) -> float:
        rng.random()  # keep one draw per value, so streams do not shift between shapes
        return self.value


@dataclass(frozen=True)
class UniformIntSampler:
    """Integers uniform over [low, high]."""

    low: int
    high: int

    def sample(self, rng: random.Random) -> float:
        span = self.high - self.low + 1
        return float(self.low + min(int(rng.random() * span), span - 1))


@dataclass(frozen=True)
class UniformFloatSampler:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return self.low + rng.random() * (self.high - self.low)


class ZipfSampler:
    """Zipf over 1..n (weight k^-s) by rejection-inversion (Hörmann & Derflinger, 1996).

    O(1) per draw and no table, so ``max`` can be millions without memory cost."""

    def __init__(self, exponent: float, n: int) -> None:
        self.s = exponent
        self.n = n
        self._h_x1 = self._h_integral(1.5) - 1.0
        self._h_n = self._h_integral(n + 0.5)
        self._cut = 2.0 - self._h_integral_inverse(self._h_integral(2.5) - self._h(2.0))

    def _h(self, x: float) -> float:
        return math.exp(-self.s * math.log(x))

    def _h_integral(self, x: float) -> float:
        log_x = math.log(x)
        return _helper2((1.0 - self.s) * log_x) * log_x

    def _h_integral_inverse(self, x: float) -> float:
        t = max(x * (1.0 - self.s), -1.0)
        return math.exp(_helper1(t) * x)

    def sample(self, rng: random.Random) -> float:
        while True:
            u = self._h_n + rng.random() * (self._h_x1 - self._h_n)
            x = self._h_integral_inverse(u)
            k = min(max(int(x + 0.5), 1), self.n)
            if k - x <= self._cut or u >= self._h_integral(k + 0.5) - self._h(k):
                return float(k)


def _helper1(x: float) -> float:
    """log1p(x) / x, continuous at 0."""
    return math.log1p(x) / x if abs(x) > 1e-8 else 1.0 - x * (0.5 - x / 3.0)


def _helper2(x: float) -> float:
    """expm1(x) / x, continuous at 0."""
    return math.expm1(x) / x if abs(x) > 1e-8 else 1.0 + x * 0.5 * (1.0 + x / 3.0)


@dataclass(frozen=True)
class PiecewiseLogNormal:
    """ln(shift + value) piecewise linear in the normal quantile z: a log-normal per segment.

    ``knots`` are (z, ln(shift + value)) pairs, increasing in z; beyond the first and last knot
    the nearest segment's slope continues. One knot pair with a slope is a plain log-normal."""

    knots: tuple[tuple[float, float], ...]
    slope_below: float
    slope_above: float
    shift: float
    upper: float | None

    def quantile(self, p: float) -> float:
        z = _NORMAL.inv_cdf(p)
        ks = self.knots
        if z <= ks[0][0]:
            y = ks[0][1] + (z - ks[0][0]) * self.slope_below
        elif z >= ks[-1][0]:
            y = ks[-1][1] + (z - ks[-1][0]) * self.slope_above
        else:
            y = ks[-1][1]
            for (z0, y0), (z1, y1) in pairwise(ks):
                if z <= z1:
                    y = y0 + (z - z0) * (y1 - y0) / (z1 - z0)
                    break
        value = max(math.exp(y) - self.shift, 0.0)
        return min(value, self.upper) if self.upper is not None else value

    def sample(self, rng: random.Random) -> float:
        return self.quantile(_open_unit(rng))


def fit_percentiles(p50: float, p95: float, p99: float, upper: float | None) -> PiecewiseLogNormal:
    """A distribution whose p50, p95 and p99 are exactly the ones given (before rounding).

    Fitted in ln(1 + x) so zero-heavy counts (p50 = 0) still work; the body below the median
    keeps the p50-p95 slope (a log-normal body), the tail past p99 the p95-p99 slope."""
    y50, y95, y99 = math.log1p(p50), math.log1p(p95), math.log1p(p99)
    slope_body = (y95 - y50) / (Z95 - Z50)
    slope_tail = (y99 - y95) / (Z99 - Z95)
    return PiecewiseLogNormal(
        knots=((Z50, y50), (Z95, y95), (Z99, y99)),
        slope_below=slope_body,
        slope_above=slope_tail,
        shift=1.0,
        upper=upper,
    )


def lognormal(median: float, sigma: float) -> PiecewiseLogNormal:
    """The plain log-normal with this median and sigma of ln(value)."""
    return PiecewiseLogNormal(
        knots=((0.0, math.log(median)),),
        slope_below=sigma,
        slope_above=sigma,
        shift=0.0,
        upper=None,
    )


def sampler_for(dist: Distribution, *, integer: bool = True) -> Sampler:
    """The sampler of one API distribution (``integer`` picks uniform's integer form)."""
    if dist.constant is not None:
        return ConstantSampler(float(dist.constant))
    if dist.uniform is not None:
        if integer:
            return UniformIntSampler(dist.uniform.min, dist.uniform.max)
        return UniformFloatSampler(float(dist.uniform.min), float(dist.uniform.max))
    if dist.zipf is not None:
        return ZipfSampler(dist.zipf.exponent, dist.zipf.max)
    if dist.lognormal is not None:
        return lognormal(dist.lognormal.median, dist.lognormal.sigma)
    if dist.percentiles is not None:
        p = dist.percentiles
        return fit_percentiles(p.p50, p.p95, p.p99, None if p.max is None else float(p.max))
    raise ValueError("a distribution needs exactly one shape")  # the model refuses this earlier


def to_count(value: float) -> int:
    """A drawn value as a row count: rounded half up, never negative."""
    return max(int(value + 0.5), 0)


def upper_bound(dist: Distribution) -> float | None:
    """The largest value a distribution can produce, when it has one (for schema checks)."""
    if dist.constant is not None:
        return float(dist.constant)
    if dist.uniform is not None:
        return float(dist.uniform.max)
    if dist.zipf is not None:
        return float(dist.zipf.max)
    if dist.percentiles is not None and dist.percentiles.max is not None:
        return float(dist.percentiles.max)
    return None
