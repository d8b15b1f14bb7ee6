"""Defaults and cross-field rules of the PerfRun models, one behaviour per test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfrun.api import PerfRun
from perfrun.api.base import Rule
from perfrun.api.crd import openapi_schema
from perfrun.api.types import (
    format_duration,
    parse_duration,
    parse_quantity,
    parse_threshold,
)
from perfrun.api.validate import problems

EXAMPLES = Path(__file__).parents[2] / "examples"


def minimal() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "perfrun-minimal.yaml").read_text())
    return doc


def full() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "perfrun-full.yaml").read_text())
    return doc


def test_examples_are_valid() -> None:
    assert problems(minimal()) == []
    assert problems(full()) == []


def test_defaults_fill_the_minimal_spec() -> None:
    run = PerfRun.model_validate(minimal())
    assert run.spec.ttl.max_duration == "2h"
    assert run.spec.ttl.after_finished == "15m"
    assert run.spec.ttl.keep_on_failure == "1h"
    assert run.spec.abort is False
    assert run.spec.load.parallelism == 1
    assert run.spec.load.ramp.model == "open"
    assert run.spec.analysis.prometheus.embedded is True
    assert run.spec.environment.pod_security == "baseline"
    assert run.spec.dataset is None


def test_camel_case_on_the_wire_snake_case_in_python() -> None:
    run = PerfRun.model_validate(full())
    assert run.spec.load.budget.max_in_flight == 64
    wire = run.to_wire()
    assert wire["spec"]["load"]["budget"]["maxInFlight"] == 64
    assert "max_in_flight" not in str(wire)


def test_every_rule_has_a_python_check_unless_it_compares_with_old_self() -> None:
    rules: list[Rule] = []
    seen: set[type] = set()

    def collect(model: type) -> None:
        if model in seen:
            return
        seen.add(model)
        rules.extend(getattr(model, "__rules__", ()))
        for field in model.model_fields.values():  # type: ignore[attr-defined]
            for arg in _models_in(field.annotation):
                collect(arg)

    collect(PerfRun)
    assert len(rules) >= 25
    for rule in rules:
        assert (rule.check is None) == ("oldSelf" in rule.cel), rule.cel


def _models_in(annotation: Any) -> list[type]:
    found = []
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_models_in(arg))
    return found


def test_every_rule_reaches_the_crd() -> None:
    text = str(openapi_schema())
    assert text.count("'rule':") >= 25
    assert "self.environment == oldSelf.environment" in text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["load"]["ramp"]["steps"].append({"rate": 801, "hold": "1s"}), "maxRps"),
        (lambda s: s["dataset"].__setitem__("into", "cache"), "kind postgres"),
        (lambda s: s["dataset"].__setitem__("into", "nothere"), "kind postgres"),
        (lambda s: s["dataset"].__setitem__("dump", {"path": "/d"}), "exactly one of synthetic"),
        (
            lambda s: s["dataset"]["synthetic"]["tables"][1]["perParent"].update(table="x"),
            "perParent",
        ),
        (lambda s: s["load"]["scenarios"][1].__setitem__("name", "dashboard"), "more than once"),
        (lambda s: s["analysis"]["gates"][0].__setitem__("name", "errors"), "more than once"),
        (lambda s: s["analysis"]["gates"][3].pop("within"), "drainTo and within"),
        (lambda s: s["analysis"]["gates"][2].__setitem__("drainTo", 0), "drainTo and within"),
        (lambda s: s["analysis"]["gates"][0].__setitem__("queue", "q"), "queueDepth metric only"),
        (lambda s: s["analysis"]["gates"][0].pop("max"), "at least one of max, min or drainTo"),
        (lambda s: s["analysis"]["gates"][0].__setitem__("max", "fast"), "not a duration"),
        (lambda s: s["analysis"]["gates"][0].__setitem__("max", True), "integer or a quoted"),
        (lambda s: s["environment"]["components"][1].__setitem__("storage", "1Gi"), "storage"),
        (lambda s: s["environment"]["egressAllow"][0].__setitem__("cidr", "x"), "CIDR"),
        (lambda s: s["environment"]["egressAllow"][0].__setitem__("ports", [70000]), "65535"),
        (lambda s: s["load"].__setitem__("parallelism", 65), "less than or equal to 64"),
        (lambda s: s["load"]["budget"].__setitem__("maxDuration", "1m"), "add up to more"),
        (lambda s: s["load"].pop("accounts"), "load.accounts is not set"),
        (lambda s: s["load"]["accounts"].update(min=5000), "min must not exceed max"),
        (lambda s: s["load"]["adaptive"].__setitem__("then", "panic"), "holdPreviousStep"),
        (lambda s: s["analysis"]["prometheus"].__setitem__("embedded", False), "a url"),
        (lambda s: s["analysis"]["baseline"].__setitem__("maxRegression", "10"), "percentage"),
        (lambda s: s["environment"]["workloads"][0].__setitem__("replicas", -1), "greater than"),
        (
            lambda s: s["environment"]["workloads"][0].__setitem__("image", "ghcr.io/Acme/shop"),
            "image",
        ),
    ],
)
def test_rule_refuses_a_broken_full_spec(mutate: Any, expected: str) -> None:
    doc = full()
    mutate(doc["spec"])
    found = problems(doc)
    assert found, "the broken spec was accepted"
    assert any(expected in line for line in found), found


def test_unknown_field_is_a_problem_with_a_suggestion() -> None:
    doc = minimal()
    doc["spec"]["load"]["budget"]["maxRPS"] = 5
    (line,) = problems(doc)
    assert line == "spec.load.budget.maxRPS: unknown field 'maxRPS' (did you mean 'maxRps'?)"


def test_problems_report_every_issue_not_just_the_first() -> None:
    doc = copy.deepcopy(minimal())
    doc["spec"]["load"]["scenarios"][0]["weight"] = 0
    doc["spec"]["environment"]["workloads"][0]["replicas"] = 99
    assert len(problems(doc)) == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300ms", 0.3), ("2m", 120.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("0s", 0.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "5 minutes", "1d", "m", "-1s", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_quantities() -> None:
    assert parse_quantity("20Gi") == 20 * 2**30
    assert parse_quantity("500m") * 1000 == 500
    assert parse_quantity("1k") == 1000
    assert parse_quantity("1e3") == 1000
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity("20GB")


def test_thresholds_are_in_the_metric_unit() -> None:
    assert parse_threshold("300ms") == pytest.approx(300.0)
    assert parse_threshold("1s") == pytest.approx(1000.0)
    assert parse_threshold("1%") == pytest.approx(0.01)
    assert parse_threshold("0.01") == pytest.approx(0.01)
    assert parse_threshold(5) == 5.0
