"""The progress display and exit codes of `perfrun run`, as pure functions of the object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from perfrun.analysis.cli import EXIT as ANALYZE_EXIT
from perfrun.follow.view import EXIT, exit_code, finished, outcome, table, view

TESTDATA = (
    Path(__file__).resolve().parents[2]
    / "charts/perfrun-operator/resource_customizations/perfrun.dev/PerfRun/testdata"
)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def captured(case: str) -> dict[str, Any]:
    return yaml.safe_load((TESTDATA / f"{case}.yaml").read_text())


def test_exit_codes_are_those_of_perfrun_analyze() -> None:
    assert EXIT == ANALYZE_EXIT
    codes = {
        case: exit_code(captured(case))
        for case in (
            "passed",
            "failed-gates",
            "failed-inconclusive",
            "failed-load-job",
            "expired",
            "aborted",
            "invalid",
        )
    }
    assert codes == {
        "passed": 0,
        "failed-gates": 1,
        "failed-inconclusive": 3,
        "failed-load-job": 1,
        "expired": 1,
        "aborted": 1,
        "invalid": 1,
    }


def test_finished_only_when_terminal_for_the_current_generation() -> None:
    assert finished(captured("passed"))
    assert not finished(captured("loading"))
    assert not finished(captured("generation-not-observed"))  # Provisioning, spec changed
    done = captured("aborted")
    done["metadata"]["generation"] += 1  # a new spec: the old end is not this one's
    assert not finished(done)


def test_the_loading_line_shows_step_rate_errors_and_time_left() -> None:
    obj = captured("loading")
    load = obj["status"]["load"]
    line = view(obj, NOW).line()
    assert f"step {load['step']}/{load['steps']}" in line
    assert f"/{load['targetRps']:g} rps" in line
    assert f"errors {load['errors']}/{load['requests']}" in line
    assert "p99 -" in line  # not measured before the analysis
    assert line.startswith("gitops-passed | Loading | ")
    backing = dict(obj, status={**obj["status"], "load": {**load, "backedOff": True}})
    assert "backing off" in view(backing, NOW).line()
    so_far = dict(obj, status={**obj["status"], "load": {**load, "p99Ms": 41.25}})
    assert "| p99 41.2 ms |" in view(so_far, NOW).line()  # the load pods' p99 so far
    expires = datetime.fromisoformat(obj["status"]["expiresAt"].replace("Z", "+00:00"))
    left = view(obj, expires - timedelta(seconds=65))
    assert left.time_left == "1m05s" and left.line().endswith(" | 1m05s left")


def test_outcome_says_verdict_numbers_and_message() -> None:
    text = outcome(captured("failed-gates"))
    assert text.startswith("gitops-failed-gates: Failed (p99 ")
    assert "max 1ms" in text
    assert outcome(captured("expired")).startswith("gitops-expired: Expired: ttl.maxDuration")
    assert outcome(captured("passed")).startswith("gitops-passed: Passed (p99 ")


def test_ls_table() -> None:
    objs = [captured(c) for c in ("passed", "failed-inconclusive", "expired")]
    text = table(objs, NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "VERDICT", "P99", "ERRORS", "AGE"]
    assert lines[2].split()[:3] == ["gitops-inconclusive", "Failed", "Inconclusive"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["gitops-passed"][2] == "Passed" and rows["gitops-passed"][3].endswith("ms")
    wide = table(objs, NOW, namespaces=True).splitlines()
    assert wide[0].split()[0] == "NAMESPACE"
