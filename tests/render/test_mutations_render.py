"""A property over random edits of the valid examples, offline and fast: every spec the models
accept is rendered (environment, namespace, every Job), checked by the preflight and by the
admin policy without an exception. An exception there would fail every tick of the run (the
tick guard then ends it ReconcileError; this finds the bug before a cluster does).
The cluster side of the same idea is tests/controller/test_mutations_cluster.py."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.controller.test_mutations_cluster import HOSTILE_TEXT

from perfrun.api.perfrun import PerfRun
from perfrun.api.policy import AdminPolicy, violations
from perfrun.controller.preflight import preflight, rendered_sizes
from perfrun.render import jobs
from perfrun.render import namespace as render_namespace
from perfrun.render.all import environment
from perfrun.render.context import RunContext

EXAMPLES = Path(__file__).parents[2] / "examples"
BASES = [
    yaml.safe_load((EXAMPLES / f).read_text())
    for f in ("perfrun-minimal.yaml", "perfrun-full.yaml")
]
VALUES: list[Any] = [
    *HOSTILE_TEXT,
    *(0, 1, -1, 2**31, 2**63, 0.5, 1e308, True, False, None, [], {}, [""], {"a": "b"}),
    *("\u00e9\U0001f600", "a" * 40, "A", "1h", "0.0001", "1Ki", 65535, 65536),
]
CTX = RunContext(
    name="x",
    perfrun_namespace="team",
    uid="0" * 8,
    image="perfrun:test",
    api_server_cidrs=("10.0.0.1/32",),
    api_server_ports=(6443,),
)
Path_ = tuple[str | int, ...]


def _paths(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))
    if path:
        yield path


def _get(doc: dict[str, Any], path: Path_) -> Any:
    node: Any = doc
    for part in path:
        node = node[part]
    return node


def _set(doc: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(sorted(_paths(doc), key=repr)))
        old = _get(doc, path)
        alike = [v for v in VALUES if type(v) is type(old)]  # more of them pass the schema
        pool = alike if alike and draw(st.booleans()) else VALUES
        _set(doc, path, copy.deepcopy(draw(st.sampled_from(pool))))
    return doc


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_every_spec_the_models_accept_renders_and_is_judged_without_an_exception(
    doc: dict[str, Any],
) -> None:
    try:
        run = PerfRun.model_validate(doc)
    except ValidationError:
        event("refused by the models")
        return  # refused with field paths: what admission and `perfrun validate` say
    event("accepted: rendered and judged")
    assert isinstance(preflight(run.spec), list)
    assert isinstance(rendered_sizes(run, CTX), list)
    manifests = [
        render_namespace.namespace(run, CTX),
        *environment(run, CTX),
        *jobs.migrations_job(run, CTX),
        *jobs.dataset_job(run, CTX),
        *jobs.load_job(run, CTX),
    ]
    assert all(m["metadata"]["name"] for m in manifests)
    violations(run.spec, AdminPolicy(), "perf-x")
