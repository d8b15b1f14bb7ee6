"""Reading the load engine's summary JSON: exact final percentiles from merged HDR histograms.

The load engine (perfrun.load, another pod's program) writes one summary per load pod in the
format of ``perfrun.api.wire.LoadSummary``, which this module reads (the layering keeps it
from importing ``perfrun.load``; the contract is what both sides share). Histograms are HDR in
the contract's layout, so N pods merge exactly by adding counts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from pydantic import ValidationError

from perfrun.analysis.model import Decision, StepWindow
from perfrun.api import wire
from perfrun.api.times import instant


class SummaryError(ValueError):
    """A summary file that cannot be read; names the file and what is wrong."""


def new_histogram() -> HdrHistogram:
    return HdrHistogram(wire.HDR_LOWEST_US, wire.HDR_HIGHEST_US, wire.HDR_SIGNIFICANT_DIGITS)


@dataclass
class StepSlots:
    """One ramp step's open-model slots over every pod."""

    due: int = 0
    dropped: int = 0
    sent: int = 0
    seconds: float = 0.0
    rate: float = 0.0

    def add(self, other: StepSlots) -> None:
        self.due += other.due
        self.dropped += other.dropped
        self.sent += other.sent
        self.rate += other.rate
        self.seconds = max(self.seconds, other.seconds)

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.due if self.due else 0.0


