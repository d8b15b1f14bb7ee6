"""Every manifest of a run: well-formed, labelled with the run (pod templates too), in the
run's namespace, uniquely named, and the same every time it is rendered."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.render.helpers import context, pod_templates, render_everything, variant

from perfrun.api import PerfRun
from perfrun.render.all import environment, readiness_targets
from perfrun.render.context import LABEL_RUN, RunContext

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_every_manifest_has_the_basic_shape(run: PerfRun) -> None:
    for m in render_everything(run, context(run)):
        assert isinstance(m.get("apiVersion"), str) and m["apiVersion"], m
        assert isinstance(m.get("kind"), str) and m["kind"], m
        name = m["metadata"]["name"]
        assert DNS_SUBDOMAIN.match(name) and len(name) <= 63, name


def test_every_object_is_labelled_with_the_run(run: PerfRun) -> None:
    ctx = context(run)
    for m in render_everything(run, ctx):
        labels = m["metadata"]["labels"]
        assert labels.items() >= ctx.labels().items(), (m["kind"], m["metadata"]["name"])
        for key, value in labels.items():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)


def test_pod_templates_and_claims_carry_the_run_labels(run: PerfRun) -> None:
    ctx = context(run)
    templates = pod_templates(render_everything(run, ctx))
    assert templates
    for owner, template in templates:
        labels = template["metadata"]["labels"]
        assert labels.items() >= ctx.labels().items(), owner["metadata"]["name"]
        assert labels["perfrun.dev/component"]
        assert labels["perfrun.dev/role"]
        selector = owner["spec"].get("selector", {}).get("matchLabels", {})
        assert selector.items() <= labels.items()
        for claim in owner["spec"].get("volumeClaimTemplates", []):
            assert claim["metadata"]["labels"].items() >= ctx.labels().items()


def test_objects_live_in_the_run_namespace(run: PerfRun) -> None:
    ctx = context(run)
    everything = render_everything(run, ctx)
    assert everything[0]["kind"] == "Namespace"
    assert everything[0]["metadata"]["name"] == ctx.namespace
    assert "namespace" not in everything[0]["metadata"]
    for m in everything[1:]:
        assert m["metadata"]["namespace"] == ctx.namespace, m["metadata"]["name"]


def test_names_are_unique_per_kind(run: PerfRun) -> None:
    keys = [(m["kind"], m["metadata"]["name"]) for m in render_everything(run, context(run))]
    assert len(keys) == len(set(keys)), sorted(keys)


def test_rendering_is_deterministic(run: PerfRun) -> None:
    first = json.dumps(render_everything(run, context(run)), sort_keys=True)
    again = json.dumps(render_everything(run, context(run)), sort_keys=True)
    assert first == again


def test_another_uid_is_another_run(run: PerfRun) -> None:
    a, b = context(run, uid="uid-a"), context(run, uid="uid-b")
    assert a.namespace != b.namespace
    secret_a = next(m for m in environment(run, a) if m["kind"] == "Secret")
    secret_b = next(m for m in environment(run, b) if m["kind"] == "Secret")
    if secret_a["data"]:
        assert secret_a["data"] != secret_b["data"]


def test_run_label_is_the_namespace_suffix(run: PerfRun) -> None:
    ctx = context(run)
    assert ctx.namespace == f"perf-{ctx.labels()[LABEL_RUN]}"


def test_environment_is_in_apply_order(full: PerfRun) -> None:
    ctx = context(full)
    kinds = [m["kind"] for m in environment(full, ctx)]
    first_pod_owner = min(i for i, k in enumerate(kinds) if k in ("Deployment", "StatefulSet"))
    for early in ("ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount", "Secret"):
        assert kinds.index(early) < first_pod_owner, early
    assert "Namespace" not in kinds and "Job" not in kinds


def test_readiness_targets_name_every_component_workload_and_prometheus(full: PerfRun) -> None:
    targets = readiness_targets(environment(full, context(full)))
    assert targets == [
        ("StatefulSet", "db"),
        ("Deployment", "cache"),
        ("StatefulSet", "queue"),
        ("Deployment", "api"),
        ("Deployment", "worker"),
        ("Deployment", "prometheus"),
    ]


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def test_manifests_are_plain_json_data(run: PerfRun) -> None:
    for m in render_everything(run, context(run)):
        for v in _walk(m):
            assert v is None or isinstance(v, dict | list | str | int | bool), type(v)
        assert isinstance(json.loads(json.dumps(m)), dict)


def test_context_keeps_its_api() -> None:
    ctx = RunContext(name="a.b", perfrun_namespace="ns", uid="u", image="img")
    assert ctx.namespace.startswith("perf-a-b-")
    assert ctx.run_id == ctx.namespace.removeprefix("perf-")
    assert ctx.labels(extra="x")["extra"] == "x"


def test_users_pod_metadata_reaches_its_pods_and_never_beats_the_runs() -> None:
    extra = {
        "labels": {"team": "payments", "sidecar.istio.io/inject": "false"},
        "annotations": {"example.com/cost-centre": "perf", "prometheus.io/scrape": "false"},
    }

    def add(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["workloads"][0]["podMetadata"] = extra
        doc["spec"]["environment"]["migrations"]["podMetadata"] = extra
        doc["spec"]["load"]["podMetadata"] = extra

    run = variant("perfrun-full.yaml", add)
    ctx = context(run)
    templates = dict(
        (owner["metadata"]["name"], t) for owner, t in pod_templates(render_everything(run, ctx))
    )
    first = run.spec.environment.workloads[0].name
    for name in (first, "migrations", "load"):
        meta = templates[name]["metadata"]
        assert meta["labels"]["team"] == "payments", name
        assert meta["labels"].items() >= ctx.labels().items(), name
        assert meta["annotations"]["example.com/cost-centre"] == "perf", name
    # the run's own scrape annotation wins over the user's
    assert templates["load"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    # pods nobody asked to change get nothing extra
    others = [t for n, t in templates.items() if n not in (first, "migrations", "load")]
    assert others and all("team" not in t["metadata"]["labels"] for t in others)
