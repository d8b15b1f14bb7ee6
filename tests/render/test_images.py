"""The image map, pull secrets and placement: the defaults render today's official images and
nothing else, a map with ``{version}`` templates renders the local images, a spec's ``image:``
wins, and every pod the renderer emits carries the pull secrets and the placement."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from tests.render.helpers import context, render_everything, variant

from perfrun.api import PerfRun
from perfrun.render.images import DEFAULT_MAP, ImageMap, parse_image_map
from perfrun.render.placement import (
    Placement,
    PullSecret,
    parse_node_selector,
    parse_pull_secret_names,
    parse_tolerations,
)

LOCAL = parse_image_map(
    '{"postgres": "perfrun.local/postgres:{version}", "redis": "perfrun.local/redis:{version}",'
    ' "rabbitmq": "perfrun.local/rabbitmq:{version}",'
    ' "prometheus": "perfrun.local/prometheus:{version}",'
    ' "postgres-exporter": "perfrun.local/postgres-exporter:{version}",'
    ' "redis-exporter": "perfrun.local/redis-exporter:{version}",'
    ' "perfrun": "perfrun.local/perfrun:{version}"}',
    '{"postgres": "17", "redis": "8.0", "rabbitmq": "4.0", "prometheus": "v2.53.3",'
    ' "postgres-exporter": "v0.17.1", "redis-exporter": "v1.69.0"}',
    perfrun_version="0.1.0",
)
PLACEMENT = Placement(
    node_selector={"perfrun.dev/node": "real"},
    tolerations=({"key": "perfrun.dev/real", "operator": "Exists", "effect": "NoSchedule"},),
    pull_secrets=(PullSecret("mirror-creds", '{"auths": {"mirror.example": {"auth": "eDp5"}}}'),),
)


def _without_images(doc: dict[str, Any]) -> None:
    """Components at their default version and image (the full example pins postgres)."""
    for component in doc["spec"]["environment"]["components"]:
        component.pop("image", None)
        component.pop("version", None)


def pod_specs(value: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec anywhere in a rendered object (found by its `containers` list)."""
    if isinstance(value, dict):
        if isinstance(value.get("containers"), list):
            yield value
        for item in value.values():
            yield from pod_specs(item)
    elif isinstance(value, list):
        for item in value:
            yield from pod_specs(item)


def images_of(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """container name (qualified by its object) -> image, over everything rendered."""
    out: dict[str, str] = {}
    for m in manifests:
        for spec in pod_specs(m):
            for c in spec["containers"] + spec.get("initContainers", []):
                out[f"{m['kind']}/{m['metadata']['name']}/{c['name']}"] = c["image"]
    return out


def test_the_default_map_renders_the_official_images_as_before() -> None:
    run = variant("perfrun-full.yaml", _without_images)
    manifests = render_everything(run, context(run))
    got = {k: v for k, v in images_of(manifests).items() if "shop" not in v}
    assert got == {
        "StatefulSet/db/postgres": "postgres:16",
        "StatefulSet/db/exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
        "Deployment/cache/redis": "redis:7",
        "Deployment/cache/exporter": "oliver006/redis_exporter:v1.62.0",
        "StatefulSet/queue/rabbitmq": "rabbitmq:3.13-management",
        "Deployment/prometheus/prometheus": "prom/prometheus:v2.53.2",
        "Job/dataset/dataset": context(run).image,
        "Job/load/load": context(run).image,
    }


def test_the_defaults_add_no_pod_fields_and_no_secret(run: PerfRun) -> None:
    manifests = render_everything(run, context(run))
    for m in manifests:
        for spec in pod_specs(m):
            assert not {"imagePullSecrets", "nodeSelector", "tolerations"} & set(spec)
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"] == [
        "perfrun-connections"
    ]


def test_templates_take_the_spec_version_else_the_pinned_default() -> None:
    def versions(doc: dict[str, Any]) -> None:
        _without_images(doc)
        doc["spec"]["environment"]["components"][0]["version"] = "18"

    run = variant("perfrun-full.yaml", versions)
    ctx = dataclasses.replace(context(run), images=LOCAL)
    got = images_of(render_everything(run, ctx))
    assert got["StatefulSet/db/postgres"] == "perfrun.local/postgres:18"
    assert got["StatefulSet/db/exporter"] == "perfrun.local/postgres-exporter:v0.17.1"
    assert got["Deployment/cache/redis"] == "perfrun.local/redis:8.0"
    assert got["Deployment/cache/exporter"] == "perfrun.local/redis-exporter:v1.69.0"
    assert got["StatefulSet/queue/rabbitmq"] == "perfrun.local/rabbitmq:4.0"
    assert got["Deployment/prometheus/prometheus"] == "perfrun.local/prometheus:v2.53.3"


def test_a_spec_image_wins_over_the_map(full: PerfRun) -> None:
    ctx = dataclasses.replace(context(full), images=LOCAL)
    got = images_of(render_everything(full, ctx))
    assert got["StatefulSet/db/postgres"] == "docker.io/library/postgres:16.4"
    assert got["Deployment/api/api"] == "perfrun.local/shop:1.8.0"