@dataclass
class LoadSummary:
    """What the analysis takes from one (or several merged) load summaries."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    errors: int = 0
    duration_s: float | None = None
    decisions: list[Decision] = field(default_factory=list)
    steps: list[StepWindow] = field(default_factory=list)
    # Open model, per 1-based step: slots that fell due, were dropped, and the rate asked
    # (summed over pods), and each pod's own CPU (cores); see ``saturation``.
    slots: dict[int, StepSlots] = field(default_factory=dict)
    pod_cpu_cores: list[float] = field(default_factory=list)
    # Failed attempts by what went wrong: the engine's kinds for no answer (``connect``,
    # ``timeout``, ...) and ``HTTP <code>`` for an error answer; see ``failure_breakdown``.
    failures: dict[str, int] = field(default_factory=dict)

    def percentile_ms(self, percentile: float) -> float | None:
        """Exact (to HDR's 3 significant digits) percentile in ms; None without requests."""
        if self.histogram.get_total_count() == 0:
            return None
        value: int = self.histogram.get_value_at_percentile(percentile)
        return round(value / 1000.0, 3)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def throughput_rps(self) -> float | None:
        if not self.requests or not self.duration_s:
            return None
        return self.requests / self.duration_s


def _time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return instant(value)
    except ValueError:
        return None


def _decisions(doc: wire.LoadSummary, started: float | None) -> list[Decision]:
    return [
        Decision(
            at=None if started is None or d.at_seconds is None else started + d.at_seconds,
            action=d.action,
            step=d.step,
            from_rate=d.from_rate,
            to_rate=d.to_rate,
            reasons=d.reasons[:10],
        )
        for d in doc.decisions
    ]


def _steps(doc: wire.LoadSummary, started: float | None) -> list[StepWindow]:
    """Ramp steps, placed on the wall clock from the pod's startedAt (a merged summary
    repeats them per pod: the first of each index is kept)."""
    if started is None:
        return []
    out: dict[int, StepWindow] = {}
    for s in doc.steps:
        index = s.step + 1
        out.setdefault(
            index,
            StepWindow(
                index=index,
                rate=s.rate,
                start=started + s.start_seconds,
                end=started + s.end_seconds,
            ),
        )
    return [out[k] for k in sorted(out)]


def parse_summary(data: dict[str, Any], name: str = "summary") -> LoadSummary:
    """One pod's summary (the ``perfrun.api.wire`` contract); SummaryError when it is not
    one or has no latency histogram."""
    try:
        doc = wire.LoadSummary.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "summary"
        raise SummaryError(f"{name}: {where}: {first['msg']}") from None
    if not doc.histogram:
        raise SummaryError(f"{name}: no latency histogram (histogram)")
    hist = new_histogram()
    try:
        hist.decode_and_add(doc.histogram)
    except Exception as exc:  # hdrh raises plain ValueError/zlib.error/binascii.Error
        raise SummaryError(f"{name}: latency histogram is not an HDR encoding: {exc}") from exc
    started = _time(doc.started_at)
    finished = _time(doc.ended_at)
    duration = doc.duration_seconds
    if duration is None and started is not None and finished is not None:
        duration = finished - started
    return LoadSummary(
        histogram=hist,
        requests=doc.requests,
        errors=doc.failed,
        duration_s=duration,
        decisions=_decisions(doc, started),
        steps=_steps(doc, started),
        slots=_slots(doc),
        pod_cpu_cores=[float(p["cpuCores"]) for p in doc.pods if "cpuCores" in p],
        failures=_failures(doc),
    )


def _failures(doc: wire.LoadSummary) -> dict[str, int]:
    """Only words of the engine's own vocabulary and numeric codes: a summary key is never
    echoed into a message as free text."""
    out = {k: n for k, n in doc.errors.items() if n > 0 and _KIND.fullmatch(k)}
    for code, n in doc.status_codes.items():
        if n > 0 and code.isdigit() and 400 <= int(code) <= 599:
            out[f"HTTP {code}"] = out.get(f"HTTP {code}", 0) + n
    return out


_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")


def failure_breakdown(summary: LoadSummary, most: int = 3) -> str | None:
    """What the failed attempts were, most frequent first (``connect 200, HTTP 503 4``), so a
    run failed by its error gate says why the requests failed; None when none failed."""
    if not summary.failures:
        return None
    ranked = sorted(summary.failures.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{kind} {n}" for kind, n in ranked[:most])
    more = len(ranked) - most
    return text + (f" (+{more} more kinds)" if more > 0 else "")


def _slots(doc: wire.LoadSummary) -> dict[int, StepSlots]:
    out: dict[int, StepSlots] = {}
    for s in doc.steps:
        if not s.due:
            continue
        part = StepSlots(
            due=s.due,
            dropped=s.dropped,
            sent=s.sent,
            seconds=s.end_seconds - s.start_seconds,
            rate=float(s.rate or 0),
        )
        out.setdefault(s.step + 1, StepSlots()).add(part)
    return out


def saturation(summary: LoadSummary, threshold: float) -> str | None:
    """Why the load generator, not the target, set the pace (None when it did not): the
    first step whose dropped share is over ``threshold``, with its numbers."""
    for index in sorted(summary.slots):
        s = summary.slots[index]
        if s.dropped_share <= threshold:
            continue
        sent = f"{s.sent / s.seconds:.1f}" if s.seconds > 0 else "?"
        cpu = (
            f"; load pods' CPU {', '.join(f'{c:.2f}' for c in summary.pod_cpu_cores)} cores"
            if summary.pod_cpu_cores
            else ""
        )
        return (
            f"LoadGeneratorSaturated: step {index} dropped {s.dropped} of {s.due} requests "
            f"({s.dropped_share:.1%}, over {threshold:.0%}): sent {sent}/s of {s.rate:g}/s "
            f"asked{cpu}; raise parallelism or the load pods' resources, or lower the rate"
        )
    return None


def read_summary(path: Path) -> LoadSummary:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SummaryError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise SummaryError(f"{path}: not a JSON object")
    return parse_summary(doc, str(path))


def merge(summaries: list[LoadSummary]) -> LoadSummary | None:
    """All pods as one: histograms and counts add; the duration is the longest pod's (they run
    side by side); decisions and steps are kept from every pod (steps from the first)."""
    if not summaries:
        return None
    out = LoadSummary()
    for s in summaries:
        out.histogram.add(s.histogram)
        out.requests += s.requests
        out.errors += s.errors
        out.decisions.extend(s.decisions)
        out.pod_cpu_cores.extend(s.pod_cpu_cores)
        for kind, n in s.failures.items():
            out.failures[kind] = out.failures.get(kind, 0) + n
        for index, slots in s.slots.items():
            out.slots.setdefault(index, StepSlots()).add(slots)
    durations = [s.duration_s for s in summaries if s.duration_s]
    out.duration_s = max(durations) if durations else None
    out.steps = next((s.steps for s in summaries if s.steps), [])
    out.decisions.sort(key=lambda d: d.at or 0.0)
    return out
