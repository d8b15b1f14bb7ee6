"""The HTML report in a real browser: Debian's headless Chromium loads the page (a copy with a
probe script appended: the report itself has none), lays it out, and the probe measures every
chart's lines (their rendered length and box) and catches script errors; a screenshot is kept
under reports/browser/ (gitignored) as the test's artifact."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from perfrun.analysis.bounded import report_files
from perfrun.analysis.model import AnalysisResult, Decision, Series, StepResult, Window
from perfrun.api.status import Results

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "reports" / "browser"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1100,2600",
)
PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg')].map(svg => ({
    title: (svg.previousElementSibling || {}).textContent || '',
    lines: [...svg.querySelectorAll('polyline, path')].map(p => ({
      points: (p.getAttribute('points') || p.getAttribute('d') || '').trim().length,
      length: p.getTotalLength ? p.getTotalLength() : 0,
      width: p.getBBox().width,
    })),
  }));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({charts, errors: window.__errors});
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium is not installed (scripts/apt-packages.txt; make setup)")
    return found


def analysis() -> AnalysisResult:
    t0 = 1_700_000_000.0
    ts = [t0 + i for i in range(300)]
    series = [
        Series(metric="latencyP50", points=[(t, 20 + (i % 13)) for i, t in enumerate(ts)]),
        Series(metric="latencyP95", points=[(t, 60 + (i % 29)) for i, t in enumerate(ts)]),
        Series(metric="latencyP99", points=[(t, 110 + (i % 41)) for i, t in enumerate(ts)]),
        Series(metric="throughput", points=[(t, 50 + i // 3) for i, t in enumerate(ts)]),
        Series(metric="errorRate", points=[(t, 0.001 * (i % 5)) for i, t in enumerate(ts)]),
        Series(
            metric="queueDepth",
            labels={"queue": "orders"},
            points=[(t, max(0, 40 - abs(150 - i) / 3)) for i, t in enumerate(ts)],
        ),
    ]
    return AnalysisResult(
        verdict="Passed",
        reason="all gates passed",
        window=Window(start=t0, end=t0 + 300),
        results=Results(p50_ms=26, p95_ms=80, p99_ms=140, error_rate=0.002, requests=30000),
        series=series,
        steps=[
            StepResult(index=1, rate=50, start=t0, end=t0 + 100, p99_ms=120),
            StepResult(index=2, rate=200, start=t0 + 100, end=t0 + 300, p99_ms=150),
        ],
        decisions=[Decision(at=t0 + 180, action="holdPreviousStep", reasons=["p95 > 400ms"])],
    )


def test_report_html_charts_are_drawn_in_chromium(tmp_path: Path) -> None:
    # the page as stored in the report ConfigMap, not a fresh render
    page = report_files(analysis(), "checkout-1-8-0")["report.html"]
    assert "<script" not in page
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    base = [chromium(), *CHROMIUM_FLAGS]
    dom = subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    shot = subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={screenshot}",
         _plain(tmp_path, page).as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert screenshot.exists() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]

    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert match, dom[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    charts = probe["charts"]
    assert len(charts) == 4, charts
    for chart in charts:
        drawn = [line for line in chart["lines"] if line["points"] > 0]
        assert drawn, chart
        assert all(line["length"] > 50 and line["width"] > 50 for line in drawn), chart


def _plain(tmp: Path, page: str) -> Path:
    """The page exactly as stored, for the screenshot."""
    path = tmp / "plain.html"
    path.write_text(page)
    return path


@pytest.fixture(autouse=True)
def _artifacts_are_ignored() -> None:
    assert "/reports/" in (REPO_ROOT / ".gitignore").read_text().split()