def test_every_pod_gets_pull_secrets_and_placement(run: PerfRun) -> None:
    ctx = dataclasses.replace(context(run), images=LOCAL, placement=PLACEMENT)
    manifests = render_everything(run, ctx)
    specs = [spec for m in manifests for spec in pod_specs(m)]
    owners = {m["kind"] for m in manifests if any(True for _ in pod_specs(m))}
    assert owners >= {"Deployment", "Job"}
    assert len(specs) >= 3
    for spec in specs:
        assert spec["imagePullSecrets"] == [{"name": "mirror-creds"}]
        assert spec["nodeSelector"] == {"perfrun.dev/node": "real"}
        assert spec["tolerations"] == [
            {"key": "perfrun.dev/real", "operator": "Exists", "effect": "NoSchedule"}
        ]


def test_the_pull_secret_is_copied_into_the_run_namespace_before_any_pod(run: PerfRun) -> None:
    ctx = dataclasses.replace(context(run), placement=PLACEMENT)
    manifests = render_everything(run, ctx)
    secrets = [m for m in manifests if m["metadata"]["name"] == "mirror-creds"]
    assert len(secrets) == 1
    secret = secrets[0]
    assert secret["kind"] == "Secret"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["namespace"] == ctx.namespace
    assert secret["metadata"]["labels"]["perfrun.dev/run"] == ctx.run_id
    decoded = base64.b64decode(secret["data"][".dockerconfigjson"]).decode()
    assert decoded == PLACEMENT.pull_secrets[0].docker_config_json
    first_pod = min(i for i, m in enumerate(manifests) if any(True for _ in pod_specs(m)))
    assert manifests.index(secret) < first_pod


def test_the_perfrun_role_defaults_to_the_operator_version() -> None:
    m = parse_image_map("", "", perfrun_version="9.9.9")
    assert m.image("perfrun") == "ghcr.io/perfrun/perfrun:9.9.9"
    assert m.templates == DEFAULT_MAP.templates
    fixed = parse_image_map('{"prometheus": "mirror.example/prom:pinned"}', "", perfrun_version="1")
    assert fixed.image("prometheus") == "mirror.example/prom:pinned"
    assert fixed.image("redis", "7.2") == "redis:7.2"


def test_a_role_without_any_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="no version for image role 'perfrun'"):
        ImageMap().image("perfrun")


@pytest.mark.parametrize(
    ("templates", "versions", "message"),
    [
        ("{", "", r"PERFRUN_IMAGES: not JSON"),
        ('["postgres"]', "", r"PERFRUN_IMAGES: must be a JSON object"),
        ('{"postgress": "x:{version}"}', "", r"PERFRUN_IMAGES\.postgress: unknown image role"),
        ('{"redis": ""}', "", r"PERFRUN_IMAGES\.redis: must be a non-empty string"),
        ('{"redis": "r:{tag}"}', "", r"PERFRUN_IMAGES\.redis: the only placeholder is \{version\}"),
        ('{"redis": "r :{version}"}', "", r"PERFRUN_IMAGES\.redis: not an image reference"),
        ("", '{"redis": 7}', r"PERFRUN_DEFAULT_VERSIONS\.redis: must be a non-empty string"),
        ("", '{"mongo": "7"}', r"PERFRUN_DEFAULT_VERSIONS\.mongo: unknown image role"),
    ],
)
def test_a_malformed_map_names_the_setting_and_role(
    templates: str, versions: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_image_map(templates, versions, perfrun_version="1")


def test_placement_settings_parse_and_name_the_setting() -> None:
    assert parse_node_selector("") == {}
    assert parse_node_selector('{"a": "b"}') == {"a": "b"}
    assert parse_tolerations("") == ()
    assert parse_tolerations('[{"key": "k", "operator": "Exists"}]') == (
        {"key": "k", "operator": "Exists"},
    )
    assert parse_pull_secret_names(" a, b.c ,") == ["a", "b.c"]
    with pytest.raises(ValueError, match="PERFRUN_NODE_SELECTOR: must be a JSON object"):
        parse_node_selector('{"a": 1}')
    with pytest.raises(ValueError, match=r"PERFRUN_TOLERATIONS\[0\]: unknown field 'keys'"):
        parse_tolerations('[{"keys": "k"}]')
    with pytest.raises(ValueError, match=r"PERFRUN_TOLERATIONS\[0\]\.operator"):
        parse_tolerations('[{"key": "k", "operator": "In"}]')
    with pytest.raises(ValueError, match=r"PERFRUN_TOLERATIONS\[0\]\.effect"):
        parse_tolerations('[{"key": "k", "effect": "Never"}]')
    with pytest.raises(ValueError, match=r"PERFRUN_TOLERATIONS\[0\]\.tolerationSeconds"):
        parse_tolerations('[{"key": "k", "tolerationSeconds": "5"}]')
    with pytest.raises(ValueError, match="PERFRUN_IMAGE_PULL_SECRETS: 'Bad_Name'"):
        parse_pull_secret_names("Bad_Name")
