"""A run whose load pods dropped more than a few percent of a step's requests measured the
load generator: the analysis says Inconclusive, LoadGeneratorSaturated, naming the step and
the numbers. The summaries are made by the load side's own code."""

from __future__ import annotations

import json
from typing import Any

from perfrun.analysis.model import Window
from perfrun.analysis.queries import QueryError
from perfrun.analysis.run import SATURATED_DROPPED_SHARE, analyze
from perfrun.analysis.summaries import parse_summary
from perfrun.api.analysis import AnalysisSpec
from perfrun.load.ledger import StepLedger
from perfrun.load.schedule import Step
from perfrun.load.stats import Recorder
from perfrun.load.summary import build, steps_json


class Down:
    def ping(self) -> None:
        raise QueryError("ping: no Prometheus here")

    def instant(self, query: str, at: float) -> list[object]:
        raise AssertionError("not asked once down")

    def range(self, *a: object) -> list[object]:
        raise AssertionError("not asked once down")


def _summary(index: int, due: tuple[int, int], dropped: tuple[int, int]) -> dict[str, Any]:
    rec = Recorder(["get"], frozenset())
    for i in range(due[0] + due[1] - dropped[0] - dropped[1]):
        rec.answered(0, 200, 0.002 + i % 7 / 1000, ok=True)
    steps = (Step(0, 100, 0.0, 10.0), Step(1, 200, 10.0, 20.0))
    ledger = StepLedger(2)
    for k in (0, 1):
        ledger.due[k] = due[k]
        ledger.dropped[k] = dropped[k]
    sent = [due[k] - dropped[k] for k in (0, 1)]
    doc = build(
        recorder=rec,
        pod={"index": index, "count": 2, "maxRps": 400, "cpuSeconds": 19.6, "cpuCores": 0.98},
        model="open",
        outcome="completed",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:20+00:00",
        duration_s=20.0,
        steps=steps_json(steps, sent, ledger),
        decisions=[],
        creations={},
        target={"url": "http://127.0.0.1:1", "reachable": True, "lastError": None},
    )
    return json.loads(json.dumps(doc))


def _verdict(*docs: dict[str, Any]) -> tuple[str, str]:
    spec = AnalysisSpec.model_validate(
        {"gates": [{"name": "p99", "metric": "latencyP99", "max": "500ms"}]}
    )
    result = analyze(
        spec, None, Window(start=0, end=20), [parse_summary(d) for d in docs], api=Down()
    )  # type: ignore[arg-type]
    return str(result.verdict), result.reason


def test_a_saturated_step_makes_the_run_inconclusive_naming_step_and_numbers() -> None:
    # two pods: step 2 asked 2 x 200/s for 10 s, each sent 1,500 of its 2,000
    verdict, reason = _verdict(
        _summary(0, (500, 2000), (0, 500)), _summary(1, (500, 2000), (0, 500))
    )
    assert verdict == "Inconclusive"
    assert reason.startswith(
        "LoadGeneratorSaturated: step 2 dropped 1000 of 4000 requests (25.0%, over 2%): "
        "sent 300.0/s of 400/s asked; load pods' CPU 0.98, 0.98 cores"
    ), reason
    assert "gate p99" not in reason or "gates said" in reason


def test_drops_within_the_threshold_leave_the_verdict_to_the_gates() -> None:
    few = int(2000 * SATURATED_DROPPED_SHARE) - 1
    verdict, reason = _verdict(_summary(0, (500, 2000), (0, few)))
    assert verdict == "Passed", reason


def _failing_summary(refused: int, unavailable: int, ok: int) -> dict[str, Any]:
    """One pod's summary, made by the load side's recorder: ``refused`` connections refused,
    ``unavailable`` answered 503, ``ok`` answered 200."""
    rec = Recorder(["get"], frozenset())
    for _ in range(refused):
        rec.attempt(0, None, "connect", retry=False)
        rec.complete(0, 0.001, ok=False)
    for _ in range(unavailable):
        rec.answered(0, 503, 0.002, ok=False)
    for _ in range(ok):
        rec.answered(0, 200, 0.002, ok=True)
    doc = build(
        recorder=rec,
        pod={"index": 0, "count": 1, "maxRps": 100},
        model="open",
        outcome="completed",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:10+00:00",
        duration_s=10.0,
        steps=[],
        decisions=[],
        creations={},
        target={"url": "http://127.0.0.1:1", "reachable": True, "lastError": None},
    )
    return json.loads(json.dumps(doc))


def _error_gate_verdict(*docs: dict[str, Any]) -> tuple[str, str]:
    spec = AnalysisSpec.model_validate(
        {"gates": [{"name": "errors", "metric": "errorRate", "max": "0.01"}]}
    )
    result = analyze(
        spec, None, Window(start=0, end=10), [parse_summary(d) for d in docs], api=Down()
    )  # type: ignore[arg-type]
    return str(result.verdict), result.reason


def test_a_run_failed_by_its_errors_says_what_the_failed_attempts_were() -> None:
    verdict, reason = _error_gate_verdict(
        _failing_summary(refused=150, unavailable=4, ok=46),
        _failing_summary(refused=50, unavailable=0, ok=0),
    )
    assert verdict == "Failed"
    assert reason.startswith("gate errors: 0.816 > max 0.01"), reason
    assert reason.endswith("; failed load attempts: connect 200, HTTP 503 4"), reason


def test_a_passing_run_and_unknown_error_words_add_nothing_to_the_reason() -> None:
    verdict, reason = _error_gate_verdict(_failing_summary(refused=0, unavailable=1, ok=999))
    assert verdict == "Passed" and "failed load attempts" not in reason
    hostile = _failing_summary(refused=0, unavailable=0, ok=0)
    hostile["errors"] = {"connect": 5, "secret\nbody text": 7, "timeout": 1}
    hostile["requests"] = hostile["failed"] = 6
    verdict, reason = _error_gate_verdict(hostile)
    assert verdict == "Failed"
    assert reason.endswith("; failed load attempts: connect 5, timeout 1"), reason
    assert "secret" not in reason
