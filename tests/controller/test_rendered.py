"""The renders kept between a run's reconciles (controller/rendered.py): pure, no cluster."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.support.perfruns import minimal

from perfrun.api.perfrun import PerfRun
from perfrun.controller.reconcile import context_for
from perfrun.controller.rendered import Rendered
from perfrun.controller.settings import OperatorSettings
from perfrun.render.all import environment
from perfrun.render.context import RunContext


def _ctx(uid: str = "uid-1") -> RunContext:
    return RunContext(name="run", perfrun_namespace="team", uid=uid, image="perfrun:test")


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        return [{"kind": "ConfigMap", "metadata": {"name": f"render-{self.calls}"}}]


def test_same_generation_and_context_render_once_and_each_caller_gets_its_own_copy() -> None:
    kept, render = Rendered(), Counting()
    first = kept.get(3, _ctx(), render)
    first[0]["metadata"]["name"] = "changed by a caller"
    second = kept.get(3, _ctx(), render)
    assert render.calls == 1
    assert second == [{"kind": "ConfigMap", "metadata": {"name": "render-1"}}]


def test_a_new_generation_a_changed_context_or_no_generation_render_again() -> None:
    kept, render = Rendered(), Counting()
    kept.get(3, _ctx(), render)
    assert kept.get(4, _ctx(), render)[0]["metadata"]["name"] == "render-2"  # spec edited
    moved = dataclasses.replace(_ctx(), api_server_cidrs=("10.0.0.1/32",))
    assert kept.get(4, moved, render)[0]["metadata"]["name"] == "render-3"  # API server moved
    assert kept.get(4, _ctx("uid-2"), render)[0]["metadata"]["name"] == "render-4"
    kept.get(None, _ctx(), render)
    kept.get(None, _ctx(), render)
    assert render.calls == 6


def test_least_recently_used_go_first_and_a_deleted_run_is_forgotten() -> None:
    kept, render = Rendered(size=2), Counting()
    kept.get(1, _ctx("a"), render)
    kept.get(1, _ctx("b"), render)
    kept.get(1, _ctx("a"), render)  # a used again: b is the oldest
    kept.get(1, _ctx("c"), render)
    assert render.calls == 3
    kept.get(1, _ctx("a"), render)
    assert render.calls == 3
    kept.get(1, _ctx("b"), render)
    assert render.calls == 4
    kept.forget("b")
    kept.get(1, _ctx("b"), render)
    assert render.calls == 5


def test_a_kept_render_is_the_environment_rendered_now() -> None:
    doc = minimal("run-001")
    doc["metadata"].update(uid="0b5e3c1e-aaaa-bbbb-cccc-000000000001", namespace="team")
    run = PerfRun.model_validate(doc)
    ctx = context_for(doc, OperatorSettings.from_env())
    kept = Rendered()
    kept.get(1, ctx, lambda: environment(run, ctx))
    assert kept.get(1, ctx, lambda: []) == environment(run, ctx)
