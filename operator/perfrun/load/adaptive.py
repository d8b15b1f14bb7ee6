"""Adaptive back-off: read each window's signals, decide whether the target is hurting, and
move the ramp level accordingly. Pure: the engine feeds windows in and applies the levels."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
# A cut goes to this share of the rate the target handled in the breaching window (its
# attempts less its "slow down" answers, per second): the capacity it showed.
CUT = 0.9
# A clean window raises the cap by this share of the scheduled rate (at least 1) ...
PROBE_SHARE = 0.02
# ... but not past this share of the capacity the last breach showed: probing into a known
# limit again costs refused requests, so the cap stays just under it.
HOLD_UNDER = 0.97
# With ``stepDown`` the target may recover: after this many clean windows at the hold, the
# known capacity is raised by ``RECHECK_SHARE``, doubling every clean window after that (a
# convex probe, as TCP CUBIC's: careful near the old limit, fast once well past it), until
# the next breach measures it again or the cap is back on the ramp.
RECHECK_AFTER = 3
RECHECK_SHARE = 0.01
# A window being settled after a cut is still judged for one thing: a share of "slow down"
# answers this large (and at least ``RECUT_FACTOR`` times the configured statusShare) means
# the cut was too small, and it is cut again at once (once per cut).
RECUT_SHARE = 0.1
RECUT_FACTOR = 2.0
# A signal that is still at this share of its value before a cut did not fall with the rate:
# it does not depend on the load (a constant error rate), and is reported, not acted on.
CONSTANT_SHARE = 0.8


@dataclass
class _Cut:
    """What a cut is judged by in the next judged window."""

    from_rate: float
    signals: dict[str, float]
    was_capped: bool
    known_before: float | None
    recut: bool = False  # cut again while settling (at most once)


class Controller:
    """Finds the rate the target takes and stays just under it (AIMD).

    On a breach the rate is cut multiplicatively to ``CUT`` of the capacity the target showed
    in that window (what it served per second: attempts less "slow down" answers, retries
    included, so the estimate does not depend on how many retries went out); the next window
    is left to settle; then every clean window probes back up by ``PROBE_SHARE`` of the
    scheduled rate, never past the ramp and never past ``HOLD_UNDER`` of the known capacity.
    ``holdPreviousStep`` holds there for the rest of the run (each breach can only lower the
    known capacity); ``stepDown`` re-checks a target that may have recovered, slowly
    (``RECHECK_SHARE`` a window after ``RECHECK_AFTER`` clean windows at the hold), and goes
    back on the ramp once the cap reaches it. A signal that does not fall after a cut does not
    depend on the load: the cut is undone and the signal is reported (action
    ``constantErrors``) and ignored from then on, so a constant error rate cannot drive the
    rate to nothing. While the rate is cut the engine does not retry a "slow down" answer
    (``holding``), so retries never add to an overload; other retries come out of the same
    budget. ``abort`` stops the run at the first breach.
    """

    def __init__(self, cfg: Adaptive | None) -> None:
        self.cfg = cfg
        self.cap: float | None = None
        self.known: float | None = None  # the capacity the last breach showed, per second
        self.aborted = False
        self.constant: set[str] = set()
        self.decisions: list[Decision] = []
        self._settle = 0
        self._at_hold = 0
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
            if self._still_refused(signals):
                found = {"statusShare": signals.status_share}
                return self._cut_to_served(signals, scheduled_step, scheduled_rate, found)
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
        if self.cfg.then == "abort":
            self.aborted = True
            reasons = tuple(breaches(signals, self.cfg, skip=self.constant))
            return self._record(signals, "abort", scheduled_step, current, 0.0, reasons)
        return self._cut_to_served(signals, scheduled_step, scheduled_rate, found)

    def _still_refused(self, signals: WindowSignals) -> bool:
        """The window after a cut still has a large share of "slow down" answers: the cut
        was too small (e.g. several pods, each of which saw the target half idle when its
        first window began), and waiting a window more only adds to the overload."""
        if self.cfg is None or "statusShare" in self.constant:
            return False  # (abort never settles: it stops at its first breach)
        on = self.cfg.back_off_on
        bar = max(RECUT_SHARE, RECUT_FACTOR * on.status_share)
        # once only: a share that does not depend on the rate (a constant refusal) would be
        # followed down to nothing, window after window; the judged window tells it apart
        if self._cut is not None and self._cut.recut:
            return False
        return bool(on.status_codes) and signals.status_share >= bar

    def _cut_to_served(
        self,
        signals: WindowSignals,
        step: int,
        scheduled_rate: float,
        found: dict[str, float],
    ) -> Decision:
        """Cut to ``CUT`` of what the target served in the window; remember it as known."""
        assert self.cfg is not None
        current = self.rate(scheduled_rate)
        reasons = tuple(breaches(signals, self.cfg, skip=self.constant))
        shown = min(current, served_rate(signals, current))
        # a re-cut while settling continues the same cut: undoing it (constantErrors)
        # restores the rate and the known capacity from before the first one
        prior = self._cut
        self._cut = (
            replace(prior, signals=found, recut=True)
            if prior is not None
            else _Cut(current, found, self.cap is not None, self.known)
        )
        # stepDown measures a target that may have recovered afresh at each breach; a hold
        # can only come down
        self.known = shown if self.known is None or self._rechecks else min(self.known, shown)
        self.cap = max(1.0, CUT * shown)
        self._settle = SETTLE_WINDOWS
        self._at_hold = 0
        return self._record(signals, self.cfg.then, step, current, self.cap, reasons)

    @property
    def _rechecks(self) -> bool:
        """``stepDown``: the hold is re-checked, and the ramp taken back once reached."""
        return self.cfg is not None and self.cfg.then == "stepDown"

    def _probe(self, scheduled_rate: float) -> None:
        if self.cap is None:
            return
        bound = float(scheduled_rate)
        if self.known is not None:
            hold = max(1.0, HOLD_UNDER * self.known)
            if self.cap >= hold and self._rechecks:
                self._at_hold += 1
                rechecks = self._at_hold - RECHECK_AFTER
                if rechecks > 0:
                    grow = RECHECK_SHARE * 2.0 ** min(rechecks - 1, 10)
                    self.known += max(1.0, grow * self.known)
                    hold = max(1.0, HOLD_UNDER * self.known)
            bound = min(bound, hold)
        self.cap = max(self.cap, min(bound, self.cap + max(1.0, PROBE_SHARE * scheduled_rate)))
        if self.cap >= scheduled_rate and self._rechecks:
            self.cap = None  # back on the ramp
            self.known = None

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
        self.known = cut.known_before
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


def served_rate(signals: WindowSignals, fallback: float) -> float:
    """What the target served per second in the window: its answers that were not "slow
    down" (``fallback`` for a window too short to tell)."""
    seconds = signals.end - signals.start
    if seconds <= 0:
        return fallback
    return max(0, max(signals.attempts, signals.requests) - signals.back_off_answers) / seconds


def v_ge(after: float, before: float) -> bool:
    """``after`` is still at least ``CONSTANT_SHARE`` of ``before``."""
    return after >= CONSTANT_SHARE * before
