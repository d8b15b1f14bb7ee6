"""A load pod running its share in several processes (``perfrun load --processes P``), as real
processes against a real nginx: together they never put more than maxRps into a second at the
server, their summaries merge exactly into one pod's, the pod's progress is reported once with
their counts added, its /metrics are the sum of theirs, and SIGTERM drains all of them."""

from __future__ import annotations

import contextlib
import json
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.loadservers import NginxServer, finish_load, run_load, start_load
from tests.support.waiting import free_port

from perfrun.load.histograms import merge

pytestmark = pytest.mark.services


def _open(url: str, rate: int, hold: str, max_rps: int | None = None) -> dict[str, Any]:
    return {
        "target": url,
        "requestTimeout": "2s",
        "scenarios": [{"name": "get", "weight": 1, "path": "/"}],
        "budget": {"maxRps": max_rps or rate, "maxInFlight": 64, "maxDuration": "2m"},
        "ramp": {"model": "open", "steps": [{"rate": rate, "hold": hold}]},
    }


def _per_second(times: list[float]) -> list[int]:
    t0 = min(times)
    counts: dict[int, int] = {}
    for t in times:
        counts[int(t - t0)] = counts.get(int(t - t0), 0) + 1
    return [counts.get(k, 0) for k in range(1, max(counts))]


def _scrape(port: int) -> dict[str, float]:
    """Samples of the pod's /metrics: name{labels} -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def test_three_processes_share_one_pods_budget_and_report_as_one_pod(
    nginx_server: NginxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate, seconds = 600, 8
    progress = tmp_path / "progress.json"
    monkeypatch.setenv("PERFRUN_PROGRESS_FILE", str(progress))
    monkeypatch.setenv("PERFRUN_PROGRESS_INTERVAL", "1")
    port = free_port()
    nginx_server.mark()
    proc, summary_path = start_load(
        tmp_path,
        _open(nginx_server.url, rate, f"{seconds}s"),
        "--processes",
        "3",
        "--metrics-port",
        str(port),
    )
    scrapes: list[dict[str, float]] = []
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            scrapes.append(_scrape(port))
        time.sleep(0.25)
    res = finish_load(proc, summary_path)
    assert res.returncode == 0, res.stderr
    s = res.summary
    arrivals = [t for t, _ in nginx_server.arrivals()]

    # together, never more than the pod's maxRps in a second as the server counts them
    # (each process holds its exact third in any window of 1 s; nginx sometimes logs a few
    # late when it was not scheduled: at most one second over, by at most 3 %)
    per_second = _per_second(arrivals)
    assert len(per_second) >= seconds - 2, per_second
    assert sum(n > rate for n in per_second) <= 1, per_second
    assert max(per_second) <= 1.03 * rate, per_second
    assert sum(per_second) / len(per_second) >= 0.97 * rate, per_second

    # one pod's summary: its processes' counts added, their histograms merged exactly
    (pod,) = s["pods"]
    assert (pod["index"], pod["count"], pod["processes"]) == (0, 1, 3)
    assert (pod["maxRps"], pod["maxInFlight"]) == (rate, 64)
    assert pod["cpuSeconds"] > 0
    (step,) = s["steps"]
    assert step["rate"] == rate and "pod" not in step
    assert s["attempts"] == len(arrivals) == step["sent"]
    assert s["requests"] + s["dropped"] == step["due"]
    assert step["due"] >= 0.99 * rate * seconds
    assert s["statusCodes"] == {"200": s["requests"]}
    assert merge([s["histogram"]]).get_total_count() == s["requests"]
    assert s["scenarios"]["get"]["requests"] == s["requests"]

    # progress, once per pod: the last report is final and has the summary's counts
    report = json.loads(progress.read_text())
    assert report["final"] is True
    assert report["requests"] == s["requests"] and report["dropped"] == s["dropped"]

    # /metrics of the pod: what one process running the whole share would expose
    assert scrapes, "the pod's /metrics never answered"
    last = scrapes[-1]
    total = last["perfrun_requests_total{scenario=get,status_class=2xx}"]
    assert 0.5 * s["attempts"] <= total <= s["attempts"], (total, s["attempts"])
    count = last["perfrun_request_duration_seconds_count{scenario=get,status_class=2xx}"]
    assert count <= total
    assert last["perfrun_load_step{}"] == 0.0
    # rising: each scrape adds up every process (a process' file missing would dip)
    totals = [x.get("perfrun_requests_total{scenario=get,status_class=2xx}", 0.0) for x in scrapes]
    assert totals == sorted(totals)
    assert not any(k.endswith("_created{}") for k in last)


def test_sigterm_drains_every_process_and_the_pod_summary_says_so(
    nginx_server: NginxServer, tmp_path: Path
) -> None:
    proc, summary_path = start_load(
        tmp_path, _open(nginx_server.url, 200, "30s"), "--processes", "2"
    )
    time.sleep(4.0)  # started and sending
    proc.send_signal(signal.SIGTERM)
    res = finish_load(proc, summary_path, timeout=30)
    assert res.returncode == 0, res.stderr
    s = res.summary
    assert s["outcome"] == "interrupted"
    assert s["pods"][0]["processes"] == 2
    assert 0 < s["requests"] < 200 * 30
    assert s["durationSeconds"] < 15


def test_more_processes_than_the_budget_has_shares_for_runs_fewer(
    nginx_server: NginxServer, tmp_path: Path
) -> None:
    load = _open(nginx_server.url, 2, "2s")
    load["budget"]["maxInFlight"] = 2
    res = run_load(tmp_path, load, "--processes", "4")
    assert res.returncode == 0, res.stderr
    assert res.summary["pods"][0]["processes"] == 2
    assert res.summary["requests"] + res.summary["dropped"] == res.summary["steps"][0]["due"]
