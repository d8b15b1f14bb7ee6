"""Judging one gate on what was observed (pure).

Stricter than Argo Rollouts where it is lax: no data, an empty series or NaN is Inconclusive,
never Passed; more query errors than ``failureLimit`` make the gate Inconclusive whatever data
did arrive; a drain gate whose window has not ended yet is Inconclusive, not a guess."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfrun.analysis.promql import LATENCY_METRICS
from perfrun.analysis.verdict import worst
from perfrun.api.analysis import Gate, Metric
from perfrun.api.status import GateResult, Verdict
from perfrun.api.types import parse_duration, parse_threshold

# Built-in metrics judged on one whole-window number unless consecutiveWindows is set.
WHOLE_WINDOW_METRICS = frozenset(LATENCY_METRICS | {Metric.ERROR_RATE, Metric.THROUGHPUT})


@dataclass(frozen=True)
class Observation:
    """What the analysis saw for one gate."""

    value: float | None = None
    points: list[tuple[float, float]] = field(default_factory=list)
    drain_points: list[tuple[float, float]] = field(default_factory=list)
    source: str | None = None
    errors: int = 0
    last_error: str = ""


def judges_whole_window(gate: Gate) -> bool:
    return gate.metric in WHOLE_WINDOW_METRICS and gate.consecutive_windows is None


def describe(gate: Gate) -> str:
    """The gate's condition as people write it: 'max 300ms, drainTo 0 within 2m'."""
    parts = []
    if gate.max is not None:
        parts.append(f"max {gate.max}")
    if gate.min is not None:
        parts.append(f"min {gate.min}")
    if gate.drain_to is not None:
        parts.append(f"drainTo {gate.drain_to} within {gate.within}")
    if gate.consecutive_windows:
        parts.append(f"over {gate.consecutive_windows} consecutive windows")
    return ", ".join(parts)


def _fmt(value: float, gate: Gate) -> str:
    if gate.metric in LATENCY_METRICS:
        return f"{value:.4g}ms"
    return f"{value:.4g}"


def _breaches(gate: Gate, value: float) -> str | None:
    """Why ``value`` breaks a bound, or None."""
    if gate.max is not None and value > parse_threshold(gate.max):
        return f"{_fmt(value, gate)} > max {gate.max}"
    if gate.min is not None and value < parse_threshold(gate.min):
        return f"{_fmt(value, gate)} < min {gate.min}"
    return None


def _judge_bounds(gate: Gate, obs: Observation) -> tuple[Verdict, float | None, str]:
    if judges_whole_window(gate):
        if obs.value is None:
            return Verdict.INCONCLUSIVE, None, "no data for the load window"
        why = _breaches(gate, obs.value)
        if why:
            return Verdict.FAILED, obs.value, why
        return Verdict.PASSED, obs.value, f"{_fmt(obs.value, gate)} within bounds"
    if not obs.points:
        return Verdict.INCONCLUSIVE, None, "empty series over the load window"
    need = gate.consecutive_windows or 1
    is_min = gate.max is None  # judge the worst point in the bound's direction
    worst_value = min(v for _, v in obs.points) if is_min else max(v for _, v in obs.points)
    run, longest, first_bad = 0, 0, ""
    for _, v in obs.points:
        why = _breaches(gate, v)
        run = run + 1 if why else 0
        if why and not first_bad:
            first_bad = why
        longest = max(longest, run)
    if longest >= need:
        where = f"{longest} consecutive windows breached" if need > 1 else "breached"
        return Verdict.FAILED, worst_value, f"{where}: {first_bad}"
    note = f" ({longest} in a row, {need} needed to fail)" if longest else ""
    return (
        Verdict.PASSED,
        worst_value,
        f"worst {_fmt(worst_value, gate)} over {len(obs.points)} windows{note}",
    )


def _judge_drain(
    gate: Gate, obs: Observation, load_end: float, now: float
) -> tuple[Verdict, float | None, str]:
    assert gate.drain_to is not None and gate.within is not None
    deadline = load_end + parse_duration(gate.within)
    inside = [(t, v) for t, v in obs.drain_points if load_end <= t <= deadline]
    for t, v in inside:
        if v <= gate.drain_to:
            return Verdict.PASSED, v, f"drained to {v:g} {t - load_end:.0f}s after the load stopped"
    if now < deadline:
        return (
            Verdict.INCONCLUSIVE,
            inside[-1][1] if inside else None,
            f"not drained yet and the drain window ends in {deadline - now:.0f}s",
        )
    if not inside:
        return Verdict.INCONCLUSIVE, None, "empty series after the load stopped"
    lowest = min(v for _, v in inside)
    return (
        Verdict.FAILED,
        inside[-1][1],
        f"not drained to {gate.drain_to} within {gate.within}: lowest {lowest:g}, "
        f"last {inside[-1][1]:g}",
    )


def judge(gate: Gate, obs: Observation, load_end: float, now: float) -> GateResult:
    """The outcome of ``gate`` given what was observed."""
    threshold = describe(gate)
    if obs.errors > gate.failure_limit:
        return GateResult(
            name=gate.name,
            outcome=Verdict.INCONCLUSIVE,
            threshold=threshold,
            source=obs.source,
            message=_clip(
                f"{obs.errors} query errors (failureLimit {gate.failure_limit}): {obs.last_error}"
            ),
        )
    parts: list[tuple[Verdict, float | None, str]] = []
    if gate.max is not None or gate.min is not None:
        parts.append(_judge_bounds(gate, obs))
    if gate.drain_to is not None:
        parts.append(_judge_drain(gate, obs, load_end, now))
    outcome = worst(p[0] for p in parts)
    # Report the value and message of the part that decided the outcome.
    deciding = next(p for p in parts if p[0] == outcome)
    message = "; ".join(p[2] for p in parts)
    if obs.errors:
        message += f" ({obs.errors} query errors tolerated: {obs.last_error})"
    return GateResult(
        name=gate.name,
        outcome=outcome,
        value=deciding[1],
        threshold=threshold,
        source=obs.source,
        message=_clip(message),
    )


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
