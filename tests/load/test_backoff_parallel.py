"""The adaptive back-off with several load pods (parallelism > 1), as real processes against
a real server that refuses past a known capacity: each pod judges only its own window and cuts
its own share, and together they settle within 10 % under the capacity, never over it."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.load.test_engine_honesty import _open, _refusing_past
from tests.support.loadservers import TestServer, finish_load, start_load

pytestmark = pytest.mark.services


@pytest.mark.parametrize("then", ["stepDown", "holdPreviousStep"])
def test_three_processes_backing_off_together_settle_under_a_known_capacity(
    test_server: TestServer, tmp_path: Path, then: str
) -> None:
    """One pod, three processes (their ramps start at one instant), each its own window."""
    test_server.behaviour.status = _refusing_past(100)
    load: dict[str, Any] = _open(test_server.url, 300, "15s")
    load["budget"].update(maxRps=400, maxRetries=1)
    load["adaptive"] = {"window": "1s", "then": then}
    proc, summary = start_load(tmp_path, load, "--processes", "3")
    result = finish_load(proc, summary)
    assert result.returncode == 0, result.stderr
    _settled_under(test_server, then, result.summary["decisions"], share=0.01)


@pytest.mark.parametrize("then", ["stepDown", "holdPreviousStep"])
def test_three_pods_backing_off_together_settle_under_a_known_capacity(
    test_server: TestServer, tmp_path: Path, then: str
) -> None:
    """Three pods started one after the other (as pods are), each judging its own window:
    the first cuts are uneven (a pod that ran alone for a moment saw fewer refusals), so a
    second cut follows two windows later. Counted after every pod's first window (a pod
    started later has its own first window later): refused share measured 0.7-1 %, over the
    default statusShare of 1 % at times, as three independent controllers share one limit."""
    pods = 3
    test_server.behaviour.status = _refusing_past(100)
    load: dict[str, Any] = _open(test_server.url, 300, "15s")
    load["budget"].update(maxRps=400, maxRetries=1)
    load["adaptive"] = {"window": "1s", "then": then}
    started = [
        start_load(tmp_path, load, "--index", str(i), "--count", str(pods), tag=str(i))
        for i in range(pods)
    ]
    results = [finish_load(proc, summary) for proc, summary in started]
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.summary["decisions"], r.summary  # every pod backed off on its own window
    decisions = [d for r in results for d in r.summary["decisions"]]
    # the server's clock is the monotonic one; the pods say when they started in wall time
    wall_to_mono = time.monotonic() - time.time()
    last_start = max(datetime.fromisoformat(r.summary["startedAt"]).timestamp() for r in results)
    _settled_under(test_server, then, decisions, share=0.03, after=last_start + wall_to_mono)


def _settled_under(
    test_server: TestServer,
    then: str,
    decisions: list[dict[str, Any]],
    share: float,
    after: float | None = None,
) -> None:
    """Settled within 10 % under the capacity and never over it; the refused share under
    ``share`` after the first window (of the last pod to start, ``after`` on the server's
    clock, if later)."""
    hits = test_server.snapshot()
    t0 = min(h.arrived for h in hits)
    first_judged = max(t0, after if after is not None else t0) + 2.0
    ok = [0] * 16
    refused_after_first = total_after_first = 0
    for h in hits:
        k = int(h.arrived - t0)
        if h.status == 200 and k < 16:
            ok[k] += 1
        if h.arrived >= first_judged:  # after the first window and its decision
            total_after_first += 1
            refused_after_first += h.status == 429
    settled = ok[5:14]
    rates = [(d.get("atSeconds"), d.get("toRate")) for d in decisions][:8]
    detail = (then, ok, refused_after_first, total_after_first, rates)
    # together: settled within 10 % under the capacity, never over it
    assert sum(settled) / len(settled) >= 90, detail
    assert max(settled) <= 100, detail
    # and the refused share kept low after the first window (statusShare is 1 %)
    assert refused_after_first / total_after_first < share, detail
