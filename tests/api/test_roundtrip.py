"""Any valid spec survives dump -> YAML -> load unchanged (hypothesis)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfrun.api import PerfRun
from perfrun.api.validate import problems

names = st.from_regex(r"\A[a-z][a-z0-9]{0,10}\Z")
durations = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 59), st.sampled_from(["ms", "s", "m"])
)
quantities = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 512), st.sampled_from(["Mi", "Gi"]))


@st.composite
def perfruns(draw: st.DrawFn) -> dict[str, Any]:
    component_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    workload_names = draw(
        st.lists(names.filter(lambda n: n not in component_names), max_size=3, unique=True)
    )
    kinds = ["postgres"] + [
        draw(st.sampled_from(["postgres", "redis", "rabbitmq"])) for _ in component_names[1:]
    ]
    components = [
        {"name": n, "kind": k, **({"storage": draw(quantities)} if k != "redis" else {})}
        for n, k in zip(component_names, kinds, strict=True)
    ]
    workloads = [
        {
            "name": n,
            "image": f"ghcr.io/acme/{n}:1.{draw(st.integers(0, 9))}",
            "replicas": draw(st.integers(0, 5)),
            "port": 8080,
            "readinessPath": "/healthz",
        }
        for n in workload_names
    ]
    max_rps = draw(st.integers(10, 5000))
    model = draw(st.sampled_from(["open", "closed"]))
    max_in_flight = draw(st.integers(10, 500))
    top = max_rps if model == "open" else max_in_flight
    steps = [
        {"rate": draw(st.integers(1, top)), "hold": draw(durations)}
        for _ in range(draw(st.integers(1, 4)))
    ]
    scenario_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    gates = [
        {"name": "p99", "metric": "latencyP99", "max": draw(durations)},
        {"name": "errors", "metric": "errorRate", "max": draw(st.sampled_from(["0.01", "1%", 0]))},
    ]
    spec: dict[str, Any] = {
        "ttl": {"maxDuration": draw(st.sampled_from(["1h", "2h", "90m"]))},
        "environment": {"components": components, "workloads": workloads},
        "dataset": {
            "into": component_names[0],
            "synthetic": {
                "seed": draw(st.integers(0, 2**40)),
                "tables": [
                    {
                        "name": "accounts",
                        "rows": draw(st.integers(0, 10**6)),
                        "columns": [{"name": "id", "generator": "sequence"}],
                    }
                ],
            },
        },
        "load": {
            "target": "http://api:8080",
            "parallelism": draw(st.integers(1, min(8, max_rps, max_in_flight))),
            "scenarios": [
                {"name": n, "weight": draw(st.integers(1, 100)), "path": f"/{n}"}
                for n in scenario_names
            ],
            "budget": {"maxRps": max_rps, "maxInFlight": max_in_flight, "maxDuration": "10h"},
            "ramp": {"model": model, "steps": steps},
        },
        "analysis": {
            "gates": draw(st.lists(st.sampled_from(gates), unique_by=lambda g: g["name"]))
        },
    }
    return {
        "apiVersion": "perfrun.dev/v1alpha1",
        "kind": "PerfRun",
        "metadata": {"name": "r"},
        "spec": spec,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perfruns())
def test_valid_spec_round_trips(doc: dict[str, Any]) -> None:
    assert problems(doc) == []
    run = PerfRun.model_validate(doc)
    wire = yaml.safe_dump(run.to_wire())
    again = PerfRun.model_validate(yaml.safe_load(wire))
    assert again == run
    assert again.to_wire() == run.to_wire()
