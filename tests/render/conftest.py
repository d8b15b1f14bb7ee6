"""Fixtures of the render tests: the examples as validated PerfRuns."""

from __future__ import annotations

import pytest
from tests.render.helpers import EXAMPLE_NAMES, example, make_run

from perfrun.api import PerfRun


@pytest.fixture(params=EXAMPLE_NAMES)
def run(request: pytest.FixtureRequest) -> PerfRun:
    return make_run(example(str(request.param)))


@pytest.fixture
def full() -> PerfRun:
    return make_run(example("perfrun-full.yaml"))


@pytest.fixture
def minimal() -> PerfRun:
    return make_run(example("perfrun-minimal.yaml"))
