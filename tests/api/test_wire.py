"""The wire contracts between load pods and the operator (``perfrun.api.wire``): round trips,
versions, and the two sides held against each other. Each side is its real code: the load
engine's recorder, summary builder, back-off decision and progress meter write; the
controller's progress sum and the analysis' summary reader read. A key one side writes that
the contract does not know, or a number that does not come back the same, fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from perfrun.analysis import summaries as analysis_summaries
from perfrun.api import wire
from perfrun.controller.progress import sum_progress
from perfrun.kube import summaries as kube_summaries
from perfrun.load import histograms as load_histograms
from perfrun.load.adaptive import Decision
from perfrun.load.progress import Counters, ProgressMeter
from perfrun.load.schedule import Step
from perfrun.load.stats import Recorder
from perfrun.load.summary import build, merge_summaries, steps_json


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _only_contract_keys(doc: dict[str, Any], model: type[BaseModel], where: str) -> None:
    unknown = set(doc) - _aliases(model)
    assert not unknown, f"{where}: written but not in the contract: {sorted(unknown)}"


def _summary() -> dict[str, Any]:
    rec = Recorder(["home", "buy"], frozenset({429}))
    for i in range(1, 2001):
        rec.answered(i % 2, 200 if i % 50 else 503, i / 10_000, ok=bool(i % 50))
    rec.attempt(1, None, "timeout", retry=False)
    rec.complete(1, 1.5, ok=False)
    decision = Decision(
        at_s=4.25,
        action="stepDown",
        step=1,
        from_level=1,
        to_level=0,
        from_rate=100,
        to_rate=50,
        reasons=("p95 450.0ms > 400ms",),
        window={"start": 0.0, "end": 4.25, "requests": 10},
    )
    steps = (Step(0, 50, 0.0, 5.0), Step(1, 100, 5.0, 10.0))
    doc = build(
        recorder=rec,
        pod={"index": 0, "count": 1, "maxRps": 200, "maxInFlight": 8},
        model="open",
        outcome="completed",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:10+00:00",
        duration_s=10.0,
        steps=steps_json(steps, [250, 500]),
        decisions=[decision.to_json()],
        creations={"accounts": 0, "rows": 0},
        target={"url": "http://127.0.0.1:1", "reachable": True, "lastError": None},
    )
    return json.loads(json.dumps(doc))  # as it travels


def test_the_load_summary_is_the_contract_and_the_analysis_reads_it_back() -> None:
    doc = _summary()
    _only_contract_keys(doc, wire.LoadSummary, "summary")
    for name, part in doc["scenarios"].items():
        _only_contract_keys(part, wire.Totals, f"scenarios.{name}")
    for d in doc["decisions"]:
        _only_contract_keys(d, wire.BackOffDecision, "decisions[]")
    for s in doc["steps"]:
        _only_contract_keys(s, wire.SummaryStep, "steps[]")

    read = analysis_summaries.parse_summary(doc)
    assert read.requests == doc["requests"] == 2001
    assert read.errors == doc["failed"] == 41
    assert read.duration_s == doc["durationSeconds"]
    for p in (50, 90, 99):
        assert read.percentile_ms(p) == doc["latencyMs"][f"p{p}"]
    (d,) = read.decisions
    assert (d.action, d.step, d.from_rate, d.to_rate) == ("stepDown", 1, 100, 50)
    assert d.at == pytest.approx(1767225600.0 + 4.25)
    assert [(s.index, s.rate, s.end - s.start) for s in read.steps] == [(1, 50, 5.0), (2, 100, 5.0)]


def test_summaries_of_both_sides_merge_to_the_same_numbers() -> None:
    a, b = _summary(), _summary()
    merged = merge_summaries([a, b])  # the load side's exact merge
    read = analysis_summaries.merge(
        [analysis_summaries.parse_summary(a), analysis_summaries.parse_summary(b)]
    )
    assert read is not None
    assert read.requests == merged["requests"]
    assert read.percentile_ms(99) == merged["latencyMs"]["p99"]
    assert read.histogram.get_total_count() == merged["latencyMs"]["count"]


def test_both_sides_use_the_contracts_hdr_layout() -> None:
    for hist in (load_histograms.new_histogram(), analysis_summaries.new_histogram()):
        assert hist.lowest_trackable_value == wire.HDR_LOWEST_US
        assert hist.highest_trackable_value == wire.HDR_HIGHEST_US
        assert hist.significant_figures == wire.HDR_SIGNIFICANT_DIGITS


def test_the_progress_report_is_the_contract_and_the_controller_sums_it() -> None:
    meter = ProgressMeter()
    counters = Counters(
        at=10.0,
        step=2,
        steps=3,
        target_rps=120.0,
        target_users=0,
        in_flight=7,
        backed_off=True,
        requests=1180,
        errors=4,
    )
    doc = meter.report(counters)
    _only_contract_keys(doc, wire.ProgressReport, "progress")
    assert doc["version"] == wire.PROGRESS_VERSION
    key = kube_summaries.progress_key(3)
    assert key.startswith(wire.PROGRESS_KEY_PREFIX)
    p = sum_progress({key: json.dumps(doc)})
    assert p is not None
    assert (p.step, p.steps, p.target_rps, p.achieved_rps) == (2, 3, 120.0, 118.0)
    assert (p.in_flight, p.backed_off, p.requests, p.errors) == (7, True, 1180, 4)


@pytest.mark.parametrize(
    "model",
    [wire.ProgressReport, wire.BackOffDecision, wire.SummaryStep, wire.Totals, wire.LoadSummary],
)
def test_every_contract_round_trips(model: type[wire.WireModel]) -> None:
    samples: dict[type[wire.WireModel], dict[str, Any]] = {
        wire.ProgressReport: {"final": True, "step": 1, "requests": 9, "achievedRps": 1.5},
        wire.BackOffDecision: {"atSeconds": 1.0, "action": "abort", "reasons": ["x"]},
        wire.SummaryStep: {"step": 0, "rate": 10, "startSeconds": 0.0, "endSeconds": 5.0},
        wire.Totals: {"requests": 3, "statusCodes": {"200": 3}, "histogram": "abc"},
        wire.LoadSummary: {
            "outcome": "deadline",
            "steps": [{"step": 0, "sent": 5}],
            "decisions": [{"atSeconds": 2.0}],
            "scenarios": {"a": {"requests": 1}},
        },
    }
    first = model.model_validate(samples[model])
    again = model.model_validate_json(json.dumps(first.to_wire()))
    assert again == first
    assert again.to_wire() == first.to_wire()


def test_an_unknown_version_is_refused_by_the_readers() -> None:
    doc = {**_summary(), "version": 2}
    with pytest.raises(analysis_summaries.SummaryError, match="version"):
        analysis_summaries.parse_summary(doc)
    with pytest.raises(ValueError, match="version"):
        merge_summaries([doc])
    report = {"version": 2, "requests": 5}
    assert sum_progress({wire.progress_key(0): json.dumps(report)}) is None


def test_a_count_is_never_a_bool_or_negative() -> None:
    for bad in ({"inFlight": True}, {"requests": -1}, {"achievedRps": "fast"}):
        with pytest.raises(ValueError):
            wire.ProgressReport.model_validate(bad)
