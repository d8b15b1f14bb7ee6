"""Adaptive back-off: read each window's signals, decide whether the target is hurting, and
move the ramp level accordingly. Pure: the engine feeds windows in and applies the levels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from perfrun.api.load import Adaptive
from perfrun.api.types import parse_duration
from perfrun.api.wire import BackOffDecision

Action = Literal["holdPreviousStep", "stepDown", "abort", "constantErrors"]


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


def breach_values(signals: WindowSignals, cfg: Adaptive) -> dict[str, float]:
    """The signals that breached, by kind (``statusShare``, ``p95``, ``errorRate``), with
    their values. An empty window never breaches: no answers is no evidence."""
    if signals.requests == 0 and signals.attempts == 0:
        return {}
    on = cfg.back_off_on
    out: dict[str, float] = {}
    if on.status_codes and signals.back_off_answers and signals.status_share >= on.status_share:
        out["statusShare"] = signals.status_share
    if on.p95 is not None and signals.p95_ms > parse_duration(on.p95) * 1000.0:
        out["p95"] = signals.p95_ms
    if on.error_rate is not None and signals.errors and signals.error_rate > on.error_rate:
        out["errorRate"] = signals.error_rate
    return out


def breaches(
    signals: WindowSignals, cfg: Adaptive, skip: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Human-readable reasons the window breached (empty: it did not), but for ``skip``."""
    found = breach_values(signals, cfg)
    on = cfg.back_off_on
    out: list[str] = []
    if "statusShare" in found and "statusShare" not in skip:
        codes = "/".join(str(c) for c in on.status_codes)
        out.append(
            f"{codes} share {signals.status_share:.3f} >= {on.status_share:g} "
            f"({signals.back_off_answers} of {max(signals.attempts, signals.requests)})"
        )
    if "p95" in found and "p95" not in skip:
        out.append(f"p95 {signals.p95_ms:.1f}ms > {on.p95}")
    if "errorRate" in found and "errorRate" not in skip:
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


# After a decision the next window is not judged: requests sent before it are still being
# answered, and the target needs a moment to recover.
SETTLE_WINDOWS = 1
# A cut goes to this share of the rate the target handled (answers that were not "slow down").
CUT = 0.9
# A clean window raises the cap by this share of the scheduled rate (at least 1).
PROBE_SHARE = 0.02
# A signal that is still at this share of its value before a cut did not fall with the rate:
# it does not depend on the load (a constant error rate), and is reported, not acted on.
CONSTANT_SHARE = 0.8


@dataclass
class _Cut:
    """What a cut is judged by in the next judged window."""

    from_rate: float
    signals: dict[str, float]
    was_capped: bool
    set_ceiling: bool


class Controller:
    """Finds the rate the target takes and stays just under it (AIMD).

    On a breach the rate is cut multiplicatively to ``CUT`` of what the target handled (the
    window's attempts less its "slow down" answers); the next window is left to settle; then
    every clean window probes back up by ``PROBE_SHARE`` of the scheduled rate, never past the
    ramp (``stepDown``) or past the rate of the first breach (``holdPreviousStep``). A signal
    that does not fall after a cut does not depend on the load: the cut is undone and the
    signal is reported (action ``constantErrors``) and ignored from then on, so a constant
    error rate cannot drive the rate to nothing. While the rate is cut the engine does not
    retry a "slow down" answer (``holding``), so retries never add to an overload; other
    retries come out of the same budget. ``abort`` stops the run at the first breach.
    """

    def __init__(self, cfg: Adaptive | None) -> None:
        self.cfg = cfg
        self.cap: float | None = None
        self.ceiling: float | None = None
        self.aborted = False
        self.constant: set[str] = set()
        self.decisions: list[Decision] = []
        self._settle = 0
        self._cut: _Cut | None = None

    @property
    def holding(self) -> bool:
        """The rate is cut: a "slow down" answer is final, not retried."""
        return self.cap is not None

    @property
    def backed_off(self) -> bool:
        return self.aborted or self.cap is not None or bool(self.decisions)

    def rate(self, scheduled: float) -> float:
        """The rate to run now for a step scheduled at ``scheduled``."""
        if self.cap is None:
            return float(scheduled)
        return min(float(scheduled), self.cap)

    def observe(
        self, signals: WindowSignals, scheduled_step: int, scheduled_rate: float
    ) -> Decision | None:
        """Judge one window; return the decision taken, if any."""
        if self.cfg is None or self.aborted:
            return None
        if self._settle > 0:
            self._settle -= 1
            return None
        values = breach_values(signals, self.cfg)
        found = {k: v for k, v in values.items() if k not in self.constant}
        current = self.rate(scheduled_rate)
        cut, self._cut = self._cut, None
        if cut is not None and found:
            constant = {k for k in found if k in cut.signals and v_ge(found[k], cut.signals[k])}
            if constant and constant == set(found):
                return self._constant(signals, scheduled_step, current, cut, values)
        if not found:
            self._probe(scheduled_rate)
            return None
        reasons = tuple(breaches(signals, self.cfg, skip=self.constant))
        if self.cfg.then == "abort":
            self.aborted = True
            return self._record(signals, "abort", scheduled_step, current, 0.0, reasons)
        handled = 1.0 - signals.status_share if signals.attempts else 1.0
        to = max(1.0, current * handled * CUT)
        set_ceiling = self.cfg.then == "holdPreviousStep" and self.ceiling is None
        if set_ceiling:
            self.ceiling = current
        self._cut = _Cut(current, found, self.cap is not None, set_ceiling)
        self.cap = to
        self._settle = SETTLE_WINDOWS
        return self._record(signals, self.cfg.then, scheduled_step, current, to, reasons)

    def _probe(self, scheduled_rate: float) -> None:
        if self.cap is None:
            return
        bound = scheduled_rate if self.ceiling is None else min(scheduled_rate, self.ceiling)
        self.cap = min(bound, self.cap + max(1.0, PROBE_SHARE * scheduled_rate))
        if self.ceiling is None and self.cap >= scheduled_rate:
            self.cap = None  # back on the ramp

    def _constant(
        self,
        signals: WindowSignals,
        step: int,
        current: float,
        cut: _Cut,
        values: dict[str, float],
    ) -> Decision:
        """The cut did not help: undo it, and stop acting on the signals that stayed."""
        kinds = {k for k in values if k in cut.signals}
        self.constant |= kinds
        self.cap = cut.from_rate if cut.was_capped else None
        if cut.set_ceiling:
            self.ceiling = None
        reasons = tuple(
            f"{k} did not fall when the rate was cut from {cut.from_rate:.0f} to {current:.0f} "
            f"({cut.signals[k]:.3g} before, {values[k]:.3g} after): not load-dependent, "
            "reported and no longer acted on"
            for k in sorted(kinds)
        )
        return self._record(signals, "constantErrors", step, current, cut.from_rate, reasons)

    def _record(
        self,
        signals: WindowSignals,
        action: Action,
        step: int,
        from_rate: float,
        to_rate: float,
        reasons: tuple[str, ...],
    ) -> Decision:
        decision = Decision(
            at_s=signals.end,
            action=action,
            step=step,
            from_level=step,
            to_level=step,
            from_rate=round(from_rate),
            to_rate=round(to_rate),
            reasons=reasons,
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


def v_ge(after: float, before: float) -> bool:
    """``after`` is still at least ``CONSTANT_SHARE`` of ``before``."""
    return after >= CONSTANT_SHARE * before
