"""Helpers of the render tests: the examples, variants of them, and everything a run renders
(the Namespace, the environment and every Job) in apply order."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from perfrun.api import PerfRun
from perfrun.render import jobs
from perfrun.render.all import environment
from perfrun.render.context import RunContext
from perfrun.render.namespace import namespace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = ["perfrun-full.yaml", "perfrun-minimal.yaml"]
IMAGE = "ghcr.io/acme/perfrun:0.1.0"


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return doc


def make_run(doc: dict[str, Any]) -> PerfRun:
    return PerfRun.model_validate(doc)


def context(run: PerfRun, uid: str = "0f6c1d2e-1111-2222-3333-444455556666") -> RunContext:
    return RunContext(
        name=str(run.metadata["name"]),
        perfrun_namespace="team-a",
        uid=uid,
        image=IMAGE,
    )


def render_everything(run: PerfRun, ctx: RunContext) -> list[dict[str, Any]]:
    return [
        namespace(run, ctx),
        *environment(run, ctx),
        *jobs.migrations_job(run, ctx),
        *jobs.dataset_job(run, ctx),
        *jobs.load_job(run, ctx),
    ]


def variant(name: str, change: Callable[[dict[str, Any]], None]) -> PerfRun:
    """An example with one change applied to its document."""
    doc = copy.deepcopy(example(name))
    change(doc)
    return make_run(doc)


def pod_templates(manifests: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(owner, pod template) for every pod-owning object."""
    return [
        (m, m["spec"]["template"])
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
