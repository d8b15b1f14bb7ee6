"""The operator's image map, placement and pull-secret settings, from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfrun import __version__
from perfrun.controller.reconcile import context_for
from perfrun.controller.settings import OperatorSettings
from perfrun.render.placement import PullSecret

BODY = {"metadata": {"name": "r", "namespace": "team", "uid": "u-1"}}
VARIABLES = (
    "PERFRUN_IMAGE",
    "PERFRUN_IMAGES",
    "PERFRUN_DEFAULT_VERSIONS",
    "PERFRUN_NODE_SELECTOR",
    "PERFRUN_TOLERATIONS",
    "PERFRUN_IMAGE_PULL_SECRETS",
    "PERFRUN_PULL_SECRET_DIR",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_official_images() -> None:
    s = OperatorSettings.from_env()
    assert s.image == f"ghcr.io/perfrun/perfrun:{__version__}"
    assert s.images.image("postgres") == "postgres:16"
    ctx = context_for(BODY, s)
    assert ctx.placement.pod_spec_fields() == {}


def test_the_map_and_its_versions_reach_the_run_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PERFRUN_IMAGES", '{"postgres": "l/pg:{version}", "perfrun": "l/p:{version}"}'
    )
    monkeypatch.setenv("PERFRUN_DEFAULT_VERSIONS", '{"postgres": "17", "perfrun": "0.1.0"}')
    monkeypatch.setenv("PERFRUN_NODE_SELECTOR", '{"perfrun.dev/node": "real"}')
    monkeypatch.setenv("PERFRUN_TOLERATIONS", '[{"key": "perfrun.dev/real", "operator": "Exists"}]')
    s = OperatorSettings.from_env()
    assert s.image == "l/p:0.1.0"
    ctx = context_for(BODY, s)
    assert ctx.images.image("postgres") == "l/pg:17"
    assert ctx.image == "l/p:0.1.0"
    assert ctx.placement.pod_spec_fields() == {
        "nodeSelector": {"perfrun.dev/node": "real"},
        "tolerations": [{"key": "perfrun.dev/real", "operator": "Exists"}],
    }


def test_perfrun_image_wins_over_the_maps_perfrun_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFRUN_IMAGES", '{"perfrun": "l/p:{version}"}')
    monkeypatch.setenv("PERFRUN_IMAGE", "mine/perfrun:dev")
    assert OperatorSettings.from_env().image == "mine/perfrun:dev"


def test_pull_secrets_are_read_from_their_mounts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / ".dockerconfigjson").write_text('{"auths": {}}')
    monkeypatch.setenv("PERFRUN_PULL_SECRET_DIR", str(tmp_path))
    monkeypatch.setenv("PERFRUN_IMAGE_PULL_SECRETS", "creds")
    ctx = context_for(BODY, OperatorSettings.from_env())
    assert ctx.placement.pull_secrets == (PullSecret("creds", '{"auths": {}}'),)
    assert ctx.placement.pod_spec_fields() == {"imagePullSecrets": [{"name": "creds"}]}


def test_an_unmounted_pull_secret_stops_the_start_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PERFRUN_PULL_SECRET_DIR", str(tmp_path))
    monkeypatch.setenv("PERFRUN_IMAGE_PULL_SECRETS", "missing")
    with pytest.raises(
        ValueError, match=r"PERFRUN_IMAGE_PULL_SECRETS: missing: no .*dockerconfigjson"
    ):
        OperatorSettings.from_env()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PERFRUN_IMAGES", '{"pg": "x"}'),
        ("PERFRUN_DEFAULT_VERSIONS", "17"),
        ("PERFRUN_NODE_SELECTOR", "[]"),
        ("PERFRUN_TOLERATIONS", "{}"),
    ],
)
def test_a_malformed_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        OperatorSettings.from_env()


def test_a_version_the_map_cannot_give_fails_the_run_naming_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """postgres 18 where the local map only holds 17: the pod names perfrun.local/postgres:18,
    the kubelet's first ErrImagePull (no registry serves perfrun.local) is fatal at once, and
    its message, which names the image, reaches EnvironmentReady."""
    from tests.controller.test_machine import Run, spec

    from perfrun.controller.observe import pod_failures
    from perfrun.controller.observed import Observed
    from perfrun.render import images

    monkeypatch.setenv("PERFRUN_IMAGES", '{"postgres": "perfrun.local/postgres:{version}"}')
    monkeypatch.setenv("PERFRUN_DEFAULT_VERSIONS", '{"postgres": "17"}')
    settings = OperatorSettings.from_env()
    run_spec = spec()
    db = run_spec.environment.components[0]
    image = settings.images.image(images.POSTGRES, "18")
    assert image == "perfrun.local/postgres:18"
    assert (
        settings.images.component(db.model_copy(update={"image": None, "version": "18"})) == image
    )
    pod = {  # as the kubelet reports a pull from a registry that does not resolve
        "metadata": {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db"}]},
        "status": {
            "containerStatuses": [
                {
                    "name": "postgres",
                    "image": image,
                    "state": {
                        "waiting": {
                            "reason": "ErrImagePull",
                            "message": f'failed to pull and unpack image "{image}": failed to '
                            "resolve reference: dial tcp: lookup perfrun.local: no such host",
                        }
                    },
                }
            ]
        },
    }
    (failure,) = pod_failures([pod])
    run = Run(run_spec)
    run.step()
    run.step(Observed(namespace_exists=True, pod_failures=(failure,)))
    status, reason, message = run.condition("EnvironmentReady")
    assert (status, reason) == ("False", "ErrImagePull")
    assert image in message
