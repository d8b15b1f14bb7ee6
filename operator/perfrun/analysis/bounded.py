"""The report files kept after teardown, bounded in size (pure): JSON (the whole analysis,
series thinned until it fits), Markdown, and the HTML page drawn from the same thinned series
(so the page is there as it was even when the PerfRun and any newer perfrun are gone)."""

from __future__ import annotations

from perfrun.analysis import report_html, report_markdown
from perfrun.analysis.model import AnalysisResult, Series

MAX_BYTES = 512 * 1024 - 4096  # ConfigMap budget minus keys and metadata slack


def _thin(series: list[Series], keep: int) -> list[Series]:
    out = []
    for s in series:
        stride = max(1, -(-len(s.points) // keep)) if keep else len(s.points) + 1
        out.append(s.model_copy(update={"points": s.points[::stride] if keep else []}))
    return out


def report_files(result: AnalysisResult, title: str, max_bytes: int = MAX_BYTES) -> dict[str, str]:
    md = report_markdown.render(result, title)
    for keep in (400, 200, 100, 50, 20, 0):
        trimmed = result.model_copy(update={"series": _thin(result.series, keep)})
        text = trimmed.model_dump_json(by_alias=True)
        html = report_html.render(trimmed, title)
        if len(text.encode()) + len(md.encode()) + len(html.encode()) <= max_bytes:
            return {"report.json": text, "report.md": md, "report.html": html}
    slim = result.model_copy(update={"series": [], "decisions": result.decisions[:20]})
    return {"report.json": slim.model_dump_json(by_alias=True), "report.md": md[:100_000]}
