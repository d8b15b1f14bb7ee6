"""The HTML report: one self-contained page (inline CSS and SVG, no scripts) with the verdict,
the numbers and their sources, gates, baseline comparison, per-step table and plots of latency
percentiles, throughput, errors and queue depth, with ramp steps shaded and back-off decisions
marked (pure)."""

from __future__ import annotations

from html import escape

from perfrun.analysis import svg
from perfrun.analysis.model import AnalysisResult, Series
from perfrun.analysis.report_markdown import headline_rows, num, when

COLORS = {"Passed": "#1a7f37", "Failed": "#cf222e", "Inconclusive": "#9a6700"}
CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:980px}
h1{font-size:22px;margin:0 0 4px} .verdict{color:#fff;padding:3px 10px;border-radius:4px}
table{border-collapse:collapse;margin:10px 0 18px;font-size:13px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left} th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#666;font-size:12px}
h2{font-size:16px;margin:22px 0 6px} svg{display:block;margin:6px 0 14px}
"""


def _cell(text: str, numeric: bool = False) -> str:
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def _outcome(o: str) -> str:
    return f'<td style="color:{COLORS.get(o, "#222")};font-weight:bold">{escape(o)}</td>'


def _series(result: AnalysisResult, metric: str) -> list[Series]:
    return [s for s in result.series if s.metric == metric]


def charts(result: AnalysisResult) -> list[svg.Chart]:
    bands = [
        (s.start, s.end, f"step {s.index}" + (f" @ {s.rate:g}" if s.rate else ""))
        for s in result.steps
    ]
    markers = [(d.at, f"{d.action}: {'; '.join(d.reasons)}") for d in result.decisions if d.at]
    lat = []
    for metric, label in (("latencyP50", "p50"), ("latencyP95", "p95"), ("latencyP99", "p99")):
        for s in _series(result, metric):
            lat.append(svg.Line(label, s.points))
    thr = [svg.Line("throughput", s.points) for s in _series(result, "throughput")]
    err = [svg.Line("error rate", s.points) for s in _series(result, "errorRate")]
    queues = [
        svg.Line(s.labels.get("queue", "total"), s.points) for s in _series(result, "queueDepth")
    ]
    end = [(result.window.end, "load stops")]
    return [
        svg.Chart("Latency percentiles", "ms", lat, bands, markers),
        svg.Chart("Throughput", "requests/s", thr, bands, markers),
        svg.Chart("Error rate", "failed share", err, bands, markers),
        svg.Chart("Queue depth", "messages", queues, bands, markers, vlines=end),
    ]


def render(result: AnalysisResult, title: str = "perfrun") -> str:
    r = result.results
    color = COLORS.get(result.verdict, "#444")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(title)}: {escape(result.verdict)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)} <span class='verdict' style='background:{color}'>"
        f"{escape(result.verdict)}</span></h1>",
        f"<p>{escape(result.reason)}</p>",
        f"<p class='muted'>Load window {when(result.window.start)} → {when(result.window.end)} "
        f"({result.window.seconds:.0f}s) · Prometheus {escape(result.prometheus or '—')} · "
        f"{result.query_errors} query errors</p>",
        "<h2>Results</h2><table><tr><th>metric</th><th>value</th><th>source</th></tr>",
    ]
    parts += [f"<tr>{_cell(a)}{_cell(b, True)}{_cell(c)}</tr>" for a, b, c in headline_rows(result)]
    parts.append("</table>")
    if r.gates:
        parts.append(
            "<h2>Gates</h2><table><tr><th>gate</th><th>outcome</th><th>value</th>"
            "<th>threshold</th><th>source</th><th>why</th></tr>"
        )
        for g in r.gates:
            parts.append(
                f"<tr>{_cell(g.name)}{_outcome(g.outcome)}{_cell(num(g.value), True)}"
                f"{_cell(g.threshold or '')}{_cell(g.source or '')}{_cell(g.message)}</tr>"
            )
        parts.append("</table>")
    if r.regressions:
        parts.append(
            "<h2>Baseline</h2><table><tr><th>metric</th><th>baseline</th><th>this run</th>"
            "<th>change</th><th>tolerance</th><th>outcome</th></tr>"
        )
        for x in r.regressions:
            change = "—" if x.change_percent is None else f"{x.change_percent:+.1f}%"
            parts.append(
                f"<tr>{_cell(x.metric)}{_cell(num(x.baseline), True)}{_cell(num(x.value), True)}"
                f"{_cell(change, True)}{_cell(f'{x.tolerance_percent:g}%', True)}"
                f"{_outcome(x.outcome)}</tr>"
            )
        parts.append("</table>")
    if result.steps:
        parts.append(
            "<h2>Ramp steps</h2><table><tr><th>step</th><th>rate</th><th>p50 ms</th>"
            "<th>p95 ms</th><th>p99 ms</th><th>error rate</th><th>rps</th></tr>"
        )
        for s in result.steps:
            cells = (s.rate, s.p50_ms, s.p95_ms, s.p99_ms, s.error_rate, s.throughput_rps)
            parts.append(
                f"<tr>{_cell(str(s.index), True)}"
                + "".join(_cell(num(c), True) for c in cells)
                + "</tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Over time</h2>")
    parts += [svg.render(c) for c in charts(result)]
    if result.decisions:
        parts.append(
            "<h2>Back-off decisions</h2><table><tr><th>when</th><th>action</th>"
            "<th>step</th><th>rate</th><th>why</th></tr>"
        )
        for d in result.decisions[:50]:
            rate = f"{num(d.from_rate)} → {num(d.to_rate)}"
            parts.append(
                f"<tr>{_cell(when(d.at) if d.at else '?')}{_cell(d.action)}"
                f"{_cell(str(d.step or ''))}{_cell(rate)}{_cell('; '.join(d.reasons))}</tr>"
            )
        parts.append("</table>")
    if result.errors:
        parts.append("<h2>Query errors</h2><ul>")
        parts += [f"<li class='muted'>{escape(e)}</li>" for e in result.errors]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)
