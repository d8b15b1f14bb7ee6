"""The images under test: `e2e/images.sh build` once per session (a no-op when every archive
is current; `make test` builds them in its set-up), then runc runs them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from unittest import mock

import pytest
from tests.images.runc import Image, read_tsv

from perfrun.api import PerfRun
from perfrun.controller.reconcile import context_for
from perfrun.controller.settings import OperatorSettings
from perfrun.render import jobs
from perfrun.render.all import environment
from perfrun.render.meta import Manifest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PERFRUN_CACHE_DIR", Path.home() / ".cache/perfrun")) / "images"


@pytest.fixture(scope="session")
def built_images() -> dict[str, Image]:
    subprocess.run(["bash", str(REPO / "scripts/install-system-deps.sh")], check=True)
    subprocess.run(["bash", str(REPO / "e2e/images.sh"), "build"], check=True, timeout=3600)
    tsv = subprocess.run(
        ["bash", str(REPO / "e2e/images.sh"), "tsv"], check=True, capture_output=True, text=True
    ).stdout.strip()
    images = read_tsv(Path(tsv))
    for old in (CACHE / "bundles").glob("*"):  # bundles of archives that are gone
        if not old.name.startswith(".") and not (CACHE / f"{old.name}.oci.tar").exists():
            subprocess.run(["rm", "-rf", str(old)], check=True)
    return images


@pytest.fixture(scope="session")
def bundles() -> Path:
    """Unpacked images, kept across sessions (named after their archive, so current)."""
    path = CACHE / "bundles"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def local_settings(built_images: dict[str, Image]) -> OperatorSettings:
    """The operator's settings as `e2e/images.sh operator-env` gives them (the local cluster's)."""
    out = subprocess.run(
        ["bash", str(REPO / "e2e/images.sh"), "operator-env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        words = shlex.split(line)
        assert words[0] == "export" and len(words) == 2, line
        key, value = words[1].split("=", 1)
        env[key] = value
    assert env["PERFRUN_IMAGE"] == built_images["perfrun"].reference
    with mock.patch.dict(os.environ, env):
        return OperatorSettings.from_env()


@pytest.fixture(scope="session")
def rendered(local_settings: OperatorSettings, built_images: dict[str, Image]) -> list[Manifest]:
    """Everything a run with every component kind renders with the local image map."""
    run = PerfRun.model_validate(
        {
            "apiVersion": "perfrun.dev/v1alpha1",
            "kind": "PerfRun",
            "metadata": {"name": "images", "namespace": "team"},
            "spec": {
                "environment": {
                    "components": [
                        {"name": "db", "kind": "postgres", "settings": {"max_connections": "42"}},
                        {"name": "cache", "kind": "redis", "settings": {"maxmemory": "64mb"}},
                        {"name": "queue", "kind": "rabbitmq"},
                    ],
                    "workloads": [
                        {
                            "name": "api",
                            "image": built_images["nginx"].reference,
                            "port": 80,
                            "readinessPath": "/",
                        }
                    ],
                },
                "load": {
                    "target": "http://api:80",
                    "scenarios": [{"name": "home", "weight": 1, "path": "/"}],
                    "budget": {"maxRps": 5, "maxInFlight": 2, "maxDuration": "1m"},
                    "ramp": {"steps": [{"rate": 1, "hold": "10s"}]},
                },
            },
        }
    )
    ctx = context_for(
        {"metadata": {"name": "images", "namespace": "team", "uid": "u-1"}}, local_settings
    )
    return [*environment(run, ctx), *jobs.load_job(run, ctx)]
