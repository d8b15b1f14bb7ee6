"""The ramp as one pod runs it: its steps with their start and end times and its share of each
step's rate, and the rate of a step *level* (levels below the first halve the rate), which is
what the adaptive back-off moves between. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from perfrun.api.load import LoadSpec
from perfrun.api.types import parse_duration
from perfrun.load.budget import Share


@dataclass(frozen=True)
class Step:
    """One ramp step for this pod: ``rate`` is requests/s (open) or virtual users (closed)."""

    index: int
    rate: int
    start: float
    end: float


def plan(spec: LoadSpec, share: Share) -> tuple[Step, ...]:
    """The pod's steps back to back from t=0, cut at ``maxDuration`` (never run past it)."""
    steps: list[Step] = []
    t = 0.0
    for i, (step, rate) in enumerate(zip(spec.ramp.steps, share.step_rates, strict=True)):
        end = min(t + parse_duration(step.hold), share.max_duration_s)
        if end <= t:
            break
        steps.append(Step(index=i, rate=rate, start=t, end=end))
        t = end
    return tuple(steps)


def step_at(steps: tuple[Step, ...], t: float) -> int | None:
    """Index of the step running at ``t`` seconds, or None once the ramp has ended."""
    for s in steps:
        if s.start <= t < s.end:
            return s.index
    return None


def level_rate(steps: tuple[Step, ...], level: int) -> int:
    """The rate at a level: a step's own rate, or the first step's halved once per level below
    it (at least 1 unless the first step's share is 0)."""
    if level >= 0:
        return steps[min(level, len(steps) - 1)].rate
    first = steps[0].rate
    return 0 if first == 0 else max(1, first >> -level)


def ramp_end(steps: tuple[Step, ...]) -> float:
    return steps[-1].end if steps else 0.0


def phase_offset(index: int, count: int, rate: int) -> float:
    """Where pod ``index``'s first arrival sits, so N pods at the same rate interleave their
    sends instead of all firing at once."""
    if rate <= 0:
        return 0.0
    return (index / count) / rate


class Arrivals:
    """Intended send times of the open model: ``base + n / rate``, re-based only when the rate
    changes, so thousands of slots do not drift by summed float error (which would add or
    lose a request at a step's end)."""

    def __init__(self, start: float) -> None:
        self.base = start
        self.n = 0
        self.rate = 0.0

    def next(self, rate: float) -> float:
        """The next slot at ``rate`` (> 0)."""
        if rate != self.rate:
            if self.rate > 0:
                self.base += self.n / self.rate
            self.n = 0
            self.rate = rate
        return self.base + self.n / rate

    def advance(self) -> None:
        self.n += 1

    def jump(self, to: float) -> None:
        """Skip to ``to`` (a step with nothing to send)."""
        self.base, self.n, self.rate = to, 0, 0.0
