"""The summary a load pod leaves behind (JSON), and the exact merge of N pods' summaries.

Histograms travel in the standard HDR encoding, so merged percentiles are those of one
histogram of every request, not an average of percentiles."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from perfrun.api.wire import OUTCOMES, SUMMARY_VERSION, LoadSummary
from perfrun.load.histograms import encode, latency_ms, merge
from perfrun.load.ledger import StepLedger
from perfrun.load.schedule import Step
from perfrun.load.stats import Recorder, ScenarioStats


def _stats_json(s: ScenarioStats) -> dict[str, Any]:
    return {
        "requests": s.requests,
        "ok": s.ok,
        "failed": s.failed,
        "attempts": s.attempts,
        "retries": s.retries,
        "statusCodes": dict(sorted(s.status_codes.items())),
        "errors": dict(sorted(s.errors.items())),
        "creationLimited": s.creation_limited,
        "latencyMs": latency_ms(s.hist),
        "histogram": encode(s.hist),
    }


def steps_json(
    steps: tuple[Step, ...], sent: list[int], ledger: StepLedger | None = None
) -> list[dict[str, Any]]:
    """Each step as planned, with what was sent in it (attempts, retries included) and, for
    the open model, its slots: due, dropped (not sent in time), late, the latest send."""
    out = []
    for s, n in zip(steps, sent, strict=True):
        held = s.end - s.start
        row: dict[str, Any] = {
            "step": s.index,
            "rate": s.rate,
            "startSeconds": round(s.start, 3),
            "endSeconds": round(s.end, 3),
            "sent": n,
            "sentPerSecond": round(n / held, 3) if held > 0 else 0.0,
        }
        if ledger is not None and ledger.due[s.index]:
            i = s.index
            row |= {
                "due": ledger.due[i],
                "dropped": ledger.dropped[i],
                "droppedShare": round(ledger.dropped_share(i), 6),
                "late": ledger.late[i],
                "maxLateMs": round(ledger.max_late_s[i] * 1000.0, 3),
            }
        out.append(row)
    return out


def build(
    *,
    recorder: Recorder,
    pod: dict[str, Any],
    model: str,
    outcome: str,
    started_at: str,
    ended_at: str,
    duration_s: float,
    steps: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    creations: dict[str, int],
    target: dict[str, Any],
) -> dict[str, Any]:
    """One pod's summary, in the wire contract's shape."""
    total = _stats_json(recorder.total)
    wait = recorder.budget_wait
    doc: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "pods": [pod],
        "model": model,
        "outcome": outcome,
        "startedAt": started_at,
        "endedAt": ended_at,
        "durationSeconds": round(duration_s, 3),
        **total,
        "dropped": recorder.dropped,
        "achievedRps": round(total["attempts"] / duration_s, 3) if duration_s > 0 else 0.0,
        "errorRate": _rate(total["failed"], total["requests"]),
        "backedOff": bool(decisions),
        "decisions": decisions,
        "steps": steps,
        "creations": creations,
        "target": target,
        "scenarios": {
            name: _stats_json(s) for name, s in zip(recorder.names, recorder.scenarios, strict=True)
        },
    }
    if wait.get_total_count():
        doc["budgetWaitMs"] = latency_ms(wait)
        doc["budgetWaitHistogram"] = encode(wait)
    return LoadSummary.model_validate(doc).to_wire()


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _add_counts(items: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for it in items:
        total.update(it.get(key, {}))
    return dict(sorted(total.items()))


def _merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    hist = merge(p.get("histogram", "") for p in parts)
    out: dict[str, Any] = {
        k: sum(int(p.get(k, 0)) for p in parts)
        for k in ("requests", "ok", "failed", "attempts", "retries", "creationLimited")
    }
    out["statusCodes"] = _add_counts(parts, "statusCodes")
    out["errors"] = _add_counts(parts, "errors")
    out["latencyMs"] = latency_ms(hist)
    out["histogram"] = encode(hist)
    return out


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of all pods: counts add, histograms merge exactly, percentiles are those of
    the merged histogram; decisions and steps are kept per pod."""
    if not summaries:
        raise ValueError("no summaries to merge")
    for s in summaries:
        if s.get("version") != SUMMARY_VERSION:
            raise ValueError(f"summary version {s.get('version')!r} is not {SUMMARY_VERSION}")
    out = _merge_stats(summaries)
    duration = max(float(s.get("durationSeconds", 0.0)) for s in summaries)
    names: list[str] = []
    for s in summaries:
        names += [n for n in s.get("scenarios", {}) if n not in names]
    pods = sorted((p for s in summaries for p in s.get("pods", [])), key=lambda p: p["index"])
    outcomes = [s.get("outcome", "completed") for s in summaries]
    return {
        "version": SUMMARY_VERSION,
        "pods": pods,
        "model": summaries[0].get("model"),
        "outcome": min(outcomes, key=lambda o: OUTCOMES.index(o) if o in OUTCOMES else 0),
        "startedAt": min(s.get("startedAt", "") for s in summaries),
        "endedAt": max(s.get("endedAt", "") for s in summaries),
        "durationSeconds": round(duration, 3),
        **out,
        "dropped": sum(int(s.get("dropped", 0)) for s in summaries),
        "achievedRps": round(out["attempts"] / duration, 3) if duration > 0 else 0.0,
        "errorRate": _rate(out["failed"], out["requests"]),
        "backedOff": any(s.get("backedOff") for s in summaries),
        "decisions": [d for s in summaries for d in _tag(s, "decisions")],
        "steps": [st for s in summaries for st in _tag(s, "steps")],
        "creations": _add_counts(summaries, "creations"),
        "target": {
            "url": summaries[0].get("target", {}).get("url"),
            "reachable": any(s.get("target", {}).get("reachable") for s in summaries),
            "lastErrors": [
                s["target"]["lastError"] for s in summaries if s.get("target", {}).get("lastError")
            ],
        },
        "scenarios": {
            n: _merge_stats([s["scenarios"][n] for s in summaries if n in s.get("scenarios", {})])
            for n in names
        },
    }


