"""Adaptive back-off: read each window's signals, decide whether the target is hurting, and
move the ramp level accordingly. Pure: the engine feeds windows in and applies the levels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from perfrun.api.load import Adaptive
from perfrun.api.types import parse_duration
from perfrun.api.wire import BackOffDecision

Action = Literal["holdPreviousStep", "stepDown", "abort"]


@dataclass(frozen=True)
class WindowSignals:
    """What one window saw: attempts sent and how many were answered 'slow down' (retries
    included: the server saw them), requests completed and how many failed, their p95."""

    start: float
    end: float
    requests: int
    back_off_answers: int
    errors: int
    p95_ms: float
    attempts: int = 0

    @property
    def status_share(self) -> float:
        n = max(self.attempts, self.requests)
        return self.back_off_answers / n if n else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def breaches(signals: WindowSignals, cfg: Adaptive) -> list[str]:
    """Human-readable reasons the window breached (empty: it did not). An empty window never
    breaches: no answers is no evidence."""
    if signals.requests == 0 and signals.attempts == 0:
        return []
    on = cfg.back_off_on
    out: list[str] = []
    if on.status_codes and signals.back_off_answers and signals.status_share >= on.status_share:
        codes = "/".join(str(c) for c in on.status_codes)
        out.append(
            f"{codes} share {signals.status_share:.3f} >= {on.status_share:g} "
            f"({signals.back_off_answers} of {max(signals.attempts, signals.requests)})"
        )
    if on.p95 is not None and signals.p95_ms > parse_duration(on.p95) * 1000.0:
        out.append(f"p95 {signals.p95_ms:.1f}ms > {on.p95}")
    if on.error_rate is not None and signals.errors and signals.error_rate > on.error_rate:
        out.append(
            f"error rate {signals.error_rate:.3f} > {on.error_rate:g} "
            f"({signals.errors} of {signals.requests})"
        )
    return out


@dataclass(frozen=True)
class Decision:
    """One back-off decision, with the numbers that led to it (logged and in the summary)."""

    at_s: float
    action: Action
    step: int
    from_level: int
    to_level: int
    from_rate: int
    to_rate: int
    reasons: tuple[str, ...]
    window: dict[str, float | int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return BackOffDecision(
            at_seconds=round(self.at_s, 3),
            action=self.action,
            step=self.step,
            from_level=self.from_level,
            to_level=self.to_level,
            from_rate=self.from_rate,
            to_rate=self.to_rate,
            reasons=list(self.reasons),
            window=dict(self.window),
        ).to_wire()

    def log_line(self) -> str:
        return (
            f"back-off at {self.at_s:.1f}s: {self.action} (step {self.step}, rate "
            f"{self.from_rate} -> {self.to_rate}): {'; '.join(self.reasons)}"
        )


class Controller:
    """Turns the scheduled step into the level actually run.

    holdPreviousStep caps the level one below where it was and never lets the ramp climb past
    that cap; stepDown keeps following the ramp, that many steps lower; abort stops the run.
    Further breaches push one level lower again each time.
    """

    def __init__(self, cfg: Adaptive | None) -> None:
        self.cfg = cfg
        self.cap: int | None = None
        self.offset = 0
        self.aborted = False
        self.decisions: list[Decision] = []

    def level(self, scheduled_step: int) -> int:
        lvl = scheduled_step - self.offset
        if self.cap is not None:
            lvl = min(lvl, self.cap)
        return lvl

    def observe(
        self, signals: WindowSignals, scheduled_step: int, rate_of: Callable[[int], int]
    ) -> Decision | None:
        """Judge one window; return the decision taken, if any. ``rate_of(level)`` gives a
        level's rate, for the record."""
        if self.cfg is None or self.aborted:
            return None
        reasons = breaches(signals, self.cfg)
        if not reasons:
            return None
        before = self.level(scheduled_step)
        action: Action = self.cfg.then
        if action == "abort":
            self.aborted = True
            after = before
        elif action == "holdPreviousStep":
            self.cap = before - 1
            after = self.level(scheduled_step)
        else:
            self.offset += 1
            after = self.level(scheduled_step)
        decision = Decision(
            at_s=signals.end,
            action=action,
            step=scheduled_step,
            from_level=before,
            to_level=after,
            from_rate=int(rate_of(before)),
            to_rate=0 if action == "abort" else int(rate_of(after)),
            reasons=tuple(reasons),
            window={
                "start": round(signals.start, 3),
                "end": round(signals.end, 3),
                "requests": signals.requests,
                "attempts": signals.attempts,
                "backOffAnswers": signals.back_off_answers,
                "errors": signals.errors,
                "statusShare": round(signals.status_share, 4),
                "errorRate": round(signals.error_rate, 4),
                "p95Ms": round(signals.p95_ms, 3),
            },
        )
        self.decisions.append(decision)
        return decision
