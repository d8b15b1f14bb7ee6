"""Reading the load engine's summary JSON: exact final percentiles from merged HDR histograms.

The load engine (perfrun.load, another pod's program) writes one summary per load pod. This
module is the only place that knows that format, read by keys rather than by importing
``perfrun.load`` (the layering forbids it): change ``_histogram_text``/``_decisions`` here when
the format moves. Histograms are HDR, values in microseconds, base64 compressed encoding, so N
pods merge exactly by adding counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from perfrun.analysis.model import Decision, StepWindow

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3


class SummaryError(ValueError):
    """A summary file that cannot be read; names the file and what is wrong."""


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class LoadSummary:
    """What the analysis takes from one (or several merged) load summaries."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    errors: int = 0
    duration_s: float | None = None
    decisions: list[Decision] = field(default_factory=list)
    steps: list[StepWindow] = field(default_factory=list)

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


def _get(doc: dict[str, Any], *paths: str) -> Any:
    for path in paths:
        node: Any = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def _time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _histogram_text(doc: dict[str, Any]) -> str | None:
    found = _get(
        doc,
        "histogram",
        "latency.histogram",
        "latency.hdr",
        "overall.histogram",
        "overall.latency.histogram",
        "hdr",
    )
    return found if isinstance(found, str) else None


def _decisions(doc: dict[str, Any], started: float | None) -> list[Decision]:
    out = []
    for d in _get(doc, "decisions", "backOff.decisions", "adaptive.decisions") or []:
        if not isinstance(d, dict):
            continue
        at = _time(d.get("at"))
        rel = d.get("atSeconds")
        if at is None and started is not None and isinstance(rel, int | float):
            at = started + float(rel)
        out.append(
            Decision(
                at=at,
                action=str(d.get("action", "backOff")),
                step=d.get("step"),
                from_rate=d.get("fromRate"),
                to_rate=d.get("toRate"),
                reasons=[str(r) for r in d.get("reasons", [])][:10],
            )
        )
    return out


def _steps(doc: dict[str, Any], started: float | None) -> list[StepWindow]:
    """Ramp steps; the engine writes startSeconds/endSeconds relative to startedAt (a merged
    summary repeats them per pod: the first of each index is kept)."""
    out: dict[int, StepWindow] = {}
    for i, s in enumerate(_get(doc, "steps", "ramp.steps") or [], start=1):
        if not isinstance(s, dict):
            continue
        start, end = _time(s.get("start")), _time(s.get("end"))
        rel0, rel1 = s.get("startSeconds"), s.get("endSeconds")
        if start is None and started is not None and isinstance(rel0, int | float):
            start = started + float(rel0)
        if end is None and started is not None and isinstance(rel1, int | float):
            end = started + float(rel1)
        if start is None or end is None:
            continue
        index = int(s.get("index", i))
        rate = s.get("rate") or s.get("targetRps")
        out.setdefault(index, StepWindow(index=index, rate=rate, start=start, end=end))
    return [out[k] for k in sorted(out)]


def parse_summary(doc: dict[str, Any], name: str = "summary") -> LoadSummary:
    """One pod's summary; SummaryError when it has no latency histogram."""
    text = _histogram_text(doc)
    if text is None:
        raise SummaryError(f"{name}: no latency histogram (histogram / latency.histogram)")
    hist = new_histogram()
    try:
        hist.decode_and_add(text)
    except Exception as exc:  # hdrh raises plain ValueError/zlib.error/binascii.Error
        raise SummaryError(f"{name}: latency histogram is not an HDR encoding: {exc}") from exc
    requests = _get(doc, "requests", "totals.requests", "overall.requests")
    # "failed" is the engine's count of failed requests ("errors" there is a map by kind).
    errors = _get(doc, "failed", "totals.failed")
    if errors is None and isinstance(doc.get("errors"), int | float):
        errors = doc["errors"]
    started = _time(_get(doc, "startedAt", "start"))
    finished = _time(_get(doc, "endedAt", "finishedAt", "end"))
    duration = _get(doc, "durationSeconds", "elapsedSeconds", "elapsed")
    if not isinstance(duration, int | float) and started is not None and finished is not None:
        duration = finished - started
    return LoadSummary(
        histogram=hist,
        requests=int(requests) if isinstance(requests, int | float) else hist.get_total_count(),
        errors=int(errors) if isinstance(errors, int | float) else 0,
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        decisions=_decisions(doc, started),
        steps=_steps(doc, started),
    )


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
    durations = [s.duration_s for s in summaries if s.duration_s]
    out.duration_s = max(durations) if durations else None
    out.steps = next((s.steps for s in summaries if s.steps), [])
    out.decisions.sort(key=lambda d: d.at or 0.0)
    return out
