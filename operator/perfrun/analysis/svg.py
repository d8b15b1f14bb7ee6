"""Small, dependency-free SVG line charts for the HTML report (pure string building).

Inline SVG keeps the page self-contained (no scripts, no CDN) and readable in any browser, in
a PR artifact or a ConfigMap dump."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


@dataclass
class Line:
    label: str
    points: list[tuple[float, float]]
    color: str | None = None


@dataclass
class Chart:
    title: str
    unit: str
    lines: list[Line]
    bands: list[tuple[float, float, str]] = field(default_factory=list)  # ramp steps
    markers: list[tuple[float, str]] = field(default_factory=list)  # back-off decisions
    hlines: list[tuple[float, str]] = field(default_factory=list)  # thresholds
    vlines: list[tuple[float, str]] = field(default_factory=list)  # load end


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**exp >= value:
            return float(m * 10**exp)
    return float(10 ** (exp + 1))


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def render(chart: Chart, width: int = 920, height: int = 260) -> str:
    """One chart as an <svg> element; an explicit 'no data' panel when it has no points."""
    left, right, top, bottom = 64, 36, 30, 36
    pw, ph = width - left - right, height - top - bottom
    all_pts = [p for line in chart.lines for p in line.points if math.isfinite(p[1])]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(chart.title)}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold" '
        f'font-family="sans-serif">{escape(chart.title)}</text>',
    ]
    if not all_pts:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#888" '
            f'font-family="sans-serif">no data</text></svg>'
        )
        return "".join(out)
    xs = [p[0] for p in all_pts] + [b[0] for b in chart.bands] + [b[1] for b in chart.bands]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    ymax = _nice(max([p[1] for p in all_pts] + [h[0] for h in chart.hlines]) * 1.05)

    def sx(t: float) -> float:
        return left + (t - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + ph - (min(max(v, 0.0), ymax) / ymax) * ph

    for i, (b0, b1, label) in enumerate(chart.bands):
        fill = "#f3f6fa" if i % 2 == 0 else "#e8eef5"
        out.append(
            f'<rect x="{sx(b0):.1f}" y="{top}" width="{max(sx(b1) - sx(b0), 0):.1f}" '
            f'height="{ph}" fill="{fill}"/>'
            f'<text x="{sx(b0) + 3:.1f}" y="{top + 11}" font-size="10" fill="#567" '
            f'font-family="sans-serif">{escape(label)}</text>'
        )
    for i in range(5):  # y grid and labels
        v = ymax * i / 4
        y = sy(v)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif">{_fmt(v)}</text>'
        )
    for i in range(5):  # x labels: clock time UTC
        t = x0 + (x1 - x0) * i / 4
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
        out.append(
            f'<text x="{sx(t):.1f}" y="{top + ph + 14}" font-size="10" text-anchor="middle" '
            f'font-family="sans-serif">{label}</text>'
        )
    out.append(
        f'<text x="{left + pw}" y="{height - 4}" font-size="10" text-anchor="end" fill="#555" '
        f'font-family="sans-serif">time (UTC) · {escape(chart.unit)}</text>'
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>'
    )
    for value, label in chart.hlines:
        y = sy(value)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#c00" '
            f'stroke-dasharray="6 4"/><text x="{left + pw - 4}" y="{y - 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#c00" font-family="sans-serif">{escape(label)}</text>'
        )
    for t, label in chart.vlines:
        x = sx(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#555" '
            f'stroke-dasharray="2 3"/><text x="{x + 3:.1f}" y="{top + ph - 4}" font-size="10" '
            f'fill="#555" font-family="sans-serif">{escape(label)}</text>'
        )
    for t, label in chart.markers:
        x = sx(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#e67e00" '
            f'stroke-width="2"><title>{escape(label)}</title></line>'
            f'<polygon points="{x - 5:.1f},{top} {x + 5:.1f},{top} {x:.1f},{top + 8}" '
            f'fill="#e67e00"><title>{escape(label)}</title></polygon>'
        )
    legend_x = left + 8
    for i, line in enumerate(chart.lines):
        color = line.color or PALETTE[i % len(PALETTE)]
        pts = [p for p in line.points if math.isfinite(p[1])]
        if pts:
            path = " ".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>'
            )
        out.append(
            f'<rect x="{legend_x}" y="{top + 18}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{top + 27}" font-size="11" '
            f'font-family="sans-serif">{escape(line.label)}</text>'
        )
        legend_x += 24 + 7 * len(line.label)
    out.append("</svg>")
    return "".join(out)
