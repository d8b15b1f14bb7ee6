"""Copies of the operator's image pull secrets in the run's namespace (every pod names them,
see placement.py)."""

from __future__ import annotations

import base64

from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, obj

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG_KEY = ".dockerconfigjson"


def pull_secrets(ctx: RunContext) -> list[Manifest]:
    """The copies of the operator's pull secrets in the run's namespace."""
    out: list[Manifest] = []
    for secret in ctx.placement.pull_secrets:
        manifest = obj("v1", "Secret", ctx, secret.name, component="images", role="pull-secret")
        manifest["type"] = DOCKER_CONFIG_TYPE
        encoded = base64.b64encode(secret.docker_config_json.encode()).decode()
        manifest["data"] = {DOCKER_CONFIG_KEY: encoded}
        out.append(manifest)
    return out
