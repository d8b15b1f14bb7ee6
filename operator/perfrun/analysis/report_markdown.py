"""The Markdown report: short enough for a PR comment or a chat message (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from perfrun.analysis.model import AnalysisResult

ICON = {"Passed": "✅", "Failed": "❌", "Inconclusive": "⚠️"}


def when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.4g}{unit}"


def headline_rows(result: AnalysisResult) -> list[tuple[str, str, str]]:
    """(label, value, source) of the main numbers, shared by Markdown and HTML."""
    r, src = result.results, result.results.sources
    return [
        ("p50", num(r.p50_ms, " ms"), src.get("p50Ms", "—")),
        ("p95", num(r.p95_ms, " ms"), src.get("p95Ms", "—")),
        ("p99", num(r.p99_ms, " ms"), src.get("p99Ms", "—")),
        ("error rate", num(r.error_rate), src.get("errorRate", "—")),
        ("throughput", num(r.throughput_rps, " rps"), src.get("throughputRps", "—")),
        ("max queue depth", num(r.max_queue_depth), src.get("maxQueueDepth", "—")),
        ("requests", num(r.requests), src.get("requests", "—")),
    ]


def render(result: AnalysisResult, title: str = "perfrun") -> str:
    r = result.results
    lines = [
        f"### {ICON.get(result.verdict, '')} {title}: **{result.verdict}**",
        "",
        result.reason,
        "",
        f"Load window {when(result.window.start)} → {when(result.window.end)} "
        f"({result.window.seconds:.0f}s)",
        "",
        "| metric | value | source |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in headline_rows(result)]
    if r.gates:
        lines += [
            "",
            "| gate | outcome | value | threshold | why |",
            "| --- | --- | ---: | --- | --- |",
        ]
        for g in r.gates:
            msg = g.message.replace("|", "\\|")
            lines.append(
                f"| {g.name} | {ICON.get(g.outcome, '')} {g.outcome} | {num(g.value)} | "
                f"{g.threshold or ''} | {msg} |"
            )
    if r.regressions:
        lines += ["", "| vs baseline | baseline | this run | change | tolerance | outcome |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for x in r.regressions:
            change = "—" if x.change_percent is None else f"{x.change_percent:+.1f}%"
            lines.append(
                f"| {x.metric} | {num(x.baseline)} | {num(x.value)} | {change} | "
                f"{x.tolerance_percent:g}% | {ICON.get(x.outcome, '')} {x.outcome} |"
            )
    if result.steps:
        lines += ["", "| step | rate | p50 ms | p95 ms | p99 ms | errors | rps |"]
        lines.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in result.steps:
            lines.append(
                f"| {s.index} | {num(s.rate)} | {num(s.p50_ms)} | {num(s.p95_ms)} | "
                f"{num(s.p99_ms)} | {num(s.error_rate)} | {num(s.throughput_rps)} |"
            )
    if result.decisions:
        lines += ["", f"Back-off decisions: {len(result.decisions)}"]
        for d in result.decisions[:10]:
            at = when(d.at) if d.at else "?"
            lines.append(f"- {at} {d.action} (step {d.step}): {'; '.join(d.reasons)}")
    if result.query_errors:
        lines += ["", f"Prometheus query errors: {result.query_errors}"]
        lines += [f"- {e}" for e in result.errors[:5]]
    return "\n".join(lines) + "\n"
