"""The chart's image map, default versions and run-pod values reach the operator as the
settings it parses, and through them every pod a run renders; pull secrets are mounted where
the operator reads them. Defaults add none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from tests.charts.test_chart import Helm, by_kind, helm  # noqa: F401  (the fixture)
from tests.render.helpers import example, make_run, render_everything

from perfrun.controller.reconcile import context_for
from perfrun.controller.settings import PULL_SECRET_DIR, OperatorSettings

VALUES = {
    "images": {"postgres": "mirror.example/pg:{version}", "prometheus": "mirror.example/prom:v3"},
    "defaultVersions": {"postgres": "17"},
    "runPods": {
        "imagePullSecrets": [{"name": "mirror-creds"}],
        "nodeSelector": {"perfrun.dev/node": "real"},
        "tolerations": [{"key": "perfrun.dev/real", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
NEW_VARIABLES = (
    "PERFRUN_IMAGES",
    "PERFRUN_DEFAULT_VERSIONS",
    "PERFRUN_NODE_SELECTOR",
    "PERFRUN_TOLERATIONS",
    "PERFRUN_IMAGE_PULL_SECRETS",
)


def operator_container(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = by_kind(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def pod_specs(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value] if isinstance(value.get("containers"), list) else []
        return found + [s for v in value.values() for s in pod_specs(v)]
    if isinstance(value, list):
        return [s for v in value for s in pod_specs(v)]
    return []


@pytest.mark.cluster
def test_defaults_set_no_image_map_and_no_run_pod_fields(helm: Helm) -> None:  # noqa: F811
    _, container = operator_container(helm.template())
    names = {e["name"] for e in container["env"]}
    assert not names & set(NEW_VARIABLES)
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]


@pytest.mark.cluster
def test_values_reach_every_rendered_pod(helm: Helm, tmp_path: Path) -> None:  # noqa: F811
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(VALUES))
    pod, container = operator_container(helm.template("-f", str(values)))
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    mount = next(m for m in container["volumeMounts"] if m["name"].startswith("pull-secret"))
    assert mount == {
        "name": "pull-secret-0",
        "mountPath": f"{PULL_SECRET_DIR}/mirror-creds",
        "readOnly": True,
    }
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {
        "secretName": "mirror-creds",
        "items": [{"key": ".dockerconfigjson", "path": ".dockerconfigjson"}],
    }

    # the operator, given that environment and the mounted Secret, renders every pod with it
    mounted = tmp_path / "pull-secrets"
    (mounted / "mirror-creds").mkdir(parents=True)
    (mounted / "mirror-creds" / ".dockerconfigjson").write_text('{"auths": {}}')
    operator_env = {**{k: env[k] for k in NEW_VARIABLES}, "PERFRUN_PULL_SECRET_DIR": str(mounted)}
    with mock.patch.dict("os.environ", operator_env):
        settings = OperatorSettings.from_env()
    doc = example("perfrun-full.yaml")
    for component in doc["spec"]["environment"]["components"]:
        component.pop("image", None)
        component.pop("version", None)
    run = make_run(doc)
    ctx = context_for({"metadata": {"name": "r", "namespace": "team", "uid": "u"}}, settings)
    manifests = render_everything(run, ctx)
    specs = pod_specs(manifests)
    assert specs
    for spec in specs:
        assert spec["imagePullSecrets"] == [{"name": "mirror-creds"}]
        assert spec["nodeSelector"] == VALUES["runPods"]["nodeSelector"]
        assert spec["tolerations"] == VALUES["runPods"]["tolerations"]
    images = {c["image"] for s in specs for c in s["containers"]}
    assert {"mirror.example/pg:17", "mirror.example/prom:v3"} <= images
    assert any(m["kind"] == "Secret" and m["metadata"]["name"] == "mirror-creds" for m in manifests)