def _tag(summary: dict[str, Any], key: str) -> list[dict[str, Any]]:
    pods = summary.get("pods") or [{}]
    index = pods[0].get("index") if len(pods) == 1 else None
    items: list[dict[str, Any]] = summary.get(key, [])
    if index is None:
        return items
    return [{**it, "pod": it.get("pod", index)} for it in items]


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=False) + "\n"


def merge_processes(summaries: list[dict[str, Any]], index: int, count: int) -> dict[str, Any]:
    """One pod's summary from the summaries of its processes (each ran an exact share of the
    pod's share, as virtual pods of a larger count): counts add and histograms merge exactly
    (as :func:`merge_summaries`), and the result reads as one pod's: a single ``pods`` entry
    (index ``index`` of ``count``, its budget and CPU the processes' sums, ``processes``), one
    row per ramp step (rates, sends and slots added; the latest send the worst process's),
    the first error seen as ``target.lastError``."""
    merged = merge_summaries(summaries)
    pods = merged["pods"]
    cpu_s = sum(float(p.get("cpuSeconds", 0.0)) for p in pods)
    pod: dict[str, Any] = {
        "index": index,
        "count": count,
        "processes": len(summaries),
        "maxRps": sum(int(p.get("maxRps", 0)) for p in pods),
        "maxInFlight": sum(int(p.get("maxInFlight", 0)) for p in pods),
        "cpuSeconds": round(cpu_s, 3),
        "cpuCores": round(sum(float(p.get("cpuCores", 0.0)) for p in pods), 3),
    }
    steps: dict[int, list[dict[str, Any]]] = {}
    for s in summaries:
        for row in s.get("steps", []):
            steps.setdefault(row["step"], []).append(row)
    merged["steps"] = [_merge_step(rows) for _, rows in sorted(steps.items())]
    for d in merged["decisions"]:
        d.pop("pod", None)
    errors = merged["target"].pop("lastErrors", [])
    merged["target"]["lastError"] = errors[0] if errors else None
    merged["pods"] = [pod]
    waits = [s["budgetWaitHistogram"] for s in summaries if s.get("budgetWaitHistogram")]
    if waits:
        wait = merge(waits)
        merged["budgetWaitMs"] = latency_ms(wait)
        merged["budgetWaitHistogram"] = encode(wait)
    return LoadSummary.model_validate(merged).to_wire()


def _merge_step(rows: list[dict[str, Any]]) -> dict[str, Any]:
    start = min(float(r.get("startSeconds", 0.0)) for r in rows)
    end = max(float(r.get("endSeconds", 0.0)) for r in rows)
    sent = sum(int(r.get("sent", 0)) for r in rows)
    out: dict[str, Any] = {
        "step": rows[0]["step"],
        "rate": sum(int(r.get("rate") or 0) for r in rows),
        "startSeconds": start,
        "endSeconds": end,
        "sent": sent,
        "sentPerSecond": round(sent / (end - start), 3) if end > start else 0.0,
    }
    due = sum(int(r.get("due", 0)) for r in rows)
    if due:
        dropped = sum(int(r.get("dropped", 0)) for r in rows)
        out |= {
            "due": due,
            "dropped": dropped,
            "droppedShare": round(dropped / due, 6),
            "late": sum(int(r.get("late", 0)) for r in rows),
            "maxLateMs": max(float(r.get("maxLateMs", 0.0)) for r in rows),
        }
    return out
