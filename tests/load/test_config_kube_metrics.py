"""Config errors name the field (exit 2), the ConfigMap writer's pure parts, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from perfrun.cli import main
from perfrun.kube.summaries import (
    ConfigMapRef,
    create_body,
    patch_body,
    summary_key,
    target_from_env,
)
from perfrun.load.metrics import LoadMetrics
from perfrun.load.status import status_class

GOOD: dict[str, Any] = {
    "target": "http://127.0.0.1:9",
    "scenarios": [{"name": "a", "weight": 1, "path": "/"}],
    "budget": {"maxRps": 10, "maxInFlight": 2, "maxDuration": "1m"},
    "ramp": {"steps": [{"rate": 5, "hold": "1s"}]},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"budget": {"maxRps": 0, "maxInFlight": 2, "maxDuration": "1m"}}, "load.budget.maxRps"),
        ({"ramp": {"steps": [{"rate": 50, "hold": "1s"}]}}, "load.ramp.steps: a ramp step"),
        (
            {"scenarios": [{"name": "a", "weight": 1, "path": "/{acount}"}]},
            "load.scenarios[0].path",
        ),
        ({"bogus": 1}, "load.bogus: unknown field"),
        ({"target": None}, "load.target"),
    ],
)
def test_invalid_config_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], expected: str
) -> None:
    cfg = tmp_path / "load.json"
    cfg.write_text(json.dumps({**GOOD, **change}))
    assert main(["load", "--config", str(cfg)]) == 2
    assert expected in capsys.readouterr().err


def test_unreadable_and_non_mapping_configs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", "--config", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "list.yaml").write_text("- 1\n")
    assert main(["load", "--config", str(tmp_path / "list.yaml")]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml" in err and "must be a mapping" in err


def test_index_outside_count_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "load.yaml"
    cfg.write_text(json.dumps(GOOD))
    assert main(["load", "--config", str(cfg), "--index", "3", "--count", "3"]) == 2
    assert (
        main(["load", "--config", str(cfg), "--index", "0", "--count", "3"]) == 2
    )  # > maxInFlight
    assert "--count 3 exceeds" in capsys.readouterr().err


def test_configmap_target_from_env(tmp_path: Path) -> None:
    assert target_from_env({}) is None
    assert target_from_env({"PERFRUN_SUMMARY_CONFIGMAP": "perf-x/load-summary"}) == ConfigMapRef(
        "perf-x", "load-summary"
    )
    env = {"PERFRUN_SUMMARY_CONFIGMAP": "s", "PERFRUN_NAMESPACE": "ns"}
    assert target_from_env(env) == ConfigMapRef("ns", "s")
    sa = tmp_path / "namespace"
    sa.write_text("from-sa\n")
    assert target_from_env({"PERFRUN_SUMMARY_CONFIGMAP": "s"}, sa) == ConfigMapRef("from-sa", "s")
    with pytest.raises(ValueError, match="namespace"):
        target_from_env({"PERFRUN_SUMMARY_CONFIGMAP": "s"}, tmp_path / "none")


def test_configmap_bodies_add_one_key_per_pod() -> None:
    ref = ConfigMapRef("ns", "cm")
    assert summary_key(3) == "summary-3.json"
    assert patch_body("summary-3.json", "{}") == {"data": {"summary-3.json": "{}"}}
    body = create_body(ref, "summary-0.json", "{}", {"app": "x"})
    assert body["metadata"] == {"name": "cm", "namespace": "ns", "labels": {"app": "x"}}
    assert body["data"] == {"summary-0.json": "{}"}
    with pytest.raises(ValueError, match="limit"):
        patch_body("k", "x" * 1_000_001)


def test_metrics_are_labelled_by_scenario_and_status_class() -> None:
    assert [status_class(s) for s in (101, 204, 302, 429, 503, None)] == [
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "error",
    ]
    m = LoadMetrics(["dash", "write"])
    m.attempt(0, 200)
    m.attempt(1, None)
    m.completed(0, 200, 0.02)
    text = generate_latest(m.registry).decode()
    assert 'perfrun_requests_total{scenario="dash",status_class="2xx"} 1.0' in text
    assert 'perfrun_requests_total{scenario="write",status_class="error"} 1.0' in text
    assert (
        'perfrun_request_duration_seconds_bucket{le="0.025",scenario="dash",status_class="2xx"} 1.0'
        in text
    )
